"""Sampling playground: the pure function, bad input handled, then the widget driven headless."""

import math

import pytest
import torch

from aigc_course.data.text import CharTokenizer
from aigc_course.models.rnn import LSTMLM, LSTMConfig
from aigc_course.widgets.sampling_playground import SamplingPlayground, sample_text

TEXT = "abcabcabd cab cad. "


@pytest.fixture()
def setup():
    torch.manual_seed(0)
    tok = CharTokenizer.from_text(TEXT)
    model = LSTMLM(LSTMConfig.tiny(vocab_size=tok.vocab_size, dropout=0.0))
    return model, tok


def test_sample_text_is_seeded_and_respects_the_knobs(setup):
    model, tok = setup
    a = sample_text(model, tok, "ab", length=12, seed=1)
    assert a.error is None and len(a.text) == 12 and set(a.text) <= set(TEXT)
    assert a.text == sample_text(model, tok, "ab", length=12, seed=1).text
    assert a.text != sample_text(model, tok, "ab", length=12, seed=2).text
    assert str(a) == "ab" + a.text
    assert math.isfinite(a.nll) and 0 < a.distinct_2 <= 1
    # top-k = 1 is greedy whatever the seed and temperature
    g1 = sample_text(model, tok, "ab", top_k=1, temperature=1.7, length=10, seed=3).text
    assert g1 == sample_text(model, tok, "ab", top_k=1, length=10, seed=9).text
    # a tiny nucleus keeps only the most likely token: greedy too
    assert g1 == sample_text(model, tok, "ab", top_p=1e-6, length=10, seed=4).text
    assert model.training                                       # sampling put the model back as it was


def test_bad_input_is_reported_not_raised(setup):
    model, tok = setup
    empty = sample_text(model, tok, "")
    assert empty.error and "prompt is empty" in empty.error and empty.text == ""
    unknown = sample_text(model, tok, "ab€")
    assert "outside the vocabulary" in unknown.error and str(unknown).startswith("⚠️")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        sample_text(model, tok, "ab", temperature=0.0)
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
        sample_text(model, tok, "ab", top_p=1.5)
    with pytest.raises(ValueError, match=r"^length must be .*-5"):        # its own name, not max_new_tokens
        sample_text(model, tok, "ab", length=-5)
    with pytest.raises(TypeError, match=r"^length must be"):
        sample_text(model, tok, "ab", length=2.5)


def test_widget_headless(setup):
    model, tok = setup
    play = SamplingPlayground(model, tok, prompt="ca", length=10)
    first = play.result
    assert first.error is None and len(first.text) == 10
    play.length.value = 15
    assert len(play.result.text) == 15 and play.result.text[:25] != ""
    play.seed.value = 5
    assert play.result.text == sample_text(model, tok, "ca", length=15, seed=5).text
    play.top_k.value = 1
    assert play.result.text == sample_text(model, tok, "ca", top_k=1, length=15).text
    play.prompt.value = "zz"                                    # not in the vocabulary: a message, no crash
    assert "outside the vocabulary" in play.result.error
    play.prompt.value = "b"
    assert play.result.error is None
    play.temperature.value = 0.05
    assert play.result.text == sample_text(model, tok, "b", temperature=0.05, top_k=1, length=15, seed=5).text


def test_widget_refuses_bad_arguments_by_name(setup):
    model, tok = setup
    with pytest.raises(ValueError, match=r"length must be in 1\.\.1000, got 0"):
        SamplingPlayground(model, tok, length=0)
    with pytest.raises(TypeError, match=r"length must be an int"):
        SamplingPlayground(model, tok, length=2.5)
    with pytest.raises(TypeError, match=r"prompt must be a string"):
        SamplingPlayground(model, tok, prompt=None)


def test_control_labels_are_never_cut_off(setup):
    model, tok = setup
    playground = SamplingPlayground(model, tok, length=5)
    for control in (playground.temperature, playground.top_k, playground.top_p, playground.length):
        assert control.style.description_width == "initial", control.description
