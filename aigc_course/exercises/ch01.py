"""Checkers for chapter 01 (generative models: density, sampling, likelihood)."""

from __future__ import annotations

import math

import torch

from aigc_course.exercises.core import exercise


@exercise("ch01.gaussian_log_prob")
def gaussian_log_prob(fn) -> None:
    """``fn(x, mu, sigma)``: log N(x; mu, sigma²) elementwise, for tensors that broadcast."""
    x = torch.tensor([0.0, 1.0, -2.5, 3.0], dtype=torch.float64)
    mu, sigma = torch.tensor(0.5, dtype=torch.float64), torch.tensor(1.5, dtype=torch.float64)
    expected = torch.distributions.Normal(mu, sigma).log_prob(x)
    got = torch.as_tensor(fn(x, mu, sigma), dtype=torch.float64)
    assert got.shape == x.shape, f"expected one value per x, shape {tuple(x.shape)}, got {tuple(got.shape)}"
    if torch.allclose(got, expected.exp(), atol=1e-6):
        raise AssertionError("you returned the density p(x); the exercise asks for its logarithm")
    assert torch.allclose(got, expected, atol=1e-6), (
        f"log N(x; 0.5, 1.5²) at x = {x.tolist()} should be {expected.tolist()}, got {got.tolist()}; "
        "remember −log σ and −½ log 2π")
    # broadcasting: one (mu, sigma) per row against every x -> a (3, 4) table
    mus = torch.tensor([[-1.0], [0.0], [2.0]], dtype=torch.float64)
    sigmas = torch.tensor([[0.5], [1.0], [3.0]], dtype=torch.float64)
    table = torch.as_tensor(fn(x, mus, sigmas), dtype=torch.float64)
    want = torch.distributions.Normal(mus, sigmas).log_prob(x)
    assert table.shape == want.shape, (
        f"with mu and sigma of shape (3, 1) and x of shape (4,) the answer should broadcast to (3, 4), got "
        f"{tuple(table.shape)}: use tensor operations (torch.log), not math.log or .item()")
    assert torch.allclose(table, want, atol=1e-6), (
        f"with one (mu, sigma) per row the values are wrong: expected {want[:, 0].tolist()} in the first "
        f"column, got {table[:, 0].tolist()}; every term must use that row's own sigma")


@exercise("ch01.gaussian_kl")
def gaussian_kl(fn) -> None:
    """``fn(mu1, sigma1, mu2, sigma2)``: KL(N(mu1, sigma1²) ‖ N(mu2, sigma2²)) in nats."""
    cases = [(0.0, 1.0, 0.0, 1.0), (1.0, 1.0, 0.0, 1.0), (0.0, 2.0, 1.0, 0.5), (-1.0, 0.3, 2.0, 3.0)]
    for m1, s1, m2, s2 in cases:
        p = torch.distributions.Normal(torch.tensor(m1), torch.tensor(s1))
        q = torch.distributions.Normal(torch.tensor(m2), torch.tensor(s2))
        expected = torch.distributions.kl_divergence(p, q).item()
        got = float(fn(torch.tensor(m1), torch.tensor(s1), torch.tensor(m2), torch.tensor(s2)))
        reverse = torch.distributions.kl_divergence(q, p).item()
        if abs(expected - reverse) > 1e-3 and abs(got - reverse) < 1e-4:
            raise AssertionError("you computed KL(q ‖ p): KL is not symmetric, swap the roles")
        assert abs(got - expected) < 1e-4, (
            f"KL(N({m1}, {s1}²) ‖ N({m2}, {s2}²)) should be {expected:.5f}, got {got:.5f}; "
            "KL = log(σ₂/σ₁) + (σ₁² + (μ₁ − μ₂)²)/(2σ₂²) − ½")


@exercise("ch01.mixture_log_prob")
def mixture_log_prob(fn) -> None:
    """``fn(x, logits, means, stds)``: log-density (N,) of a mixture of isotropic 2-D Gaussians,
    weights softmax(logits) (K,), means (K, 2), stds (K,)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 2, generator=g, dtype=torch.float64) * 3
    logits = torch.randn(3, generator=g, dtype=torch.float64)
    means = torch.randn(3, 2, generator=g, dtype=torch.float64)
    stds = torch.tensor([0.5, 1.0, 0.05], dtype=torch.float64)
    mix = torch.distributions.Categorical(logits=logits)
    comp = torch.distributions.Independent(torch.distributions.Normal(means, stds[:, None].expand(3, 2)), 1)
    expected = torch.distributions.MixtureSameFamily(mix, comp).log_prob(x)
    got = torch.as_tensor(fn(x, logits, means, stds), dtype=torch.float64)
    assert got.shape == (6,), f"expected shape (6,), one log-density per point, got {tuple(got.shape)}"
    assert torch.isfinite(got).all(), "got inf/nan: use torch.logsumexp instead of log(sum(exp(...)))"
    assert torch.allclose(got, expected, atol=1e-6), (
        f"expected {expected.tolist()}, got {got.tolist()}; log p(x) = logsumexp_k [log π_k + log N(x; μ_k, σ_k² I)]"
        f", with log π = log_softmax(logits) and a 2-D Gaussian normaliser −log(2π σ²)")
    far = torch.tensor([[40.0, 40.0]], dtype=torch.float64)
    assert torch.isfinite(torch.as_tensor(fn(far, logits, means, stds))).all(), (
        "far from every mode the density underflows to 0: compute in log space with torch.logsumexp")


@exercise("ch01.mle_gaussian")
def mle_gaussian(fn) -> None:
    """``fn(x)`` -> (mu, sigma): the maximum-likelihood Gaussian for 1-D data x (N,)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(50, generator=g, dtype=torch.float64) * 2 + 1
    mu, sigma = (float(v) for v in fn(x))
    assert abs(mu - x.mean().item()) < 1e-6, f"μ̂ should be the sample mean {x.mean().item():.5f}, got {mu:.5f}"
    biased = x.var(unbiased=False).sqrt().item()
    if abs(sigma - x.var(unbiased=True).sqrt().item()) < 1e-6:
        raise AssertionError("that is the unbiased estimate (divides by N − 1); maximum likelihood divides by N")
    assert abs(sigma - biased) < 1e-6, f"σ̂ should be {biased:.5f} (√ of the mean squared deviation), got {sigma:.5f}"
    assert math.isfinite(mu)
