"""DCGAN (Radford, Metz & Chintala, 2015) and its conditional variant, for small grey or colour images.

The DCGAN guidelines, and where each one lives below:

1. No pooling: the generator upsamples with transposed convolutions (stride 2), the discriminator
   downsamples with strided convolutions, so both *learn* their resampling.
2. Batch norm in both networks, except the generator's output layer and the discriminator's input layer
   (normalising those would pin the output statistics / throw away the input's scale).
3. No fully connected hidden layers: z enters as a 1x1 "image" that the first transposed convolution
   turns into a 4x4 map; the discriminator ends with a 4x4 convolution to one logit.
4. ReLU in the generator with ``tanh`` at the output (images live in [-1, 1]); LeakyReLU(0.2) in the
   discriminator. The discriminator returns a *logit* (no sigmoid): the losses use BCE-with-logits.
5. Weights from N(0, 0.02²) (:func:`dcgan_init_`), Adam with lr 2e-4 and beta1 = 0.5.

Images: data sets give pixels in [0, 1]; the networks work in [-1, 1] (:func:`to_model_range` /
:func:`to_pixels`). Conditional models (``num_classes > 0``) take a label: the generator reads
``[z, one_hot(y)]``, the discriminator reads the image with ``num_classes`` extra constant channels that
hold ``one_hot(y)`` (Mirza & Osindero, 2014), so both know which digit is meant.

Training reuses chapter 02: :func:`image_gan_step` feeds image batches to
:func:`aigc_course.models.gan.gan_step`, whose losses work on logits. The fully connected image GAN
(:func:`build_flat_gan`) is chapter 02's MLP pair with a reshape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aigc_course.validation import check_fields, positive_ints

VALID_SIZES = (8, 16, 32, 64, 128)   # 4 * 2^k: a 4x4 map doubled k >= 1 times


@dataclass
class DCGANConfig:
    image_size: int = 32        # height = width; one of VALID_SIZES (4x4 doubled k times)
    channels: int = 1           # 1 for grey digits, 3 for colour
    latent_dim: int = 64        # size of the noise vector z
    width: int = 64             # feature maps next to the image; they double at every halving of size
    num_classes: int = 0        # 0: unconditional; K > 0: G and D are told a class label in 0..K-1

    def __post_init__(self) -> None:
        check_fields(self)  # every field of the annotated type (TypeError / ValueError naming it)
        validate_image_size(self.image_size)
        positive_ints(self, "channels", "latent_dim", "width")
        if not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ValueError(f"num_classes must be 0 (unconditional) or a positive int, got {self.num_classes!r}")

    @property
    def stages(self) -> int:
        """Number of 2x resampling steps between the 4x4 map and the image."""
        return int(math.log2(self.image_size // 4))

    @classmethod
    def tiny(cls, **overrides) -> DCGANConfig:
        """A very small model for tests and FAST mode: 16x16 images, 8 feature maps."""
        return cls(**{"image_size": 16, "latent_dim": 8, "width": 8, **overrides})


def validate_image_size(size: int) -> None:
    """Raise a ValueError naming the sizes a DC network can produce when ``size`` is not one of them."""
    if size not in VALID_SIZES:
        raise ValueError(f"image_size={size!r} cannot be produced by the DC architecture: it starts from a 4x4 "
                         f"map and doubles it, so image_size must be 4*2^k, one of {VALID_SIZES}. "
                         f"Pad the images to one of these: load_images(..., size=32, fit='pad') centres MNIST's "
                         f"28x28 in a black 32x32 frame and keeps every pixel (fit='resize' interpolates instead).")


def dcgan_init_(module: nn.Module) -> nn.Module:
    """DCGAN initialisation: conv weights ~ N(0, 0.02²); batch-norm scale ~ N(1, 0.02²), shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def to_model_range(pixels: Tensor) -> Tensor:
    """Pixels in [0, 1] -> the networks' range [-1, 1] (the range of tanh)."""
    return pixels * 2 - 1


def to_pixels(x: Tensor) -> Tensor:
    """The networks' range [-1, 1] -> pixels in [0, 1] (clamped), for plots and classifiers."""
    return ((x + 1) / 2).clamp(0, 1)


