"""Video from the course's own parts (chapter 13): chapter 10's flow matching over whole clips, and how to
judge clips.

A clip of F frames of S × S pixels is read as one image with F channels, so chapter 10's U-Net
(:class:`~aigc_course.models.unet.UNet` with ``channels = F``) models all frames *jointly*: every
convolution mixes all frames at each place, the attention at the lowest resolution sees the whole clip,
and one run of the flow ODE (:func:`~aigc_course.models.flow.flow_sample`) turns noise into a whole clip.
The baseline is the same network with ``channels = 1`` trained on single frames and sampled F times
independently: each frame may be a fine image, but nothing ties them into one moving object.

Both learn from anti-aliased frames (``render_clips(factors, size, supersample=4)``: each pixel the share of
it the sprite covers) rather than binary ones, and their samples are thresholded back to binary clips: a
binary edge pixel depends on the sprite's pose to a fraction of a pixel, which the flow cannot resolve, and
its samples came out with ragged edges.

Both can be class-conditional (``num_classes = 3``: "draw a heart", every frame of a frame-by-frame clip
asked the same shape) with guidance, or conditioned on :func:`motion_condition` (shape and motion per frame).

A clip is judged by what the data's factors make checkable (:func:`clip_verdicts`):

- one shape: a shape classifier (the chapter 09 judge) names the same shape on every frame;
- no empty frame;
- smooth: the residual of a constant-velocity fit to the tracked centre (eq. 13.5) within the real clips'
  95th percentile;
- moves: the centre travels at least as far as in 95 % of real clips (a clip that stands still is
  trivially "smooth").

A clip passing all four is *consistent*. The thresholds come from real clips (:func:`calibrate_judge`); the
same tests on other, held-out real clips give the ceiling, and :func:`broken_clips` gives real clips broken
in ways the judge must catch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from aigc_course.data.clips import MARGIN, MAX_SPIN, Clips, motion_residual, render_clips, track_centres
from aigc_course.data.images import SHAPE_CLASSES
from aigc_course.metrics import predict
from aigc_course.models.dcgan import to_model_range
from aigc_course.models.flow import flow_sample
from aigc_course.models.unet import UNet, UNetConfig
from aigc_course.validation import check_choice, check_float, check_int


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
    """Clips (N, F, 1, S, S) in [0, 1] (binary, or anti-aliased by ``render_clips(..., supersample=k)``) ->
    what a U-Net of ``channels`` channels learns from, in [-1, 1]:
    (N, F, S, S) whole clips when channels = F, (N·F, 1, S, S) single frames when channels = 1."""
    clips = as_channels(frames)                                                  # (N, F, S, S)
    n, f, s = clips.shape[0], clips.shape[1], clips.shape[-1]
    if channels not in (1, f):
        raise ValueError(f"channels must be 1 (single frames) or F = {f} (whole clips), got {channels}")
    return to_model_range(clips.reshape(n * f // channels, channels, s, s))


def training_labels(labels: Tensor, frames: int, channels: int) -> Tensor:
    """The shape label (N,) or condition vector (N, D) of every training image: per clip when channels = F,
    each clip's repeated for its F frames when channels = 1 (the order of :func:`training_images`)."""
    return labels if channels == frames else labels.repeat_interleave(frames, dim=0)


def motion_condition(factors: Tensor) -> Tensor:
    """What a clip should show, as a vector for a U-Net with ``cond_dim = 6``: the shape one-hot, and the
    motion per frame (x and y step over the largest possible, the spin over MAX_SPIN). factors (N, F, 5) ->
    (N, 6); the zero vector is "no condition"."""
    shape = torch.nn.functional.one_hot(factors[:, 0, 0].long(), len(SHAPE_CLASSES)).float()    # (N, 3)
    step = factors[:, 1] - factors[:, 0]                                        # (N, 5): one frame's change
    most = (1 - 2 * MARGIN) / (factors.shape[1] - 1)                            # the largest step across
    return torch.cat([shape, step[:, 3:5] / most, step[:, 2:3] / MAX_SPIN], dim=1)   # (N, 6), x, y, spin


