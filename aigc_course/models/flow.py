"""Flow matching / rectified flow (Lipman et al. 2023; Liu, Gong & Liu 2023), chapter 10, and the training
and evaluation helpers that diffusion and flow models share.

1. The straight path from noise to data (eq. 10.12): x_t = (1 − t) x_0 + t x_1, x_0 ~ N(0, I), x_1 ~ data,
   and its velocity x_1 − x_0 (the regression target of eq. 10.14): :func:`flow_matching_loss`.
2. Sampling = solving dx/dt = v_θ(x, t) from t = 0 to 1: :func:`flow_sample` (Euler or Heun); the Euler step
   is DDIM's rule on this path (eq. 10.15).
3. Training for :func:`aigc_course.train.train`: :func:`generative_step` (either loss on a data tensor) and
   :class:`EMA` (an exponential moving average of the weights, the network diffusion models sample with).
4. Evaluation on the 2-D mixtures: :func:`binned_kl` (a KL divergence to the exact density).

Time runs the other way from diffusion's t: here t = 0 is noise and t = 1 is data.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from aigc_course.models.diffusion import NoiseSchedule, diffusion_loss, drop_labels, guided

Model = Callable[..., Tensor]
METHODS = ("euler", "heun")


def flow_interpolant(x0: Tensor, x1: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """The straight path and its velocity (eq. 10.12): x_t = (1 − t) x_0 + t x_1, u = x_1 − x_0.
    ``t`` (B,) broadcasts over the other dimensions."""
    tt = t.reshape((-1,) + (1,) * (x1.dim() - 1)).to(x1)
    return (1 - tt) * x0 + tt * x1, x1 - x0


def flow_matching_loss(model: Model, x1: Tensor, y: Tensor | None = None, generator: torch.Generator | None = None,
                       p_uncond: float = 0.0, null_label: int | None = None) -> Tensor:
    """Conditional flow matching (eq. 10.14): E_{t ~ U(0,1), x_0 ~ N(0, I)} ‖v_θ(x_t, t) − (x_1 − x_0)‖²,
    averaged over pixels; label dropout as :func:`~aigc_course.models.diffusion.diffusion_loss`."""
    t = torch.rand(x1.shape[0], generator=generator).to(x1.device)
    x0 = torch.randn(x1.shape, generator=generator).to(x1.device)
    xt, target = flow_interpolant(x0, x1, t)
    y = drop_labels(y, p_uncond, null_label, generator)
    return (model(xt, t, y) - target).pow(2).mean()


@torch.no_grad()
def flow_sample(model: Model, shape: tuple[int, ...], steps: int, method: str = "euler", y: Tensor | None = None,
                w: float = 0.0, null_label: int | None = None, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu", x0: Tensor | None = None) -> Tensor:
    """Integrate dx/dt = ṽ(x, t) from noise x_0 ~ N(0, I) at t = 0 to t = 1 in ``steps`` equal steps.
    Euler: x ← x + h v(x, t). Heun: a trial Euler step, then the average of the slopes at both ends
    (second order; two network calls per step, one on the last)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    x = torch.randn(shape, generator=generator).to(device) if x0 is None else x0.to(device)
    h = 1.0 / steps
    velocity = lambda xx, tt: guided(model, xx, torch.full((shape[0],), tt, device=xx.device), y, w,  # noqa: E731
                                     null_label)
    for i in range(steps):
        t = i * h
        v = velocity(x, t)
        if method == "heun" and i < steps - 1:
            v = 0.5 * (v + velocity(x + h * v, t + h))
        x = x + h * v
    return x


# ---------------------------------------------------------------------------------------------- training

class EMA:
    """An exponential moving average of a network's weights, θ̄ ← d θ̄ + (1 − d) θ after each step; a
    callback for :func:`aigc_course.train.train`. ``ema.model`` is the averaged copy (in eval mode)."""

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.source, self.decay = model, decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self) -> None:
        for avg, p in zip(self.model.parameters(), self.source.parameters()):
            avg.lerp_(p, 1 - self.decay)

    def on_step(self, step: int, logs: dict, history) -> None:
        self.update()