def _check_labels(labels: Tensor | None, num_classes: int, batch: int) -> None:
    if num_classes == 0:
        if labels is not None:
            raise ValueError("this model is unconditional (num_classes=0) but labels were given")
        return
    if labels is None:
        raise ValueError(f"this model is conditional (num_classes={num_classes}): pass labels in 0..{num_classes - 1}")
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), got {tuple(labels.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be in 0..{num_classes - 1}, got values {labels.min().item()}.."
                         f"{labels.max().item()}")


class DCGenerator(nn.Module):
    """z (B, Z) [+ label (B,)] -> image (B, C, S, S) in [-1, 1]: 1x1 -> 4x4 -> 8x8 -> ... -> SxS."""

    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        self.cfg = cfg
        ch = cfg.width * 2 ** (cfg.stages - 1)                  # feature maps at 4x4
        layers = [nn.ConvTranspose2d(cfg.latent_dim + cfg.num_classes, ch, 4, 1, 0, bias=False),
                  nn.BatchNorm2d(ch), nn.ReLU(True)]            # state: (ch, 4, 4)
        for _ in range(cfg.stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ch // 2), nn.ReLU(True)]  # state: (ch/2, 2s, 2s)
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, cfg.channels, 4, 2, 1), nn.Tanh()]   # (C, S, S), no batch norm
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        _check_labels(labels, self.cfg.num_classes, z.shape[0])
        if labels is not None:
            z = torch.cat([z, F.one_hot(labels, self.cfg.num_classes).to(z.dtype)], dim=1)  # (B, Z + K)
        return self.net(z[:, :, None, None])                    # (B, Z+K, 1, 1) -> (B, C, S, S)


class DCDiscriminator(nn.Module):
    """image (B, C, S, S) in [-1, 1] [+ label (B,)] -> logit (B,): SxS -> ... -> 4x4 -> 1x1."""

    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        self.cfg = cfg
        ch = cfg.width
        layers = [nn.Conv2d(cfg.channels + cfg.num_classes, ch, 4, 2, 1),
                  nn.LeakyReLU(0.2, True)]                      # (ch, S/2, S/2), no batch norm at the input
        for _ in range(cfg.stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]   # (2ch, s/2, s/2)
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0)]                   # (1, 1, 1): one logit per image
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        _check_labels(labels, self.cfg.num_classes, x.shape[0])
        if x.shape[1:] != (self.cfg.channels, self.cfg.image_size, self.cfg.image_size):
            size = self.cfg.image_size
            raise ValueError(f"expected images (B, {self.cfg.channels}, {size}, {size}), got {tuple(x.shape)}")
        if labels is not None:
            maps = F.one_hot(labels, self.cfg.num_classes).to(x.dtype)[:, :, None, None]   # (B, K, 1, 1)
            x = torch.cat([x, maps.expand(-1, -1, *x.shape[2:])], dim=1)                   # (B, C + K, S, S)
        return self.net(x).flatten()                            # (B, 1, 1, 1) -> (B,)


@dataclass
class FlatGANConfig:
    """The fully connected image GAN: chapter 02's MLP networks on flattened images, any image size."""

    image_size: int = 16        # height = width (any size: a fully connected net has no size constraint)
    channels: int = 1
    latent_dim: int = 64
    hidden: int = 256           # width of the hidden layers of both MLPs
    depth: int = 2              # hidden layers per MLP
    num_classes: int = 0        # 0: unconditional; K > 0: one-hot labels are concatenated to the inputs

    def __post_init__(self) -> None:
        positive_ints(self, "image_size", "channels", "latent_dim", "hidden", "depth")
        check_fields(self)  # every field of the annotated type (TypeError / ValueError naming it)

    @property
    def pixels(self) -> int:
        return self.channels * self.image_size ** 2

    @classmethod
    def tiny(cls, **overrides) -> FlatGANConfig:
        return cls(**{"image_size": 8, "latent_dim": 8, "hidden": 16, **overrides})


class FlatGenerator(nn.Module):
    """A vector generator (B, Z) [+ labels] -> (B, C·S·S) made an image generator: tanh, then reshape."""

    def __init__(self, cfg: FlatGANConfig, vector_generator: nn.Module):
        super().__init__()
        self.cfg, self.inner = cfg, vector_generator

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        s = self.cfg.image_size
        flat = self.inner(z) if labels is None else self.inner(z, labels)                  # (B, C·S·S)
        return torch.tanh(flat).view(-1, self.cfg.channels, s, s)                          # (B, C, S, S)


