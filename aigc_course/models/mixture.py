"""A learnable Gaussian mixture (chapter 01): the simplest generative model that has all three powers —
an exact density, exact sampling, and training by maximum likelihood with gradient descent.

    p_θ(x) = Σ_k π_k N(x; μ_k, diag(σ_k²)),   π = softmax(w),   σ_k = exp(s_k),   θ = (w, μ, s)

Training minimises the negative log-likelihood −(1/N) Σ_i log p_θ(x_i), which (chapter 01) is the same as
minimising KL(p_data ‖ p_θ) up to a constant that does not depend on θ.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aigc_course.train import History, train
from aigc_course.validation import check_fields, positive_ints


def gaussian_log_prob(x: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """log N(x; μ, diag(σ²)) summed over the last dimension:

    log N = −½ Σ_d ((x_d − μ_d)/σ_d)² − Σ_d log σ_d − (D/2) log 2π,   σ = exp(log_std).
    Broadcasts like ``x - mean``."""
    z = (x - mean) * torch.exp(-log_std)                                  # (..., D) standardised
    d = x.shape[-1]
    return -0.5 * z.pow(2).sum(-1) - log_std.expand_as(z).sum(-1) - 0.5 * d * math.log(2 * math.pi)


@dataclass
class MixtureConfig:
    """A mixture of ``n_components`` diagonal Gaussians in R^dim."""

    n_components: int = 8       # K: how many Gaussians
    dim: int = 2                # D: size of a data point
    init_std: float = 0.5       # every σ starts here (then learns)

    def __post_init__(self) -> None:
        positive_ints(self, "n_components", "dim")
        check_fields(self)  # every field of the annotated type (TypeError / ValueError naming it)
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std!r}")

    @classmethod
    def tiny(cls, **overrides) -> MixtureConfig:
        return cls(**{"n_components": 2, **overrides})


class GaussianMixture(nn.Module):
    """p_θ(x) = Σ_k softmax(w)_k N(x; μ_k, diag(exp(2 s_k))), with θ = (w, μ, s) learnable."""

    def __init__(self, cfg: MixtureConfig, means: Tensor | None = None):
        super().__init__()
        self.cfg = cfg
        k, d = cfg.n_components, cfg.dim
        if means is None:
            means = torch.randn(k, d)
        if means.shape != (k, d):
            raise ValueError(f"means must have shape (n_components, dim) = ({k}, {d}), got {tuple(means.shape)}")
        self.logits = nn.Parameter(torch.zeros(k))                                  # w: (K,)
        self.means = nn.Parameter(means.detach().clone().float())                   # μ: (K, D)
        self.log_std = nn.Parameter(torch.full((k, d), math.log(cfg.init_std)))     # s: (K, D)

    @classmethod
    def from_data(cls, cfg: MixtureConfig, data: Tensor, generator: torch.Generator | None = None,
                  init: str = "farthest") -> GaussianMixture:
        """Start the means at K data points: ``farthest`` (a random first point, then each next one the point
        farthest from those chosen: spreads the means over separated modes) or ``random``."""
        if data.dim() != 2 or data.shape[1] != cfg.dim or len(data) < cfg.n_components:
            raise ValueError(f"data must be (N, {cfg.dim}) with N >= {cfg.n_components}, got {tuple(data.shape)}")
        if init not in ("farthest", "random"):
            raise ValueError(f"init must be 'farthest' or 'random', got {init!r}")
        idx = torch.randperm(len(data), generator=generator)[: cfg.n_components]
        if init == "farthest":
            chosen = [int(idx[0])]
            dist = (data - data[chosen[0]]).norm(dim=1)                                 # (N,)
            for _ in range(cfg.n_components - 1):
                chosen.append(int(dist.argmax()))
                dist = torch.minimum(dist, (data - data[chosen[-1]]).norm(dim=1))
            idx = torch.tensor(chosen)
        return cls(cfg, means=data[idx])

    @property
    def weights(self) -> Tensor:
        """π = softmax(w): (K,)."""
        return torch.softmax(self.logits, dim=0)

    def log_prob(self, x: Tensor) -> Tensor:
        """log p_θ(x) = logsumexp_k [ log π_k + log N(x; μ_k, σ_k²) ] for each row of x (N, D): (N,)."""
        if x.dim() != 2 or x.shape[1] != self.cfg.dim:
            raise ValueError(f"x must have shape (N, {self.cfg.dim}), got {tuple(x.shape)}")
        comp = gaussian_log_prob(x[:, None, :], self.means[None], self.log_std[None])   # (N, K)
        return torch.logsumexp(torch.log_softmax(self.logits, dim=0) + comp, dim=1)     # (N,)

    def forward(self, x: Tensor) -> Tensor:
        return self.log_prob(x)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Ancestral sampling: k ~ Categorical(π), then x = μ_k + σ_k ⊙ ε, ε ~ N(0, I): (n, D)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        k = torch.multinomial(self.weights.cpu(), n, replacement=True, generator=generator)   # (n,)
        eps = torch.randn(n, self.cfg.dim, generator=generator)                                # (n, D)
        return self.means.cpu()[k] + self.log_std.exp().cpu()[k] * eps


def nll(model: nn.Module, x: Tensor) -> Tensor:
    """Mean negative log-likelihood −(1/N) Σ_i log p_θ(x_i), in nats."""
    return -model.log_prob(x).mean()


def mixture_step(model: GaussianMixture, optimizer: torch.optim.Optimizer, data: Tensor, batch_size: int = 256,
                 generator: torch.Generator | None = None) -> Callable[[int], dict[str, float]]:
    """A ``step_fn`` for :func:`aigc_course.train.train`: one Adam step on the NLL of a random minibatch."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    def step_fn(step: int) -> dict[str, float]:
        idx = torch.randint(len(data), (batch_size,), generator=generator)
        loss = nll(model, data[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"nll": loss.item()}

    return step_fn


def fit_mixture(model: GaussianMixture, data: Tensor, steps: int, lr: float = 0.05, batch_size: int = 256,
                seed: int = 0, callbacks: Iterable = (), progress: bool = True) -> History:
    """Maximum likelihood by gradient descent (Adam): returns the :class:`History` of the minibatch NLL."""
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    step = mixture_step(model, optimizer, data, batch_size, torch.Generator().manual_seed(seed))
    return train(step, steps, modules={"mixture": model}, callbacks=callbacks, progress=progress,
                 desc="fitting the mixture")