def generative_step(model: nn.Module, optimizer: torch.optim.Optimizer, data: Tensor, labels: Tensor | None = None,
                    *, objective: str = "diffusion", sched: NoiseSchedule | None = None, batch_size: int = 128,
                    p_uncond: float = 0.0, seed: int = 0, grad_clip: float | None = 1.0,
                    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None, target: str = "eps"):
    """A ``step_fn`` for :func:`aigc_course.train.train` (through ``supervised_step``): a random batch of
    ``data`` (N, ...) [and ``labels``], one update on the ``"diffusion"`` loss (``target`` "eps" or "v", see
    :func:`~aigc_course.models.diffusion.diffusion_loss`) or the ``"flow"`` loss.
    One seeded generator draws batches, times, noise and dropped labels: a run is reproducible."""
    from aigc_course.train import supervised_step

    if objective not in ("diffusion", "flow"):
        raise ValueError(f"objective must be 'diffusion' or 'flow', got {objective!r}")
    if objective == "diffusion" and sched is None:
        raise ValueError("objective='diffusion' needs sched=, a NoiseSchedule")
    if labels is not None and len(labels) != len(data):
        raise ValueError(f"got {len(data)} data points but {len(labels)} labels")
    g, null = torch.Generator().manual_seed(seed), getattr(model, "null_label", None)

    def batch_fn(step: int):
        idx = torch.randint(0, len(data), (batch_size,), generator=g).to(data.device)
        return data[idx], None if labels is None else labels[idx]

    def loss_fn(m: nn.Module, batch) -> Tensor:
        x, y = batch
        if objective == "flow":
            return flow_matching_loss(m, x, y, generator=g, p_uncond=p_uncond, null_label=null)
        return diffusion_loss(m, x, sched, y, generator=g, p_uncond=p_uncond, null_label=null, target=target)

    return supervised_step(model, optimizer, loss_fn, batch_fn, grad_clip=grad_clip, scheduler=scheduler)


# ---------------------------------------------------------------------------------------------- evaluation

def _bin_probs(modes: Tensor, std: float, edges: Tensor) -> Tensor:
    """Exact probability of each square bin under an equal-weight mixture of N(μ_k, std² I): (n, n)."""
    cdf = 0.5 * (1 + torch.erf((edges[None, :] - modes[:, :, None]) / (std * math.sqrt(2))))   # (K, 2, n+1)
    mass = cdf[..., 1:] - cdf[..., :-1]                                                          # (K, 2, n)
    return (mass[:, 0, :, None] * mass[:, 1, None, :]).mean(0)                                   # (n, n)


def binned_kl(samples: Tensor, modes: Tensor, std: float, lim: float = 2.5, bins: int = 100,
              pseudo: float = 0.5) -> float:
    """KL(P ‖ Q̂) in nats between a Gaussian mixture's exact bin probabilities P (erf, no sampling) and the
    samples' histogram Q̂ on a bins × bins grid over [−lim, lim]² (an empty bin counts as ``pseudo``
    samples, so a missed mode costs a large but finite amount). By the data-processing inequality it is a lower bound
    on the KL between the densities; its bias for a finite sample is measured with samples of P itself."""
    samples = samples.detach().double().cpu()
    if samples.dim() != 2 or samples.shape[1] != 2:
        raise ValueError(f"samples must be (N, 2) points, got shape {tuple(samples.shape)}")
    edges = torch.linspace(-lim, lim, bins + 1, dtype=torch.float64)
    p = _bin_probs(modes.double(), std, edges)
    idx = ((samples + lim) / (2 * lim) * bins).floor().long()
    inside = ((idx >= 0) & (idx < bins)).all(1)
    counts = torch.zeros(bins * bins, dtype=torch.float64)
    counts.index_add_(0, idx[inside, 0] * bins + idx[inside, 1], torch.ones(int(inside.sum()), dtype=torch.float64))
    q = counts.clamp(min=pseudo) / len(samples)
    p = p.flatten()
    keep = p > 0
    return float((p[keep] * (p[keep].log() - q[keep].log())).sum())
