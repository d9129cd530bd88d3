"""GAN on vectors: networks, losses against hand-computed values, D*, JS, the training step, determinism."""

import math

import pytest
import torch

from aigc_course.models import gan

# --- networks -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("num_classes", [0, 3])
@pytest.mark.parametrize("data_dim", [1, 2, 5])
def test_shapes_for_every_config(data_dim, num_classes):
    cfg = gan.ToyGANConfig.tiny(data_dim=data_dim, num_classes=num_classes)
    g, d = gan.build_toy_gan(cfg)
    labels = torch.arange(7) % 3 if num_classes else None
    x = g(torch.randn(7, cfg.latent_dim), labels)
    assert x.shape == (7, data_dim)
    assert d(x, labels).shape == (7,)


def test_parameter_count_of_tiny():
    cfg = gan.ToyGANConfig.tiny()                                     # latent 2, hidden 16, depth 2, data 2
    g, d = gan.build_toy_gan(cfg)
    expected_g = (2 * 16 + 16) + (16 * 16 + 16) + (16 * 2 + 2)
    expected_d = (2 * 16 + 16) + (16 * 16 + 16) + (16 * 1 + 1)
    assert sum(p.numel() for p in g.parameters()) == expected_g
    assert sum(p.numel() for p in d.parameters()) == expected_d


def test_mlp_matches_the_contract_used_by_image_gans():
    mlp = gan.MLP(12, 1, hidden=8)
    assert mlp(torch.randn(4, 12)).shape == (4, 1)
    assert len([m for m in mlp.modules() if isinstance(m, torch.nn.Linear)]) == 3   # depth 2 + output


@pytest.mark.parametrize("field, value, match", [
    ("latent_dim", 0, "latent_dim must be a positive int"),
    ("hidden", 2.5, "hidden must be a positive int"),
    ("num_classes", -1, "num_classes must be an int >= 0"),
    ("activation", "gelu", "activation must be one of"),
])
def test_bad_configs_raise(field, value, match):
    with pytest.raises(ValueError, match=match):
        gan.ToyGANConfig(**{field: value})


def test_labels_are_checked():
    g, d = gan.build_toy_gan(gan.ToyGANConfig.tiny(num_classes=3))
    with pytest.raises(ValueError, match="conditional"):
        g(torch.randn(2, 2))
    with pytest.raises(ValueError, match=r"ints in \[0, 3\)"):
        d(torch.randn(2, 2), torch.tensor([0, 3]))
    g0, _ = gan.build_toy_gan(gan.ToyGANConfig.tiny())
    with pytest.raises(ValueError, match="unconditional"):
        g0(torch.randn(2, 2), torch.tensor([0, 1]))


def test_same_seed_same_model_and_samples():
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        g, _ = gan.build_toy_gan(gan.ToyGANConfig.tiny())
        outs.append(gan.generate(g, 5, seed=11))
    assert torch.equal(outs[0], outs[1])


# --- losses against hand-computed values -----------------------------------------------------------------

def test_losses_against_hand_computed_values():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([0.0, -1.0])
    s = lambda v: 1 / (1 + math.exp(-v))                              # sigmoid, by hand
    d_expected = -(math.log(s(0)) + math.log(s(2))) / 2 - (math.log(1 - s(0)) + math.log(1 - s(-1))) / 2
    assert gan.discriminator_loss(real, fake).item() == pytest.approx(d_expected, rel=1e-6)
    mm_expected = (math.log(1 - s(0)) + math.log(1 - s(-1))) / 2
    assert gan.minimax_generator_loss(fake).item() == pytest.approx(mm_expected, rel=1e-6)
    ns_expected = -(math.log(s(0)) + math.log(s(-1))) / 2
    assert gan.non_saturating_generator_loss(fake).item() == pytest.approx(ns_expected, rel=1e-6)
    assert gan.critic_loss(real, fake).item() == pytest.approx(-0.5 - 1.0)
    assert gan.wasserstein_generator_loss(fake).item() == pytest.approx(0.5)


def test_losses_equal_bce_and_stay_finite_at_extreme_logits():
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    real, fake = torch.randn(50) * 4, torch.randn(50) * 4
    assert torch.allclose(gan.discriminator_loss(real, fake),
                          bce(real, torch.ones(50)) + bce(fake, torch.zeros(50)))
    assert torch.allclose(gan.generator_loss(fake), bce(fake, torch.ones(50)))          # default: non-saturating
    assert torch.allclose(gan.generator_loss(fake, kind="minimax"), -bce(fake, torch.zeros(50)))
    extreme = torch.tensor([-200.0, 200.0])
    for value in (gan.discriminator_loss(extreme, extreme), gan.generator_loss(extreme, "minimax"),
                  gan.generator_loss(extreme)):
        assert torch.isfinite(value)
    with pytest.raises(ValueError, match="non_saturating"):
        gan.generator_loss(fake, kind="hinge")


