"""Video from the course's own parts (chapter 13): chapter 10's flow matching over whole clips, and how to
judge clips.

A clip of F frames of S × S pixels is read as one image with F channels, so chapter 10's U-Net
(:class:`~aigc_course.models.unet.UNet` with ``channels = F``) models all frames *jointly*: every
convolution mixes all frames at each place, the attention at the lowest resolution sees the whole clip,
and one run of the flow ODE (:func:`~aigc_course.models.flow.flow_sample`) turns noise into a whole clip.
The baseline is the same network with ``channels = 1`` trained on single frames and sampled F times
independently: each frame may be a fine image, but nothing ties them into one moving object.

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
from aigc_course.models.dcgan import to_model_range
from aigc_course.models.flow import flow_sample
from aigc_course.models.unet import UNet, UNetConfig


def clip_unet_config(channels: int, size: int, **overrides) -> UNetConfig:
    """Chapter 10's U-Net for S × S images of ``channels`` channels: F for whole clips, 1 for single
    frames. Two resolutions (S, S/2) with attention at S/2."""
    return UNetConfig(**{"image_size": size, "channels": channels, "base": 32, "mults": (1, 2),
                         "attn_heads": 4, "groups": 8, **overrides})


def as_channels(frames: Tensor) -> Tensor:
    """(N, F, 1, H, W) -> (N, F, H, W): one clip, one multi-channel image."""
    if frames.ndim != 5 or frames.shape[2] != 1:
        raise ValueError(f"frames must be (N, F, 1, H, W) grey clips, got {tuple(frames.shape)}")
    return frames[:, :, 0]


def as_frames(images: Tensor) -> Tensor:
    """(N, F, H, W) -> (N, F, 1, H, W)."""
    return images[:, :, None]


def training_images(frames: Tensor, channels: int) -> Tensor:
    """Clips (N, F, 1, S, S) in {0, 1} -> what a U-Net of ``channels`` channels learns from, in [-1, 1]:
    (N, F, S, S) whole clips when channels = F, (N·F, 1, S, S) single frames when channels = 1."""
    clips = as_channels(frames)                                                  # (N, F, S, S)
    n, f, s = clips.shape[0], clips.shape[1], clips.shape[-1]
    if channels not in (1, f):
        raise ValueError(f"channels must be 1 (single frames) or F = {f} (whole clips), got {channels}")
    return to_model_range(clips.reshape(n * f // channels, channels, s, s))


@torch.no_grad()
def sample_flow_clips(net: UNet, n: int, frames: int, steps: int = 20, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu") -> Tensor:
    """n clips of ``frames`` frames from a flow-matching U-Net, by Euler steps of dx/dt = v(x, t) from noise
    (eq. 10.15), pixels thresholded at the middle of [-1, 1]: (n, F, 1, S, S) in {0, 1}.

    A U-Net of F channels draws each clip in one run of the ODE; one of 1 channel draws the n·F frames
    independently (the frame-by-frame baseline)."""
    c, s = net.cfg.channels, net.cfg.image_size
    if c not in (1, frames):
        raise ValueError(f"the net has {c} channels: it draws single frames (1) or clips of {c} frames, "
                         f"not clips of frames={frames}")
    x = flow_sample(net, (n * frames // c, c, s, s), steps, generator=generator, device=device)   # (n F / c, c, S, S)
    return as_frames((x > 0).float().cpu().reshape(n, frames, s, s))


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
