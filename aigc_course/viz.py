"""Pictures: image grids, loss curves, 2-D samples and densities.

Every function returns a ``matplotlib.figure.Figure`` and never calls ``plt.show()`` or writes a file: a
notebook displays the returned figure, a script saves it, a test inspects it. Figures are made with
``Figure()`` rather than ``pyplot``, so nothing is displayed twice and no global state is touched; in Jupyter
they display as PNG images.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure


def _figure_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


@functools.cache
def _register_notebook_display() -> None:
    """In IPython/Jupyter, show a returned Figure as a PNG (the inline backend only does so once loaded)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(Figure, _figure_png)


MIN_FONT_PT = 8          # no text in a course figure is smaller (labels, legends, ticks)
_MAX_TOKEN_TICKS = 40    # an attention map labels at most this many tokens per axis


def new_figure(width: float = 6.0, height: float = 4.0) -> Figure:
    """A fresh figure, detached from pyplot."""
    _register_notebook_display()
    return Figure(figsize=(width, height), layout="constrained")


def _to_grid(images: torch.Tensor, nrow: int, pad: int) -> np.ndarray:
    n, c, h, w = images.shape                                             # (N, C, H, W)
    ncol = math.ceil(n / nrow)
    grid = torch.ones(c, nrow * (h + pad) + pad, ncol * (w + pad) + pad)  # padding is white
    for i, img in enumerate(images):
        r, k = divmod(i, ncol)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = img
    return grid.permute(1, 2, 0).numpy()                                  # (H', W', C)


def image_grid(images: torch.Tensor, nrow: int | None = None, title: str | None = None,
               value_range: tuple[float, float] = (0.0, 1.0), labels: Sequence[str] | None = None,
               scale: float = 0.6) -> Figure:
    """Show a batch of images ``(N, C, H, W)`` (C = 1 or 3, values in ``value_range``) as one grid."""
    if images.dim() == 3:
        images = images.unsqueeze(1)                                      # (N, H, W) -> (N, 1, H, W)
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C in (1, 3), got shape {tuple(images.shape)}")
    lo, hi = value_range
    images = ((images.detach().float().cpu() - lo) / (hi - lo)).clamp(0, 1)
    n = images.shape[0]
    nrow = nrow or max(1, round(math.sqrt(n)))
    ncol = math.ceil(n / nrow)
    fig = new_figure(width=max(2.0, scale * ncol + 0.4), height=max(1.5, scale * nrow + (0.4 if title else 0.1)))
    ax = fig.add_subplot()
    grid = _to_grid(images, nrow, pad=1 if images.shape[-1] < 20 else 2)
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_axis_off()
    if labels is not None:
        h = images.shape[2]
        for i, text in enumerate(labels[:n]):
            r, k = divmod(i, ncol)
            ax.text(k * (images.shape[3] + 1) + 2, r * (h + 1) + 1, str(text), color="red", fontsize=MIN_FONT_PT,
                    va="top")
    if title:
        ax.set_title(title)
    return fig


def plot_history(history, keys: Iterable[str] | None = None, log_y: bool = False,
                 smooth: float = 0.9, title: str | None = None) -> Figure:
    """Training curves (smoothed, raw values faint) and evaluation points from a :class:`History`."""
    keys = list(keys) if keys else list(history.logs) + [k for k in history.eval_logs if k not in history.logs]
    fig = new_figure(6.5, 3.6)
    ax = fig.add_subplot()
    for i, key in enumerate(keys):
        color = f"C{i % 10}"
        if key in history.logs:
            y = np.asarray(history.logs[key], dtype=float)
            ax.plot(history.steps, y, color=color, alpha=0.25, lw=0.8)
            ax.plot(history.steps, ema(y, smooth), color=color, lw=1.6, label=f"{key} (train)")
        if key in history.eval_logs:
            ax.plot(history.eval_steps, history.eval_logs[key], "o--", color=color, ms=4, label=f"{key} (eval)")
    ax.set_xlabel("step")
    if log_y:
        ax.set_yscale("log")
    if keys:
        ax.legend(fontsize=MIN_FONT_PT)
    ax.grid(alpha=0.3)
    ax.set_title(title or "training history")
    return fig