def test_saturating_gradient_vanishes_and_non_saturating_does_not():
    logit = torch.tensor([-10.0], requires_grad=True)                # D rejects the fake: D(G(z)) ≈ 4.5e-5
    (g_mm,) = torch.autograd.grad(gan.minimax_generator_loss(logit), logit)
    (g_ns,) = torch.autograd.grad(gan.non_saturating_generator_loss(logit), logit)
    assert g_mm.abs().item() == pytest.approx(torch.sigmoid(torch.tensor(-10.0)).item(), rel=1e-4)
    assert g_ns.abs().item() == pytest.approx(1.0, abs=1e-4)


def test_gradient_penalty_is_zero_for_a_unit_slope_critic_and_one_for_a_constant():
    w = torch.tensor([0.6, 0.8])                                      # |w| = 1
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    assert gan.gradient_penalty(lambda x: x @ w, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    assert gan.gradient_penalty(lambda x: 3 * (x @ w), real, fake).item() == pytest.approx(4.0, rel=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        gan.gradient_penalty(lambda x: x.sum(1), real, fake[:3])


# --- D* and the value of the game ------------------------------------------------------------------------

def _normal_pdf(x, mu, sigma):
    return torch.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def test_optimal_discriminator_formula_and_value_at_optimum():
    x = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    dx = float(x[1] - x[0])
    p, q = _normal_pdf(x, 0.0, 1.0), _normal_pdf(x, 1.5, 0.7)
    d_star = gan.optimal_discriminator(p.log(), q.log())
    assert torch.allclose(d_star, p / (p + q))
    # D* maximises p log D + q log(1 - D) pointwise: any other D does worse
    v = lambda d: ((p * d.clamp_min(1e-300).log() + q * (1 - d).clamp_min(1e-300).log()) * dx).sum()
    assert v(d_star) > v((d_star + 0.05).clamp(0, 1)) and v(d_star) > v(torch.full_like(x, 0.5))
    assert v(d_star).item() == pytest.approx(-math.log(4) + 2 * gan.js_divergence(p, q, dx).item(), abs=1e-8)


def test_js_divergence_on_discrete_distributions():
    p, q = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert gan.js_divergence(p, q).item() == pytest.approx(math.log(2))           # disjoint: the maximum
    assert gan.js_divergence(p, p).item() == pytest.approx(0.0)
    a, b = torch.tensor([0.2, 0.8]), torch.tensor([0.5, 0.5])
    m = (a + b) / 2
    expected = 0.5 * (a * (a / m).log()).sum() + 0.5 * (b * (b / m).log()).sum()
    assert gan.js_divergence(a, b).item() == pytest.approx(expected.item())


# --- the training step -----------------------------------------------------------------------------------

def _two_blobs(n, generator=None):
    centres = torch.tensor([[2.0, 0.0], [-2.0, 0.0]])
    return centres[torch.randint(2, (n,), generator=generator)] + 0.1 * torch.randn(n, 2, generator=generator)


def _run(loss, steps=150, d_steps=1, seed=0):
    torch.manual_seed(seed)
    cfg = gan.ToyGANConfig(latent_dim=2, hidden=32, depth=2)
    g, d = gan.build_toy_gan(cfg)
    opt_g, opt_d = gan.gan_optimizers(g, d, 2e-3, 2e-3)
    rng = torch.Generator().manual_seed(seed)
    step = gan.gan_step(g, d, opt_g, opt_d, lambda n: _two_blobs(n, rng), gan.latent_sampler(2, generator=rng),
                        loss=loss, d_steps=d_steps, batch_size=64)
    logs = [step(i) for i in range(1, steps + 1)]
    return g, logs


def test_short_run_losses_behave_and_samples_move_toward_data():
    g, logs = _run("non_saturating")
    assert set(logs[0]) == {"loss_d", "loss_g"}
    start = gan.generate(g, 1, seed=0)            # after training; compare with an untrained generator below
    torch.manual_seed(0)
    g0, _ = gan.build_toy_gan(gan.ToyGANConfig(latent_dim=2, hidden=32, depth=2))
    dist = lambda s: (s.abs()[:, 0] - 2).abs().mean() + s[:, 1].abs().mean()     # distance to the blobs
    trained, untrained = gan.generate(g, 500, seed=1), gan.generate(g0, 500, seed=1)
    assert dist(trained) < 0.5 * dist(untrained), (dist(trained), dist(untrained))
    assert start.shape == (1, 2)
    # the D loss stays near its equilibrium value log 4 ≈ 1.39, neither 0 (D wins) nor exploding
    late_d = sum(x["loss_d"] for x in logs[-50:]) / 50
    assert 0.6 < late_d < 1.6, late_d


def test_wgan_gp_step_logs_penalty_and_runs_d_steps():
    calls = []
    torch.manual_seed(0)
    g, d = gan.build_toy_gan(gan.ToyGANConfig.tiny())
    opt_g, opt_d = gan.gan_optimizers(g, d)
    sample_real = lambda n: calls.append(n) or _two_blobs(n)
    step = gan.gan_step(g, d, opt_g, opt_d, sample_real, gan.latent_sampler(2), loss="wgan-gp", d_steps=3,
                        batch_size=8)
    logs = step(1)
    assert set(logs) == {"loss_d", "loss_g", "gp"} and logs["gp"] >= 0
    assert calls == [8, 8, 8]                                      # three D steps, each on a fresh real batch


def test_conditional_step_passes_labels_to_both_players():
    torch.manual_seed(0)
    cfg = gan.ToyGANConfig.tiny(num_classes=2)
    g, d = gan.build_toy_gan(cfg)
    opt_g, opt_d = gan.gan_optimizers(g, d)
    sample_real = lambda n: (_two_blobs(n), torch.randint(2, (n,)))
    step = gan.gan_step(g, d, opt_g, opt_d, sample_real, gan.latent_sampler(2), batch_size=8,
                        sample_labels=lambda n: torch.randint(2, (n,)))
    assert math.isfinite(step(1)["loss_g"])
    with pytest.raises(ValueError, match="conditional"):             # a conditional D needs the labels
        gan.gan_step(g, d, opt_g, opt_d, _two_blobs, gan.latent_sampler(2), batch_size=8)(1)


def test_training_is_deterministic_under_a_seed():
    a, _ = _run("minimax", steps=20, seed=5)
    b, _ = _run("minimax", steps=20, seed=5)
    c, _ = _run("minimax", steps=20, seed=6)
    assert torch.equal(gan.generate(a, 10, seed=0), gan.generate(b, 10, seed=0))
    assert not torch.equal(gan.generate(a, 10, seed=0), gan.generate(c, 10, seed=0))


def test_gan_step_rejects_bad_settings():
    g, d = gan.build_toy_gan(gan.ToyGANConfig.tiny())
    opt_g, opt_d = gan.gan_optimizers(g, d)
    with pytest.raises(ValueError, match="wgan-gp"):
        gan.gan_step(g, d, opt_g, opt_d, _two_blobs, gan.latent_sampler(2), loss="hinge")
    with pytest.raises(ValueError, match="d_steps must be a positive int"):
        gan.gan_step(g, d, opt_g, opt_d, _two_blobs, gan.latent_sampler(2), d_steps=0)
    with pytest.raises(ValueError, match="lr_d must be positive"):
        gan.gan_optimizers(g, d, lr_d=0)


def _pair_and_opts(seed=0, cfg=None):
    torch.manual_seed(seed)
    g, d = gan.build_toy_gan(cfg or gan.ToyGANConfig.tiny())
    return (g, d, *gan.gan_optimizers(g, d))


@pytest.mark.parametrize("loss,d_steps", [("non_saturating", 1), ("minimax", 2), ("wgan-gp", 2)])
def test_reusing_the_d_step_fakes_is_the_same_update_as_running_g_twice_on_the_same_z(loss, d_steps):
    """With noise that repeats (the same z on every call), reuse_fakes=False runs G twice on z and
    reuse_fakes=True once: the parameters must come out bit-identical."""
    z = torch.randn(32, 2, generator=torch.Generator().manual_seed(1))
    real = torch.randn(32, 2, generator=torch.Generator().manual_seed(2))
    out = []
    for reuse in (False, True):
        g, d, opt_g, opt_d = _pair_and_opts()
        step = gan.gan_step(g, d, opt_g, opt_d, lambda n: real, lambda n: z, loss=loss, d_steps=d_steps,
                            batch_size=32, rng=torch.Generator().manual_seed(3), reuse_fakes=reuse)
        logs = [step(s) for s in range(4)]
        out.append((logs, [p.detach().clone() for p in (*g.parameters(), *d.parameters())]))
    (logs_a, params_a), (logs_b, params_b) = out
    assert logs_a == logs_b
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b))