class FlatDiscriminator(nn.Module):
    """A vector discriminator (B, C·S·S) [+ labels] -> logit (B,), fed flattened images."""

    def __init__(self, cfg: FlatGANConfig, vector_discriminator: nn.Module):
        super().__init__()
        self.cfg, self.inner = cfg, vector_discriminator

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        x = x.flatten(1)                                                                    # (B, C·S·S)
        return self.inner(x) if labels is None else self.inner(x, labels)                  # (B,)


def build_flat_gan(cfg: FlatGANConfig) -> tuple[FlatGenerator, FlatDiscriminator]:
    """Chapter 02's MLP generator and discriminator (LeakyReLU) sized for images, with the image wrappers."""
    from aigc_course.models.gan import ToyGANConfig, build_toy_gan

    toy = ToyGANConfig(data_dim=cfg.pixels, latent_dim=cfg.latent_dim, hidden=cfg.hidden, depth=cfg.depth,
                       num_classes=cfg.num_classes, activation="leaky_relu")
    g, d = build_toy_gan(toy)
    return FlatGenerator(cfg, g), FlatDiscriminator(cfg, d)


def build_dcgan(cfg: DCGANConfig) -> tuple[DCGenerator, DCDiscriminator]:
    """A generator and a discriminator for ``cfg``, DCGAN-initialised."""
    return DCGenerator(cfg), DCDiscriminator(cfg)


def dcgan_optimizers(generator: nn.Module, discriminator: nn.Module, lr: float = 2e-4,
                     beta1: float = 0.5) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G and D as the DCGAN paper set it: lr 2e-4, betas (0.5, 0.999). A lower beta1 makes
    the momentum forget faster, which helps when the opponent keeps moving the target."""
    return (torch.optim.Adam(generator.parameters(), lr=lr, betas=(beta1, 0.999)),
            torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(beta1, 0.999)))


@torch.no_grad()
def sample_images(generator: nn.Module, n: int, labels: Tensor | None = None, z: Tensor | None = None,
                  generator_seed: int | None = None) -> Tensor:
    """``n`` samples as pixels in [0, 1] (B, C, S, S), generated in eval mode (batch norm uses running
    statistics). Pass ``z`` for a fixed-noise grid, ``labels`` for a conditional model."""
    cfg = generator.cfg
    device = next(generator.parameters()).device
    if z is None:
        g = torch.Generator().manual_seed(generator_seed) if generator_seed is not None else None
        z = torch.randn(n, cfg.latent_dim, generator=g)        # (n, Z)
    was_training = generator.training
    generator.eval()
    out = generator(z.to(device), None if labels is None else labels.to(device))
    generator.train(was_training)
    return to_pixels(out).cpu()


def image_samplers(images: Tensor, labels: Tensor | None, latent_dim: int, num_classes: int = 0,
                   device: torch.device | str = "cpu", seed: int = 0):
    """The three samplers :func:`aigc_course.models.gan.gan_step` needs, for an image data set.

    ``images`` (N, C, S, S) are pixels in [0, 1], moved to [-1, 1] once. Returns ``sample_real(B)`` (random
    real images, with their labels when ``labels`` is given), ``sample_latent(B)`` (z ~ N(0, I)) and
    ``sample_labels(B)`` (uniform random classes for the fakes; None when unconditional). One seeded
    ``torch.Generator`` drives all three, so a run is reproducible.
    """
    from aigc_course.models.gan import latent_sampler

    g = torch.Generator().manual_seed(seed)
    data = to_model_range(images).to(device)                    # (N, C, S, S) in [-1, 1]
    targets = None if labels is None else labels.to(device)     # (N,)

    def sample_real(n: int) -> Tensor | tuple[Tensor, Tensor]:
        idx = torch.randint(0, len(data), (n,), generator=g).to(device)
        return data[idx] if targets is None else (data[idx], targets[idx])

    def sample_labels(n: int) -> Tensor:
        return torch.randint(0, num_classes, (n,), generator=g).to(device)

    return sample_real, latent_sampler(latent_dim, device, generator=g), sample_labels if num_classes else None


def image_gan_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
                   opt_d: torch.optim.Optimizer, images: Tensor, labels: Tensor | None = None, *,
                   loss: str = "non_saturating", batch_size: int = 64, d_steps: int = 1, seed: int = 0):
    """:func:`aigc_course.models.gan.gan_step` (one D update then one G update, losses from chapter 02) on
    an image data set. With ``labels`` the GAN is conditional: real images go to D with their own labels;
    fakes are drawn for random labels and go to D with the labels they were asked to be."""
    from aigc_course.models.gan import gan_step

    num_classes = generator.cfg.num_classes if labels is not None else 0
    device = next(generator.parameters()).device
    sample_real, sample_latent, sample_labels = image_samplers(images, labels, generator.cfg.latent_dim,
                                                               num_classes, device, seed)
    return gan_step(generator, discriminator, opt_g, opt_d, sample_real, sample_latent, loss=loss,
                    d_steps=d_steps, batch_size=batch_size, sample_labels=sample_labels)


def train_dcgan(cfg: DCGANConfig, images: Tensor, labels: Tensor | None = None, steps: int = 3000, *,
                batch_size: int = 64, callbacks=(), desc: str = "DCGAN", device: torch.device | str = "cpu",
                seed: int | None = 0, progress: bool = True):
    """Build a DCGAN for ``cfg`` (conditional when ``cfg.num_classes > 0``; then pass ``labels``), train it for
    ``steps`` alternating updates of :func:`image_gan_step` with :func:`dcgan_optimizers` under
    :func:`aigc_course.train.train`, and return ``(generator, discriminator, history)``. ``seed`` seeds the
    networks' initial weights (None: leave the global generator alone)."""
    from aigc_course.train import train

    if cfg.num_classes and labels is None:
        raise ValueError(f"a conditional DCGAN (num_classes={cfg.num_classes}) needs labels for its images")
    if seed is not None:
        torch.manual_seed(seed)
    generator, discriminator = (m.to(device) for m in build_dcgan(cfg))
    opt_g, opt_d = dcgan_optimizers(generator, discriminator)
    step = image_gan_step(generator, discriminator, opt_g, opt_d, images.to(device),
                          None if labels is None or not cfg.num_classes else labels.to(device), batch_size=batch_size)
    history = train(step, steps, modules={"G": generator, "D": discriminator}, callbacks=callbacks, desc=desc,
                    progress=progress)
    return generator, discriminator, history


