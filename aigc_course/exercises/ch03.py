"""Checkers for chapter 03 (GANs on images). Each raises AssertionError with a hint when an answer is wrong."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from aigc_course.exercises.core import exercise


def _close(got, want, what: str, atol: float = 1e-5) -> None:
    got = torch.as_tensor(got, dtype=torch.float64)
    want = torch.as_tensor(want, dtype=torch.float64)
    assert got.shape == want.shape, f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}"
    assert torch.isfinite(got).all(), f"{what}: got a NaN or inf — did you take log(sigmoid(...))? " \
                                      f"Use F.logsigmoid or F.binary_cross_entropy_with_logits"
    if want.numel() <= 4:
        shown = f"expected {want.tolist()}, got {got.tolist()}"
    else:
        diff = (got - want).abs().max().item()
        shown = (f"largest difference {diff:.4g} (first values expected {want.flatten()[:3].tolist()}, "
                 f"got {got.flatten()[:3].tolist()})")
    assert torch.allclose(got, want, atol=atol, rtol=1e-4), f"{what}: {shown}"


@exercise("ch03.discriminator_loss")
def discriminator_loss(fn) -> None:
    """fn(real_logits (B,), fake_logits (B,)) -> mean BCE of D: −mean log σ(real) − mean log(1 − σ(fake))."""
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(16, generator=g) * 3, torch.randn(16, generator=g) * 3
    want = (F.binary_cross_entropy_with_logits(real, torch.ones(16))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros(16)))
    _close(fn(real, fake), want, "loss on ordinary logits")
    swapped = fn(fake, real)
    assert not torch.allclose(torch.as_tensor(swapped, dtype=torch.float64), want.double()), \
        "the loss does not care which logits are real: real images have target 1, fakes target 0"
    extreme_real, extreme_fake = torch.tensor([-200.0, 50.0]), torch.tensor([200.0, -50.0])
    _close(fn(extreme_real, extreme_fake), torch.tensor(200.0), "loss on extreme logits (±200)", atol=1e-3)


@exercise("ch03.transposed_conv_size")
def transposed_conv_size(fn) -> None:
    """fn(size_in, kernel, stride, padding) -> output size of ConvTranspose2d."""
    for size, k, s, p in [(1, 4, 1, 0), (4, 4, 2, 1), (7, 3, 2, 1), (5, 5, 3, 2), (8, 2, 2, 0), (3, 4, 1, 1)]:
        layer = torch.nn.ConvTranspose2d(1, 1, k, s, p)
        want = layer(torch.zeros(1, 1, size, size)).shape[-1]
        got = fn(size, k, s, p)
        assert got == want, (f"ConvTranspose2d(kernel={k}, stride={s}, padding={p}) on {size}x{size} gives "
                             f"{want}x{want}, your formula gives {got}. Hint: a convolution maps n -> "
                             f"(n + 2p - k) / s + 1; the transposed one inverts that map")


@exercise("ch03.label_maps")
def label_maps(fn) -> None:
    """fn(images (B, C, H, W), labels (B,), num_classes K) -> (B, C + K, H, W): images, then one-hot maps."""
    g = torch.Generator().manual_seed(1)
    images, labels = torch.randn(5, 2, 3, 4, generator=g), torch.tensor([0, 3, 1, 3, 2])
    out = fn(images, labels, 4)
    assert tuple(out.shape) == (5, 6, 3, 4), f"expected shape (5, 6, 3, 4), got {tuple(out.shape)}"
    assert torch.equal(out[:, :2], images), "the first C channels must be the images, unchanged"
    maps = out[:, 2:]
    for i, y in enumerate(labels.tolist()):
        want = torch.zeros(4, 3, 4)
        want[y] = 1
        assert torch.equal(maps[i].float(), want), (f"sample {i} has label {y}: its label channels must be "
                                                    f"all 0 except channel {y}, which is all 1")


@exercise("ch03.slerp")
def slerp(fn) -> None:
    """fn(z0 (Z,), z1 (Z,), t float) -> spherical interpolation between z0 and z1."""
    from aigc_course.widgets.latent_walk import slerp as reference

    g = torch.Generator().manual_seed(2)
    z0, z1 = torch.randn(32, generator=g), torch.randn(32, generator=g)
    for t in (0.0, 0.25, 0.5, 0.9, 1.0):
        _close(fn(z0, z1, t), reference(z0, z1, t), f"slerp at t={t}", atol=1e-4)
    e0, e1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    _close(fn(e0, e1, 0.5), torch.tensor([1.0, 1.0]) / math.sqrt(2),
           "slerp between two perpendicular unit vectors at t=0.5 (should stay on the unit circle)")


@exercise("ch03.frechet_distance")
def frechet_distance(fn) -> None:
    """fn(feats_a (N, D), feats_b (M, D)) -> Fréchet distance of Gaussians fitted to each (float)."""
    from aigc_course.metrics import frechet_distance as reference

    g = torch.Generator().manual_seed(3)
    a = torch.randn(400, 4, generator=g) @ torch.randn(4, 4, generator=g)
    b = torch.randn(300, 4, generator=g) * 0.5 + 1.0
    want = reference(a, b)
    got = float(fn(a, b))
    assert math.isclose(got, want, rel_tol=1e-3), (
        f"expected {want:.4f}, got {got:.4f}. d² = ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^(1/2)); use the "
        f"unbiased covariance (divide by N − 1) and a matrix square root, not an elementwise one")
    same = float(fn(a, a.clone()))
    assert abs(same) < 1e-4, f"the distance of a set to itself must be 0, got {same}"