def test_reuse_fakes_runs_the_generator_once_per_iteration():
    calls = {"n": 0}
    for reuse, expected in ((False, 2), (True, 1)):
        g, d, opt_g, opt_d = _pair_and_opts()
        g.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
        calls["n"] = 0
        step = gan.gan_step(g, d, opt_g, opt_d, lambda n: torch.randn(n, 2), lambda n: torch.randn(n, 2),
                            batch_size=16, reuse_fakes=reuse)
        step(1)
        assert calls["n"] == expected


def test_reused_fakes_still_train_a_conditional_gan():
    cfg = gan.ToyGANConfig.tiny(num_classes=3)
    g, d, opt_g, opt_d = _pair_and_opts(cfg=cfg)
    labels = torch.arange(64) % 3
    real = lambda n: (torch.randn(n, 2) + labels[:n, None].float(), labels[:n])
    step = gan.gan_step(g, d, opt_g, opt_d, real, lambda n: torch.randn(n, 2), batch_size=64,
                        sample_labels=lambda n: labels[torch.randperm(n)])
    logs = step(1)
    assert set(logs) == {"loss_d", "loss_g"} and all(math.isfinite(v) for v in logs.values())
    with pytest.raises(TypeError, match="reuse_fakes"):
        gan.gan_step(g, d, opt_g, opt_d, real, lambda n: torch.randn(n, 2), reuse_fakes="yes")
