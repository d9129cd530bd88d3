"""Variational autoencoders (chapters 04 and 05): the ELBO's pieces, MLP and conv VAEs, conditional VAEs.

Notation (chapter 04): data x, latent z, prior p(z) = N(0, I), decoder p_θ(x|z), encoder
q_φ(z|x) = N(μ_φ(x), diag σ²_φ(x)) with the network giving μ and log σ² ("logvar").

    log p(x) ≥ ELBO(x) = E_q[log p_θ(x|z)] − KL(q_φ(z|x) ‖ p(z))            (eq. 4.3)

Read from small to big: Gaussian helpers, likelihood terms, the config, the networks, then the objectives
(:func:`elbo`, :func:`iw_log_likelihood`) that take a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aigc_course.validation import ArgumentTypeError, check_fields, check_int

LIKELIHOODS = ("bernoulli", "gaussian")
ARCHS = ("mlp", "conv")
LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------------------------------------- Gaussians


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL( N(μ, diag exp(logvar)) ‖ N(0, I) ), summed over the last dim (eq. 4.7):

    KL = ½ Σ_j ( μ_j² + σ_j² − log σ_j² − 1 )
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)          # (...,)


def gaussian_kl_diag(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL( N(μ_q, diag σ_q²) ‖ N(μ_p, diag σ_p²) ), summed over the last dim (eq. 4.6):

    KL = ½ Σ_j ( log σ_p²/σ_q² + (σ_q² + (μ_q − μ_p)²) / σ_p² − 1 )
    """
    ratio = (logvar_q - logvar_p).exp()                                       # σ_q² / σ_p²
    return 0.5 * (-(logvar_q - logvar_p) + ratio + (mu_q - mu_p).pow(2) / logvar_p.exp() - 1).sum(dim=-1)


def diag_gaussian_log_prob(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; μ, diag σ²) summed over the last dim: −½ Σ_j ( log 2π + log σ_j² + (z_j − μ_j)² / σ_j² )."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(dim=-1)


def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
    """The reparameterisation trick (eq. 4.9): z = μ + σ ⊙ ε, ε ~ N(0, I), σ = exp(½ logvar).

    The randomness sits in ε, outside the parameters, so z is a differentiable function of μ and logvar.
    """
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
    return mu + (0.5 * logvar).exp() * eps


# ---------------------------------------------------------------------------------------------- likelihoods


def bernoulli_log_likelihood(logits: Tensor, x: Tensor) -> Tensor:
    """log p(x|z) for pixels x ∈ {0, 1} with p = sigmoid(logits), summed per image (eq. 5.1):

    log p(x|z) = Σ_i x_i log p_i + (1 − x_i) log(1 − p_i) = −BCE(logits, x)
    """
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)   # (B,)


def gaussian_log_likelihood(mean: Tensor, x: Tensor, sigma: float) -> Tensor:
    """log N(x; mean, σ² I) summed per image (eq. 5.2):

    log p(x|z) = −D/2 log(2π σ²) − ‖x − mean‖² / (2σ²)       (D pixels: a scaled squared error)
    """
    d = x[0].numel()
    sq = (x - mean).pow(2).flatten(1).sum(dim=1)                              # (B,)
    return -0.5 * d * (LOG_2PI + 2 * math.log(sigma)) - sq / (2 * sigma**2)


# ---------------------------------------------------------------------------------------------- config


