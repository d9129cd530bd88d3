"""Latent interpolation and walks: what a generator draws between two noise vectors, or along one axis.

Pure functions first (tested on their own), then :class:`LatentWalk`, which only wires ipywidgets
controls to them. Build it headless, set a control's ``.value`` and read ``.frames`` / ``.current``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aigc_course.widgets import LABEL_STYLE, int_in, optional_class

MODES = ("slerp", "linear")


def lerp(z0: Tensor, z1: Tensor, t: float | Tensor) -> Tensor:
    """Straight line: z(t) = (1 − t) z₀ + t z₁."""
    return (1 - t) * z0 + t * z1


def slerp(z0: Tensor, z1: Tensor, t: float | Tensor, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation (Shoemake, 1985), per row of (…, Z) vectors:

    z(t) = sin((1 − t) Ω) / sin Ω · z₀ + sin(t Ω) / sin Ω · z₁,   cos Ω = z₀·z₁ / (‖z₀‖ ‖z₁‖).

    For Gaussian z in many dimensions almost all mass sits near the sphere of radius √Z; the straight
    line's midpoint has norm ≈ √(Z/2), a region the generator never saw in training. Slerp stays near the
    sphere. Falls back to :func:`lerp` where z₀ and z₁ are (anti)parallel.
    """
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
    omega = torch.acos(cos.clamp(-1 + eps, 1 - eps))                   # (…, 1)
    t = torch.as_tensor(t, dtype=z0.dtype)
    out = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)
    parallel = (1 - cos.abs()) < 1e-5
    return torch.where(parallel, lerp(z0, z1, t), out)


def interpolate(z0: Tensor, z1: Tensor, steps: int, mode: str = "slerp") -> Tensor:
    """``steps`` points from z₀ (Z,) to z₁ (Z,), both included -> (steps, Z)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the two end points), got {steps}")
    if z0.shape != z1.shape or z0.dim() != 1:
        raise ValueError(f"z0 and z1 must be vectors of one size, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    t = torch.linspace(0, 1, steps, dtype=z0.dtype)[:, None]           # (steps, 1)
    fn = slerp if mode == "slerp" else lerp
    return fn(z0.expand(steps, -1), z1.expand(steps, -1), t)           # (steps, Z)


def axis_walk(z: Tensor, dim: int, values: Tensor) -> Tensor:
    """Copies of z (Z,) whose coordinate ``dim`` is set to each of ``values`` (V,) -> (V, Z)."""
    if not 0 <= dim < z.shape[-1]:
        raise ValueError(f"dim must be in 0..{z.shape[-1] - 1}, got {dim}")
    out = z.expand(len(values), -1).clone()                            # (V, Z)
    out[:, dim] = values
    return out


@torch.no_grad()
def render(generator: torch.nn.Module, z: Tensor, label: int | None = None) -> Tensor:
    """Images (B, C, H, W) in [0, 1] for latents z (B, Z), in eval mode; ``label`` for conditional models."""
    from aigc_course.models.dcgan import sample_images

    labels = None if label is None else torch.full((len(z),), int(label), dtype=torch.long)
    return sample_images(generator, len(z), labels=labels, z=z)


def endpoints(latent_dim: int, seed: int) -> tuple[Tensor, Tensor]:
    """Two Gaussian noise vectors (Z,) drawn from ``seed``: the same seed gives the same pair."""
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(2, latent_dim, generator=g)
    return z[0], z[1]


class LatentWalk:
    """Widget: a strip of frames from z₀ to z₁ and the frame at ``t`` (slider), for a DC generator.

    Controls: ``t``, ``mode`` (slerp / linear), ``steps``, ``seed`` (which pair of end points), and
    ``label`` for a conditional generator. ``.widget`` is the box to display.
    """

    def __init__(self, generator: torch.nn.Module, seed: int = 0, steps: int = 8, label: int | None = 0):
        import ipywidgets as W

        self.generator = generator
        self.num_classes = generator.cfg.num_classes
        int_in("steps", steps, 3, 16)
        int_in("seed", seed, 0, 2**63 - 1)
        if self.num_classes:
            label = optional_class("label", label, self.num_classes)
        elif label not in (None, 0):                                       # 0 is the default: ignored
            raise ValueError(f"label must be None: the generator is unconditional (num_classes=0), got {label!r}")
        self.t = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t", style=LABEL_STYLE)
        self.mode = W.ToggleButtons(options=list(MODES), value="slerp", description="path", style=LABEL_STYLE)
        self.steps = W.IntSlider(value=steps, min=3, max=16, description="frames", style=LABEL_STYLE)
        self.seed = W.IntText(value=seed, description="end points", style=LABEL_STYLE)
        classes = list(range(self.num_classes)) or [None]                  # unconditional: no choice
        self.label = W.Dropdown(options=classes, value=label if self.num_classes else None,
                                description="class", disabled=self.num_classes == 0, style=LABEL_STYLE)
        self.output = W.Output()
        controls = [self.t, self.mode, self.steps, self.seed] + ([self.label] if self.num_classes else [])
        for control in controls:
            control.observe(self._update, names="value")
        self.widget = W.VBox([W.HBox(controls[:2]), W.HBox(controls[2:]), self.output])
        self._update()

    def compute(self) -> tuple[Tensor, Tensor]:
        """The frames (steps, C, H, W) and the image at t (1, C, H, W) for the current control values."""
        z0, z1 = endpoints(self.generator.cfg.latent_dim, self.seed.value)
        label = self.label.value if self.num_classes else None
        frames = render(self.generator, interpolate(z0, z1, self.steps.value, self.mode.value), label)
        fn = slerp if self.mode.value == "slerp" else lerp
        current = render(self.generator, fn(z0[None], z1[None], self.t.value), label)
        return frames, current

    def _update(self, change=None) -> None:
        from IPython.display import clear_output, display

        self.frames, self.current = self.compute()
        with self.output:
            clear_output(wait=True)
            display(self.figure())

    def figure(self):
        """The strip (top) and the frame at t, enlarged (bottom)."""
        from aigc_course.viz import _to_grid, new_figure

        fig = new_figure(min(1.0 * self.steps.value, 12.0), 3.2)
        top, bottom = fig.subfigures(2, 1, height_ratios=[1, 2])
        ax = top.add_subplot()
        ax.imshow(_to_grid(self.frames, 1, 1).squeeze(-1), cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(f"{self.mode.value} from z0 to z1 ({self.steps.value} frames)", fontsize=9)
        ax = bottom.add_subplot()
        ax.imshow(self.current[0].permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(f"t = {self.t.value:.2f}", fontsize=9)
        return fig