def ema(values: np.ndarray, smooth: float) -> np.ndarray:
    """Exponential moving average with bias correction (as TensorBoard's smoothing slider), NaNs skipped."""
    if not 0 <= smooth < 1:
        raise ValueError(f"smooth must be in [0, 1), got {smooth}")
    out, avg, weight = np.empty(len(values)), 0.0, 0.0
    for i, v in enumerate(values):
        if np.isfinite(v):
            avg, weight = smooth * avg + (1 - smooth) * v, smooth * weight + (1 - smooth)
        out[i] = avg / weight if weight > 0 else np.nan
    return out


def plot_samples_2d(samples: torch.Tensor, reference: torch.Tensor | None = None,
                    modes: torch.Tensor | None = None, lim: float | None = None, title: str | None = None,
                    ax=None) -> Figure:
    """Scatter 2-D samples ``(N, 2)``, optionally over reference data and mode centres."""
    fig = ax.figure if ax is not None else new_figure(4.2, 4.2)
    ax = ax or fig.add_subplot()
    if reference is not None:
        r = reference.detach().cpu()
        ax.scatter(r[:, 0], r[:, 1], s=3, c="0.7", alpha=0.5, label="data")
    s = samples.detach().cpu()
    ax.scatter(s[:, 0], s[:, 1], s=3, c="C0", alpha=0.6, label="samples")
    if modes is not None:
        ax.scatter(modes[:, 0], modes[:, 1], marker="x", c="C3", s=20, label="modes")
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(fontsize=MIN_FONT_PT, loc="upper right", markerscale=2)
    ax.set_title(title or f"{len(s)} samples")
    return fig


def plot_density_2d(log_prob: Callable[[torch.Tensor], torch.Tensor], lim: float = 3.0, resolution: int = 150,
                    title: str | None = None, ax=None) -> Figure:
    """Heat map of ``exp(log_prob(x))`` on the square ``[-lim, lim]^2``."""
    xs = torch.linspace(-lim, lim, resolution)
    gx, gy = torch.meshgrid(xs, xs, indexing="xy")
    points = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)         # (R*R, 2)
    with torch.no_grad():
        density = log_prob(points).exp().reshape(resolution, resolution)  # (R, R)
    fig = ax.figure if ax is not None else new_figure(4.2, 4.2)
    ax = ax or fig.add_subplot()
    ax.imshow(density.cpu().numpy(), origin="lower", extent=(-lim, lim, -lim, lim), cmap="magma")
    ax.set_title(title or "density")
    return fig


def _token_label(ch: str) -> str:
    return {"\n": "\\n", " ": "␣", "\t": "\\t"}.get(ch, ch)


def plot_attention(weights: torch.Tensor, tokens: list[str], title: str = "", ax=None):
    """Heat map of a (T, T) attention matrix: rows are queries, columns the keys they look at."""
    T = len(tokens)
    if weights.shape != (T, T):
        raise ValueError(f"weights must be ({T}, {T}) for {T} tokens, got {tuple(weights.shape)}")
    size = min(2.0 + 0.22 * T, 9.0)
    fig = ax.figure if ax is not None else new_figure(size, size)
    ax = ax or fig.add_subplot()
    ax.imshow(weights.detach().cpu().numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
    labels = [_token_label(c) for c in tokens]
    every = math.ceil(T / _MAX_TOKEN_TICKS)      # past 40 tokens label every k-th one: 8 pt, never overlapping
    ticks = list(range(0, T, every))
    ax.set_xticks(ticks, [labels[i] for i in ticks], fontsize=MIN_FONT_PT)
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=MIN_FONT_PT)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title, fontsize=9)
    return fig
