"""Moving shapes (chapter 13): short clips of one ``shapes`` sprite translating and rotating at constant
velocity, drawn by :func:`aigc_course.data.images.render_shapes`, with their factors frame by frame.

A clip keeps its shape and scale (drawn in [MIN_SCALE, 1], not the still images' [0.5, 1]: at 16 pixels a
half-size square, ellipse and heart are the same 3 × 3 blob, so no judge could tell whether a clip kept its
shape); its centre moves on a straight line at constant speed and its angle turns
at a constant rate: factors(t) = factors(0) + t · velocity, t = 0 … F − 1. Because the factors are known,
motion can be checked: the centre of the lit pixels of each frame (:func:`track_centres`) must lie on a
line, and :func:`motion_residual` measures how far it strays (eq. 13.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from aigc_course.data.images import SHAPE_CLASSES, SHAPE_FACTORS, render_shapes, sample_shape_factors
from aigc_course.validation import check_float, check_int

MARGIN = 0.15            # centres stay in [MARGIN, 1 − MARGIN] so that the sprite never leaves the frame
MAX_SPIN = math.pi / 8   # the largest turn per frame, in radians
MIN_SCALE = 0.75         # the smallest sprite of a clip (a sprite of scale 1 spans 40 % of the frame)


@dataclass
class Clips:
    """frames (N, F, 1, H, W) in {0, 1}; factors (N, F, 5) as in ``SHAPE_FACTORS``; labels (N,) shape ids."""

    frames: Tensor
    factors: Tensor

    @property
    def labels(self) -> Tensor:
        return self.factors[:, 0, 0].long()

    def __len__(self) -> int:
        return len(self.frames)


def sample_clip_factors(n: int, frames: int, generator: torch.Generator | None = None,
                        min_scale: float = MIN_SCALE) -> Tensor:
    """Factors of ``n`` clips of ``frames`` frames: a start and an end position drawn in the safe square, a
    spin in [−MAX_SPIN, MAX_SPIN] per frame; shape and scale (uniform in [min_scale, 1]) fixed. (n, frames, 5)."""
    if n < 1 or frames < 2:
        raise ValueError(f"need n >= 1 clips of frames >= 2, got n={n}, frames={frames}")
    check_float("min_scale", min_scale, 0.5, 1.0)
    first = sample_shape_factors(n, generator)                               # (n, 5), scale in [0.5, 1]
    first[:, 1] = min_scale + (first[:, 1] - 0.5) / 0.5 * (1 - min_scale)     # -> [min_scale, 1]
    ends = MARGIN + (1 - 2 * MARGIN) * torch.rand(n, 2, 2, generator=generator)   # (n, start/end, x/y)
    spin = MAX_SPIN * (2 * torch.rand(n, generator=generator) - 1)           # (n,)
    t = torch.arange(frames, dtype=torch.float32) / (frames - 1)             # (F,) in [0, 1]
    f = first[:, None, :].repeat(1, frames, 1)                               # (n, F, 5)
    f[..., 3:5] = ends[:, None, 0] + t[None, :, None] * (ends[:, None, 1] - ends[:, None, 0])
    f[..., 2] = first[:, None, 2] + spin[:, None] * torch.arange(frames)
    return f


def render_clips(factors: Tensor, size: int = 32, supersample: int = 1) -> Tensor:
    """Draw every frame: factors (N, F, 5) -> frames (N, F, 1, size, size), in {0, 1} when ``supersample`` = 1.

    With ``supersample = k > 1`` each pixel is the share of a k × k grid of points inside it (the centres of
    its sub-pixels) that fall inside the sprite: c_p = (1/k²) Σ_ij 1[centre_ij inside], the fraction of the
    pixel the sprite covers as k grows (anti-aliasing). Thresholded at 1/2 it is the binary frame but for a
    few edge pixels; its sum over the frame tends to the sprite's area in pixels."""
    if factors.ndim != 3 or factors.shape[-1] != len(SHAPE_FACTORS):
        raise ValueError(f"factors must be (N, F, 5) for {SHAPE_FACTORS}, got {tuple(factors.shape)}")
    check_int("supersample", supersample, 1, hint=" (1: binary pixels)")
    n, f = factors.shape[:2]
    rows = factors.reshape(n * f, -1)
    if supersample == 1:
        return render_shapes(rows, size).view(n, f, 1, size, size)
    parts = [F.avg_pool2d(render_shapes(part, size * supersample), supersample)     # (B, 1, kS, kS) -> (B, 1, S, S)
             for part in rows.split(2048)]
    return torch.cat(parts).view(n, f, 1, size, size)


def load_clips(n: int, frames: int = 8, size: int = 32, seed: int = 0, min_scale: float = MIN_SCALE) -> Clips:
    """``n`` moving-shape clips, the same for the same seed."""
    factors = sample_clip_factors(n, frames, torch.Generator().manual_seed(seed), min_scale)
    return Clips(render_clips(factors, size), factors)


def track_centres(frames: Tensor) -> Tensor:
    """Centre of the lit pixels of every frame, in the factors' x/y units ([0, 1] inside the safe area):
    frames (..., 1, H, W) -> (..., 2). An empty frame gives NaN."""
    h, w = frames.shape[-2:]
    mass = frames.clamp(min=0).flatten(-3).sum(-1)                           # (...,)
    ys = (torch.arange(h, dtype=frames.dtype) + 0.5) / h * 2 - 1             # pixel centres in [-1, 1]
    xs = (torch.arange(w, dtype=frames.dtype) + 0.5) / w * 2 - 1
    img = frames.clamp(min=0)[..., 0, :, :]                                  # (..., H, W)
    cx = (img.sum(-2) * xs).sum(-1) / mass
    cy = (img.sum(-1) * ys).sum(-1) / mass
    return torch.stack([cx / 0.8 + 0.5, cy / 0.8 + 0.5], dim=-1)             # image coords -> factor units


def motion_residual(centres: Tensor) -> Tensor:
    """RMS distance of each track from its least-squares straight line at constant speed (eq. 13.5):
    c(t) ≈ a + b t with b = Σ (t − t̄)(c_t − c̄) / Σ (t − t̄)², a = c̄ − b t̄. centres (N, F, 2) -> (N,)."""
    t = torch.arange(centres.shape[1], dtype=centres.dtype)
    t = t - t.mean()                                                         # (F,) centred
    c_mean = centres.mean(dim=1, keepdim=True)                               # (N, 1, 2)
    b = ((centres - c_mean) * t[None, :, None]).sum(1, keepdim=True) / t.pow(2).sum()   # (N, 1, 2)
    fit = c_mean + b * t[None, :, None]                                      # (N, F, 2)
    return (centres - fit).pow(2).sum(-1).mean(-1).sqrt()                    # (N,)


def shape_name(label: int) -> str:
    return SHAPE_CLASSES[int(label)]
