"""2-D toy distributions: moments, exact densities against independent computations, mode coverage."""

import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from aigc_course.data import TOY_DISTRIBUTIONS, ToyDistribution, mode_coverage, toy_distribution


def _exact_mixture_moments(modes: torch.Tensor, std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of an equal-weight mixture: E[mu_k] and std^2 I + Cov_k(mu_k)."""
    modes = modes.double()
    mean = modes.mean(0)
    centred = modes - mean
    return mean, std**2 * torch.eye(2, dtype=torch.float64) + centred.T @ centred / len(modes)


def _independent_mixture(dist: ToyDistribution) -> D.MixtureSameFamily:
    k = len(dist.modes)
    components = D.Independent(D.Normal(dist.modes.double(), torch.full((k, 2), dist.std, dtype=torch.float64)), 1)
    return D.MixtureSameFamily(D.Categorical(torch.ones(k, dtype=torch.float64)), components)


def test_ring_and_grid_modes_are_where_promised():
    ring = toy_distribution("ring", n_modes=6, radius=3.0)
    assert ring.modes.shape == (6, 2) and torch.allclose(ring.modes.norm(dim=1), torch.full((6,), 3.0))
    angles = torch.atan2(ring.modes[:, 1], ring.modes[:, 0]) % (2 * math.pi)
    assert torch.allclose(angles, torch.arange(6) * (2 * math.pi / 6), atol=1e-5)
    grid = toy_distribution("grid")
    assert grid.modes.shape == (25, 2) and torch.allclose(grid.modes.mean(0), torch.zeros(2), atol=1e-6)
    assert set(grid.modes[:, 0].round().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    assert ring.std == 0.05 and grid.has_density and ring.has_density


@pytest.mark.parametrize("name, params", [("ring", {}), ("grid", {"side": 3, "std": 0.3})])
def test_sample_moments_match_the_exact_ones(name, params):
    dist = toy_distribution(name, **params)
    x = dist.sample(40_000, generator=torch.Generator().manual_seed(0)).double()
    mean, cov = _exact_mixture_moments(dist.modes, dist.std)
    assert torch.allclose(x.mean(0), mean, atol=4 * math.sqrt(cov.diagonal().max() / len(x)))
    assert torch.allclose(torch.cov(x.T), cov, atol=0.05 * cov.diagonal().max())


@pytest.mark.parametrize("name, params, half, step", [
    ("ring", {}, 2.5, 0.005), ("grid", {"side": 3, "std": 0.2}, 3.5, 0.02), ("ring", {"n_modes": 1}, 2.5, 0.005),
])
def test_density_integrates_to_one(name, params, half, step):
    dist = toy_distribution(name, **params)
    axis = torch.arange(-half, half, step, dtype=torch.float64) + step / 2  # midpoint rule
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    points = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    total = dist.log_prob(points).exp().sum() * step**2
    assert abs(float(total) - 1.0) < 2e-3


@pytest.mark.parametrize("name, params", [("ring", {}), ("ring", {"n_modes": 3, "std": 0.5}), ("grid", {})])
def test_log_prob_matches_torch_mixture_same_family(name, params):
    dist = toy_distribution(name, **params)
    x = torch.cat([dist.sample(200, torch.Generator().manual_seed(1)), 3 * torch.randn(50, 2)])
    expected = _independent_mixture(dist).log_prob(x.double())
    assert torch.allclose(dist.log_prob(x.double()), expected, atol=1e-8)
    assert dist.log_prob(x).dtype == torch.float32
    assert torch.allclose(dist.log_prob(x).double(), expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name", TOY_DISTRIBUTIONS)
def test_every_distribution_samples_deterministically(name):
    dist = toy_distribution(name)
    a = dist.sample(500, generator=torch.Generator().manual_seed(3))
    b = dist.sample(500, generator=torch.Generator().manual_seed(3))
    c = dist.sample(500, generator=torch.Generator().manual_seed(4))
    assert a.shape == (500, 2) and a.dtype == torch.float32 and torch.isfinite(a).all()
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert dist.sample(0).shape == (0, 2)


@pytest.mark.parametrize("name", ["moons", "spiral", "swissroll"])
def test_sample_only_distributions_say_so(name):
    dist = toy_distribution(name)
    assert not dist.has_density and dist.modes is None and dist.std is None
    with pytest.raises(NotImplementedError, match="no closed-form density; use ring or grid"):
        dist.log_prob(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="ring or grid"):
        mode_coverage(torch.zeros(3, 2), dist)


def test_sample_only_shapes_are_where_promised():
    gen = torch.Generator().manual_seed(0)
    moons = toy_distribution("moons", noise=0.0).sample(4000, gen)
    assert moons.mean(0).abs().max() < 0.05                                 # centred
    # each moon is half a unit circle, centred at (-0.5, -0.25) (upper moon) or (0.5, 0.25) (lower moon)
    off_upper = (moons - torch.tensor([-0.5, -0.25])).norm(dim=1).sub(1).abs()
    off_lower = (moons - torch.tensor([0.5, 0.25])).norm(dim=1).sub(1).abs()
    assert torch.minimum(off_upper, off_lower).max() < 1e-5
    assert 0.45 < (off_upper < off_lower).float().mean() < 0.55
    roll = toy_distribution("swissroll", radius=2.0, noise=0.0).sample(4000, gen)
    r = roll.norm(dim=1)
    assert r.max() <= 2.0 + 1e-5 and r.min() >= 2.0 / 3 - 1e-5             # t in [1.5 pi, 4.5 pi]
    spiral = toy_distribution("spiral", radius=1.5, noise=0.0).sample(4000, gen)
    assert spiral.norm(dim=1).max() <= 1.5 + 1e-5


def test_mode_coverage_on_constructed_samples():
    dist = toy_distribution("ring")  # 8 modes, std 0.05
    near = dist.modes[:3].repeat(10, 1) + 0.05 * torch.tensor([1.0, 0.0])   # 30 samples, 1 std off 3 modes
    far = torch.zeros(10, 2)                                                 # the centre: near no mode
    result = mode_coverage(torch.cat([near, far]), dist)
    assert result["modes_covered"] == 3 and result["n_modes"] == 8
    assert result["high_quality"] == pytest.approx(30 / 40)
    assert result["per_mode"].tolist() == [10, 10, 10, 0, 0, 0, 0, 0]
    strict = mode_coverage(near, dist, threshold_std=0.5)                    # 1 std off is now too far
    assert strict["modes_covered"] == 0 and strict["high_quality"] == 0.0
    empty = mode_coverage(torch.zeros(0, 2), dist)
    assert empty["modes_covered"] == 0 and empty["high_quality"] == 0.0


def test_mode_coverage_of_true_samples_is_complete():
    dist = toy_distribution("grid")
    result = mode_coverage(dist.sample(5000, torch.Generator().manual_seed(0)), dist)
    assert result["modes_covered"] == 25
    # within 3 std in 2-D: P(chi2_2 <= 9) = 1 - exp(-9/2)
    assert result["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)


@pytest.mark.parametrize("name, params, word", [
    ("ring", {"n_modes": 0}, "n_modes"), ("ring", {"std": 0}, "std"), ("ring", {"std": -0.1}, "std"),
    ("ring", {"radius": float("nan")}, "radius"), ("grid", {"side": 2.5}, "side"), ("grid", {"spacing": 0}, "spacing"),
    ("moons", {"noise": -1}, "noise"), ("spiral", {"n_arms": 0}, "n_arms"), ("swissroll", {"radius": 0}, "radius"),
    ("ring", {"sigma": 0.1}, "valid: n_modes, radius, std"),
])
def test_bad_parameters_say_what_is_valid(name, params, word):
    with pytest.raises(ValueError, match=word):
        toy_distribution(name, **params)


def test_numpy_numbers_are_accepted():
    dist = toy_distribution("ring", n_modes=np.int64(4), radius=np.float32(1.5), std=np.float64(0.1))
    assert dist.modes.shape == (4, 2) and dist.sample(np.int64(3)).shape == (3, 2)


def test_unknown_name_and_bad_inputs():
    with pytest.raises(ValueError, match="Did you mean 'ring'") as info:
        toy_distribution("rign")
    assert all(name in str(info.value) for name in TOY_DISTRIBUTIONS)
    ring = toy_distribution("ring")
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        ring.log_prob(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="n must be"):
        ring.sample(-1)
    with pytest.raises(ValueError, match="threshold_std"):
        mode_coverage(torch.zeros(2, 2), ring, threshold_std=0)
