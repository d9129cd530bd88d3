"""Moving-shapes clips, their measures (eq. 13.5) and the VAE-over-clips glue."""

import numpy as np
import pytest
import torch

from aigc_course.data.clips import MARGIN, load_clips, motion_residual, render_clips, sample_clip_factors, track_centres
from aigc_course.data.images import render_shapes
from aigc_course.models.classifier import train_classifier
from aigc_course.models.vae import VAE
from aigc_course.models.video import (
    as_channels,
    as_frames,
    clip_quality,
    clip_vae_config,
    sample_clips,
    sample_independent_frames,
    seconds_per_call,
    travel,
)


def test_factors_move_at_constant_velocity_and_stay_inside():
    f = sample_clip_factors(50, 8, torch.Generator().manual_seed(0))
    assert f.shape == (50, 8, 5)
    assert (f[:, :, :2] == f[:, :1, :2]).all()                      # shape and scale fixed
    steps = f[:, 1:, 2:] - f[:, :-1, 2:]
    assert torch.allclose(steps, steps[:, :1], atol=1e-5)           # the same step every frame
    assert f[..., 3:].min() >= MARGIN - 1e-6 and f[..., 3:].max() <= 1 - MARGIN + 1e-6
    with pytest.raises(ValueError, match="frames >= 2"):
        sample_clip_factors(3, 1)


def test_clips_are_the_shapes_drawing_frame_by_frame():
    c = load_clips(4, frames=6, size=16, seed=3)
    assert c.frames.shape == (4, 6, 1, 16, 16) and len(c) == 4
    assert torch.equal(c.frames[2, 5], render_shapes(c.factors[2, 5:6], 16)[0])
    assert torch.equal(c.frames, load_clips(4, frames=6, size=16, seed=3).frames)
    with pytest.raises(ValueError, match=r"\(N, F, 5\)"):
        render_clips(torch.zeros(3, 5))


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


def test_video_glue_shapes_and_judging():
    torch.manual_seed(0)
    clips = load_clips(60, frames=4, size=16, seed=0)
    assert torch.equal(as_frames(as_channels(clips.frames)), clips.frames)
    with pytest.raises(ValueError, match=r"\(N, F, 1, H, W\)"):
        as_channels(clips.frames[:, :, 0])
    clip_vae = VAE(clip_vae_config(4, 16, hidden=16, width=4))
    frame_vae = VAE(clip_vae_config(1, 16, hidden=16, width=4))
    g = torch.Generator().manual_seed(0)
    assert sample_clips(clip_vae, 3, g).shape == (3, 4, 1, 16, 16)
    assert sample_independent_frames(frame_vae, 3, 4, g).shape == (3, 4, 1, 16, 16)
    judge = train_classifier(clips.frames.flatten(0, 1), clips.labels.repeat_interleave(4), steps=5)
    q = clip_quality(judge, clips.frames, smooth_limit=1.0)
    assert set(q) == {"identity", "empty frames", "residual (median)", "travel (median)", "consistent"}
    assert q["empty frames"] == 0 and 0 <= q["consistent"] <= q["identity"] <= 1
    still = clips.frames[:, :1].repeat(1, 4, 1, 1, 1)              # a clip that stands still is not consistent
    assert float(travel(still).max()) == 0
    assert clip_quality(judge, still, smooth_limit=1.0, min_travel=0.01)["consistent"] == 0.0
    blank = torch.zeros(2, 4, 1, 16, 16)
    assert clip_quality(judge, blank, smooth_limit=1.0)["consistent"] == 0.0
    assert seconds_per_call(lambda: None, repeats=3) >= 0