@torch.no_grad()
def discriminator_beliefs(generator: nn.Module, discriminator: nn.Module, images: Tensor,
                          labels: Tensor | None = None, seed: int = 0) -> dict[str, float]:
    """D's mean probability of "real" on real ``images`` (pixels) and on as many fakes (eval mode):
    ``{"D(x)", "D(G(z))"}``. At the game's equilibrium both are ½."""
    device = next(discriminator.parameters()).device
    was = generator.training, discriminator.training
    discriminator.eval()
    fakes = sample_images(generator, len(images), labels=labels, generator_seed=seed)
    y = None if labels is None else labels.to(device)
    real_p = torch.sigmoid(discriminator(to_model_range(images).to(device), y)).mean().item()
    fake_p = torch.sigmoid(discriminator(to_model_range(fakes).to(device), y)).mean().item()
    generator.train(was[0])
    discriminator.train(was[1])
    return {"D(x)": real_p, "D(G(z))": fake_p}


class FixedNoiseSnapshots:
    """A training callback: every ``every`` steps, render the same noise (and labels) and keep the images,
    so the grid of snapshots shows one set of samples improving over training."""

    def __init__(self, generator: nn.Module, every: int, n: int = 10, labels: Tensor | None = None, seed: int = 0):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.generator, self.every, self.labels = generator, every, labels
        self.z = torch.randn(n, generator.cfg.latent_dim, generator=torch.Generator().manual_seed(seed))  # (n, Z)
        self.steps: list[int] = []
        self.images: list[Tensor] = []          # each (n, C, S, S) in [0, 1]

    def snapshot(self, step: int) -> None:
        self.steps.append(step)
        self.images.append(sample_images(self.generator, len(self.z), labels=self.labels, z=self.z))

    def on_step(self, step: int, logs: dict, history) -> None:
        if step == 1 or step % self.every == 0:
            self.snapshot(step)

    def grid(self) -> Tensor:
        """All snapshots as one batch (rows = snapshots in time order) -> (len(steps) * n, C, S, S)."""
        return torch.cat(self.images)
