"""Probabilistic PCA: exact marginal and posterior, and the ELBO identity log p(x) = ELBO(q) + KL(q ‖ p(z|x))."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from aigc_course.models.linear_gaussian import LinearGaussian, mvn_kl


def _random_q(k, seed):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(k, k, generator=g, dtype=torch.float64)
    return torch.randn(k, generator=g, dtype=torch.float64), A @ A.T + 0.1 * torch.eye(k, dtype=torch.float64)


def test_elbo_identity_for_any_gaussian_q():
    model = LinearGaussian.random(d=6, k=3, sigma=0.7, seed=1)
    x, _ = model.sample(1, torch.Generator().manual_seed(2))
    x = x[0]
    post_m, post_S = model.posterior(x)
    for seed in range(5):
        m, S = _random_q(3, seed)
        lhs = model.log_marginal(x)
        rhs = model.elbo(x, m, S) + mvn_kl(m, S, post_m, post_S)
        assert torch.isclose(lhs, rhs, atol=1e-9), (lhs, rhs)
        assert model.elbo(x, m, S) < lhs                                   # a strict bound when q != posterior
    assert torch.isclose(model.elbo(x, post_m, post_S), model.log_marginal(x), atol=1e-9)   # tight at q = posterior


def test_posterior_is_bayes_rule():
    model = LinearGaussian.random(d=4, k=2, sigma=0.5, seed=3)
    x = torch.randn(4, dtype=torch.float64)
    m, S = model.posterior(x)
    z = torch.randn(10, 2, dtype=torch.float64)
    # log p(z|x) = log p(x, z) - log p(x)
    want = model.log_joint(x, z) - model.log_marginal(x)
    assert torch.allclose(MultivariateNormal(m, S).log_prob(z), want, atol=1e-9)


def test_marginal_against_monte_carlo_and_samples():
    model = LinearGaussian.random(d=3, k=1, sigma=0.8, seed=4)
    x = torch.tensor([0.2, -0.1, 0.5], dtype=torch.float64)
    z = torch.randn(400_000, 1, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    # p(x) = E_{p(z)} p(x|z): log p(x|z) = log p(x, z) - log p(z)
    log_px_z = model.log_joint(x, z) + 0.5 * (math.log(2 * math.pi) + z.pow(2).sum(-1))
    mc = torch.logsumexp(log_px_z, 0) - math.log(len(z))
    assert abs(mc - model.log_marginal(x)) < 0.01
    xs, _ = model.sample(100_000, torch.Generator().manual_seed(6))
    assert torch.allclose(torch.cov(xs.T), model.marginal_cov(), atol=0.05)


def test_closed_form_elbo_matches_monte_carlo():
    model = LinearGaussian.random(d=5, k=2, sigma=0.6, seed=7)
    x = torch.randn(5, dtype=torch.float64)
    m, S = _random_q(2, 8)
    q = MultivariateNormal(m, S)
    z = q.sample((200_000,))
    terms = model.log_joint(x, z) - q.log_prob(z)
    se = terms.std() / math.sqrt(len(terms))
    assert abs(terms.mean() - model.elbo(x, m, S)) < 5 * se


def test_mvn_kl_matches_torch():
    m1, S1 = _random_q(3, 9)
    m2, S2 = _random_q(3, 10)
    want = kl_divergence(MultivariateNormal(m1, S1), MultivariateNormal(m2, S2))
    assert torch.isclose(mvn_kl(m1, S1, m2, S2), want, atol=1e-9)


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="need 1 <= k <= d"):
        LinearGaussian.random(d=2, k=3)
    with pytest.raises(ValueError, match="sigma must be positive"):
        LinearGaussian(torch.ones(3, 1), torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match=r"W must be \(d, k\) and b \(d,\)"):
        LinearGaussian(torch.ones(3, 1), torch.zeros(2), 1.0)