@dataclass
class VAEConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)   # (C, H, W) of the data
    latent_dim: int = 16          # size of z; 2 makes the latent space drawable
    arch: str = "mlp"             # "mlp" (flattened pixels) or "conv" (two stride-2 convs; H, W divisible by 4)
    hidden: int = 256             # width of the fully connected layers
    width: int = 32               # conv only: channels of the first conv; the second has 2 * width
    likelihood: str = "bernoulli"  # or "gaussian": decides the reconstruction term (eq. 5.1 / 5.2)
    obs_sigma: float = 0.1        # gaussian only: the decoder's fixed pixel noise σ; the loss scaled by σ²
                                  # is ½‖x − x̂‖² + σ² KL, so σ acts like √β (β = σ²)
    num_classes: int = 0          # > 0 makes a conditional VAE: encoder and decoder also see one_hot(y)
    mlp_depth: int = 2            # mlp only: hidden layers on each side (1: the standard 784-400-20 VAE)

    def __post_init__(self) -> None:
        check_fields(self)  # every field of the annotated type (TypeError / ValueError naming it)
        if not isinstance(self.image_shape, (tuple, list)):
            raise ArgumentTypeError(f"image_shape must be a tuple (C, H, W) of positive ints, got {self.image_shape!r}")
        self.image_shape = tuple(check_int("image_shape", s, 1) for s in self.image_shape)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W) with positive sizes, got {self.image_shape}")
        if not isinstance(self.latent_dim, int) or self.latent_dim <= 0:
            raise ValueError(f"latent_dim must be a positive int, got {self.latent_dim!r}")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        check_int("mlp_depth", self.mlp_depth, 1)
        if self.hidden < 1 or self.width < 1 or self.num_classes < 0 or self.obs_sigma <= 0:
            raise ValueError(f"hidden and width must be positive, num_classes >= 0 and obs_sigma > 0; got "
                             f"hidden={self.hidden}, width={self.width}, num_classes={self.num_classes}, "
                             f"obs_sigma={self.obs_sigma}")
        _, h, w = self.image_shape
        if self.arch == "conv" and (h % 4 or w % 4 or h < 8 or w < 8):
            raise ValueError(f"the conv VAE halves H and W twice, so both must be multiples of 4 and at least 8 "
                             f"(e.g. 8, 16, 28, 32); got image_shape {self.image_shape}. Resize the data "
                             f"(load_images(..., size=...)) or use arch='mlp'")

    @classmethod
    def tiny(cls, **overrides) -> VAEConfig:
        """A very small VAE for tests and FAST mode: 8x8 images, 2-D latent."""
        return cls(**{"image_shape": (1, 8, 8), "latent_dim": 2, "hidden": 16, "width": 4, **overrides})


# ---------------------------------------------------------------------------------------------- networks


def _one_hot(y: Tensor | None, num_classes: int, batch: int) -> Tensor | None:
    if num_classes == 0:
        return None
    if y is None:
        raise ValueError(f"this VAE is conditional (num_classes={num_classes}): pass labels y of shape ({batch},)")
    return F.one_hot(y.long(), num_classes).float()                           # (B, K)


def _cat(h: Tensor, onehot: Tensor | None) -> Tensor:
    return h if onehot is None else torch.cat([h, onehot.to(h.dtype)], dim=1)


def _hidden_layers(first_in: int, hid: int, n: int) -> list[nn.Module]:
    """``n`` Linear + ReLU layers of width ``hid``, the first reading ``first_in`` features."""
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [nn.Linear(first_in if i == 0 else hid, hid), nn.ReLU()]
    return layers


