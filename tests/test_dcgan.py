"""DCGAN generator / discriminator: shapes for every size, conditioning, guidelines, errors, determinism."""

import math

import pytest
import torch
from torch import nn

from aigc_course.models.dcgan import (
    VALID_SIZES,
    DCDiscriminator,
    DCGANConfig,
    DCGenerator,
    build_dcgan,
    sample_images,
    to_model_range,
    to_pixels,
)


@pytest.mark.parametrize("size", VALID_SIZES[:4])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_shapes_for_every_size(size, num_classes):
    cfg = DCGANConfig(image_size=size, channels=3, latent_dim=6, width=4, num_classes=num_classes)
    g, d = build_dcgan(cfg)
    labels = torch.arange(5) % 10 if num_classes else None
    x = g(torch.randn(5, 6), labels)
    assert x.shape == (5, 3, size, size)
    assert x.abs().max() <= 1                                     # tanh output
    assert d(x, labels).shape == (5,)


def test_parameter_count_tiny():
    cfg = DCGANConfig.tiny()                                      # 16px, Z=8, width 8: 4x4 has 16 maps
    g, d = build_dcgan(cfg)
    g_expected = (8 * 16 * 16 + 2 * 16) + (16 * 8 * 16 + 2 * 8) + (8 * 1 * 16 + 1)
    d_expected = (1 * 8 * 16 + 8) + (8 * 16 * 16 + 2 * 16) + (16 * 1 * 16 + 1)
    assert sum(p.numel() for p in g.parameters()) == g_expected
    assert sum(p.numel() for p in d.parameters()) == d_expected


def test_guidelines_hold():
    g, d = build_dcgan(DCGANConfig(image_size=32, width=8))
    g_layers, d_layers = list(g.net), list(d.net)
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.Linear)) for m in g.modules())
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.Linear)) for m in d.modules())
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)
    assert isinstance(d_layers[1], nn.LeakyReLU)                  # no batch norm right after the input conv
    assert not isinstance(d_layers[-1], nn.Sigmoid)               # D returns logits
    std = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]).std()
    assert 0.015 < std < 0.025                                    # N(0, 0.02²) initialisation


@pytest.mark.parametrize("size", [0, 12, 28, 256, 7])
def test_bad_image_size_says_which_sizes_work(size):
    with pytest.raises(ValueError, match=r"must be 4\*2\^k, one of \(8, 16, 32, 64, 128\)"):
        DCGANConfig(image_size=size)
    with pytest.raises(ValueError, match=r"load_images\(\.\.\., size=32, fit='pad'\) centres MNIST's 28x28"):
        DCGANConfig(image_size=size)


