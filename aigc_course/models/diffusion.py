"""Denoising diffusion (Ho, Jain & Abbeel, 2020) and DDIM (Song, Meng & Ermon, 2021), chapter 10.

Read it top to bottom, small pieces first:

1. :class:`NoiseSchedule` — β_1..β_T and the products ᾱ_t; :func:`linear_schedule`, :func:`cosine_schedule`.
2. The forward process: one step :func:`forward_step` (eq. 10.1) and the closed form :func:`q_sample` (10.2).
3. The reverse process: the Gaussian posterior q(x_{t-1} | x_t, x_0) (:func:`posterior`, 10.4), the ELBO
   weights of the ε-loss (:func:`elbo_weights`, 10.6), the bound itself (:func:`nll_bound`, 10.5) and the
   "simple" loss :func:`diffusion_loss` (10.7).
4. Scores: :func:`eps_to_score` (10.8) and the exact noised score of a Gaussian mixture (:func:`mixture_score`).
5. Classifier-free guidance :func:`guided` (10.16), then the samplers :func:`ddpm_sample` (10.9) and
   :func:`ddim_sample` (10.10).

Notation: the arrays of a schedule have T + 1 entries so that index t means step t: ``betas[0] = 0`` and
``alpha_bars[0] = 1`` (x_0 is the data). A network is called ``model(x_t, t / T, y)``: time in [0, 1]
(the same U-Net serves flow matching), ``y`` class labels or None, and it predicts the noise ε.
Data live in [-1, 1] (``to_model_range``); shapes: B batch, D or (C, H, W) one sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

Model = Callable[..., Tensor]


# ---------------------------------------------------------------------------------------------- schedules

@dataclass(frozen=True)
class NoiseSchedule:
    """β_t for t = 1..T (``betas[0] = 0``), with α_t = 1 − β_t and ᾱ_t = ∏_{s≤t} α_s (``alpha_bars[0] = 1``)."""

    betas: Tensor                       # (T + 1,) float64

    def __post_init__(self) -> None:
        b = self.betas
        if not isinstance(b, Tensor) or b.dim() != 1 or len(b) < 2:
            raise ValueError(f"betas must be a 1-D tensor [0, β_1, ..., β_T] with T >= 1, got "
                             f"{tuple(b.shape) if isinstance(b, Tensor) else type(b).__name__}")
        if b[0] != 0:
            raise ValueError(f"betas[0] must be 0 (index t means step t), got {float(b[0])}")
        inner = b[1:]
        if not bool(((inner > 0) & (inner < 1)).all()):
            bad = inner[~((inner > 0) & (inner < 1))][0]
            raise ValueError(f"every β_t must lie in (0, 1), got {float(bad)}")

    @property
    def T(self) -> int:
        return len(self.betas) - 1

    @property
    def alphas(self) -> Tensor:
        return 1 - self.betas                                   # (T + 1,)

    @property
    def alpha_bars(self) -> Tensor:
        return torch.cumprod(self.alphas, dim=0)                # (T + 1,), ᾱ_0 = 1

    def snr(self) -> Tensor:
        """Signal-to-noise ratio SNR(t) = ᾱ_t / (1 − ᾱ_t) for t = 1..T: (T,)."""
        ab = self.alpha_bars[1:]
        return ab / (1 - ab)


def _steps_count(T: int) -> int:
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T (number of diffusion steps) must be an int >= 1, got {T!r}")
    return T


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> NoiseSchedule:
    """Ho et al. (2020): β_t rising linearly from ``beta_start`` to ``beta_end`` (scaled by 1000 / T, so that
    a shorter chain destroys the data as completely)."""
    T = _steps_count(T)
    scale = 1000 / T
    betas = torch.linspace(beta_start * scale, min(beta_end * scale, 0.999), T, dtype=torch.float64)
    return NoiseSchedule(torch.cat([torch.zeros(1, dtype=torch.float64), betas]))


def cosine_schedule(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
    """Nichol & Dhariwal (2021): ᾱ_t = f(t) / f(0) with f(t) = cos²(π/2 · (t/T + s) / (1 + s)), and
    β_t = 1 − ᾱ_t / ᾱ_{t−1} clipped at ``max_beta`` (the last steps would otherwise reach 1)."""
    T = _steps_count(T)
    f = torch.cos(math.pi / 2 * (torch.arange(T + 1, dtype=torch.float64) / T + s) / (1 + s)) ** 2
    ab = f / f[0]                                               # (T + 1,)
    betas = (1 - ab[1:] / ab[:-1]).clamp(max=max_beta)
    return NoiseSchedule(torch.cat([torch.zeros(1, dtype=torch.float64), betas]))


def _coefs(sched: NoiseSchedule, t: Tensor, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(β_t, ᾱ_t, ᾱ_{t−1}) gathered at integer steps t (B,), broadcastable against ``like`` (B, ...)."""
    t = torch.as_tensor(t, device=like.device).long().reshape(-1)
    if t.numel() and (t.min() < 0 or t.max() > sched.T):
        raise ValueError(f"t must be in 0..{sched.T}, got values {int(t.min())}..{int(t.max())}")
    shape = (-1,) + (1,) * (like.dim() - 1)
    ab = sched.alpha_bars.to(device=like.device, dtype=like.dtype)
    b = sched.betas.to(device=like.device, dtype=like.dtype)
    prev = ab[(t - 1).clamp(min=0)]
    return b[t].reshape(shape), ab[t].reshape(shape), prev.reshape(shape)


