"""Checkers for chapter 05 (VAEs on images). Each raises AssertionError with a hint when an answer is wrong."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from aigc_course.exercises.ch04 import _close
from aigc_course.exercises.core import exercise


@exercise("ch05.bernoulli_log_likelihood")
def bernoulli_log_likelihood(fn) -> None:
    """fn(logits (B, C, H, W), x (B, C, H, W) in {0, 1}) -> (B,): Σ_pixels x log p + (1 − x) log(1 − p)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 1, 4, 4, generator=g) * 2
    x = (torch.rand(3, 1, 4, 4, generator=g) > 0.5).float()
    want = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    got = torch.as_tensor(fn(logits, x))
    assert got.shape == (3,), f"expected one number per image, shape (3,), got {tuple(got.shape)}"
    assert (got <= 0).all(), "a log-probability of discrete pixels is never positive: check the sign"
    _close(got, want, "log p(x|z) on ordinary logits")
    extreme = torch.tensor([[[[40.0, -40.0]]]])
    _close(fn(extreme, torch.tensor([[[[0.0, 1.0]]]])), torch.tensor([-80.0]),
           "log p(x|z) for logits ±40 (log(sigmoid) underflows: use F.logsigmoid or BCE with logits)", atol=1e-3)


@exercise("ch05.log_mean_exp")
def log_mean_exp(fn) -> None:
    """fn(log_w (k, B)) -> (B,): log( (1/k) Σ_i exp(log_w[i]) ), stable for large |log_w|."""
    g = torch.Generator().manual_seed(1)
    log_w = torch.randn(7, 3, generator=g)
    _close(fn(log_w), log_w.exp().mean(0).log(), "on small log-weights")
    big = torch.tensor([[-900.0, 800.0], [-901.0, 800.0]])
    want = torch.tensor([-900.0 + math.log((1 + math.exp(-1)) / 2), 800.0])
    _close(fn(big), want, "on log-weights near ±900 (exp overflows: subtract the max first, or use logsumexp)",
           atol=1e-4)


@exercise("ch05.gaussian_kl_diag")
def gaussian_kl_diag(fn) -> None:
    """fn(mu_q, logvar_q, mu_p, logvar_p) -> (B,): KL(N(mu_q, σ_q²) ‖ N(mu_p, σ_p²)), diagonal, summed."""
    g = torch.Generator().manual_seed(2)
    mq, lq, mp, lp = (torch.randn(4, 3, generator=g) for _ in range(4))
    q = torch.distributions.Normal(mq, (0.5 * lq).exp())
    p = torch.distributions.Normal(mp, (0.5 * lp).exp())
    want = torch.distributions.kl_divergence(q, p).sum(-1)
    _close(fn(mq, lq, mq, lq), torch.zeros(4), "KL of a distribution from itself must be 0")
    got = fn(mq, lq, mp, lp)
    assert not torch.allclose(torch.as_tensor(got), torch.as_tensor(fn(mp, lp, mq, lq))), \
        "KL is not symmetric: KL(q‖p) ≠ KL(p‖q) — check which variance divides"
    if torch.allclose(torch.as_tensor(got), torch.distributions.kl_divergence(p, q).sum(-1), atol=1e-4):
        raise AssertionError("you computed KL(p ‖ q): the direction is reversed. KL(q ‖ p) = Σ log(σ_p/σ_q) + "
                             "(σ_q² + (μ_q − μ_p)²) / (2σ_p²) − ½: the prior p's variance divides")
    _close(got, want, "KL between random diagonal Gaussians")
