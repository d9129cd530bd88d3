import pytest
import torch
from torch import nn

from aigc_course.models.transformer import GPT, GPTConfig
from aigc_course.optim import adamw, decay_groups


def _names(model, params):
    ids = {id(p) for p in params}
    return sorted(n for n, p in model.named_parameters() if id(p) in ids)


def test_gpt_groups_match_nanogpt_rule():
    model = GPT(GPTConfig.nano(vocab_size=17))
    decay, rest = decay_groups(model, 0.1)
    names_decay, names_rest = _names(model, decay["params"]), _names(model, rest["params"])
    assert all(n.endswith("weight") and "ln" not in n for n in names_decay)
    assert "tok_emb.weight" in names_decay and "pos_emb.weight" in names_decay
    assert all(n.endswith("bias") or ".ln" in n or n.startswith("ln_f") for n in names_rest)
    # every parameter exactly once (the tied head is the token table)
    assert sum(p.numel() for g in (decay, rest) for p in g["params"]) == model.num_parameters()
    assert (decay["weight_decay"], rest["weight_decay"]) == (0.1, 0.0)


def test_decay_embeddings_false_leaves_tables_undecayed():
    model = GPT(GPTConfig.nano(vocab_size=17))
    decay, rest = decay_groups(model, 0.1, decay_embeddings=False)
    assert {"tok_emb.weight", "pos_emb.weight"} <= set(_names(model, rest["params"]))
    assert "blocks.0.mlp.fc.weight" in _names(model, decay["params"])


def test_no_decay_group_is_untouched_by_decay_when_grads_are_zero():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3))
    opt = adamw(model, lr=0.1, weight_decay=0.5)
    before = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()                                   # Adam's update is 0; only decay moves parameters
    w, b, gamma, beta = model.parameters()
    torch.testing.assert_close(w, before[0] * (1 - 0.1 * 0.5))   # θ ← θ − lr·λ·θ
    for p, p0 in ((b, before[1]), (gamma, before[2]), (beta, before[3])):
        assert torch.equal(p, p0)


def test_bad_arguments_are_named():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="weight_decay"):
        decay_groups(model, -1.0)
    with pytest.raises(ValueError, match="betas"):
        adamw(model, betas=(0.9, 1.2))
    with pytest.raises(ValueError, match="lr"):
        adamw(model, lr=0.0)


def test_chapters_06_to_09_build_adamw_with_the_decay_groups():
    """Issue 12: the transformer chapters' AdamW goes through `adamw` (no decay on biases and LayerNorm gains)."""
    from pathlib import Path

    chapters = sorted((Path(__file__).parents[1] / "chapters").glob("0[6-9]_*.py"))
    assert len(chapters) == 4
    for path in chapters:
        text = path.read_text(encoding="utf-8")
        assert "torch.optim.AdamW(" not in text, f"{path.name} builds AdamW without aigc_course.optim.adamw"
    assert all("adamw(" in p.read_text(encoding="utf-8") for p in chapters)
