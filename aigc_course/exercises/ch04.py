"""Checkers for chapter 04 (the mathematics of VAEs). Each raises AssertionError with a hint when wrong."""

from __future__ import annotations

import math

import torch

from aigc_course.exercises.core import exercise


def _close(got, want, what: str, atol: float = 1e-5) -> None:
    got = torch.as_tensor(got, dtype=torch.float64)
    want = torch.as_tensor(want, dtype=torch.float64)
    assert got.shape == want.shape, f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}"
    assert torch.isfinite(got).all(), f"{what}: got a NaN or inf"
    diff = (got - want).abs().max().item()
    shown = f"expected {want.flatten()[:3].tolist()}, got {got.flatten()[:3].tolist()}"
    assert torch.allclose(got, want, atol=atol, rtol=1e-4), f"{what}: largest difference {diff:.4g} ({shown})"


@exercise("ch04.gaussian_kl")
def gaussian_kl(fn) -> None:
    """fn(mu (B, Z), logvar (B, Z)) -> (B,): KL(N(mu, diag exp(logvar)) ‖ N(0, I))."""
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    want = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(-1)
    got = torch.as_tensor(fn(mu, logvar))
    assert got.shape == (4,), f"expected one KL per row, shape (4,), got {tuple(got.shape)}: sum over the last dim"
    zero = torch.as_tensor(fn(torch.zeros(2, 3), torch.zeros(2, 3)))
    _close(zero, torch.zeros(2), "KL of N(0, I) from itself must be 0 (did you forget the −1, or use σ for σ²?)")
    _close(got, want, "KL on random mu, logvar (remember logvar = log σ², so σ² = exp(logvar))")


@exercise("ch04.reparameterize")
def reparameterize(fn) -> None:
    """fn(mu, logvar, eps) -> z = mu + exp(logvar / 2) * eps, differentiable in mu and logvar."""
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(5, 2, generator=g).requires_grad_()
    logvar = torch.randn(5, 2, generator=g).requires_grad_()
    eps = torch.randn(5, 2, generator=g)
    z = fn(mu, logvar, eps)
    _close(z.detach(), (mu + (0.5 * logvar).exp() * eps).detach(),
           "z for given eps (σ = exp(½ logvar), not exp(logvar))")
    assert z.requires_grad, "z carries no gradient: build it from mu and logvar, do not sample with torch.normal"
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None, "gradients must reach both mu and logvar"
    _close(mu.grad, torch.ones(5, 2), "dz/dmu")


@exercise("ch04.score_function_gradient")
def score_function_gradient(fn) -> None:
    """fn(f, mu (Z,), sigma (Z,), eps (N, Z)) -> (Z,) REINFORCE estimate of d/dmu E_{z~N(mu, sigma²)}[f(z)]:
    mean over samples of f(z) * (z − mu) / sigma², with z = mu + sigma * eps and f applied elementwise."""
    mu, sigma = torch.tensor([0.3, -1.0]), torch.tensor([0.7, 1.2])
    eps = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(2))
    calls = []

    def f(z):
        calls.append(z.requires_grad)
        return torch.sin(z)

    got = torch.as_tensor(fn(f, mu, sigma, eps)).detach()
    z = mu + sigma * eps
    want = (torch.sin(z) * (z - mu) / sigma**2).mean(0)
    _close(got, want, "the estimate for these eps (score of N(mu, σ²) w.r.t. mu is (z − mu)/σ²)", atol=1e-4)
    exact = torch.cos(mu) * torch.exp(-sigma**2 / 2)
    assert (got - exact).abs().max() < 0.02, f"the estimate {got.tolist()} is far from the exact {exact.tolist()}"
    assert calls, "call f on the samples z"
    assert not math.isnan(float(got.sum()))