# ---------------------------------------------------------------------------------------------- forward

def forward_step(x_prev: Tensor, t: Tensor, eps: Tensor, sched: NoiseSchedule) -> Tensor:
    """One step of the forward chain (eq. 10.1): x_t = √(1 − β_t) x_{t−1} + √β_t ε."""
    beta, _, _ = _coefs(sched, t, x_prev)
    return (1 - beta).sqrt() * x_prev + beta.sqrt() * eps


def q_sample(x0: Tensor, t: Tensor, eps: Tensor, sched: NoiseSchedule) -> Tensor:
    """The closed form (eq. 10.2): x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, i.e. q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)."""
    _, ab, _ = _coefs(sched, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def predict_x0(x_t: Tensor, t: Tensor, eps: Tensor, sched: NoiseSchedule) -> Tensor:
    """Invert eq. 10.2 for x_0 given the noise: x̂_0 = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t."""
    _, ab, _ = _coefs(sched, t, x_t)
    return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()


# ---------------------------------------------------------------------------------------------- reverse

def posterior(x0: Tensor, x_t: Tensor, t: Tensor, sched: NoiseSchedule) -> tuple[Tensor, Tensor]:
    """q(x_{t−1} | x_t, x_0) = N(μ̃, β̃ I) for t ≥ 1 (eq. 10.4):

    μ̃ = √ᾱ_{t−1} β_t / (1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · x_t,
    β̃ = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t.       Returns (mean like x_t, variance (B, 1, ...)).
    """
    beta, ab, ab_prev = _coefs(sched, t, x_t)
    mean = ab_prev.sqrt() * beta / (1 - ab) * x0 + (1 - beta).sqrt() * (1 - ab_prev) / (1 - ab) * x_t
    return mean, (1 - ab_prev) / (1 - ab) * beta


def elbo_weights(sched: NoiseSchedule, sigma2: Tensor | None = None) -> Tensor:
    """The weight of ‖ε − ε_θ‖² in the ELBO's term L_{t−1} (eq. 10.6), for t = 1..T: (T,)

    λ_t = β_t² / (2 σ_t² α_t (1 − ᾱ_t)),   σ_t² the reverse variance (default β̃_t; β̃_1 = 0, so t = 1,
    the decoder term, is given σ_1² = β_1 as Ho et al. do)."""
    b, a, ab = sched.betas[1:], sched.alphas[1:], sched.alpha_bars
    if sigma2 is None:
        sigma2 = (1 - ab[:-1]) / (1 - ab[1:]) * b
        sigma2 = torch.cat([b[:1], sigma2[1:]])
    return b**2 / (2 * sigma2 * a * (1 - ab[1:]))


def _eps_hat(model: Model, x_t: Tensor, t: int, T: int, device) -> Tensor:
    """The network's ε̂(x_t, t) for float64 points x_t (N, D): called in float32 on ``device``, returned like x_t."""
    time = torch.full((len(x_t),), t / T, device=device)
    return model(x_t.float().to(device), time).to(x_t)


@torch.no_grad()
def nll_bound(model: Model, x0: Tensor, sched: NoiseSchedule, variance: str = "beta",
              generator: torch.Generator | None = None, device: torch.device | str | None = None
              ) -> dict[str, Tensor]:
    """The terms of the bound (eq. 10.5) −log p_θ(x_0) ≤ L_T + Σ_{t=2}^T L_{t−1} + L_0, per point (N,), nats:

    L_T = KL(N(√ᾱ_T x_0, (1 − ᾱ_T) I) ‖ N(0, I));  L_0 = −log N(x_0; μ_θ(x_1, 1), β_1 I);
    L_{t−1} = KL(N(μ̃_t, β̃_t I) ‖ N(μ_θ(x_t, t), σ_t² I)) at one draw x_t ~ q(x_t | x_0) per term: the *whole*
    Gaussian KL, ½ Σ_d (β̃_t/σ_t² − 1 − log(β̃_t/σ_t²) + (μ̃_t − μ_θ)²/σ_t²). With σ_t² = β_t (``"beta"``) the
    variances differ and the first three terms, free of θ, do not vanish; with σ_t² = β̃_t (``"posterior"``)
    they do. μ_θ is eq. 10.9's mean. ``x0`` (N, D); computed in float64 where x0 lives, the model called in
    float32 on ``device`` (default: x0's)."""
    from aigc_course.models.vae import diag_gaussian_log_prob, gaussian_kl, gaussian_kl_diag

    if variance not in ("beta", "posterior"):
        raise ValueError(f"variance must be 'beta' or 'posterior', got {variance!r}")
    if x0.dim() != 2:
        raise ValueError(f"x0 must be (N, D) points, got shape {tuple(x0.shape)}")
    x0, T, device = x0.double(), sched.T, x0.device if device is None else device
    ab = sched.alpha_bars.to(x0.device)
    log = lambda v: torch.log(v).expand_as(x0)                                      # noqa: E731  (N, D)
    L_T = gaussian_kl(ab[T].sqrt() * x0, log(1 - ab[T]))                            # (N,)
    L_mid = torch.zeros(len(x0), dtype=torch.float64, device=x0.device)
    for t in range(1, T + 1):
        tt = torch.full((len(x0),), t, device=x0.device)
        x_t = q_sample(x0, tt, torch.randn(x0.shape, generator=generator, dtype=torch.float64).to(x0), sched)
        beta = sched.betas[t].to(x0.device)
        eps_hat = _eps_hat(model, x_t, t, T, device)
        mu_theta = (x_t - beta / (1 - ab[t]).sqrt() * eps_hat) / (1 - beta).sqrt()     # (N, D) eq. 10.9
        if t == 1:
            L_0 = -diag_gaussian_log_prob(x0, mu_theta, log(beta))                  # σ_1² = β_1
            continue
        mu_q, var_q = posterior(x0, x_t, tt, sched)                                 # (N, D), (N, 1)
        var_p = beta if variance == "beta" else var_q[0, 0]
        L_mid += gaussian_kl_diag(mu_q, log(var_q[0, 0]), mu_theta, log(var_p))
    return {"L_T": L_T, "sum L_t-1": L_mid, "L_0": L_0}


def diffusion_loss(model: Model, x0: Tensor, sched: NoiseSchedule, y: Tensor | None = None,
                   generator: torch.Generator | None = None, p_uncond: float = 0.0,
                   null_label: int | None = None, target: str = "eps") -> Tensor:
    """The simple loss (eq. 10.7): E_{t ~ U{1..T}, ε ~ N(0, I)} ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖²,
    averaged over pixels. With labels ``y`` and ``p_uncond > 0`` each label is replaced by ``null_label``
    with probability ``p_uncond``: one network learns ε(x, y) and ε(x, ∅) (classifier-free guidance).

    ``target="v"``: the network predicts v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 (Salimans & Ho 2022) and the loss is
    ‖v − v_θ‖², which is ‖ε − ε̂‖² / ᾱ_t for the ε̂ of :class:`VPrediction`: the simple loss reweighted by
    1 / ᾱ_t, so that the high-noise steps, where x̂_0 is decided, count."""
    if target not in ("eps", "v"):
        raise ValueError(f"target must be 'eps' (predict the noise) or 'v' (predict v), got {target!r}")
    B = x0.shape[0]
    t = torch.randint(1, sched.T + 1, (B,), generator=generator).to(x0.device)
    eps = torch.randn(x0.shape, generator=generator).to(x0.device)
    y = drop_labels(y, p_uncond, null_label, generator)
    want = eps
    if target == "v":
        _, ab, _ = _coefs(sched, t, x0)
        want = ab.sqrt() * eps - (1 - ab).sqrt() * x0                # v (B, ...)
    return (want - model(q_sample(x0, t, eps, sched), t.to(x0.dtype) / sched.T, y)).pow(2).mean()


class VPrediction(nn.Module):
    """A network trained with ``target="v"`` seen as a noise predictor: ε̂ = √ᾱ_t v̂ + √(1 − ᾱ_t) x_t, so that
    every sampler, guidance and the scrubber use it unchanged; ``time`` is t / T as everywhere here."""

    def __init__(self, net: nn.Module, sched: NoiseSchedule):
        super().__init__()
        self.net, self.T = net, sched.T
        self.register_buffer("alpha_bars", sched.alpha_bars.float().clone(), persistent=False)   # (T + 1,)

    @property
    def null_label(self) -> int | None:
        return self.net.null_label

    def forward(self, x: Tensor, time: Tensor, y: Tensor | None = None) -> Tensor:
        t = (torch.as_tensor(time, device=x.device) * self.T).round().long()
        ab = self.alpha_bars.to(x.device)[t].view(-1, *([1] * (x.dim() - 1))).to(x.dtype)   # (B, 1, ...)
        return ab.sqrt() * self.net(x, time, y) + (1 - ab).sqrt() * x


def drop_labels(y: Tensor | None, p_uncond: float, null_label: int | None,
                generator: torch.Generator | None = None) -> Tensor | None:
    """Replace each label by ``null_label`` with probability ``p_uncond`` (the ∅ of guidance). For conditioning
    vectors y (B, D) (chapter 12) a sample's whole vector is replaced, by ``null_label`` in every entry."""
    if not 0 <= p_uncond < 1:
        raise ValueError(f"p_uncond must be in [0, 1), got {p_uncond}")
    if y is None or p_uncond == 0:
        return y
    if null_label is None:
        raise ValueError("p_uncond > 0 needs null_label, the index that stands for 'no label'")
    drop = torch.rand(y.shape[:1], generator=generator).to(y.device) < p_uncond   # one draw per sample
    drop = drop.view(-1, *([1] * (y.dim() - 1)))                  # a conditioning vector (B, D) goes whole
    return torch.where(drop, torch.full_like(y, null_label), y)


# ---------------------------------------------------------------------------------------------- scores

def eps_to_score(eps: Tensor, t: Tensor, sched: NoiseSchedule) -> Tensor:
    """The score of the noised data (eq. 10.8): ∇ log p_t(x_t) = −ε̂ / √(1 − ᾱ_t), ε̂ = E[ε | x_t]."""
    _, ab, _ = _coefs(sched, t, eps)
    return -eps / (1 - ab).sqrt()


def mixture_score(x: Tensor, modes: Tensor, std: float, a: float, s: float) -> tuple[Tensor, Tensor]:
    """Exact log-density and score of x = a·x_0 + s·ε, x_0 from an equal-weight mixture of N(μ_k, std² I):
    p = (1/K) Σ_k N(a μ_k, (a² std² + s²) I). Diffusion: a = √ᾱ_t, s = √(1 − ᾱ_t); flow: a = t, s = 1 − t.
    x (N, D) -> (log p (N,), ∇ log p (N, D))."""
    m = a * modes.to(x)                                         # (K, D)
    var = a**2 * std**2 + s**2
    diff = x[:, None, :] - m[None]                              # (N, K, D)
    logits = -diff.pow(2).sum(-1) / (2 * var)                   # (N, K)
    D = x.shape[1]
    log_p = torch.logsumexp(logits, 1) - math.log(len(m)) - D / 2 * math.log(2 * math.pi * var)
    resp = torch.softmax(logits, dim=1)                         # (N, K) posterior over modes
    return log_p, -(resp[:, :, None] * diff).sum(1) / var       # (N,), (N, D)


# ---------------------------------------------------------------------------------------------- sampling

def guided(model: Model, x: Tensor, time: Tensor, y: Tensor | None, w: float = 0.0,
           null_label: int | None = None) -> Tensor:
    """Classifier-free guidance (eq. 10.16): ε̃ = (1 + w) ε(x, y) − w ε(x, ∅); w = 0 is the plain model.
    Works for any output (noise or velocity). One batched call of 2B when w ≠ 0."""
    if w == 0:
        return model(x, time, y)
    if y is None or null_label is None:
        raise ValueError(f"guidance w={w} needs a conditional model: pass labels y and the model's null_label "
                         f"(train it with p_uncond > 0 so that it knows ε(x, ∅))")
    both = model(torch.cat([x, x]), torch.cat([time, time]), torch.cat([y, torch.full_like(y, null_label)]))
    cond, uncond = both.chunk(2)
    return (1 + w) * cond - w * uncond


def clip_eps(x_t: Tensor, eps: Tensor, ab: Tensor, clip: float | None) -> Tensor:
    """Clamp the predicted x̂_0 to [−clip, clip] (the data's range) and return the noise that goes with it,
    ε = (x_t − √ᾱ x̂_0) / √(1 − ᾱ). At high noise x̂_0 divides ε̂'s error by √ᾱ_t ≈ 0: one wrong first step
    of an ODE sampler is never undone (Ho et al. clip the same way). ``clip=None`` leaves ε alone."""
    if clip is None:
        return eps
    x0 = ((x_t - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-clip, clip)
    return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()


def _start(shape: tuple[int, ...], generator: torch.Generator | None, device) -> Tensor:
    return torch.randn(shape, generator=generator).to(device)


@torch.no_grad()
def ddpm_sample(model: Model, shape: tuple[int, ...], sched: NoiseSchedule, y: Tensor | None = None,
                w: float = 0.0, null_label: int | None = None, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu", variance: str = "beta", keep: bool = False,
                clip: float | None = None):
    """Ancestral sampling (eq. 10.9): x_T ~ N(0, I), then for t = T..1

    x_{t−1} = 1/√α_t · (x_t − β_t / √(1 − ᾱ_t) · ε̂) + σ_t z,   z ~ N(0, I) (none at t = 1),

    σ_t² = β_t (``variance="beta"``) or β̃_t (``"posterior"``); ``clip`` see :func:`clip_eps`. ``keep=True``
    also returns the list of (t, x_t, x̂_0) along the way (for the denoising scrubber)."""
    if variance not in ("beta", "posterior"):
        raise ValueError(f"variance must be 'beta' or 'posterior', got {variance!r}")
    x, trail = _start(shape, generator, device), []
    for t in range(sched.T, 0, -1):
        tt = torch.full((shape[0],), t, device=x.device)
        beta, ab, ab_prev = _coefs(sched, tt, x)
        eps = clip_eps(x, guided(model, x, tt.to(x.dtype) / sched.T, y, w, null_label), ab, clip)
        if keep:
            trail.append((t, x.cpu(), predict_x0(x, tt, eps, sched).cpu()))
        x = (x - beta / (1 - ab).sqrt() * eps) / (1 - beta).sqrt()
        if t > 1:
            var = beta if variance == "beta" else (1 - ab_prev) / (1 - ab) * beta
            x = x + var.sqrt() * _start(shape, generator, x.device)
    return (x, trail) if keep else x


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """``steps`` decreasing integer steps from T to 1, evenly spaced (then 0 = the data)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an int in 1..{T} (the schedule has T={T}), got {steps!r}")
    return sorted({round(float(v)) for v in torch.linspace(T, 1, steps)}, reverse=True)


def ddim_step(x_t: Tensor, eps: Tensor, ab_t: Tensor, ab_s: Tensor) -> Tensor:
    """One deterministic DDIM step from level ᾱ_t to ᾱ_s (eq. 10.10):
    x_s = √ᾱ_s · x̂_0 + √(1 − ᾱ_s) · ε̂,   x̂_0 = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t."""
    x0 = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
    return ab_s.sqrt() * x0 + (1 - ab_s).sqrt() * eps


@torch.no_grad()
def ddim_sample(model: Model, shape: tuple[int, ...], sched: NoiseSchedule, steps: int, y: Tensor | None = None,
                w: float = 0.0, null_label: int | None = None, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu", clip: float | None = None) -> Tensor:
    """DDIM with η = 0: x_T ~ N(0, I), then :func:`ddim_step` along :func:`ddim_timesteps` down to x_0
    (``clip``: see :func:`clip_eps`). A discretised ODE: the only randomness is x_T, so the same start gives
    the same image."""
    x = _start(shape, generator, device)
    ab = sched.alpha_bars.to(device=x.device, dtype=x.dtype)
    ts = ddim_timesteps(sched.T, steps) + [0]
    for t, s in zip(ts[:-1], ts[1:]):
        time = torch.full((shape[0],), t / sched.T, device=x.device, dtype=x.dtype)
        x = ddim_step(x, clip_eps(x, guided(model, x, time, y, w, null_label), ab[t], clip), ab[t], ab[s])
    return x