class VAE(nn.Module):
    """Encoder q(z|x[, y]) and decoder p(x|z[, y]); ``decode`` returns logits (bernoulli) or means (gaussian)."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        c, h, w = cfg.image_shape
        k, hid = cfg.num_classes, cfg.hidden
        extra = cfg.mlp_depth - 1 if cfg.arch == "mlp" else 1     # hidden layers after the first, per side
        if cfg.arch == "mlp":
            self.enc_body = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hid), nn.ReLU())   # (B, hid)
            self.dec_body = nn.Sequential(*_hidden_layers(hid, hid, extra), nn.Linear(hid, c * h * w))
            feat = hid
        else:
            wd = cfg.width
            self._feat_shape = (2 * wd, h // 4, w // 4)
            self.enc_body = nn.Sequential(
                nn.Conv2d(c, wd, 4, 2, 1), nn.ReLU(),                         # (wd, H/2, W/2)
                nn.Conv2d(wd, 2 * wd, 4, 2, 1), nn.ReLU(),                    # (2wd, H/4, W/4)
                nn.Flatten())                                                 # (B, 2wd * H/4 * W/4)
            feat = 2 * wd * (h // 4) * (w // 4)
            self.dec_body = nn.Sequential(
                nn.Linear(hid, feat), nn.ReLU(),
                nn.Unflatten(1, self._feat_shape),                            # (B, 2wd, H/4, W/4)
                nn.ConvTranspose2d(2 * wd, wd, 4, 2, 1), nn.ReLU(),           # (B, wd, H/2, W/2)
                nn.ConvTranspose2d(wd, c, 4, 2, 1))                           # (B, C, H, W)
        self.enc_head = nn.Sequential(*_hidden_layers(feat + k, hid, extra),
                                      nn.Linear(hid if extra else feat + k, 2 * cfg.latent_dim))   # (B, 2Z)
        self.dec_in = nn.Sequential(nn.Linear(cfg.latent_dim + k, hid), nn.ReLU())

    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (B, C, H, W) -> μ, logvar, each (B, latent_dim)."""
        h = _cat(self.enc_body(x), _one_hot(y, self.cfg.num_classes, len(x)))   # (B, feat [+ K])
        mu, logvar = self.enc_head(h).chunk(2, dim=1)                            # (B, 2Z) -> 2 x (B, Z)
        return mu, logvar

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z (B, Z) -> logits (bernoulli) or means (gaussian) of p(x|z), shaped (B, C, H, W)."""
        h = self.dec_in(_cat(z, _one_hot(y, self.cfg.num_classes, len(z))))      # (B, hid)
        return self.dec_body(h).view(len(z), *self.cfg.image_shape)              # (B, C, H, W)

    def mean_image(self, out: Tensor) -> Tensor:
        """The decoder's mean image in [0, 1] from what ``decode`` returns."""
        return torch.sigmoid(out) if self.cfg.likelihood == "bernoulli" else out.clamp(0, 1)

    def log_likelihood(self, out: Tensor, x: Tensor) -> Tensor:
        """log p(x|z) per image (B,), the term the config's likelihood picks (eq. 5.1 or 5.2)."""
        if self.cfg.likelihood == "bernoulli":
            return bernoulli_log_likelihood(out, x)
        return gaussian_log_likelihood(out, x, self.cfg.obs_sigma)

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One pass: (decoder output, μ, logvar, z) with z drawn by the reparameterisation trick."""
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar)
        return self.decode(z, y), mu, logvar, z

    @torch.no_grad()
    def sample(self, n: int, y: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """n mean images (n, C, H, W) in [0, 1] decoded from z ~ N(0, I)."""
        z = torch.randn(n, self.cfg.latent_dim, generator=generator).to(_device(self))
        return self.mean_image(self.decode(z, None if y is None else y.to(z.device)))

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Mean image of p(x | z = μ(x)): the deterministic reconstruction (B, C, H, W)."""
        mu, _ = self.encode(x, y)
        return self.mean_image(self.decode(mu, y))


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------- objectives


class ELBOTerms(NamedTuple):
    elbo: Tensor    # (B,) reconstruction − β · KL (β = 1: the bound itself)
    recon: Tensor   # (B,) one-sample estimate of E_q[log p(x|z)]
    kl: Tensor      # (B,) KL(q(z|x) ‖ N(0, I)), closed form


def elbo(model: VAE, x: Tensor, y: Tensor | None = None, beta: float = 1.0) -> ELBOTerms:
    """The (β-weighted) ELBO per example with one reparameterised sample (eq. 4.3, β-VAE eq. 5.4):

    ELBO_β(x) = log p_θ(x | z) − β · KL(q_φ(z|x) ‖ N(0, I)),   z = μ_φ(x) + σ_φ(x) ⊙ ε

    Train by minimising ``-elbo(model, x).elbo.mean()``. β = 1 is the true lower bound on log p(x).
    """
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    out, mu, logvar, _ = model(x, y)
    recon = model.log_likelihood(out, x)                                      # (B,)
    kl = gaussian_kl(mu, logvar)                                              # (B,)
    return ELBOTerms(recon - beta * kl, recon, kl)


def log_mean_exp(log_w: Tensor, dim: int = 0) -> Tensor:
    """log( (1/k) Σ_i exp(log_w_i) ) along ``dim``, computed stably with logsumexp."""
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


