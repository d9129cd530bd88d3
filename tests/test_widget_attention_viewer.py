"""Attention viewer: the pure functions, then the widget driven headless."""

import pytest
import torch

from aigc_course.data import CharTokenizer
from aigc_course.models.transformer import GPT, GPTConfig
from aigc_course.viz import plot_attention
from aigc_course.widgets.attention_viewer import AttentionViewer, attention_map

TEXTS = ["def f(x):\n    return x", "hello world"]


def make():
    tok = CharTokenizer.from_text("".join(TEXTS))
    torch.manual_seed(0)
    model = GPT(GPTConfig.nano(vocab_size=tok.vocab_size, n_layer=2, n_head=2, block_size=16))
    return model, tok


def test_attention_map_is_causal_and_matches_the_model():
    model, tok = make()
    tokens, w = attention_map(model, tok, TEXTS[1], layer=1, head=1)
    assert tokens == list("hello world") and w.shape == (11, 11)
    assert torch.allclose(w.sum(-1), torch.ones(11), atol=1e-6)
    assert torch.all(w.triu(1) == 0)
    ref = model.attention_maps(torch.tensor([tok.encode(TEXTS[1])]))[1, 0, 1]
    assert torch.allclose(w, ref)
    _, mean = attention_map(model, tok, TEXTS[1], layer=1, head=None)
    assert torch.allclose(mean, model.attention_maps(torch.tensor([tok.encode(TEXTS[1])]))[1, 0].mean(0))


def test_long_text_keeps_the_last_block_and_bad_choices_raise():
    model, tok = make()
    tokens, w = attention_map(model, tok, TEXTS[0], layer=0, head=0)
    assert "".join(tokens) == TEXTS[0][-16:] and w.shape == (16, 16)
    with pytest.raises(ValueError, match=r"layer must be in 0\.\.1"):
        attention_map(model, tok, TEXTS[0], layer=2, head=0)
    with pytest.raises(ValueError, match=r"head must be in 0\.\.1 or None"):
        attention_map(model, tok, TEXTS[0], layer=0, head=5)
    with pytest.raises(ValueError, match=r"weights must be \(3, 3\)"):
        plot_attention(torch.zeros(2, 2), ["a", "b", "c"])


def test_plot_attention_labels_tokens():
    fig = plot_attention(torch.eye(3), ["a", " ", "\n"], title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "␣", "\\n"]
    assert ax.get_title() == "t"


def test_widget_headless_controls_drive_the_map():
    model, tok = make()
    viewer = AttentionViewer(model, tok, TEXTS, layer=0, head=0)
    first = viewer.weights.clone()
    viewer.layer.value = 1
    assert not torch.allclose(viewer.weights, first)
    assert torch.allclose(viewer.weights, attention_map(model, tok, TEXTS[0], 1, 0)[1])
    viewer.head.value = "mean"
    assert viewer.head_index is None and viewer.head.label == "mean of heads"
    assert torch.allclose(viewer.weights, attention_map(model, tok, TEXTS[0], 1, None)[1])
    viewer.text.value = TEXTS[1]
    assert viewer.tokens == list(TEXTS[1]) and viewer.weights.shape == (11, 11)
    assert "layer 1, mean of heads" in viewer.figure().axes[0].get_title()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"layer": 5}, ValueError, r"layer must be in 0\.\.1, got 5"),
    ({"layer": -1}, ValueError, r"layer must be in 0\.\.1, got -1"),
    ({"layer": 1.0}, TypeError, r"layer must be an int in 0\.\.1, got 1\.0"),
    ({"head": 7}, ValueError, r"head \(or None for the mean of heads\) must be in 0\.\.1, got 7"),
    ({"head": "0"}, TypeError, r"head .* must be an int in 0\.\.1, got '0'"),
])
def test_widget_refuses_bad_arguments_by_name(kwargs, error, match):
    model, tok = make()
    with pytest.raises(error, match=match):
        AttentionViewer(model, tok, TEXTS, **kwargs)


def test_widget_refuses_bad_texts():
    model, tok = make()
    for texts in ([], "hello", ["ok", ""], [3]):
        with pytest.raises(ValueError, match="texts must be a non-empty list of non-empty strings"):
            AttentionViewer(model, tok, texts)


def test_long_texts_get_readable_tick_labels():
    tok = CharTokenizer.from_text("abcdefghij \n")
    torch.manual_seed(0)
    model = GPT(GPTConfig.nano(vocab_size=tok.vocab_size, n_layer=1, n_head=2, block_size=64))
    viewer = AttentionViewer(model, tok, ["abcdefghij \n" * 5])
    ax = viewer.figure().axes[0]
    labels = ax.get_xticklabels()
    assert len(viewer.tokens) == 60 and 15 <= len(labels) <= 32      # every 2nd position, not 60 squeezed
    assert all(label.get_fontsize() >= 8 for label in labels + ax.get_yticklabels())
