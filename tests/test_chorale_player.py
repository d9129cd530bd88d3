"""The chorale player: the pure function, and the widget driven headless."""

import torch

from aigc_course.data.music import ChoraleTokenizer
from aigc_course.models.transformer import GPT, GPTConfig
from aigc_course.widgets.chorale_player import ChoralePlayer, new_chorale


def _model():
    torch.manual_seed(0)
    return GPT(GPTConfig.nano(vocab_size=ChoraleTokenizer().vocab_size))


def test_new_chorale_is_reproducible_and_depends_on_the_knobs():
    tok, model = ChoraleTokenizer(), _model()
    a = new_chorale(model, tok, temperature=1.0, top_p=1.0, steps=6, seed=1, block_size=32)
    b = new_chorale(model, tok, temperature=1.0, top_p=1.0, steps=6, seed=1, block_size=32)
    assert a.chorale == b.chorale and a.notes == b.notes
    c = new_chorale(model, tok, temperature=0.1, top_p=0.05, steps=6, seed=1, block_size=32)
    assert c.chorale != a.chorale
    assert "steps" in str(a) and 0 <= a.in_range <= 1
    model.train()
    new_chorale(model, tok, steps=2, block_size=32)
    assert model.training                                          # the caller's mode is given back


def test_widget_controls_change_the_result():
    player = ChoralePlayer(_model(), ChoraleTokenizer(), steps=6, block_size=32)
    first = player.result
    player.seed.value = 5
    assert player.result.chorale != first.chorale
    player.temperature.value = 0.3
    assert player.result.temperature == 0.3
    player.top_p.value = 0.5
    assert player.result.top_p == 0.5