@torch.no_grad()
def iw_log_likelihood(model: VAE, x: Tensor, y: Tensor | None = None, k: int = 1000,
                      chunk: int = 100) -> tuple[Tensor, Tensor]:
    """Importance-weighted bound (IWAE, Burda et al. 2015) on log p(x), per example, and the k-sample ELBO.

    L_k(x) = log (1/k) Σ_{i=1..k} p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x)        (eq. 5.3)

    ELBO = L_1 ≤ L_k ≤ L_{k'} ≤ log p(x) for k ≤ k', and L_k → log p(x) as k → ∞. Returns (L_k, mean of the
    k single-sample ELBOs), both (B,) in nats. ``chunk`` samples are drawn at a time to bound memory.
    """
    if k < 1 or chunk < 1:
        raise ValueError(f"k and chunk must be positive, got k={k}, chunk={chunk}")
    mu, logvar = model.encode(x, y)                                           # (B, Z) each
    log_w = []
    for start in range(0, k, chunk):
        m = min(chunk, k - start)
        z = reparameterize(mu.expand(m, *mu.shape), logvar.expand(m, *mu.shape))   # (m, B, Z)
        z_flat = z.reshape(-1, z.shape[-1])                                   # (m*B, Z)
        y_rep = None if y is None else y.repeat(m)                            # (m*B,)
        out = model.decode(z_flat, y_rep)                                     # (m*B, C, H, W)
        log_px = model.log_likelihood(out, x.repeat(m, 1, 1, 1)).view(m, -1)  # (m, B)
        log_pz = diag_gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))   # (m, B)
        log_qz = diag_gaussian_log_prob(z, mu, logvar)                        # (m, B)
        log_w.append(log_px + log_pz - log_qz)
    log_w = torch.cat(log_w)                                                  # (k, B)
    return log_mean_exp(log_w, dim=0), log_w.mean(dim=0)


def binarize(images: Tensor, threshold: float = 0.5) -> Tensor:
    """Pixels in [0, 1] -> {0, 1} (fixed threshold), so a Bernoulli likelihood is a true likelihood."""
    return (images > threshold).float()


def dynamic_binarize(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Pixels in [0, 1] -> {0, 1} drawn as x_i ~ Bernoulli(pixel_i): "dynamic binarisation" (Salakhutdinov &
    Murray, 2008; Burda et al., 2016). A fresh draw each training step makes the Bernoulli decoder's mean
    E[x_i | z] learn the grey level itself, so its mean images live where the grey data live, and the
    likelihood is still a true one (of binary images). ``generator``: a CPU torch.Generator, for fixed draws.
    """
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError(f"pixels must be in [0, 1] to be Bernoulli probabilities, got values in "
                         f"[{images.min().item():.3g}, {images.max().item():.3g}]")
    u = torch.rand(images.shape, generator=generator).to(images.device)
    return (u < images).to(images.dtype)


def vae_step(model: VAE, optimizer: torch.optim.Optimizer, images: Tensor, labels: Tensor | None = None,
             beta: float = 1.0, batch_size: int = 128, seed: int = 0, dynamic: bool = False):
    """A ``step_fn`` for :func:`aigc_course.train.train`: draw a batch, minimise −ELBO_β, log its parts.

    Logs ``-ELBO`` (the β-weighted loss), ``-recon`` (−log p(x|z)) and ``KL``, all in nats per image.
    ``labels`` (N,) are passed to a conditional VAE. ``dynamic=True`` trains on a fresh
    :func:`dynamic_binarize` draw of each batch of grey ``images`` (Bernoulli likelihood).
    """
    g = torch.Generator().manual_seed(seed)

    def step_fn(step: int) -> dict[str, float]:
        idx = torch.randint(len(images), (min(batch_size, len(images)),), generator=g).to(images.device)
        x = dynamic_binarize(images[idx], generator=g) if dynamic else images[idx]
        terms = elbo(model, x, None if labels is None else labels[idx], beta=beta)
        loss = -terms.elbo.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"-ELBO": loss.item(), "-recon": -terms.recon.mean().item(), "KL": terms.kl.mean().item()}

    return step_fn


@torch.no_grad()
def evaluate(model: VAE, images: Tensor, labels: Tensor | None = None, batch_size: int = 500) -> dict[str, float]:
    """Mean single-sample −ELBO, −recon and KL (nats per image) over a data set, in batches."""
    sums = {"-ELBO": 0.0, "-recon": 0.0, "KL": 0.0}
    for i in range(0, len(images), batch_size):
        y = None if labels is None else labels[i:i + batch_size]
        t = elbo(model, images[i:i + batch_size], y)
        sums["-ELBO"] -= t.elbo.sum().item()
        sums["-recon"] -= t.recon.sum().item()
        sums["KL"] += t.kl.sum().item()
    return {k: v / len(images) for k, v in sums.items()}
