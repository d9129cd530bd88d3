"""GANs on vectors (chapter 02): MLP generator and discriminator, the losses of the minimax game, one
fix for mode collapse (WGAN-GP), and a training step that any generator/discriminator pair can use.

Notation (chapter 02). The discriminator outputs a *logit* ℓ = D̃(x); its probability that x is real is
D(x) = σ(ℓ). Every loss here takes logits, never probabilities, and uses

    log σ(ℓ) = −softplus(−ℓ),        log(1 − σ(ℓ)) = −softplus(ℓ),

which are exact and never take log(0). The value of the game is

    V(D, G) = E_{x∼p_data}[log D(x)] + E_{z∼p_z}[log(1 − D(G(z)))],

D maximises it, G minimises it; at the optimal discriminator D*(x) = p_data(x) / (p_data(x) + p_g(x)),
V(D*, G) = −log 4 + 2·JS(p_data ‖ p_g).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aigc_course.accel import loggable
from aigc_course.validation import check_bool, check_fields, positive_int, positive_ints

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "elu": nn.ELU}
GENERATOR_LOSSES = ("non_saturating", "minimax", "wasserstein")
GAN_LOSSES = ("non_saturating", "minimax", "wgan-gp")


# ---------------------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------------------

class MLP(nn.Module):
    """A multilayer perceptron: Linear → act → … → Linear, ``depth`` hidden layers of width ``hidden``.

    The last layer has no activation: a generator's output is a point, a discriminator's is a logit.
    """

    def __init__(self, in_features: int, out_features: int, hidden: int = 128, depth: int = 2,
                 activation: str = "relu"):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features),
                            ("hidden", hidden), ("depth", depth)):
            positive_int(name, value)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        widths = [in_features] + [hidden] * depth
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(widths[-1], out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)                                     # (B, in) -> (B, out)


@dataclass
class ToyGANConfig:
    """A GAN for points in R^data_dim (2-D toy distributions, or 1-D densities)."""

    data_dim: int = 2           # size of one data point x
    latent_dim: int = 8         # size of the noise z ~ N(0, I) that G turns into a point
    hidden: int = 128           # width of every hidden layer, in G and D
    depth: int = 3              # hidden layers per network
    num_classes: int = 0        # 0: unconditional; K > 0: one-hot labels are concatenated to G's and D's inputs
    activation: str = "relu"

    def __post_init__(self) -> None:
        positive_ints(self, "data_dim", "latent_dim", "hidden", "depth")
        check_fields(self)  # every field of the annotated type (TypeError / ValueError naming it)
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0 (0 = unconditional), got {self.num_classes!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")

    @classmethod
    def tiny(cls, **overrides) -> ToyGANConfig:
        """A few hundred parameters: for tests and FAST mode."""
        return cls(**{"latent_dim": 2, "hidden": 16, "depth": 2, **overrides})


def _with_labels(x: Tensor, labels: Tensor | None, num_classes: int) -> Tensor:
    """Append one-hot labels to the features when the model is conditional: (B, F) -> (B, F + K)."""
    if num_classes == 0:
        if labels is not None:
            raise ValueError("labels were given to an unconditional model; set num_classes > 0 in the config")
        return x
    if labels is None:
        raise ValueError(f"this model is conditional (num_classes={num_classes}): pass labels of shape (B,)")
    if labels.shape != (x.shape[0],) or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must be ints in [0, {num_classes}) of shape ({x.shape[0]},), "
                         f"got shape {tuple(labels.shape)}")
    return torch.cat([x, F.one_hot(labels.long(), num_classes).to(x.dtype)], dim=1)   # (B, F + K)


class Generator(nn.Module):
    """G: noise z (B, Z) [+ labels (B,)] -> point x (B, D)."""

    def __init__(self, cfg: ToyGANConfig):
        super().__init__()
        self.cfg = cfg
        self.net = MLP(cfg.latent_dim + cfg.num_classes, cfg.data_dim, cfg.hidden, cfg.depth, cfg.activation)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(_with_labels(z, labels, self.cfg.num_classes))     # (B, Z + K) -> (B, D)


class Discriminator(nn.Module):
    """D: point x (B, D) [+ labels (B,)] -> logit ℓ (B,); D(x) = σ(ℓ) is its belief that x is real."""

    def __init__(self, cfg: ToyGANConfig):
        super().__init__()
        self.cfg = cfg
        self.net = MLP(cfg.data_dim + cfg.num_classes, 1, cfg.hidden, cfg.depth, cfg.activation)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(_with_labels(x, labels, self.cfg.num_classes)).squeeze(-1)   # (B, 1) -> (B,)


def build_toy_gan(cfg: ToyGANConfig) -> tuple[Generator, Discriminator]:
    """A generator and a discriminator for ``cfg``."""
    return Generator(cfg), Discriminator(cfg)


def gan_optimizers(generator: nn.Module, discriminator: nn.Module, lr_g: float = 1e-3, lr_d: float = 1e-3,
                   betas: tuple[float, float] = (0.5, 0.999)) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for each player (β₁ = 0.5, as DCGAN: less momentum keeps the game from overshooting)."""
    for name, lr in (("lr_g", lr_g), ("lr_d", lr_d)):
        if not lr > 0:
            raise ValueError(f"{name} must be positive, got {lr}")
    return (torch.optim.Adam(generator.parameters(), lr=lr_g, betas=betas),
            torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=betas))