def test_bad_configs_and_labels_raise():
    with pytest.raises(ValueError, match="latent_dim must be a positive int"):
        DCGANConfig(latent_dim=0)
    with pytest.raises(ValueError, match="num_classes must be 0"):
        DCGANConfig(num_classes=-1)
    cond = DCGenerator(DCGANConfig.tiny(num_classes=3))
    with pytest.raises(ValueError, match="pass labels in 0..2"):
        cond(torch.randn(2, 8))
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        cond(torch.randn(2, 8), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="unconditional"):
        DCGenerator(DCGANConfig.tiny())(torch.randn(2, 8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"expected images \(B, 1, 16, 16\)"):
        DCDiscriminator(DCGANConfig.tiny())(torch.randn(2, 1, 32, 32))


def test_label_changes_the_output():
    torch.manual_seed(0)
    g = DCGenerator(DCGANConfig.tiny(num_classes=4)).eval()
    z = torch.randn(1, 8).repeat(4, 1)
    x = g(z, torch.arange(4))
    assert not torch.allclose(x[0], x[1])                         # same z, different label -> different image


def test_same_seed_same_networks_and_samples():
    torch.manual_seed(1)
    g1, _ = build_dcgan(DCGANConfig.tiny())
    torch.manual_seed(1)
    g2, _ = build_dcgan(DCGANConfig.tiny())
    a = sample_images(g1, 6, generator_seed=5)
    b = sample_images(g2, 6, generator_seed=5)
    assert torch.equal(a, b) and a.shape == (6, 1, 16, 16)
    assert 0 <= a.min() and a.max() <= 1
    assert g1.training                                            # sample_images restores the mode


def test_range_conversions_are_inverse():
    pixels = torch.rand(3, 1, 4, 4)
    assert torch.allclose(to_pixels(to_model_range(pixels)), pixels)
    assert to_model_range(torch.tensor([0.0, 1.0])).tolist() == [-1.0, 1.0]


# --- training step, snapshots, fully connected wrappers -------------------------------------------------

def _bars(n=128, size=16):
    """Two classes of images: a bright horizontal bar (0) or vertical bar (1)."""
    labels = torch.arange(n) % 2
    images = torch.zeros(n, 1, size, size)
    images[labels == 0, 0, size // 2 - 2:size // 2 + 2, :] = 1
    images[labels == 1, 0, :, size // 2 - 2:size // 2 + 2] = 1
    return images, labels


def _run(seed, steps, num_classes=2):
    from aigc_course.models.dcgan import dcgan_optimizers, image_gan_step

    torch.manual_seed(seed)
    g, d = build_dcgan(DCGANConfig.tiny(num_classes=num_classes))
    opt_g, opt_d = dcgan_optimizers(g, d)
    images, labels = _bars()
    step = image_gan_step(g, d, opt_g, opt_d, images, labels if num_classes else None, batch_size=32, seed=seed)
    return [step(i) for i in range(1, steps + 1)], g, d


def test_short_run_d_learns_to_tell_real_from_fake():
    from aigc_course.models.dcgan import discriminator_beliefs

    logs, g, d = _run(0, 25)
    assert abs(logs[0]["loss_d"] - 2 * math.log(2)) < 0.5      # starts near 2 log 2: D cannot tell yet
    assert sum(e["loss_d"] for e in logs[-5:]) < sum(e["loss_d"] for e in logs[:5])   # D's loss goes down
    images, labels = _bars(64)
    beliefs = discriminator_beliefs(g, d, images, labels)
    assert beliefs["D(x)"] > beliefs["D(G(z))"]
    assert all(math.isfinite(v) for e in logs for v in e.values())


def test_conditional_step_shows_d_the_requested_labels(monkeypatch):
    from aigc_course.models import gan
    from aigc_course.models.dcgan import image_samplers

    images, labels = _bars(10)
    sample_real, sample_latent, sample_labels = image_samplers(images, labels, latent_dim=3, num_classes=2)
    real, y = sample_real(6)
    assert real.min() >= -1 and real.max() <= 1 and real.shape == (6, 1, 16, 16)
    data = images * 2 - 1                                       # every sample is a data image, in [-1, 1]
    assert all((data == r).flatten(1).all(1).any() for r in real)
    assert torch.equal((real[:, 0, 8, 0] > 0).long(), 1 - y)   # label 0 = horizontal bar: pixel (8, 0) lit
    assert sample_latent(4).shape == (4, 3) and set(sample_labels(200).tolist()) == {0, 1}
    seen = []
    monkeypatch.setattr(gan, "gan_step", lambda *a, **k: seen.append(k["sample_labels"]))
    from aigc_course.models.dcgan import dcgan_optimizers, image_gan_step

    g, d = build_dcgan(DCGANConfig.tiny(num_classes=2))
    image_gan_step(g, d, *dcgan_optimizers(g, d), images, labels)
    image_gan_step(g, d, *dcgan_optimizers(g, d), images)       # labels not given: unconditional samplers
    assert callable(seen[0]) and seen[1] is None


def test_step_is_deterministic_under_a_seed():
    a, ga, _ = _run(3, 4)
    b, gb, _ = _run(3, 4)
    assert a == b
    assert all(torch.equal(p, q) for p, q in zip(ga.parameters(), gb.parameters()))
    c, _, _ = _run(4, 4)
    assert a != c


def test_unconditional_step_runs():
    logs, _, _ = _run(0, 2, num_classes=0)
    assert set(logs[0]) == {"loss_d", "loss_g"}


def test_fixed_noise_snapshots_keep_the_same_noise():
    from aigc_course.models.dcgan import FixedNoiseSnapshots

    g = DCGenerator(DCGANConfig.tiny(num_classes=2))
    snaps = FixedNoiseSnapshots(g, every=2, n=4, labels=torch.tensor([0, 1, 0, 1]))
    for step in range(1, 6):
        snaps.on_step(step, {}, None)
    assert snaps.steps == [1, 2, 4]
    assert snaps.grid().shape == (12, 1, 16, 16)
    assert torch.equal(snaps.images[0], snaps.images[1])       # the generator did not change: same images
    with pytest.raises(ValueError, match="every must be >= 1"):
        FixedNoiseSnapshots(g, every=0)


def test_flat_gan_shapes_and_labels():
    from aigc_course.models.dcgan import FlatGANConfig, build_flat_gan

    cfg = FlatGANConfig.tiny(num_classes=3, image_size=7)      # any size works for a fully connected net
    g, d = build_flat_gan(cfg)
    y = torch.tensor([0, 2])
    x = g(torch.randn(2, 8), y)
    assert x.shape == (2, 1, 7, 7) and x.abs().max() <= 1
    assert d(x, y).shape == (2,)
    with pytest.raises(ValueError, match="conditional"):
        d(x)
    with pytest.raises(ValueError, match="hidden must be a positive int"):
        FlatGANConfig(hidden=0)
    # 2 hidden layers of 16: (8+3)*16+16 + 16*16+16 + 16*49+49
    assert sum(p.numel() for p in g.parameters()) == (11 * 16 + 16) + (16 * 16 + 16) + (16 * 49 + 49)


def test_train_dcgan_is_reproducible_and_needs_labels_when_conditional():
    from aigc_course.models.dcgan import train_dcgan

    g = torch.Generator().manual_seed(0)
    images, labels = torch.rand(32, 1, 8, 8, generator=g), torch.randint(0, 3, (32,), generator=g)
    cfg = DCGANConfig(image_size=8, latent_dim=4, width=4, num_classes=3)
    runs = [train_dcgan(cfg, images, labels, 3, batch_size=8, progress=False) for _ in range(2)]
    (g1, d1, h1), (g2, _, h2) = runs
    assert h1.steps == [1, 2, 3] and all(torch.equal(p, q) for p, q in zip(g1.parameters(), g2.parameters()))
    assert isinstance(d1, DCDiscriminator) and g1.cfg is cfg
    with pytest.raises(ValueError, match="needs labels"):
        train_dcgan(cfg, images, None, 1)
