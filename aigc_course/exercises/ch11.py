"""Checkers for chapter 11's exercises (pre-training and fine-tuning)."""

import torch
from torch import nn

from aigc_course.exercises.core import exercise


@exercise("ch11.masking_rule")
def masking_rule(fn) -> None:
    """fn(ids, chosen, action, random_ids, mask_id) -> inputs: BERT's 80/10/10 rule on given draws."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(2, 30, (8, 40), generator=g)
    chosen = torch.rand(ids.shape, generator=g) < 0.3
    action = torch.rand(ids.shape, generator=g)
    random_ids = torch.randint(30, ids.shape, generator=g)
    expected = torch.where(chosen & (action < 0.8), 0, ids)
    expected = torch.where(chosen & (action >= 0.8) & (action < 0.9), random_ids, expected)
    got = torch.as_tensor(fn(ids.clone(), chosen, action, random_ids, 0))
    assert got.shape == ids.shape, f"the inputs must keep the shape {tuple(ids.shape)}, got {tuple(got.shape)}"
    assert torch.equal(got[~chosen], ids[~chosen]), "positions that were not chosen must keep their token"
    masked = chosen & (action < 0.8)
    assert (got[masked] == 0).all(), "a chosen position with action < 0.8 must become the MASK id"
    assert torch.equal(got, expected), ("a chosen position with 0.8 <= action < 0.9 takes the random id; "
                                        "with action >= 0.9 it keeps its own token")


@exercise("ch11.lora_forward")
def lora_forward(fn) -> None:
    """fn(x (N, in), W (out, in), b (out,), A (r, in), B (out, r), alpha) -> y (N, out)."""
    from aigc_course.finetune import LoRALinear

    torch.manual_seed(0)
    base = nn.Linear(6, 5)
    layer = LoRALinear(base, r=3, alpha=6.0)
    with torch.no_grad():
        layer.B.normal_()
    x = torch.randn(4, 6)
    got = fn(x, base.weight.detach(), base.bias.detach(), layer.A.detach(), layer.B.detach(), 6.0)
    with torch.no_grad():
        expected = layer(x)
        unscaled = base(x) + x @ (layer.B @ layer.A).T
    assert got.shape == expected.shape, f"y must be (N, out) = {tuple(expected.shape)}, got {tuple(got.shape)}"
    assert not torch.allclose(got, unscaled, atol=1e-5), "scale the low-rank update by alpha / r (here 6 / 3)"
    assert torch.allclose(got, expected, atol=1e-5), "y = x Wᵀ + b + (alpha / r) · x Aᵀ Bᵀ"


@exercise("ch11.prompt_targets")
def prompt_targets(fn) -> None:
    """fn(ids: list[int], n_prompt: int) -> targets for inputs ids[:-1], with -100 where the target is prompt."""
    cases = [(([5, 6, 7, 8, 9], 2), [-100, 7, 8, 9]),
             (([5, 6, 7], 1), [6, 7]),
             (([1, 2, 3, 4], 3), [-100, -100, 4])]
    for (ids, n), expected in cases:
        got = [int(t) for t in fn(list(ids), n)]
        assert got == expected, (f"ids {ids} with a prompt of {n} tokens: inputs are ids[:-1], target t is "
                                 f"ids[t + 1], and it counts only if ids[t + 1] is an answer token; expected "
                                 f"{expected}, got {got}")


@exercise("ch11.lora_parameters")
def lora_parameters(fn) -> None:
    """fn(d_in, d_out, r) -> trainable parameters LoRA adds to one d_out x d_in layer."""
    from aigc_course.finetune import LoRALinear

    for d_in, d_out, r in [(128, 384, 4), (64, 64, 1), (768, 2304, 8)]:
        layer = LoRALinear(nn.Linear(d_in, d_out), r=r)
        expected = sum(p.numel() for p in layer.parameters() if p.requires_grad)
        got = int(fn(d_in, d_out, r))
        assert got == expected, (f"a {d_out} x {d_in} layer with rank {r}: A is r x d_in and B is d_out x r, "
                                 f"so {expected}; you returned {got}")
