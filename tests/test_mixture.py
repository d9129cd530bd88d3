"""Gaussian mixture: density against torch.distributions, sampling statistics, fitting by max likelihood."""

import math

import pytest
import torch
from torch import distributions as td

from aigc_course.models.mixture import GaussianMixture, MixtureConfig, fit_mixture, gaussian_log_prob, nll


def _random_mixture(seed=0, k=3, d=2):
    torch.manual_seed(seed)
    model = GaussianMixture(MixtureConfig(n_components=k, dim=d))
    with torch.no_grad():
        model.logits.normal_()
        model.log_std.uniform_(-1.0, 0.5)
    return model


def _reference(model):
    mix = td.Categorical(logits=model.logits.detach())
    comp = td.Independent(td.Normal(model.means.detach(), model.log_std.detach().exp()), 1)
    return td.MixtureSameFamily(mix, comp)


def test_gaussian_log_prob_matches_torch():
    x, mu, s = torch.randn(5, 3), torch.randn(3), torch.randn(3) * 0.3
    expected = td.Independent(td.Normal(mu, s.exp()), 1).log_prob(x)
    assert torch.allclose(gaussian_log_prob(x, mu, s), expected, atol=1e-5)


def test_log_prob_matches_torch_distributions_and_integrates_to_one():
    model = _random_mixture()
    x = torch.randn(20, 2) * 2
    assert torch.allclose(model.log_prob(x), _reference(model).log_prob(x), atol=1e-5)
    xs = torch.linspace(-12, 12, 601)
    gx, gy = torch.meshgrid(xs, xs, indexing="xy")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)          # (601², 2)
    with torch.no_grad():
        mass = model.log_prob(grid).exp().sum() * (xs[1] - xs[0]) ** 2
    assert mass.item() == pytest.approx(1.0, abs=2e-3)


def test_samples_have_the_mixture_mean_and_covariance():
    model = _random_mixture(seed=1)
    ref = _reference(model)
    s = model.sample(40_000, generator=torch.Generator().manual_seed(0))
    assert s.shape == (40_000, 2)
    assert torch.allclose(s.mean(0), ref.mean, atol=0.05)
    assert torch.allclose(s.var(0), ref.variance, rtol=0.05, atol=0.02)


def test_shapes_parameter_count_and_determinism():
    model = GaussianMixture(MixtureConfig.tiny())                          # K = 2, D = 2
    assert sum(p.numel() for p in model.parameters()) == 2 + 2 * 2 + 2 * 2
    a = model.sample(5, generator=torch.Generator().manual_seed(3))
    b = model.sample(5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_fit_recovers_a_two_component_mixture_and_nll_goes_down():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-2.0, 0.0], [2.0, 1.0]])
    data = centres[torch.randint(2, (2000,), generator=g)] + 0.3 * torch.randn(2000, 2, generator=g)
    model = GaussianMixture.from_data(MixtureConfig(n_components=2), data, generator=g)
    before = nll(model, data).item()
    history = fit_mixture(model, data, steps=500, lr=0.05, progress=False)
    after = nll(model, data).item()
    assert after < before - 0.5
    # the true NLL of the data: entropy of the generating mixture ≈ log 2 + 2·(½ log(2πe·0.09))
    true_nll = math.log(2) + 2 * 0.5 * math.log(2 * math.pi * math.e * 0.09)
    assert after == pytest.approx(true_nll, abs=0.1)
    found = model.means.detach()[model.means.detach()[:, 0].argsort()]
    assert torch.allclose(found, centres, atol=0.1)
    assert len(history.logs["nll"]) == 500


@pytest.mark.parametrize("kwargs, match", [
    ({"n_components": 0}, "n_components must be a positive int"),
    ({"dim": 1.5}, "dim must be a positive int"),
    ({"init_std": 0.0}, "init_std must be positive"),
])
def test_bad_configs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MixtureConfig(**kwargs)


def test_bad_inputs_raise():
    model = GaussianMixture(MixtureConfig.tiny())
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2\)"):
        model.log_prob(torch.randn(4, 3))
    with pytest.raises(ValueError, match="means must have shape"):
        GaussianMixture(MixtureConfig.tiny(), means=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="N >= 2"):
        GaussianMixture.from_data(MixtureConfig.tiny(), torch.zeros(1, 2))


def test_farthest_point_init_puts_one_mean_on_each_separated_mode():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0]])
    data = centres[torch.arange(400) % 4] + 0.1 * torch.randn(400, 2, generator=g)
    model = GaussianMixture.from_data(MixtureConfig(n_components=4), data, generator=g)
    nearest = torch.cdist(model.means.detach(), centres).argmin(dim=1)
    assert sorted(nearest.tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="'farthest' or 'random'"):
        GaussianMixture.from_data(MixtureConfig(n_components=4), data, init="kmeans")
