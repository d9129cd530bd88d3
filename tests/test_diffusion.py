"""Diffusion: schedules, forward process, posterior, ELBO weights, scores, guidance, samplers, errors."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal

from aigc_course.data import toy_distribution
from aigc_course.models.diffusion import (
    NoiseSchedule,
    VPrediction,
    cosine_schedule,
    ddim_sample,
    ddim_step,
    ddim_timesteps,
    ddpm_sample,
    diffusion_loss,
    drop_labels,
    elbo_weights,
    eps_to_score,
    forward_step,
    guided,
    linear_schedule,
    mixture_score,
    nll_bound,
    posterior,
    predict_x0,
    q_sample,
)
from aigc_course.models.unet import TimeMLP, TimeMLPConfig


def test_schedules_alpha_bar_is_the_product_and_snr_falls():
    for sched in (linear_schedule(50), cosine_schedule(50)):
        prod = torch.ones(())
        for t in range(1, 51):
            prod = prod * (1 - sched.betas[t])
            assert math.isclose(float(sched.alpha_bars[t]), float(prod), rel_tol=1e-12)
        snr = sched.snr()
        assert snr.shape == (50,) and bool((snr[1:] < snr[:-1]).all())
    c = cosine_schedule(1000)
    f = lambda t: math.cos(math.pi / 2 * (t / 1000 + 0.008) / 1.008) ** 2  # noqa: E731
    assert math.isclose(float(c.alpha_bars[500]), f(500) / f(0), rel_tol=1e-9)
    assert math.isclose(float(linear_schedule(1000).betas[1000]), 0.02, rel_tol=1e-9)


@pytest.mark.parametrize("betas", [[0.0, 0.1, 1.0], [0.0, -0.1], [0.0, 0.0], [0.1, 0.2], [0.0]])
def test_bad_schedules_raise(betas):
    with pytest.raises(ValueError, match="β|betas"):
        NoiseSchedule(torch.tensor(betas, dtype=torch.float64))


@pytest.mark.parametrize("T", [0, -3, 2.5, True])
def test_bad_T_raises(T):
    with pytest.raises(ValueError, match="T .*int >= 1"):
        linear_schedule(T)


def test_forward_chain_matches_closed_form_in_distribution():
    sched, g = cosine_schedule(40), torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1), 1.5)
    x = x0.clone()
    for t in range(1, 41):
        x = forward_step(x, torch.full((len(x),), t), torch.randn(x.shape, generator=g), sched)
        if t in (5, 20, 40):
            ab = float(sched.alpha_bars[t])
            direct = q_sample(x0, torch.full((len(x),), t), torch.randn(x.shape, generator=g), sched)
            for sample in (x, direct):
                assert abs(float(sample.mean()) - math.sqrt(ab) * 1.5) < 0.03
                assert abs(float(sample.var()) - (1 - ab)) < 0.03


def test_predict_x0_inverts_q_sample_and_t_out_of_range_raises():
    sched = linear_schedule(100)
    x0, eps, t = torch.randn(6, 3), torch.randn(6, 3), torch.randint(1, 101, (6,))
    assert torch.allclose(predict_x0(q_sample(x0, t, eps, sched), t, eps, sched), x0, atol=1e-4)
    with pytest.raises(ValueError, match="t must be in 0..100"):
        q_sample(x0, torch.full((6,), 101), eps, sched)


def test_posterior_is_bayes_rule():
    """q(x_{t-1} | x_t, x_0) ∝ q(x_t | x_{t-1}) q(x_{t-1} | x_0): compare against the product of Gaussians
    computed with torch.distributions on a grid (quadrature)."""
    sched = cosine_schedule(30)
    t, x0, xt = 12, torch.tensor([[0.7]]), torch.tensor([[0.2]])
    mean, var = posterior(x0, xt, torch.tensor([t]), sched)
    ab_prev, beta = sched.alpha_bars[t - 1], sched.betas[t]
    grid = torch.linspace(-4, 4, 20001, dtype=torch.float64)
    log_w = (Normal(math.sqrt(1 - beta) * grid, math.sqrt(beta)).log_prob(torch.tensor(0.2, dtype=torch.float64))
             + Normal(ab_prev.sqrt() * 0.7, (1 - ab_prev).sqrt()).log_prob(grid))
    w = torch.softmax(log_w, 0)
    m = (w * grid).sum()
    assert math.isclose(float(mean), float(m), abs_tol=1e-6)
    assert math.isclose(float(var), float((w * (grid - m) ** 2).sum()), rel_tol=1e-4)


def test_elbo_weights_equal_the_gaussian_kl_ratio():
    """KL(q(x_{t-1}|x_t,x_0) ‖ p_θ) with means from ε and ε_θ equals λ_t ‖ε − ε_θ‖²."""
    sched, t = linear_schedule(100), 37
    x0, eps, eps_hat = torch.randn(1, 4, dtype=torch.float64), torch.randn(1, 4, dtype=torch.float64), \
        torch.randn(1, 4, dtype=torch.float64)
    tt = torch.tensor([t])
    xt = q_sample(x0, tt, eps, sched)
    mean_q, var = posterior(x0, xt, tt, sched)
    mean_p, _ = posterior(predict_x0(xt, tt, eps_hat, sched), xt, tt, sched)
    cov = float(var) * torch.eye(4, dtype=torch.float64)
    kl = torch.distributions.kl_divergence(MultivariateNormal(mean_q[0], cov), MultivariateNormal(mean_p[0], cov))
    lam = elbo_weights(sched)[t - 1]
    assert math.isclose(float(kl), float(lam * (eps - eps_hat).pow(2).sum()), rel_tol=1e-8)


def test_mixture_score_is_the_gradient_of_its_log_density():
    ring = toy_distribution("ring")
    x = torch.randn(50, 2, dtype=torch.float64, requires_grad=True)
    for ab in (0.999, 0.5, 0.01):
        log_p, score = mixture_score(x, ring.modes.double(), ring.std, math.sqrt(ab), math.sqrt(1 - ab))
        (grad,) = torch.autograd.grad(log_p.sum(), x)
        assert torch.allclose(score, grad, atol=1e-8)
    log_p1, _ = mixture_score(x.detach(), ring.modes.double(), ring.std, 1.0, 0.0)
    assert torch.allclose(log_p1, ring.log_prob(x.detach()), atol=1e-8)
    sched = linear_schedule(10)
    assert torch.allclose(eps_to_score(torch.ones(2, 2), torch.tensor([10, 10]), sched),
                          -torch.ones(2, 2) / (1 - sched.alpha_bars[10]).sqrt().float())


def test_loss_goes_down_and_same_seed_same_samples():
    torch.manual_seed(0)
    net, sched = TimeMLP(TimeMLPConfig.tiny()), cosine_schedule(50)
    data = toy_distribution("ring").sample(512, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(150):
        loss = diffusion_loss(net, data, sched, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-20:]) / 20 < 0.8 * sum(losses[:20]) / 20
    for sampler in (lambda s: ddpm_sample(net, (8, 2), sched, generator=torch.Generator().manual_seed(s)),
                    lambda s: ddim_sample(net, (8, 2), sched, 10, generator=torch.Generator().manual_seed(s))):
        assert torch.equal(sampler(3), sampler(3)) and not torch.equal(sampler(3), sampler(4))


def _exact_eps(sched, ring):
    def model(x, time, y=None):
        ab = float(sched.alpha_bars[int(round(float(time[0]) * sched.T))])
        a, s = math.sqrt(ab), math.sqrt(1 - ab)
        return -s * mixture_score(x.double(), ring.modes, ring.std, a, s)[1].to(x)
    return model


def test_samplers_with_the_exact_noise_reach_the_ring():
    from aigc_course.models.flow import binned_kl

    ring, sched = toy_distribution("ring"), cosine_schedule(100)
    model = _exact_eps(sched, ring)
    x = ddpm_sample(model, (4000, 2), sched, generator=torch.Generator().manual_seed(0))
    assert binned_kl(x, ring.modes, ring.std, bins=50) < 0.05
    pure_noise = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))
    assert binned_kl(pure_noise, ring.modes, ring.std, bins=50) > 1.0


def test_v_target_is_the_noise_loss_reweighted_by_one_over_alpha_bar():
    torch.manual_seed(0)
    net, sched = TimeMLP(TimeMLPConfig.tiny()), cosine_schedule(50)
    torch.nn.init.normal_(net.out[-1].weight, std=0.5)
    x0 = torch.randn(64, 2)
    loss = diffusion_loss(net, x0, sched, generator=torch.Generator().manual_seed(7), target="v")
    g = torch.Generator().manual_seed(7)                                 # the same draws, by hand
    t = torch.randint(1, sched.T + 1, (64,), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    ab = sched.alpha_bars[t].float()[:, None]
    x_t, v = ab.sqrt() * x0 + (1 - ab).sqrt() * eps, ab.sqrt() * eps - (1 - ab).sqrt() * x0
    assert torch.allclose(loss, (v - net(x_t, t.float() / sched.T)).pow(2).mean(), atol=1e-6)
    eps_hat = VPrediction(net, sched)(x_t, t.float() / sched.T)          # the same network, read as a noise predictor
    per_sample = ((eps - eps_hat).pow(2) / ab).mean()                    # the simple loss weighted by 1 / ᾱ_t
    assert torch.allclose(loss, per_sample, rtol=1e-4)
    with pytest.raises(ValueError, match="target must be 'eps'"):
        diffusion_loss(net, x0, sched, target="x0")


def test_v_prediction_with_the_true_v_gives_the_true_noise_and_data():
    sched = cosine_schedule(20)
    x0, eps, t = torch.randn(6, 3), torch.randn(6, 3), torch.tensor([1, 4, 9, 13, 19, 20])
    ab = sched.alpha_bars[t].float()[:, None]
    x_t = q_sample(x0, t, eps, sched)
    class TrueV(torch.nn.Module):                                                 # an oracle for these points
        def forward(self, x, time, y=None):
            return ab.sqrt() * eps - (1 - ab).sqrt() * x0

    eps_hat = VPrediction(TrueV(), sched)
    assert torch.allclose(eps_hat(x_t, t.float() / 20), eps, atol=1e-5)
    assert torch.allclose(predict_x0(x_t, t, eps_hat(x_t, t.float() / 20), sched), x0, atol=1e-3)


def test_ddim_step_and_timesteps():
    ab_t, ab_s = torch.tensor(0.3), torch.tensor(0.8)
    x0, eps = torch.randn(5), torch.randn(5)
    xt = ab_t.sqrt() * x0 + (1 - ab_t).sqrt() * eps
    assert torch.allclose(ddim_step(xt, eps, ab_t, ab_s), ab_s.sqrt() * x0 + (1 - ab_s).sqrt() * eps, atol=1e-6)
    assert ddim_timesteps(1000, 4) == [1000, 667, 334, 1]
    with pytest.raises(ValueError, match="steps must be an int in 1..10"):
        ddim_timesteps(10, 11)


def test_guidance_combines_and_needs_a_conditional_model():
    net = TimeMLP(TimeMLPConfig.tiny(num_classes=3))
    x, time, y = torch.randn(4, 2), torch.rand(4), torch.tensor([0, 1, 2, 0])
    cond, uncond = net(x, time, y), net(x, time, None)
    assert torch.allclose(guided(net, x, time, y, 2.0, net.null_label), 3 * cond - 2 * uncond, atol=1e-5)
    assert torch.equal(guided(net, x, time, y, 0.0), cond)
    with pytest.raises(ValueError, match="needs a conditional model"):
        guided(TimeMLP(TimeMLPConfig.tiny()), x, time, None, 1.0)
    with pytest.raises(ValueError, match="unconditional"):
        TimeMLP(TimeMLPConfig.tiny())(x, time, y)


def test_drop_labels():
    y = torch.zeros(10000, dtype=torch.long)
    dropped = drop_labels(y, 0.2, 7, torch.Generator().manual_seed(0))
    assert set(dropped.unique().tolist()) == {0, 7} and abs(float((dropped == 7).float().mean()) - 0.2) < 0.02
    with pytest.raises(ValueError, match="p_uncond must be in"):
        drop_labels(y, 1.0, 7)
    with pytest.raises(ValueError, match="null_label"):
        drop_labels(y, 0.1, None)


def _gaussian_eps(sched, m, s):
    """The exact E[ε | x_t] for data N(m, s² I): ε̂ = √(1 − ᾱ)(x − √ᾱ m) / (ᾱ s² + 1 − ᾱ)."""
    def model(x, time, y=None):
        ab = sched.alpha_bars[torch.round(time.double() * sched.T).long()][:, None]
        return ((1 - ab).sqrt() * (x.double() - ab.sqrt() * m) / (ab * s**2 + 1 - ab)).to(x.dtype)
    return model


@pytest.mark.parametrize("variance", ["beta", "posterior"])
def test_nll_bound_lies_above_the_exact_cross_entropy_of_a_gaussian_chain(variance):
    """Data N(m, s² I) and the exact ε̂: the model chain is linear-Gaussian, so p_θ(x_0) is a Gaussian, fitted here
    from the sampler's own draws (+ β_1, the decoder's variance). The bound must lie above E[−log p_θ(x_0)];
    dropping the θ-free variance terms of the KLs (σ² = β ≠ β̃) would put it far below."""
    D, m, s, sched = 2, torch.tensor([0.5, -0.3], dtype=torch.float64), 0.3, cosine_schedule(40)
    model = _gaussian_eps(sched, m, s)
    draws = ddpm_sample(model, (20000, D), sched, variance=variance, generator=torch.Generator().manual_seed(2))
    mean, var = draws.double().mean(0), draws.double().var(0).mean() + sched.betas[1]
    cross_entropy = float(0.5 * D * torch.log(2 * math.pi * var) + (D * s**2 + (m - mean).pow(2).sum()) / (2 * var))
    x0 = m + s * torch.randn(4000, D, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    total = sum(nll_bound(model, x0, sched, variance, torch.Generator().manual_seed(1)).values())
    bound, se = float(total.mean()), float(total.std() / math.sqrt(len(total)))
    assert bound > cross_entropy - 3 * se - 0.01
    ab = sched.alpha_bars
    r = (1 - ab[1:-1]) / (1 - ab[2:])                                   # β̃_t / β_t, t = 2..T
    if variance == "beta":
        assert bound - float(0.5 * D * (r - 1 - r.log()).sum()) < cross_entropy - 0.5
    else:
        assert bound < cross_entropy + 2.0                               # loose, not absurd


def test_nll_bound_errors():
    net, sched = TimeMLP(TimeMLPConfig.tiny()), cosine_schedule(5)
    with pytest.raises(ValueError, match="variance must be"):
        nll_bound(net, torch.zeros(3, 2), sched, "sigma")
    with pytest.raises(ValueError, match=r"x0 must be \(N, D\)"):
        nll_bound(net, torch.zeros(3, 2, 2), sched)