# ---------------------------------------------------------------------------------------------------------
# The optimal discriminator and the value of the game (chapter 02, section 2)
# ---------------------------------------------------------------------------------------------------------

def optimal_discriminator(log_p_data: Tensor, log_p_g: Tensor) -> Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) = σ(log p_data(x) − log p_g(x)), from log-densities."""
    return torch.sigmoid(log_p_data - log_p_g)


def js_divergence(p: Tensor, q: Tensor, dx: float = 1.0) -> Tensor:
    """JS(p ‖ q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q)/2, for densities on a grid of spacing ``dx``
    (or probabilities, dx = 1). Terms with p = 0 contribute 0 (0 log 0 = 0). In nats; at most log 2."""
    m = (p + q) / 2
    kl_pm = torch.where(p > 0, p * (p.clamp_min(1e-300).log() - m.clamp_min(1e-300).log()), torch.zeros_like(p))
    kl_qm = torch.where(q > 0, q * (q.clamp_min(1e-300).log() - m.clamp_min(1e-300).log()), torch.zeros_like(q))
    return 0.5 * (kl_pm.sum() + kl_qm.sum()) * dx


# ---------------------------------------------------------------------------------------------------------
# Losses, all from logits ℓ
# ---------------------------------------------------------------------------------------------------------

def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """D's loss = −V(D, G):  −E[log D(x)] − E[log(1 − D(G(z)))] = E[softplus(−ℓ_real)] + E[softplus(ℓ_fake)].

    This is binary cross-entropy with label 1 for real points and 0 for fakes."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def minimax_generator_loss(fake_logits: Tensor) -> Tensor:
    """The *saturating* loss of the original game: G minimises E[log(1 − D(G(z)))] = −E[softplus(ℓ_fake)].

    ∂/∂ℓ log(1 − σ(ℓ)) = −σ(ℓ): when D confidently rejects fakes (ℓ ≪ 0) the gradient vanishes."""
    return -F.softplus(fake_logits).mean()


def non_saturating_generator_loss(fake_logits: Tensor) -> Tensor:
    """The *non-saturating* loss: G minimises −E[log D(G(z))] = E[softplus(−ℓ_fake)] (BCE toward "real").

    ∂/∂ℓ (−log σ(ℓ)) = −(1 − σ(ℓ)) → −1 when D rejects fakes: strong gradients exactly when G is losing."""
    return F.softplus(-fake_logits).mean()


def critic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """WGAN critic: minimise E[f(G(z))] − E[f(x)] (the negative of the Kantorovich–Rubinstein estimate of
    W₁(p_data, p_g), valid when f is 1-Lipschitz; the gradient penalty below asks for that)."""
    return fake_logits.mean() - real_logits.mean()


def wasserstein_generator_loss(fake_logits: Tensor) -> Tensor:
    """WGAN generator: minimise −E[f(G(z))], i.e. move fakes to where the critic scores high."""
    return -fake_logits.mean()


def generator_loss(fake_logits: Tensor, kind: str = "non_saturating") -> Tensor:
    """G's loss by name: ``non_saturating`` (default), ``minimax`` (saturating) or ``wasserstein``."""
    losses = {"non_saturating": non_saturating_generator_loss, "minimax": minimax_generator_loss,
              "wasserstein": wasserstein_generator_loss}
    if kind not in losses:
        raise ValueError(f"kind must be one of {GENERATOR_LOSSES}, got {kind!r}")
    return losses[kind](fake_logits)


