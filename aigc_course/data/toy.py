"""Two-dimensional toy distributions: small enough to draw, hard enough to show a GAN dropping modes.

``ring`` and ``grid`` are equal-weight Gaussian mixtures with an exact log-density and known mode centres,
so a chapter can count how many modes a generator covers (:func:`mode_coverage`). ``moons``, ``spiral``
and ``swissroll`` are sample-only: they have no closed-form density.
"""

from __future__ import annotations

import difflib
import math

import torch
from torch import Tensor

from aigc_course.validation import ArgumentTypeError, check_float, check_int

TOY_DISTRIBUTIONS = ("ring", "grid", "moons", "spiral", "swissroll")


def _check_positive(name: str, value: float, what: str) -> float:
    return check_float(name, value, 0, low_open=True, hint=f" ({what})")


def _check_count(name: str, value: int, what: str) -> int:
    return check_int(name, value, 1, hint=f" ({what})")


def _check_noise(noise: float) -> float:
    return check_float("noise", noise, 0, hint=" (std of the Gaussian noise added)")


def _check_points(x: Tensor) -> Tensor:
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != 2 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a float tensor of shape (n, 2), got {shape}")
    return x


class ToyDistribution:
    """A 2-D distribution you can sample; ``log_prob`` is exact where a closed form exists."""

    name: str = "toy"
    modes: Tensor | None = None   # (K, 2) mode centres for mixtures, else None
    std: float | None = None      # per-mode std for mixtures, else None
    has_density: bool = False

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` points: (n, 2) float32."""
        raise NotImplementedError

    def log_prob(self, x: Tensor) -> Tensor:
        """The exact log-density at each row of ``x`` (n, 2): (n,)."""
        raise NotImplementedError(f"{self.name!r} has no closed-form density; use ring or grid, "
                                  f"whose log_prob is exact")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _check_n(n: int) -> int:
    return check_int("n", n, 0, hint=" (how many points to draw)")


class GaussianMixture2D(ToyDistribution):
    """An equal-weight mixture of K isotropic Gaussians N(mu_k, std^2 I) in 2-D.

    log p(x) = logsumexp_k [ -|x - mu_k|^2 / (2 std^2) ] - log K - log(2 pi std^2)
    """

    has_density = True

    def __init__(self, name: str, modes: Tensor, std: float):
        self.name = name
        self.modes = modes.float()  # (K, 2)
        self.std = std

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Pick a mode uniformly for each point, then add N(0, std^2 I): (n, 2) float32."""
        n = _check_n(n)
        k = torch.randint(len(self.modes), (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator)
        return self.modes[k] + self.std * noise  # (n, 2)

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) for each row of ``x`` (n, 2), exact: (n,)."""
        x = _check_points(x)
        modes = self.modes.to(device=x.device, dtype=x.dtype)
        sq = (x[:, None, :] - modes[None, :, :]).pow(2).sum(-1)              # (n, K) squared distances
        log_norm = math.log(len(modes)) + math.log(2 * math.pi * self.std**2)
        return torch.logsumexp(-sq / (2 * self.std**2), dim=1) - log_norm   # (n,)

    def __repr__(self) -> str:
        return f"GaussianMixture2D(name={self.name!r}, n_modes={len(self.modes)}, std={self.std})"


def ring(n_modes: int = 8, radius: float = 2.0, std: float = 0.05) -> GaussianMixture2D:
    """``n_modes`` Gaussians evenly spaced on a circle of ``radius``, the first at angle 0."""
    n_modes = _check_count("n_modes", n_modes, "number of Gaussians on the circle")
    radius = _check_positive("radius", radius, "radius of the circle")
    std = _check_positive("std", std, "std of each Gaussian")
    angle = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    modes = radius * torch.stack([angle.cos(), angle.sin()], dim=1)  # (K, 2)
    return GaussianMixture2D("ring", modes, std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture2D:
    """``side`` x ``side`` Gaussians on a square lattice of step ``spacing``, centred on the origin."""
    side = _check_count("side", side, "Gaussians per row of the grid")
    spacing = _check_positive("spacing", spacing, "distance between neighbouring modes")
    std = _check_positive("std", std, "std of each Gaussian")
    axis = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    modes = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (side^2, 2)
    return GaussianMixture2D("grid", modes, std)


class Moons(ToyDistribution):
    """Two interleaving half circles (scikit-learn's make_moons layout), centred on 0, plus noise."""

    def __init__(self, noise: float = 0.05):
        self.name = "moons"
        self.noise = _check_noise(noise)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Half the points on each moon, angle uniform on [0, pi]: (n, 2) float32."""
        n = _check_n(n)
        t = math.pi * torch.rand(n, generator=generator)
        lower = torch.rand(n, generator=generator) < 0.5                     # which moon
        upper_pts = torch.stack([t.cos(), t.sin()], dim=1)                    # (n, 2)
        lower_pts = torch.stack([1 - t.cos(), 0.5 - t.sin()], dim=1)          # (n, 2)
        points = torch.where(lower[:, None], lower_pts, upper_pts) - torch.tensor([0.5, 0.25])
        return points + self.noise * torch.randn(n, 2, generator=generator)


class Spiral(ToyDistribution):
    """``n_arms`` interleaved Archimedean spiral arms reaching out to ``radius``, plus noise."""

    def __init__(self, n_arms: int = 2, turns: float = 1.5, radius: float = 2.0, noise: float = 0.05):
        self.name = "spiral"
        self.n_arms = _check_count("n_arms", n_arms, "number of spiral arms")
        self.turns = _check_positive("turns", turns, "how many times each arm winds round")
        self.radius = _check_positive("radius", radius, "distance of the arms' ends from the centre")
        self.noise = _check_noise(noise)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """r = radius * t, angle = 2 pi turns t + 2 pi arm / n_arms, t uniform on [0, 1]: (n, 2)."""
        n = _check_n(n)
        t = torch.rand(n, generator=generator)
        arm = torch.randint(self.n_arms, (n,), generator=generator)
        angle = 2 * math.pi * (self.turns * t + arm / self.n_arms)
        points = self.radius * t[:, None] * torch.stack([angle.cos(), angle.sin()], dim=1)
        return points + self.noise * torch.randn(n, 2, generator=generator)


class SwissRoll(ToyDistribution):
    """The 2-D swiss roll (t cos t, t sin t), t uniform on [1.5 pi, 4.5 pi], scaled to fit in ``radius``."""

    def __init__(self, radius: float = 2.0, noise: float = 0.05):
        self.name = "swissroll"
        self.radius = _check_positive("radius", radius, "distance of the roll's outer end from the centre")
        self.noise = _check_noise(noise)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Points on the roll, divided by t_max = 4.5 pi and scaled by ``radius``, plus noise: (n, 2)."""
        n = _check_n(n)
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
        points = (t / (4.5 * math.pi) * self.radius)[:, None] * torch.stack([t.cos(), t.sin()], dim=1)
        return points + self.noise * torch.randn(n, 2, generator=generator)


_FACTORIES = {"ring": ring, "grid": grid, "moons": Moons, "spiral": Spiral, "swissroll": SwissRoll}
_PARAMS = {"ring": ("n_modes", "radius", "std"), "grid": ("side", "spacing", "std"), "moons": ("noise",),
           "spiral": ("n_arms", "turns", "radius", "noise"), "swissroll": ("radius", "noise")}


def toy_distribution(name: str, **params) -> ToyDistribution:
    """Build one of ``TOY_DISTRIBUTIONS`` by name, e.g. ``toy_distribution("ring", n_modes=8, std=0.05)``."""
    if not isinstance(name, str):
        raise ArgumentTypeError(f"name must be a str, one of {', '.join(TOY_DISTRIBUTIONS)}; got {name!r}")
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    if key not in _FACTORIES:
        close = difflib.get_close_matches(key, TOY_DISTRIBUTIONS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown toy distribution name {name!r}; valid: {', '.join(TOY_DISTRIBUTIONS)}.{hint}")
    unknown = sorted(set(params) - set(_PARAMS[key]))
    if unknown:
        raise ValueError(f"{key} takes no parameter(s) {', '.join(unknown)}; valid: {', '.join(_PARAMS[key])}")
    return _FACTORIES[key](**params)


def mode_coverage(samples: Tensor, dist: ToyDistribution, threshold_std: float = 3.0) -> dict:
    """How many of a mixture's modes the samples reach, and the share of samples near any mode.

    A sample is *high quality* when it lies within ``threshold_std * std`` of its nearest mode; a mode is
    *covered* when at least one high-quality sample has it as nearest mode.
    Returns ``{"modes_covered": int, "n_modes": int, "high_quality": float, "per_mode": Tensor (K,)}``,
    where ``per_mode`` counts the high-quality samples of each mode.
    """
    if dist.modes is None or dist.std is None:
        raise ValueError(f"mode_coverage needs a mixture with known modes (ring or grid), got {dist.name!r}")
    samples = _check_points(samples)
    threshold_std = _check_positive("threshold_std", threshold_std, "radius around a mode, in stds")
    modes = dist.modes.to(device=samples.device, dtype=samples.dtype)
    if len(samples) == 0:
        return {"modes_covered": 0, "n_modes": len(modes), "high_quality": 0.0,
                "per_mode": torch.zeros(len(modes), dtype=torch.long)}
    nearest_d, nearest = torch.cdist(samples, modes).min(dim=1)      # (n, K) distances -> (n,), (n,)
    good = nearest_d <= threshold_std * dist.std                     # (n,)
    per_mode = torch.bincount(nearest[good], minlength=len(modes)).cpu()
    return {
        "modes_covered": int((per_mode > 0).sum()),
        "n_modes": len(modes),
        "high_quality": float(good.float().mean()),
        "per_mode": per_mode,
    }
