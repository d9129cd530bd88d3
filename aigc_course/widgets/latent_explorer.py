"""Explore a VAE's latent space: decode any z, a grid over two latent dims, a traversal, an interpolation.

Pure functions first (tested on their own), then two thin widgets:

- :class:`LatentExplorer`: one slider per latent dimension; the decoded image updates (``.image``).
- :class:`Interpolator`: pick two inputs by index; encode both, walk between their codes, decode (``.frames``).

Both can be built and driven headless: set a control's ``.value`` and read the attribute.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aigc_course.widgets import LABEL_STYLE, int_in, optional_class, positive_number
from aigc_course.widgets.latent_walk import MODES, axis_walk, interpolate


@torch.no_grad()
def decode_latent(model: torch.nn.Module, z: Tensor, label: int | None = None) -> Tensor:
    """Mean images (B, C, H, W) in [0, 1] for codes z (B, Z), in eval mode; ``label`` for a conditional VAE."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    y = None if label is None else torch.full((len(z),), int(label), dtype=torch.long, device=device)
    images = model.mean_image(model.decode(z.to(device).float(), y)).cpu()
    model.train(was_training)
    return images


def grid_codes(n: int, lim: float = 2.5, latent_dim: int = 2, dims: tuple[int, int] = (0, 1)) -> Tensor:
    """n x n codes (n*n, Z) on the square [-lim, lim]² over ``dims`` (other coordinates 0), row-major with
    the first dim along columns and the second decreasing down the rows (like a plot's y axis)."""
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    if len(set(dims)) != 2 or not all(0 <= d < latent_dim for d in dims):
        raise ValueError(f"dims must be two different indices in 0..{latent_dim - 1}, got {dims}")
    ticks = torch.linspace(-lim, lim, n)
    gy, gx = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")              # (n, n) each
    z = torch.zeros(n * n, latent_dim)
    z[:, dims[0]], z[:, dims[1]] = gx.reshape(-1), gy.reshape(-1)
    return z                                                                  # (n*n, Z)


def latent_map(model: torch.nn.Module, n: int = 12, lim: float = 2.5, dims: tuple[int, int] = (0, 1),
               label: int | None = None) -> Tensor:
    """Decode a grid of codes (see :func:`grid_codes`): images (n*n, C, H, W)."""
    return decode_latent(model, grid_codes(n, lim, model.cfg.latent_dim, dims), label)


def traversal(model: torch.nn.Module, z: Tensor, dim: int, lim: float = 2.5, steps: int = 7,
              label: int | None = None) -> Tensor:
    """Change coordinate ``dim`` of z (Z,) from -lim to lim, keep the rest: images (steps, C, H, W)."""
    return decode_latent(model, axis_walk(z, dim, torch.linspace(-lim, lim, steps)), label)


@torch.no_grad()
def encode_mean(model: torch.nn.Module, x: Tensor, label: int | None = None) -> Tensor:
    """μ(x) (B, Z) of the encoder for images x (B, C, H, W)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    y = None if label is None else torch.full((len(x),), int(label), dtype=torch.long, device=device)
    mu = model.encode(x.to(device), y)[0].cpu()
    model.train(was_training)
    return mu


def interpolate_inputs(model: torch.nn.Module, x0: Tensor, x1: Tensor, steps: int = 8, mode: str = "linear",
                       label: int | None = None) -> Tensor:
    """Encode two images (C, H, W) to their means, walk between the codes, decode: (steps, C, H, W)."""
    mu = encode_mean(model, torch.stack([x0, x1]), label)                     # (2, Z)
    return decode_latent(model, interpolate(mu[0], mu[1], steps, mode), label)


class LatentExplorer:
    """Widget: one slider per latent dimension; ``.image`` (1, C, H, W) is the decoded code ``.z``."""

    def __init__(self, model: torch.nn.Module, lim: float = 3.0, label: int | None = None):
        import ipywidgets as W

        lim = positive_number("lim", lim)
        self.model, self.label = model, optional_class("label", label, model.cfg.num_classes)
        z_dim = model.cfg.latent_dim
        self.sliders = [W.FloatSlider(value=0.0, min=-lim, max=lim, step=0.1, description=f"z[{i}]",
                                      continuous_update=False, style=LABEL_STYLE) for i in range(z_dim)]
        self.output = W.Output()
        for s in self.sliders:
            s.observe(self._update, names="value")
        self.widget = W.HBox([W.VBox(self.sliders), self.output])
        self._update()

    @property
    def z(self) -> Tensor:
        return torch.tensor([[s.value for s in self.sliders]])                # (1, Z)

    def set_code(self, z: Tensor) -> None:
        """Move the sliders to z (Z,) (e.g. the code of a real image); coordinates beyond ±lim are clipped."""
        if tuple(z.shape) != (len(self.sliders),):
            raise ValueError(f"z must be a vector of the {len(self.sliders)} latent dimensions, got shape "
                             f"{tuple(z.shape)}")
        for s, v in zip(self.sliders, z.tolist()):
            s.value = max(s.min, min(s.max, round(v, 1)))

    def _update(self, change=None) -> None:
        from IPython.display import clear_output, display

        from aigc_course.viz import image_grid

        self.image = decode_latent(self.model, self.z, self.label)
        with self.output:
            clear_output(wait=True)
            display(image_grid(self.image, scale=2.5, title="decoded"))


class Interpolator:
    """Widget: choose two images of ``images`` (N, C, H, W) by index; ``.frames`` is the decoded walk."""

    def __init__(self, model: torch.nn.Module, images: Tensor, steps: int = 8, first: int = 0, second: int = 1):
        import ipywidgets as W

        self.model, self.images = model, images
        last = len(images) - 1
        if last < 1:
            raise ValueError(f"images must hold at least 2 images to walk between, got {len(images)}")
        int_in("first", first, 0, last)
        int_in("second", second, 0, last)
        int_in("steps", steps, 3, 16)
        self.first = W.BoundedIntText(value=first, min=0, max=last, description="from #", style=LABEL_STYLE)
        self.second = W.BoundedIntText(value=second, min=0, max=last, description="to #", style=LABEL_STYLE)
        self.steps = W.IntSlider(value=steps, min=3, max=16, description="frames", style=LABEL_STYLE)
        self.mode = W.ToggleButtons(options=list(MODES), value="linear", description="path", style=LABEL_STYLE)
        self.output = W.Output()
        for control in (self.first, self.second, self.steps, self.mode):
            control.observe(self._update, names="value")
        self.widget = W.VBox([W.HBox([self.first, self.second]), W.HBox([self.steps, self.mode]), self.output])
        self._update()

    def _update(self, change=None) -> None:
        from IPython.display import clear_output, display

        from aigc_course.viz import image_grid

        x0, x1 = self.images[self.first.value], self.images[self.second.value]
        self.frames = interpolate_inputs(self.model, x0, x1, self.steps.value, self.mode.value)
        strip = torch.cat([x0[None].cpu(), self.frames, x1[None].cpu()])      # input, walk, input
        with self.output:
            clear_output(wait=True)
            display(image_grid(strip, nrow=1, scale=1.0, title="input | decoded walk | input"))