def gradient_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor, labels: Tensor | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP (Gulrajani et al., 2017): E_x̂[(‖∇_x̂ f(x̂)‖₂ − 1)²], x̂ = εx + (1 − ε)x̃, ε ~ U[0, 1] per row.

    Pushes the critic's gradient norm toward 1 on lines between real and fake points, a soft version of
    the 1-Lipschitz constraint. ``real`` and ``fake`` have the same shape (B, ...)."""
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=generator).to(real)   # (B, 1, ...)
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)           # (B, ...)
    scores = discriminator(mixed) if labels is None else discriminator(mixed, labels)          # (B,)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)                     # (B, ...)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


# ---------------------------------------------------------------------------------------------------------
# The training step
# ---------------------------------------------------------------------------------------------------------

def _call(module: nn.Module, x: Tensor, labels: Tensor | None) -> Tensor:
    return module(x) if labels is None else module(x, labels)


def _split(batch: Tensor | tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor | None]:
    return (batch[0], batch[1]) if isinstance(batch, tuple | list) else (batch, None)


def _check_step_args(loss: str, d_steps: int, batch_size: int) -> None:
    if loss not in GAN_LOSSES:
        raise ValueError(f"loss must be one of {GAN_LOSSES}, got {loss!r}")
    positive_int("d_steps", d_steps)
    positive_int("batch_size", batch_size)


def gan_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer, sample_real: Callable[[int], Tensor | tuple[Tensor, Tensor]],
             sample_latent: Callable[[int], Tensor], *, loss: str = "non_saturating", d_steps: int = 1,
             batch_size: int = 128, gp_weight: float = 10.0,
             sample_labels: Callable[[int], Tensor] | None = None,
             rng: torch.Generator | None = None, reuse_fakes: bool = True) -> Callable[[int], dict[str, float]]:
    """A ``step_fn`` for :func:`aigc_course.train.train`: ``d_steps`` updates of D, then one of G.

    - ``sample_real(B)`` returns real points (B, ...) or, for a conditional GAN, ``(points, labels)``.
    - ``sample_latent(B)`` returns noise z (B, Z) on the models' device.
    - ``loss``: ``non_saturating`` / ``minimax`` (D minimises :func:`discriminator_loss`, G the named
      generator loss), or ``wgan-gp`` (:func:`critic_loss` + ``gp_weight`` · :func:`gradient_penalty`,
      G minimises :func:`wasserstein_generator_loss`).
    - ``sample_labels(B)``: labels for the fakes of a conditional GAN (default: the real batch's labels).
    - ``rng``: the generator for the gradient penalty's mixing weights (reproducible runs).
    - ``reuse_fakes`` (default): the G step scores the last D step's fakes G(z) (with D as updated), instead
      of drawing new noise and running G again. G is unchanged between the two, so this is the same
      update as running G twice on the same z — one generator forward per iteration fewer (≈ 8 % of a
      DCGAN iteration's FLOPs); the noise stream differs from ``reuse_fakes=False`` (one draw per iteration
      fewer), so seeded runs are not bit-identical across the flag, only equal in distribution.
    Losses are floats on the CPU and device tensors on a GPU (:func:`aigc_course.accel.loggable`).
    Returns ``{"loss_d", "loss_g"}`` (the last D step's loss) and, for WGAN-GP, ``"gp"``."""
    _check_step_args(loss, d_steps, batch_size)
    check_bool("reuse_fakes", reuse_fakes)
    g_kind = "wasserstein" if loss == "wgan-gp" else loss

    def d_update(keep: bool) -> tuple[dict, Tensor | None, tuple | None]:
        real, real_labels = _split(sample_real(batch_size))
        fake_labels = real_labels if (real_labels is None or sample_labels is None) else sample_labels(batch_size)
        with torch.set_grad_enabled(keep):                 # keep: G's graph is reused by the G step
            fake = _call(generator, sample_latent(batch_size), fake_labels)                # (B, ...)
        real_logits = _call(discriminator, real, real_labels)
        fake_logits = _call(discriminator, fake.detach(), fake_labels)                     # no gradient into G
        logs = {}
        if loss == "wgan-gp":
            gp = gradient_penalty(discriminator, real, fake, fake_labels, generator=rng)
            loss_d = critic_loss(real_logits, fake_logits) + gp_weight * gp
            logs["gp"] = loggable(gp)
        else:
            loss_d = discriminator_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        return {"loss_d": loggable(loss_d), **logs}, real_labels, ((fake, fake_labels) if keep else None)

    def step_fn(step: int) -> dict[str, float | Tensor]:
        for i in range(d_steps):
            logs, real_labels, kept = d_update(keep=reuse_fakes and i == d_steps - 1)
        if kept is not None:                               # G has not changed since it made these fakes
            fake, labels = kept
        else:
            labels = real_labels if (real_labels is None or sample_labels is None) else sample_labels(batch_size)
            fake = _call(generator, sample_latent(batch_size), labels)                     # (B, ...)
        loss_g = generator_loss(_call(discriminator, fake, labels), kind=g_kind)          # D after its update
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return {"loss_d": logs.pop("loss_d"), "loss_g": loggable(loss_g), **logs}

    return step_fn


def latent_sampler(latent_dim: int, device: torch.device | str = "cpu",
                   generator: torch.Generator | None = None) -> Callable[[int], Tensor]:
    """z ~ N(0, I) of size ``latent_dim``: returns ``sample(B) -> (B, latent_dim)`` on ``device``."""
    positive_int("latent_dim", latent_dim)
    return lambda n: torch.randn(n, latent_dim, generator=generator).to(device)


def toy_sampler(dist, device: torch.device | str = "cpu",
                generator: torch.Generator | None = None) -> Callable[[int], Tensor]:
    """Fresh points from a toy distribution (anything with ``.sample(n, generator)``) on ``device``."""
    return lambda n: dist.sample(n, generator=generator).to(device)


@torch.no_grad()
def generate(generator: nn.Module, n: int, latent_dim: int | None = None, labels: Tensor | None = None,
             seed: int | None = None) -> Tensor:
    """``n`` samples from ``generator`` in eval mode, on the CPU; ``seed`` fixes the noise."""
    latent_dim = latent_dim or generator.cfg.latent_dim
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    out = _call(generator, torch.randn(n, latent_dim, generator=g).to(device), labels)     # (n, D)
    generator.train(was_training)
    return out.cpu()


LOG4 = math.log(4.0)
