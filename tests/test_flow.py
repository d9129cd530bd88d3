"""Flow matching: the path and its target, the ODE samplers, EMA, the shared training step, binned KL."""

import math

import pytest
import torch

from aigc_course.data import toy_distribution
from aigc_course.models.diffusion import cosine_schedule, mixture_score
from aigc_course.models.flow import (
    EMA,
    binned_kl,
    flow_interpolant,
    flow_matching_loss,
    flow_sample,
    generative_step,
)
from aigc_course.models.unet import TimeMLP, TimeMLPConfig


def test_interpolant_ends_and_velocity_is_its_time_derivative():
    x0, x1 = torch.randn(4, 3), torch.randn(4, 3)
    xt, u = flow_interpolant(x0, x1, torch.tensor([0.0, 1.0, 0.3, 0.3]))
    assert torch.allclose(xt[0], x0[0]) and torch.allclose(xt[1], x1[1])
    h = 1e-3
    up, _ = flow_interpolant(x0, x1, torch.full((4,), 0.3 + h))
    assert torch.allclose((up[2:] - xt[2:]) / h, u[2:], atol=1e-2)


def test_loss_matches_the_written_out_formula():
    net = TimeMLP(TimeMLPConfig.tiny())
    x1 = torch.randn(16, 2)
    loss = flow_matching_loss(net, x1, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    t, x0 = torch.rand(16, generator=g), torch.randn(16, 2, generator=g)
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    assert torch.allclose(loss, (net(xt, t) - (x1 - x0)).pow(2).mean())


def _exact_velocity(ring):
    """v(x, t) = E[x_1 − x_0 | x_t = x] = (x + (1 − t) ∇log p_t(x)) / t for the straight path."""
    def velocity(x, time, y=None):
        t = float(time[0])
        t = max(t, 1e-4)
        _, score = mixture_score(x.double(), ring.modes, ring.std, t, 1 - t)
        return ((x.double() + (1 - t) * score) / t).to(x)
    return velocity


def test_exact_velocity_carries_noise_to_the_ring_and_heun_beats_euler():
    ring = toy_distribution("ring")
    v = _exact_velocity(ring)
    kls = {}
    for method in ("euler", "heun"):
        x = flow_sample(v, (4000, 2), 40, method, generator=torch.Generator().manual_seed(0))
        kls[method] = binned_kl(x, ring.modes, ring.std, bins=50)
    assert kls["heun"] < 0.1 and kls["heun"] < kls["euler"]


def test_sampler_is_deterministic_given_the_start_and_errors():
    net = TimeMLP(TimeMLPConfig.tiny())
    x0 = torch.randn(5, 2)
    assert torch.equal(flow_sample(net, (5, 2), 4, x0=x0), flow_sample(net, (5, 2), 4, x0=x0))
    with pytest.raises(ValueError, match="method must be one of"):
        flow_sample(net, (5, 2), 4, method="rk4")
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        flow_sample(net, (5, 2), 0)


def test_one_euler_step_from_noise_lands_on_the_mean_prediction():
    """With v = x_1 − x_0 known exactly (one data point), a single Euler step is exact: x_1 = x_0 + v."""
    target = torch.tensor([[1.0, -2.0]])
    exact = lambda x, t, y=None: (target - x) / (1 - t[:, None]).clamp(min=1e-6)   # noqa: E731
    out = flow_sample(exact, (3, 2), 1)
    assert torch.allclose(out, target.expand(3, 2), atol=1e-5)


def test_ema_follows_the_weights():
    net = torch.nn.Linear(2, 1)
    ema = EMA(net, decay=0.5)
    with torch.no_grad():
        before = ema.model.weight.clone()
        net.weight.add_(1.0)
    ema.on_step(1, {}, None)
    assert torch.allclose(ema.model.weight, before + 0.5)
    assert not ema.model.weight.requires_grad
    with pytest.raises(ValueError, match="decay must be in"):
        EMA(net, 1.0)


def test_generative_step_errors_and_reproducibility():
    net = TimeMLP(TimeMLPConfig.tiny())
    data = torch.randn(32, 2)
    with pytest.raises(ValueError, match="objective must be"):
        generative_step(net, torch.optim.SGD(net.parameters(), 0.1), data, objective="gan")
    with pytest.raises(ValueError, match="needs sched"):
        generative_step(net, torch.optim.SGD(net.parameters(), 0.1), data)
    with pytest.raises(ValueError, match="labels"):
        generative_step(net, torch.optim.SGD(net.parameters(), 0.1), data, torch.zeros(3), objective="flow")
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = TimeMLP(TimeMLPConfig.tiny())
        step = generative_step(m, torch.optim.SGD(m.parameters(), 0.1), data, sched=cosine_schedule(20), seed=4)
        runs.append([step(i)["loss"] for i in range(3)])
    assert runs[0] == runs[1]


def test_binned_kl_exact_bins_and_errors():
    ring = toy_distribution("ring")
    g = torch.Generator().manual_seed(0)
    small, big = (binned_kl(ring.sample(n, generator=g), ring.modes, ring.std) for n in (2000, 40000))
    assert big < small < 0.2                                      # the bias of a finite sample shrinks
    one_mode = ring.modes[:1] + ring.std * torch.randn(40000, 2, generator=g)
    collapsed = binned_kl(one_mode, ring.modes, ring.std)     # 7 of 8 modes missed: KL(P‖Q̂) is large
    assert collapsed > math.log(8) + 1                        # (the reverse KL(Q̂‖P) would be only ≈ log 8)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        binned_kl(torch.zeros(5, 3), ring.modes, ring.std)
