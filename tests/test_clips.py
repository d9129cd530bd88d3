"""Moving-shapes clips, their measures (eq. 13.5) and the flow-matching-over-clips glue."""

import math
import time

import numpy as np
import pytest
import torch

from aigc_course.data.clips import (
    MARGIN,
    MAX_SPIN,
    MIN_SCALE,
    load_clips,
    motion_residual,
    render_clips,
    sample_clip_factors,
    track_centres,
)
from aigc_course.data.images import render_shapes
from aigc_course.models.classifier import train_classifier
from aigc_course.models.flow import flow_sample
from aigc_course.models.unet import UNet
from aigc_course.models.video import (
    ClipJudge,
    as_channels,
    as_frames,
    broken_clips,
    calibrate_judge,
    clip_quality,
    clip_unet_config,
    clip_verdicts,
    motion_condition,
    sample_flow_clips,
    seconds_per_call,
    shape_confusion,
    training_images,
    training_labels,
    travel,
)


def test_factors_move_at_constant_velocity_and_stay_inside():
    f = sample_clip_factors(50, 8, torch.Generator().manual_seed(0))
    assert f.shape == (50, 8, 5)
    assert (f[:, :, :2] == f[:, :1, :2]).all()                      # shape and scale fixed
    steps = f[:, 1:, 2:] - f[:, :-1, 2:]
    assert torch.allclose(steps, steps[:, :1], atol=1e-5)           # the same step every frame
    assert f[..., 3:].min() >= MARGIN - 1e-6 and f[..., 3:].max() <= 1 - MARGIN + 1e-6
    assert f[..., 1].min() >= MIN_SCALE and f[..., 1].max() <= 1
    assert sample_clip_factors(400, 2, min_scale=0.5)[..., 1].min() < MIN_SCALE   # the still images' range
    with pytest.raises(ValueError, match="frames >= 2"):
        sample_clip_factors(3, 1)
    with pytest.raises(ValueError, match="min_scale"):
        sample_clip_factors(3, 2, min_scale=0.2)


def test_clips_are_the_shapes_drawing_frame_by_frame():
    c = load_clips(4, frames=6, size=16, seed=3)
    assert c.frames.shape == (4, 6, 1, 16, 16) and len(c) == 4
    assert torch.equal(c.frames[2, 5], render_shapes(c.factors[2, 5:6], 16)[0])
    assert torch.equal(c.frames, load_clips(4, frames=6, size=16, seed=3).frames)
    with pytest.raises(ValueError, match=r"\(N, F, 5\)"):
        render_clips(torch.zeros(3, 5))


def test_supersampled_frames_cover_the_sprites_area_and_threshold_to_the_binary_frames():
    f = sample_clip_factors(40, 4, torch.Generator().manual_seed(2))
    size = 16
    binary, soft = render_clips(f, size), render_clips(f, size, supersample=8)
    assert torch.equal(render_clips(f, size, supersample=1), binary)
    assert soft.min() >= 0 and soft.max() <= 1 and ((soft > 0) & (soft < 1)).any()      # grey edge pixels
    assert float(((soft > 0.5).float() == binary).float().mean()) > 0.99
    # the area in pixels: a square of side 0.8 s (image units [-1, 1]) is (0.4 s S)^2, the ellipse with
    # semi-axes 0.4 s and 0.24 s is pi 0.2 s S 0.12 s S
    s = f[..., 1]
    exact = torch.where(f[..., 0] == 0, (0.4 * s * size) ** 2, math.pi * 0.024 * (s * size) ** 2)
    drawn = soft.flatten(2).sum(-1)                                  # (N, F) coverage summed over the frame
    keep = f[..., 0] != 2                                            # the heart has no closed-form area here
    rel = ((drawn - exact) / exact)[keep].abs()
    assert rel.mean() < 0.005 and rel.max() < 0.04, (rel.mean(), rel.max())
    coarse = ((binary.flatten(2).sum(-1) - exact) / exact)[keep].abs()
    assert rel.mean() < coarse.mean() / 3                            # supersampling, not luck, gets it right
    with pytest.raises(ValueError, match="supersample"):
        render_clips(f, size, supersample=0)


def test_tracking_finds_the_centre_of_a_square():
    f = torch.tensor([[[0.0, 1.0, 0.0, 0.3, 0.6]]])                 # an upright square
    centre = track_centres(render_clips(f, 64))[0, 0]
    assert torch.allclose(centre, torch.tensor([0.3, 0.6]), atol=0.01)


def test_motion_residual_is_zero_on_lines_and_matches_polyfit():
    t = torch.arange(8, dtype=torch.float64)
    line = torch.stack([0.1 + 0.02 * t, 0.8 - 0.05 * t], -1)[None]
    assert float(motion_residual(line)[0]) < 1e-12
    rng = np.random.default_rng(0)
    tracks = rng.random((3, 8, 2))
    expected = [np.sqrt(np.mean(sum((tr[:, k] - np.polyval(np.polyfit(t.numpy(), tr[:, k], 1), t.numpy())) ** 2
                                    for k in range(2)))) for tr in tracks]
    assert np.allclose(motion_residual(torch.tensor(tracks)).numpy(), expected)
    jumpy = line.clone()
    jumpy[0, 4] += 0.2
    assert float(motion_residual(jumpy)[0]) > 0.05


