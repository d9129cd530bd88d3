"""Checkers for chapter 02 (the mathematics of GANs)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from aigc_course.exercises.core import exercise


@exercise("ch02.optimal_discriminator")
def optimal_discriminator(fn) -> None:
    """``fn(p_data, p_g)``: D*(x) = p_data / (p_data + p_g) from the two densities at the same points, and ½
    where both vanish (neither is more likely)."""
    p = torch.tensor([0.4, 0.1, 0.0, 2.0, 1e-3], dtype=torch.float64)
    q = torch.tensor([0.4, 0.3, 0.5, 0.0, 3e-3], dtype=torch.float64)
    got = torch.as_tensor(fn(p, q), dtype=torch.float64)
    expected = p / (p + q)
    assert got.shape == p.shape, f"expected shape {tuple(p.shape)}, got {tuple(got.shape)}"
    if torch.allclose(got, 1 - expected):
        raise AssertionError("you returned p_g / (p_data + p_g): D* is the probability that x is REAL")
    assert torch.allclose(got, expected, atol=1e-9), (
        f"D* at densities p_data={p.tolist()}, p_g={q.tolist()} should be {expected.tolist()}, got {got.tolist()}")
    both_zero = torch.as_tensor(fn(torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)),
                                dtype=torch.float64)
    assert torch.isfinite(both_zero).all(), (
        f"where both densities are 0 your D* is {both_zero.tolist()}: 0/0 is NaN. Guard it (torch.where) and "
        "return ½ there, the limit of p/(p+q) along p = q")
    assert torch.allclose(both_zero, torch.full((3,), 0.5, dtype=torch.float64)), (
        f"where both densities are 0, D* should be ½ (neither real nor fake is more likely), got {both_zero.tolist()}")


@exercise("ch02.js_divergence")
def js_divergence(fn) -> None:
    """``fn(p, q)``: JS(p ‖ q) in nats for two probability vectors (zeros allowed)."""
    cases = [([0.5, 0.5], [0.5, 0.5]), ([1.0, 0.0], [0.0, 1.0]), ([0.2, 0.3, 0.5], [0.6, 0.0, 0.4])]
    for p_list, q_list in cases:
        p, q = torch.tensor(p_list, dtype=torch.float64), torch.tensor(q_list, dtype=torch.float64)
        m = (p + q) / 2
        kl = lambda a, b: sum(ai * math.log(ai / bi) for ai, bi in zip(a.tolist(), b.tolist()) if ai > 0)
        expected = 0.5 * kl(p, m) + 0.5 * kl(q, m)
        got = float(fn(p, q))
        assert math.isfinite(got), f"JS({p_list} ‖ {q_list}) gave {got}: terms with p = 0 contribute 0 (0 log 0 = 0)"
        if abs(got - expected / math.log(2)) < 1e-6 and expected > 0:
            raise AssertionError("that is in bits: use the natural log (nats), so that JS ≤ log 2")
        assert abs(got - expected) < 1e-6, (
            f"JS({p_list} ‖ {q_list}) should be {expected:.6f} nats, got {got:.6f}; "
            "JS = ½ KL(p ‖ m) + ½ KL(q ‖ m) with m = (p + q)/2")


@exercise("ch02.non_saturating_loss")
def non_saturating_loss(fn) -> None:
    """``fn(fake_logits)``: the non-saturating generator loss −E[log σ(ℓ)], stable for any logit."""
    logits = torch.tensor([-3.0, 0.0, 2.0, 0.5])
    expected = F.softplus(-logits).mean()
    got = torch.as_tensor(fn(logits))
    saturating = -F.softplus(logits).mean()
    if torch.allclose(got, saturating, atol=1e-5):
        raise AssertionError("that is the saturating minimax loss E[log(1 − D)]: G should minimise −E[log D]")
    assert torch.allclose(got, expected, atol=1e-5), (
        f"for logits {logits.tolist()} expected {expected.item():.5f}, got {float(got):.5f}")
    extreme = torch.tensor([-200.0, 200.0])
    value = torch.as_tensor(fn(extreme))
    assert torch.isfinite(value), "got inf/nan at logit −200: write −log σ(ℓ) as softplus(−ℓ), not log(sigmoid)"
    assert abs(float(value) - 100.0) < 1e-3, f"at logits ±200 the loss is 100, got {float(value)}"
    x = torch.tensor([-10.0], requires_grad=True)
    (grad,) = torch.autograd.grad(torch.as_tensor(fn(x)), x)
    assert abs(grad.item() + 1) < 1e-3, "its gradient at ℓ = −10 should be ≈ −1 (non-saturating)"
