"""VAE library: Gaussian identities vs independent computations, the reparameterised gradient, shapes,
determinism, the ELBO / IWAE bounds, a short training run, and the errors a learner can meet."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from aigc_course.models.vae import (
    VAE,
    VAEConfig,
    bernoulli_log_likelihood,
    binarize,
    diag_gaussian_log_prob,
    dynamic_binarize,
    elbo,
    gaussian_kl,
    gaussian_kl_diag,
    gaussian_log_likelihood,
    iw_log_likelihood,
    log_mean_exp,
    param_count,
    reparameterize,
)


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_closed_form_kl_matches_torch_and_monte_carlo():
    mu, logvar = _rand(4, 3, seed=1), _rand(4, 3, seed=2)
    q, p = Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros(3), torch.ones(3))
    assert torch.allclose(gaussian_kl(mu, logvar), kl_divergence(q, p).sum(-1), atol=1e-5)
    # Monte Carlo: KL = E_q[log q(z) - log p(z)]; 200k samples, tolerance 5 standard errors
    g = torch.Generator().manual_seed(3)
    z = reparameterize(mu.expand(200_000, 4, 3), logvar.expand(200_000, 4, 3), generator=g)
    terms = diag_gaussian_log_prob(z, mu, logvar) - diag_gaussian_log_prob(z, torch.zeros(3), torch.zeros(3))
    se = terms.std(0) / math.sqrt(len(terms))
    assert ((terms.mean(0) - gaussian_kl(mu, logvar)).abs() < 5 * se).all()


def test_general_diagonal_kl():
    mq, lq, mp, lp = (_rand(5, 4, seed=s) for s in range(4))
    want = kl_divergence(Normal(mq, (0.5 * lq).exp()), Normal(mp, (0.5 * lp).exp())).sum(-1)
    assert torch.allclose(gaussian_kl_diag(mq, lq, mp, lp), want, atol=1e-5)
    zeros = torch.zeros(5, 4)
    assert torch.allclose(gaussian_kl_diag(mq, lq, zeros, zeros), gaussian_kl(mq, lq), atol=1e-6)
    assert torch.allclose(gaussian_kl_diag(mq, lq, mq, lq), torch.zeros(5), atol=1e-6)


def test_log_densities_match_torch_distributions():
    z, mu, logvar = _rand(6, 3, seed=4), _rand(6, 3, seed=5), _rand(6, 3, seed=6)
    want = Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    assert torch.allclose(diag_gaussian_log_prob(z, mu, logvar), want, atol=1e-5)
    logits, x = _rand(2, 1, 4, 4, seed=7), binarize(torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(8)))
    p = torch.sigmoid(logits)
    manual = (x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
    assert torch.allclose(bernoulli_log_likelihood(logits, x), manual, atol=1e-4)
    mean, xg = torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
    want_g = Normal(mean, 0.3).log_prob(xg).flatten(1).sum(1)
    assert torch.allclose(gaussian_log_likelihood(mean, xg, 0.3), want_g, atol=1e-4)


def test_reparameterised_gradient_is_unbiased():
    """d/dμ and d/dlogvar of E[sin z], z ~ N(μ, σ²), against the exact values, within 5 standard errors.

    E[sin z] = sin μ · exp(−σ²/2), so d/dμ = cos μ · e^{−σ²/2} and d/dlogvar = −½ σ² sin μ · e^{−σ²/2}.
    """
    n = 100_000
    mu = torch.tensor([0.3, -1.2, 2.0], requires_grad=True)
    logvar = torch.tensor([0.0, -1.0, 0.5], requires_grad=True)
    eps = _rand(n, 3, seed=9)
    z = reparameterize(mu, logvar, eps)                                   # (n, 3)
    torch.sin(z).mean(0).sum().backward()
    var = logvar.detach().exp()
    damp = torch.exp(-var / 2)
    exact_mu, exact_lv = torch.cos(mu.detach()) * damp, -0.5 * var * torch.sin(mu.detach()) * damp
    per_mu = torch.cos(z.detach())                                        # per-sample gradients
    per_lv = torch.cos(z.detach()) * 0.5 * var.sqrt() * eps
    se_mu, se_lv = per_mu.std(0) / math.sqrt(n), per_lv.std(0) / math.sqrt(n)
    assert ((mu.grad - exact_mu).abs() < 5 * se_mu).all(), (mu.grad, exact_mu)
    assert ((logvar.grad - exact_lv).abs() < 5 * se_lv).all(), (logvar.grad, exact_lv)
    # and the check can fail: a biased estimator (forgetting the ½ in σ = exp(½ logvar)) is caught
    bad = (mu + logvar.exp() * eps).detach()
    assert ((torch.cos(bad).mean(0) - exact_mu).abs() > 5 * se_mu).any()


CONFIGS = [
    dict(arch="mlp"), dict(arch="conv"), dict(arch="mlp", likelihood="gaussian"),
    dict(arch="conv", likelihood="gaussian", num_classes=3), dict(arch="mlp", num_classes=3),
    dict(arch="conv", image_shape=(3, 12, 16)), dict(arch="mlp", image_shape=(1, 5, 7)),
    dict(arch="conv", image_shape=(1, 28, 28), latent_dim=4),
]


@pytest.mark.parametrize("overrides", CONFIGS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_shapes_for_every_config(overrides):
    cfg = VAEConfig.tiny(**overrides)
    model = VAE(cfg)
    c, h, w = cfg.image_shape
    x = torch.rand(5, c, h, w)
    y = torch.tensor([0, 1, 2, 0, 1]) if cfg.num_classes else None
    out, mu, logvar, z = model(x, y)
    assert out.shape == x.shape and mu.shape == logvar.shape == z.shape == (5, cfg.latent_dim)
    terms = elbo(model, x, y)
    assert all(t.shape == (5,) for t in terms)
    assert model.sample(3, y=None if y is None else y[:3]).shape == (3, c, h, w)
    assert model.reconstruct(x, y).shape == x.shape
    ll, el = iw_log_likelihood(model, x, y, k=7, chunk=3)
    assert ll.shape == el.shape == (5,)


def test_parameter_count_of_tiny():
    # MLP on 8x8 (D = 64), hidden 16, Z = 2:
    # enc 64*16+16 = 1040; head (16*16+16) + (16*4+4) = 340; dec_in 2*16+16 = 48; dec (16*16+16) + (16*64+64) = 1360
    assert param_count(VAE(VAEConfig.tiny())) == 1040 + 340 + 48 + 1360
    # conditional with K = 10 adds 10 inputs to the encoder head and the decoder input: 2 * 10 * 16
    assert param_count(VAE(VAEConfig.tiny(num_classes=10))) == 2788 + 320


def test_same_seed_same_output():
    def run():
        torch.manual_seed(0)
        model = VAE(VAEConfig.tiny(arch="conv"))
        return elbo(model, torch.rand(4, 1, 8, 8)).elbo
    assert torch.equal(run(), run())


def test_elbo_terms_and_beta():
    torch.manual_seed(1)
    model, x = VAE(VAEConfig.tiny()), binarize(torch.rand(6, 1, 8, 8))
    torch.manual_seed(2)
    t1 = elbo(model, x)
    torch.manual_seed(2)
    t4 = elbo(model, x, beta=4.0)
    assert torch.allclose(t1.elbo, t1.recon - t1.kl) and torch.allclose(t4.elbo, t4.recon - 4 * t4.kl)
    assert (t1.kl >= 0).all()
    with pytest.raises(ValueError, match="beta must be >= 0"):
        elbo(model, x, beta=-1)


def test_log_mean_exp_is_stable():
    w = torch.tensor([[1000.0, 1000.0], [1000.0, -5.0]])
    # column 0: log((e^1000 + e^1000) / 2) = 1000; column 1: log((e^1000 + e^-5) / 2) ≈ 1000 - log 2
    assert torch.allclose(log_mean_exp(w, dim=0), torch.tensor([1000.0, 1000.0 - math.log(2)]))
    small = torch.tensor([0.1, 0.5, -2.0])
    assert torch.isclose(log_mean_exp(small), small.exp().mean().log())


def _train(model, x, steps=150, y=None):
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = -elbo(model, x, y).elbo.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def test_training_raises_the_elbo_and_iw_bound_tightens():
    torch.manual_seed(0)
    protos = binarize(torch.rand(4, 1, 8, 8))
    x = protos.repeat(16, 1, 1, 1)                                          # 4 distinct patterns
    flip = torch.rand(x.shape) < 0.05
    x = torch.where(flip, 1 - x, x)
    model = VAE(VAEConfig.tiny(hidden=32))
    with torch.no_grad():
        before = elbo(model, x).elbo.mean()
    _train(model, x)
    torch.manual_seed(3)
    with torch.no_grad():
        after = elbo(model, x).elbo.mean()
    assert after > before + 10, (before, after)
    torch.manual_seed(4)
    l1, el = iw_log_likelihood(model, x, k=1)
    l100, el100 = iw_log_likelihood(model, x, k=100)
    l1000, _ = iw_log_likelihood(model, x, k=1000, chunk=250)
    assert (l100 >= el100).all()                                           # log-mean-exp >= mean (Jensen)
    assert l1.mean() < l100.mean() < l1000.mean() + 0.05                     # tighter with k (on average)


BAD = [
    (dict(latent_dim=0), "latent_dim must be a positive int, got 0"),
    (dict(latent_dim=-3), "latent_dim must be a positive int"),
    (dict(likelihood="poisson"), r"likelihood must be one of \('bernoulli', 'gaussian'\), got 'poisson'"),
    (dict(arch="resnet"), r"arch must be one of \('mlp', 'conv'\)"),
    (dict(arch="conv", image_shape=(1, 10, 10)), r"multiples of 4 and at least 8 .* got image_shape \(1, 10, 10\)"),
    (dict(arch="conv", image_shape=(1, 4, 4)), "multiples of 4 and at least 8"),
    (dict(image_shape=(28, 28)), r"image_shape must be \(C, H, W\)"),
    (dict(obs_sigma=0.0), "obs_sigma > 0"),
]


@pytest.mark.parametrize("overrides,message", BAD)
def test_bad_configs_raise_with_what_is_valid(overrides, message):
    with pytest.raises(ValueError, match=message):
        VAEConfig.tiny(**overrides)


def test_conditional_needs_labels_and_iw_validates_k():
    model = VAE(VAEConfig.tiny(num_classes=3))
    with pytest.raises(ValueError, match=r"conditional \(num_classes=3\): pass labels y"):
        model(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="k and chunk must be positive"):
        iw_log_likelihood(VAE(VAEConfig.tiny()), torch.rand(2, 1, 8, 8), k=0)


def test_conditional_decoder_uses_the_label():
    torch.manual_seed(0)
    model = VAE(VAEConfig.tiny(num_classes=3))
    z = torch.zeros(1, 2)
    a, b = model.decode(z, torch.tensor([0])), model.decode(z, torch.tensor([2]))
    assert not torch.allclose(a, b)


def test_vae_step_with_train_loop_lowers_the_test_loss():
    from aigc_course.models.vae import evaluate, vae_step
    from aigc_course.train import train

    torch.manual_seed(0)
    protos = binarize(torch.rand(3, 1, 8, 8))
    x, y = protos.repeat(20, 1, 1, 1), torch.arange(3).repeat(20)
    model = VAE(VAEConfig.tiny(arch="conv", num_classes=3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = evaluate(model, x, y)
    history = train(vae_step(model, opt, x, y, batch_size=32), 60, modules={"vae": model}, progress=False)
    after = evaluate(model, x, y, batch_size=7)
    assert set(history.logs) == {"-ELBO", "-recon", "KL"}
    assert after["-ELBO"] < before["-ELBO"] - 5
    assert math.isclose(after["-ELBO"], after["-recon"] + after["KL"], rel_tol=1e-5)


def test_dynamic_binarize_draws_bernoulli_pixels_with_the_grey_level_as_mean():
    grey = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0]).view(1, 1, 1, 5).expand(20_000, 1, 1, 5)
    draws = dynamic_binarize(grey, generator=torch.Generator().manual_seed(0))
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(draws.mean(0).flatten(), grey[0].flatten(), atol=0.01)   # E[x] = pixel (≈ 3σ at p = ½)
    again = dynamic_binarize(grey, generator=torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)                                                # same seed, same draw


def test_dynamic_binarize_rejects_pixels_outside_0_1():
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        dynamic_binarize(torch.tensor([[-1.0, 0.5]]))


def test_vae_step_dynamic_learns_the_grey_level_not_a_threshold():
    """Trained on fresh Bernoulli draws of one grey image, the decoder's mean estimates the grey levels."""
    from aigc_course.models.vae import vae_step
    from aigc_course.train import train

    torch.manual_seed(0)
    grey = torch.linspace(0.05, 0.95, 64).view(1, 1, 8, 8)                   # levels a threshold would destroy
    model = VAE(VAEConfig.tiny())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    train(vae_step(model, opt, grey.repeat(64, 1, 1, 1), batch_size=64, dynamic=True), 150, progress=False)
    mean = model.sample(256, generator=torch.Generator().manual_seed(1)).mean(0)
    assert (mean - grey[0]).abs().max() < 0.12                                # the grey ramp, learnt
    assert (mean - binarize(grey[0])).abs().max() > 0.3                        # not its thresholded version


def test_mlp_depth_one_is_the_standard_784_400_20_vae():
    """Kingma & Welling's MNIST model (pytorch/examples vae): 784-400-(20 μ, 20 logvar) | 20-400-784."""
    from aigc_course.models.vae import VAE, VAEConfig
    model = VAE(VAEConfig(image_shape=(1, 28, 28), latent_dim=20, hidden=400, mlp_depth=1))
    expected = (784 * 400 + 400) + (400 * 40 + 40) + (20 * 400 + 400) + (400 * 784 + 784)
    assert sum(p.numel() for p in model.parameters()) == expected
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 400), (400, 784), (400, 40), (20, 400)]
    out, mu, logvar, z = model(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 1, 28, 28) and mu.shape == logvar.shape == z.shape == (3, 20)


def test_mlp_depth_adds_hidden_layers_each_side_and_is_validated():
    from aigc_course.models.vae import VAE, VAEConfig
    counts = [sum(isinstance(m, torch.nn.Linear) for m in VAE(VAEConfig.tiny(mlp_depth=d)).modules())
              for d in (1, 2, 3)]
    assert counts == [4, 6, 8]
    with pytest.raises(ValueError, match="mlp_depth"):
        VAEConfig.tiny(mlp_depth=0)