class Oracle(torch.nn.Module):
    """A perfect shape judge for frames it has seen drawn: the label of the nearest known frame."""

    def __init__(self, frames, labels):
        super().__init__()
        self.frames, self.labels = frames.flatten(1), labels
        self.dummy = torch.nn.Parameter(torch.zeros(1))           # predict() reads the device off a parameter

    def forward(self, x):
        nearest = torch.cdist(x.flatten(1), self.frames).argmin(1)
        return torch.nn.functional.one_hot(self.labels[nearest], 3).float()


def _oracle_for(clips, extra_factors):
    factors = torch.cat([clips.factors, extra_factors]).flatten(0, 1)       # every frame the tests draw
    return Oracle(render_clips(factors[:, None], 16).flatten(0, 1), factors[:, 0].long())


def test_the_judge_passes_real_clips_and_fails_broken_ones():
    clips = load_clips(160, frames=8, size=16, seed=0)
    calib, held = load_clips(100, frames=8, size=16, seed=1), load_clips(60, frames=8, size=16, seed=2)
    changed = held.factors.clone()
    changed[:, 4:, 0] = (changed[:, 4:, 0] + 1) % 3
    judge = calibrate_judge(_oracle_for(held, changed), calib.frames)
    r = motion_residual(track_centres(calib.frames))
    assert judge.smooth_limit == pytest.approx(float(r.quantile(0.95)))
    assert judge.min_travel == pytest.approx(float(travel(calib.frames).quantile(0.05)))
    real = clip_verdicts(judge, held.frames, held.labels)
    assert real["one shape"].all() and real["as asked"].all() and real["no empty frame"].all()
    assert real["consistent"].double().mean() > 0.8                 # held-out clips: about 0.95 ** 2
    broken = broken_clips(held, torch.Generator().manual_seed(0))
    assert torch.equal(broken["shape changed half-way"], render_clips(changed, 16))
    for name, frames in broken.items():
        verdict = clip_verdicts(judge, frames)
        assert verdict["consistent"].double().mean() <= 0.1, name   # each break is caught
    assert not clip_verdicts(judge, broken["shape changed half-way"])["one shape"].any()
    assert not clip_verdicts(judge, broken["standing still"])["moves"].any()
    wrong = clip_verdicts(judge, held.frames, (held.labels + 1) % 3)
    assert not wrong["as asked"].any() and torch.equal(wrong["consistent"], real["consistent"])
    with pytest.raises(ValueError, match="level"):
        calibrate_judge(judge.classifier, calib.frames, level=1.0)
    conf = shape_confusion(judge, held.frames, held.labels)                  # real clips: mostly the diagonal
    assert conf.shape == (3, 3) and torch.allclose(conf.sum(1), torch.ones(3)) and conf.diag().min() > 0.8
    assert torch.allclose(shape_confusion(judge, held.frames, (held.labels + 1) % 3), conf.roll(1, dims=0))
    with pytest.raises(ValueError, match="one shape per clip"):
        shape_confusion(judge, held.frames, held.labels[:3])
    assert len(clips) == 160


def test_video_glue_shapes_and_quality():
    torch.manual_seed(0)
    clips = load_clips(60, frames=4, size=16, seed=0)
    assert torch.equal(as_frames(as_channels(clips.frames)), clips.frames)
    with pytest.raises(ValueError, match=r"\(N, F, 1, H, W\)"):
        as_channels(clips.frames[:, :, 0])
    tiny = {"base": 8, "groups": 4, "attn_heads": 2}
    clip_net, frame_net = UNet(clip_unet_config(4, 16, **tiny)), UNet(clip_unet_config(1, 16, **tiny))
    assert sample_flow_clips(clip_net, 3, 4, steps=2).shape == (3, 4, 1, 16, 16)
    assert sample_flow_clips(frame_net, 3, 4, steps=2, method="heun").shape == (3, 4, 1, 16, 16)
    with pytest.raises(ValueError, match="frames=3"):
        sample_flow_clips(clip_net, 2, 3)
    with pytest.raises(ValueError, match="guidance"):
        sample_flow_clips(clip_net, 2, 4, labels=torch.zeros(2), w=1.0)     # unconditional: no guidance
    classifier = train_classifier(clips.frames.flatten(0, 1), clips.labels.repeat_interleave(4), steps=5)
    judge = ClipJudge(classifier, smooth_limit=1.0, min_travel=0.0)
    q = clip_quality(judge, clips.frames, clips.labels)
    assert set(q) == {"identity", "residual (median)", "travel (median)", "one shape", "no empty frame", "smooth",
                      "moves", "consistent", "as asked"}
    assert q["no empty frame"] == 1 and 0 <= q["consistent"] <= q["one shape"] <= q["identity"] <= 1
    blank = torch.zeros(2, 4, 1, 16, 16)
    assert clip_quality(judge, blank)["consistent"] == 0.0 and "as asked" not in clip_quality(judge, blank)


