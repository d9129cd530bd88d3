"""Checkers for chapter 10's exercises (diffusion and flow matching). Each rejects a plausible wrong answer
with a hint that names the mistake."""

import math

import torch

from aigc_course.exercises.core import exercise


def _betas() -> torch.Tensor:
    return torch.linspace(1e-3, 0.2, 12, dtype=torch.float64)


@exercise("ch10.alpha_bar")
def alpha_bar(fn) -> None:
    """fn(betas (T,)) -> ᾱ_t (T,) = ∏_{s ≤ t} (1 − β_s)."""
    betas = _betas()
    got = torch.as_tensor(fn(betas.clone()), dtype=torch.float64)
    expected = torch.cumprod(1 - betas, 0)
    assert got.shape == expected.shape, f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    if torch.allclose(got, 1 - betas):
        raise AssertionError("that is α_t = 1 − β_t for each step alone; ᾱ_t multiplies all of them up to t")
    if torch.allclose(got, 1 - torch.cumsum(betas, 0)):
        raise AssertionError("1 − Σ β_s is only the first-order approximation: multiply the (1 − β_s)")
    assert torch.allclose(got, expected, rtol=1e-9), "ᾱ_t = (1 − β_1)(1 − β_2)···(1 − β_t)"


@exercise("ch10.q_sample")
def q_sample(fn) -> None:
    """fn(x0, alpha_bar_t (scalar tensor), eps) -> x_t drawn from q(x_t | x_0)."""
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    ab = torch.tensor(0.3)
    got = torch.as_tensor(fn(x0, ab, eps))
    if torch.allclose(got, ab * x0 + (1 - ab) * eps, atol=1e-6):
        raise AssertionError("those are the variances' weights: the mean is √ᾱ x_0 and the std √(1 − ᾱ)")
    if torch.allclose(got, ab.sqrt() * x0 + (1 - ab) * eps, atol=1e-6):
        raise AssertionError("the noise is multiplied by the standard deviation √(1 − ᾱ_t), not the variance")
    assert torch.allclose(got, ab.sqrt() * x0 + (1 - ab).sqrt() * eps, atol=1e-6), \
        "x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε"


@exercise("ch10.ddim_step")
def ddim_step(fn) -> None:
    """fn(x_t, eps_hat, ab_t, ab_s) -> x_s, one deterministic DDIM step from noise level ᾱ_t to ᾱ_s."""
    from aigc_course.models.diffusion import ddim_step as reference

    g = torch.Generator().manual_seed(1)
    x_t, eps = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    ab_t, ab_s = torch.tensor(0.2), torch.tensor(0.7)
    got = torch.as_tensor(fn(x_t, eps, ab_t, ab_s))
    x0 = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
    if torch.allclose(got, x0, atol=1e-5):
        raise AssertionError("that is the predicted x̂_0: re-noise it to level ᾱ_s with the same ε̂")
    if torch.allclose(got, ab_s.sqrt() * x0 + (1 - ab_s).sqrt() * torch.randn(5, 2, generator=g), atol=1e-5):
        raise AssertionError("DDIM (η = 0) adds no fresh noise: reuse the predicted ε̂")
    assert torch.allclose(got, reference(x_t, eps, ab_t, ab_s), atol=1e-5), \
        "x_s = √ᾱ_s x̂_0 + √(1 − ᾱ_s) ε̂ with x̂_0 = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t"
    assert torch.allclose(torch.as_tensor(fn(x_t, eps, ab_t, ab_t)), x_t, atol=1e-5), \
        "a step to the same noise level must not move x"


@exercise("ch10.guided_eps")
def guided_eps(fn) -> None:
    """fn(eps_cond, eps_uncond, w) -> the classifier-free guided noise (Ho & Salimans' w, 0 = no guidance)."""
    g = torch.Generator().manual_seed(2)
    cond, uncond = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    for w in (1.5, 4.0, 0.0):
        got = torch.as_tensor(fn(cond, uncond, w))
        if w and torch.allclose(got, uncond + w * (cond - uncond), atol=1e-6):
            raise AssertionError("with that form w = 1 is already the plain conditional model; in the "
                                 "chapter's convention (1 + w) ε(x, y) − w ε(x, ∅), w = 0 means no guidance")
        if w and torch.allclose(got, (1 - w) * cond + w * uncond, atol=1e-6):
            raise AssertionError("the signs are swapped: guidance pushes *away* from the unconditional ε")
        assert torch.allclose(got, (1 + w) * cond - w * uncond, atol=1e-6), f"wrong guided ε for w = {w}"


@exercise("ch10.flow_target")
def flow_target(fn) -> None:
    """fn(x0 noise, x1 data, t (B,)) -> (x_t, target velocity) on the straight path from noise to data."""
    g = torch.Generator().manual_seed(3)
    x0, x1, t = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g), torch.rand(6, generator=g)
    xt, u = (torch.as_tensor(v) for v in fn(x0, x1, t))
    want_xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    if torch.allclose(xt, t[:, None] * x0 + (1 - t[:, None]) * x1, atol=1e-6):
        raise AssertionError("time runs from noise (t = 0) to data (t = 1): x_t = (1 − t) x_0 + t x_1")
    assert torch.allclose(xt, want_xt, atol=1e-6), "x_t = (1 − t) x_0 + t x_1"
    if torch.allclose(u, x0 - x1, atol=1e-6):
        raise AssertionError("the velocity points from noise to data: d x_t / dt = x_1 − x_0")
    assert torch.allclose(u, x1 - x0, atol=1e-6), "the target is d x_t / dt = x_1 − x_0"
    assert not math.isnan(float(u.sum()))
