"""The denoising scrubber: follow one sample from noise (t = T) to an image (t = 0), seeing x_t and the
network's guess of the clean image x̂_0 side by side, with a guidance-scale slider for a conditional model.

Pure functions first (tested on their own), then :class:`DenoiseScrubber`, which only wires ipywidgets
controls to them. Build it headless, set a control's ``.value`` and read ``.current``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from aigc_course.models.diffusion import NoiseSchedule, clip_eps, ddim_step, ddim_timesteps, guided


@torch.no_grad()
def denoise_trail(model: torch.nn.Module, sched: NoiseSchedule, shape: tuple[int, ...], steps: int = 20,
                  seed: int = 0, label: int | None = None, w: float = 0.0, clip: float | None = 1.0
                  ) -> list[tuple[int, Tensor, Tensor]]:
    """DDIM from x_T (drawn from ``seed``) to x_0 in ``steps`` steps: [(t, x_t, x̂_0)] for t = T, ..., 0,
    each a (1, *shape) tensor; the last entry is the finished sample (x̂_0 = x_0). Deterministic."""
    device = next(model.parameters()).device
    x = torch.randn((1, *shape), generator=torch.Generator().manual_seed(int(seed))).to(device)
    y = None if label is None else torch.tensor([int(label)], device=device)
    ab = sched.alpha_bars.to(device=device, dtype=x.dtype)
    ts, trail = ddim_timesteps(sched.T, steps) + [0], []
    for t, s in zip(ts[:-1], ts[1:]):
        time = torch.full((1,), t / sched.T, device=device, dtype=x.dtype)
        eps = clip_eps(x, guided(model, x, time, y, w, getattr(model, "null_label", None)), ab[t], clip)
        x0 = (x - (1 - ab[t]).sqrt() * eps) / ab[t].sqrt()
        trail.append((t, x.cpu(), (x0 if clip is None else x0.clamp(-clip, clip)).cpu()))
        x = ddim_step(x, eps, ab[t], ab[s])
    trail.append((0, x.cpu(), x.cpu()))
    return trail


def frame_pair(trail: list[tuple[int, Tensor, Tensor]], index: int,
               to_image: Callable[[Tensor], Tensor] | None = None) -> tuple[int, Tensor]:
    """Entry ``index`` of a trail as (t, two images (2, C, H, W): x_t and x̂_0, mapped by ``to_image``)."""
    if not 0 <= index < len(trail):
        raise ValueError(f"index must be in 0..{len(trail) - 1}, got {index}")
    t, x_t, x0 = trail[index]
    pair = torch.cat([x_t, x0])                                         # (2, C, H, W)
    return t, (to_image(pair) if to_image is not None else pair)


class DenoiseScrubber:
    """Widget: a slider over the denoising steps (T on the left, 0 on the right) and x_t beside x̂_0.

    Controls: ``step`` (position along the trail), ``seed`` (which sample), and for a conditional model
    ``label`` and ``w`` (guidance scale). ``.widget`` is the box to display; ``.current`` is (t, images).
    """

    def __init__(self, model: torch.nn.Module, sched: NoiseSchedule, shape: tuple[int, ...], steps: int = 20,
                 to_image: Callable[[Tensor], Tensor] | None = None, num_classes: int = 0, clip: float | None = 1.0):
        import ipywidgets as W

        self.model, self.sched, self.shape, self.n = model, sched, shape, steps
        self.to_image, self.clip = to_image, clip
        self.step = W.IntSlider(value=0, min=0, max=steps, description="step (T → 0)")
        self.seed = W.IntText(value=0, description="seed")
        self.label = W.Dropdown(options=list(range(num_classes)), value=0, description="label") if num_classes else None
        self.w = W.FloatSlider(value=1.0, min=0.0, max=6.0, step=0.5, description="guidance w") \
            if num_classes else None
        self.out = W.Output()
        self.trail: list = []
        controls = [c for c in (self.step, self.seed, self.label, self.w) if c is not None]
        for c in controls:
            c.observe(self._rebuild if c is not self.step else self._redraw, names="value")
        self.widget = W.VBox([W.HBox(controls[:2]), W.HBox(controls[2:]), self.out])
        self._rebuild()

    def _rebuild(self, change=None) -> None:
        label = None if self.label is None else self.label.value
        w = 0.0 if self.w is None else self.w.value
        self.trail = denoise_trail(self.model, self.sched, self.shape, self.n, self.seed.value, label, w, self.clip)
        self._redraw()

    def _redraw(self, change=None) -> None:
        from IPython.display import display

        from aigc_course.viz import image_grid

        self.current = frame_pair(self.trail, self.step.value, self.to_image)
        t, images = self.current
        label = "" if self.label is None else f", label {self.label.value}, w = {self.w.value:g}"
        self.out.clear_output(wait=True)
        with self.out:
            print(f"t = {t} (seed {self.seed.value}{label}): x_t left, predicted x̂_0 right")
            display(image_grid(images, nrow=1, title=f"t = {t}: x_t (left), predicted x̂_0 (right)", scale=1.2))
