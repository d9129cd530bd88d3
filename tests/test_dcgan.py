"""DCGAN generator / discriminator: shapes for every size, conditioning, guidelines, errors, determinism."""

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
