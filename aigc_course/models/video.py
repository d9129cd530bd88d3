"""Video from the course's own parts (chapter 13): the chapter 05 VAE over whole clips, and how to judge clips.

A clip of F frames of H × W pixels is read as one image with F channels, so the conv VAE of chapter 05
models all frames *jointly*: its first convolution sees every frame at each place, and one latent vector
z decodes to a whole clip. The baseline is the same VAE on single frames, sampled F times independently:
each frame may be a fine image, but nothing ties them into one moving object.

A clip is judged by what the data's factors make checkable:

- identity: a shape classifier (the chapter 09 judge) on each frame; the share of frames that show the
  clip's majority shape;
- smoothness: the residual of a constant-velocity fit to the tracked centre (eq. 13.5);
- consistent: every frame the same shape, no empty frame, smoothness within the data's own 95th
  percentile, and real motion (the centre travels at least as far as in 95 % of real clips: a clip that
  stands still is trivially "smooth"). The same measures on real clips are the ceiling.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor

from aigc_course.data.clips import motion_residual, track_centres
from aigc_course.metrics import predict
from aigc_course.models.vae import VAE, VAEConfig


def clip_vae_config(frames: int, size: int, latent_dim: int = 10, **overrides) -> VAEConfig:
    """A conv VAE whose 'channels' are the F frames of a clip (Bernoulli pixels, as for ``shapes``)."""
    return VAEConfig(**{"image_shape": (frames, size, size), "latent_dim": latent_dim, "arch": "conv",
                        "hidden": 256, "width": 32, **overrides})


def as_channels(frames: Tensor) -> Tensor:
    """(N, F, 1, H, W) -> (N, F, H, W): one clip, one multi-channel image."""
    if frames.ndim != 5 or frames.shape[2] != 1:
        raise ValueError(f"frames must be (N, F, 1, H, W) grey clips, got {tuple(frames.shape)}")
    return frames[:, :, 0]


def as_frames(images: Tensor) -> Tensor:
    """(N, F, H, W) -> (N, F, 1, H, W)."""
    return images[:, :, None]


@torch.no_grad()
def sample_clips(clip_vae: VAE, n: int, generator: torch.Generator | None = None) -> Tensor:
    """n clips from the space-time VAE, pixels thresholded at ½: (n, F, 1, H, W)."""
    return as_frames((clip_vae.sample(n, generator=generator) > 0.5).float()).cpu()


@torch.no_grad()
def sample_independent_frames(frame_vae: VAE, n: int, frames: int,
                              generator: torch.Generator | None = None) -> Tensor:
    """n 'clips' whose frames are drawn independently from a single-frame VAE: (n, F, 1, H, W)."""
    images = (frame_vae.sample(n * frames, generator=generator) > 0.5).float().cpu()   # (nF, 1, H, W)
    return images.view(n, frames, *images.shape[1:])


def travel(clips: Tensor) -> Tensor:
    """How far the tracked centre moves from the first frame to the last: (N, F, 1, H, W) -> (N,)."""
    centres = track_centres(clips)                                              # (N, F, 2)
    return (centres[:, -1] - centres[:, 0]).norm(dim=-1)


def clip_quality(judge: torch.nn.Module, clips: Tensor, smooth_limit: float,
                 min_travel: float = 0.0) -> dict[str, float]:
    """Identity kept, smoothness, motion and the share of consistent clips (see the module docstring)."""
    n, f = clips.shape[:2]
    labels = predict(judge, clips.flatten(0, 1)).view(n, f)                     # (N, F) shape per frame
    majority = labels.mode(dim=1).values                                        # (N,)
    identity = (labels == majority[:, None]).double().mean(1)                   # (N,)
    empty = clips.flatten(2).sum(-1) == 0                                       # (N, F)
    residual = motion_residual(track_centres(clips))                            # (N,) NaN if a frame is empty
    smooth = torch.nan_to_num(residual, nan=float("inf")) <= smooth_limit
    moved = torch.nan_to_num(travel(clips), nan=0.0)                            # (N,)
    consistent = (identity == 1) & ~empty.any(1) & smooth & (moved >= min_travel)
    return {"identity": float(identity.mean()), "empty frames": float(empty.double().mean()),
            "residual (median)": float(torch.nan_to_num(residual, nan=1.0).median()),
            "travel (median)": float(moved.median()), "consistent": float(consistent.double().mean())}


def seconds_per_call(fn: Callable[[], object], repeats: int = 5) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]