@torch.no_grad()
def sample_flow_clips(net: UNet, n: int, frames: int, steps: int = 20, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu", labels: Tensor | None = None, w: float = 0.0,
                      method: str = "euler") -> Tensor:
    """n clips of ``frames`` frames from a flow-matching U-Net, by ``steps`` Euler (or Heun) steps of
    dx/dt = v(x, t) from noise (eq. 10.15), pixels thresholded at the middle of [-1, 1]: (n, F, 1, S, S) in
    {0, 1}. A class-conditional net draws clip i as the shape ``labels[i]``, with guidance ``w`` (eq. 10.16).

    A U-Net of F channels draws each clip in one run of the ODE; one of 1 channel draws the n·F frames
    independently (the frame-by-frame baseline: with labels, every frame of a clip is asked the same shape)."""
    c, s = net.cfg.channels, net.cfg.image_size
    if c not in (1, frames):
        raise ValueError(f"the net has {c} channels: it draws single frames (1) or clips of {c} frames, "
                         f"not clips of frames={frames}")
    if labels is not None:
        labels = torch.as_tensor(labels)
        labels = labels.float() if labels.is_floating_point() else labels.long().reshape(-1)
        if len(labels) != n:
            raise ValueError(f"labels must hold one shape (or one condition vector) per clip, n={n}, "
                             f"got {len(labels)}")
        labels = training_labels(labels, frames, c).to(device)
    x = flow_sample(net, (n * frames // c, c, s, s), steps, method=method, y=labels, w=w,
                    null_label=net.null_label, generator=generator, device=device)   # (n F / c, c, S, S)
    return as_frames((x > 0).float().cpu().reshape(n, frames, s, s))


def travel(clips: Tensor) -> Tensor:
    """How far the tracked centre moves from the first frame to the last: (N, F, 1, H, W) -> (N,)."""
    return _distance_travelled(track_centres(clips))


def _distance_travelled(centres: Tensor) -> Tensor:
    return (centres[:, -1] - centres[:, 0]).norm(dim=-1)                       # (N, F, 2) -> (N,)


@dataclass
class ClipJudge:
    """A frame classifier and the two motion thresholds, both set from real clips by :func:`calibrate_judge`."""

    classifier: torch.nn.Module
    smooth_limit: float      # the real clips' ``level`` quantile of the motion residual (eq. 13.5)
    min_travel: float        # their (1 − level) quantile of the travel


def calibrate_judge(classifier: torch.nn.Module, real: Tensor, level: float = 0.95) -> ClipJudge:
    """Thresholds from real clips (N, F, 1, H, W): a real clip is less smooth than ``smooth_limit``, or
    travels less than ``min_travel``, with probability 1 − ``level`` each. Set them on clips other than the
    ones the ceiling is measured on."""
    check_float("level", level, 0.5, 1.0, high_open=True)
    centres = track_centres(real)                                               # (N, F, 2)
    return ClipJudge(classifier, float(motion_residual(centres).quantile(level)),
                     float(_distance_travelled(centres).quantile(1 - level)))


def _measure(judge: ClipJudge, clips: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """What every verdict is made of, computed once: the shape named on each frame (N, F), the motion
    residual (N,) (NaN with an empty frame) and the travel (N,)."""
    n, f = clips.shape[:2]
    centres = track_centres(clips)                                              # (N, F, 2)
    return (predict(judge.classifier, clips.flatten(0, 1)).view(n, f), motion_residual(centres),
            _distance_travelled(centres))


def _verdicts(judge: ClipJudge, clips: Tensor, labels: Tensor | None, shapes: Tensor, residual: Tensor,
              moved: Tensor) -> dict[str, Tensor]:
    out = {"one shape": (shapes == shapes[:, :1]).all(1),
           "no empty frame": ~(clips.flatten(2).sum(-1) == 0).any(1),
           "smooth": torch.nan_to_num(residual, nan=float("inf")) <= judge.smooth_limit,
           "moves": torch.nan_to_num(moved, nan=0.0) >= judge.min_travel}
    out["consistent"] = out["one shape"] & out["no empty frame"] & out["smooth"] & out["moves"]
    if labels is not None:
        out["as asked"] = out["one shape"] & (shapes[:, 0] == torch.as_tensor(labels).reshape(-1))
    return out


def clip_verdicts(judge: ClipJudge, clips: Tensor, labels: Tensor | None = None) -> dict[str, Tensor]:
    """Per clip (N,) booleans: "one shape" (the classifier names the same shape on every frame), "no empty
    frame", "smooth" (residual <= the limit), "moves" (travel >= the least), "consistent" (all four); with
    ``labels``, also "as asked" (that one shape is the label)."""
    return _verdicts(judge, clips, labels, *_measure(judge, clips))


def clip_quality(judge: ClipJudge, clips: Tensor, labels: Tensor | None = None) -> dict[str, float]:
    """Identity kept (share of frames showing the clip's majority shape), the share of clips passing each
    test of :func:`clip_verdicts`, the median residual and travel."""
    shapes, residual, moved = _measure(judge, clips)
    identity = (shapes == shapes.mode(dim=1).values[:, None]).double().mean()
    verdicts = {k: float(v.double().mean()) for k, v in _verdicts(judge, clips, labels, shapes, residual,
                                                                   moved).items()}
    return {"identity": float(identity), "residual (median)": float(torch.nan_to_num(residual, nan=1.0).median()),
            "travel (median)": float(torch.nan_to_num(moved, nan=0.0).median()), **verdicts}


def shape_confusion(judge: ClipJudge, clips: Tensor, labels: Tensor) -> Tensor:
    """Which shape the judge names on the frames of clips asked for each shape: (K, K), row k = the clips of
    label k, entry (k, j) the share of their frames named shape j (rows sum to 1; NaN for an absent label)."""
    n, f = clips.shape[:2]
    labels = torch.as_tensor(labels).long().reshape(-1)
    if len(labels) != n:
        raise ValueError(f"labels must hold one shape per clip, n={n}, got {len(labels)}")
    k = len(SHAPE_CLASSES)
    shapes = predict(judge.classifier, clips.flatten(0, 1))                     # (N·F,)
    counts = torch.zeros(k, k).index_put_((labels.repeat_interleave(f), shapes), torch.ones(n * f), accumulate=True)
    return counts / counts.sum(1, keepdim=True)                                 # (K, K)


def broken_clips(clips: Clips, generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Real clips broken in four ways a consistency judge must catch, each (N, F, 1, H, W): one frame taken
    from another clip; the shape changed from the middle frame on (same motion); the first frame held
    still; the frames shuffled."""
    n, f = clips.factors.shape[:2]
    size = clips.frames.shape[-1]
    swapped = clips.frames.clone()
    swapped[:, f // 2] = clips.frames.roll(1, dims=0)[:, f // 2]
    changed = clips.factors.clone()
    changed[:, f // 2:, 0] = (changed[:, f // 2:, 0] + 1) % len(SHAPE_CLASSES)
    order = torch.stack([torch.randperm(f, generator=generator) for _ in range(n)])   # (N, F)
    shuffled = clips.frames[torch.arange(n)[:, None], order]
    return {"one frame from another clip": swapped, "shape changed half-way": render_clips(changed, size),
            "standing still": clips.frames[:, :1].expand_as(clips.frames).clone(), "frames shuffled": shuffled}


def seconds_per_call(fn: Callable[[], object], repeats: int = 5, clock: str = "wall") -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls, after one warm-up call.

    ``clock="wall"`` is elapsed time; ``clock="process"`` is the CPU time of this process (all its threads), which
    other programs on a busy machine do not inflate: use it for ratios that must not depend on the load.
    """
    check_int("repeats", repeats, low=1)
    timer = {"wall": time.perf_counter, "process": time.process_time}[check_choice("clock", clock, ("wall", "process"))]
    fn()
    times = []
    for _ in range(repeats):
        t0 = timer()
        fn()
        times.append(timer() - t0)
    return sorted(times)[len(times) // 2]