def test_conditional_clips_ask_every_frame_for_the_clip_label():
    labels = torch.tensor([2, 0])
    assert torch.equal(training_labels(labels, 4, 4), labels)
    assert training_labels(labels, 4, 1).tolist() == [2, 2, 2, 2, 0, 0, 0, 0]
    torch.manual_seed(0)
    tiny = {"base": 8, "groups": 4, "attn_heads": 2, "num_classes": 3}
    for channels in (4, 1):
        net = UNet(clip_unet_config(channels, 8, **tiny))
        torch.nn.init.normal_(net.out[-1].weight, std=0.1)
        ours = sample_flow_clips(net, 2, 4, steps=2, generator=torch.Generator().manual_seed(1), labels=labels, w=2.0)
        y = training_labels(labels, 4, channels)
        x = flow_sample(net, (8 // channels, channels, 8, 8), 2, y=y, w=2.0, null_label=3,
                        generator=torch.Generator().manual_seed(1))
        assert torch.equal(ours, (x > 0).float().reshape(2, 4, 1, 8, 8))
        with pytest.raises(ValueError, match="one shape"):
            sample_flow_clips(net, 3, 4, labels=labels)


def test_motion_condition_names_shape_and_steps_and_conditions_a_net():
    f = sample_clip_factors(200, 5, torch.Generator().manual_seed(0))
    m = motion_condition(f)
    assert m.shape == (200, 6) and torch.equal(m[:, :3].argmax(1), f[:, 0, 0].long())
    assert torch.allclose(m[:, 3:5] * (1 - 2 * MARGIN) / 4, f[:, 1, 3:5] - f[:, 0, 3:5], atol=1e-6)
    assert torch.allclose(m[:, 5] * MAX_SPIN, f[:, 1, 2] - f[:, 0, 2], atol=1e-6)
    assert m[:, 3:].abs().max() <= 1 + 1e-5 and m[:, 3:].abs().max() > 0.9   # the whole range is used
    assert torch.equal(training_labels(m[:2], 5, 1), m[:2].repeat_interleave(5, dim=0))
    net = UNet(clip_unet_config(5, 8, base=8, groups=4, attn_heads=2, cond_dim=6))
    torch.nn.init.normal_(net.out[-1].weight, std=0.1)
    clips = sample_flow_clips(net, 2, 5, steps=2, labels=m[:2], w=1.0)
    assert clips.shape == (2, 5, 1, 8, 8)


def test_training_images_are_clips_or_frames_in_model_range():
    clips = load_clips(5, frames=4, size=16, seed=1).frames
    whole, single = training_images(clips, 4), training_images(clips, 1)
    assert whole.shape == (5, 4, 16, 16) and single.shape == (20, 1, 16, 16)
    assert set(whole.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(single[4 * 2 + 3, 0], whole[2, 3])          # frame 3 of clip 2, in either layout
    with pytest.raises(ValueError, match="channels must be 1"):
        training_images(clips, 3)


def test_a_clip_is_one_ode_run_and_frames_are_independent_runs():
    """The clip sampler is flow_sample on (n, F, S, S); the frame sampler on (n·F, 1, S, S), reshaped."""
    torch.manual_seed(0)
    tiny = {"base": 8, "groups": 4, "attn_heads": 2}
    for channels in (4, 1):
        net = UNet(clip_unet_config(channels, 8, **tiny))
        torch.nn.init.normal_(net.out[-1].weight, std=0.1)         # a net that does not predict 0
        ours = sample_flow_clips(net, 3, 4, steps=3, generator=torch.Generator().manual_seed(5))
        x = flow_sample(net, (3 * 4 // channels, channels, 8, 8), 3, generator=torch.Generator().manual_seed(5))
        assert torch.equal(ours, (x > 0).float().reshape(3, 4, 1, 8, 8))


def test_seconds_per_call_process_clock_ignores_waiting_and_counts_work():
    nap = lambda: time.sleep(0.05)                                                    # noqa: E731
    assert seconds_per_call(nap, repeats=1, clock="wall") >= 0.05
    assert seconds_per_call(nap, repeats=1, clock="process") < 0.02                 # sleeping uses no CPU

    def spin():
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.05:
            pass
    assert seconds_per_call(spin, repeats=1, clock="process") > 0.03               # a busy loop does
    with pytest.raises(ValueError, match="clock"):
        seconds_per_call(spin, clock="cpu")
    with pytest.raises(ValueError, match="repeats"):
        seconds_per_call(spin, repeats=0)
