"""The denoising scrubber: the pure trail/frame functions, then the widget driven headless."""

import pytest
import torch

from aigc_course.models.diffusion import cosine_schedule, ddim_sample
from aigc_course.models.unet import UNet, UNetConfig
from aigc_course.widgets.denoise_scrubber import DenoiseScrubber, denoise_trail, frame_pair


def _net(num_classes=3):
    torch.manual_seed(0)
    net = UNet(UNetConfig.tiny(num_classes=num_classes))
    torch.nn.init.normal_(net.out[-1].weight, std=0.05)          # a non-zero (untrained) prediction
    return net.eval()


def test_trail_runs_from_T_to_0_and_ends_where_ddim_ends():
    net, sched = _net(), cosine_schedule(40)
    trail = denoise_trail(net, sched, (1, 8, 8), steps=5, seed=3, label=1, w=2.0)
    assert [t for t, _, _ in trail] == [40, 30, 20, 11, 1, 0]
    start = torch.randn((1, 1, 8, 8), generator=torch.Generator().manual_seed(3))
    assert torch.equal(trail[0][1], start)                        # x_T is the seed's noise
    final = ddim_sample(net, (1, 1, 8, 8), sched, 5, y=torch.tensor([1]), w=2.0, null_label=net.null_label,
                        generator=torch.Generator().manual_seed(3), clip=1.0)
    assert torch.allclose(trail[-1][1], final, atol=1e-6)          # the same sampler as the chapter's
    assert trail[0][2].abs().max() <= 1.0                  # x̂_0 clipped to the data range


def test_trail_changes_with_seed_label_and_guidance():
    net, sched = _net(), cosine_schedule(40)
    base = denoise_trail(net, sched, (1, 8, 8), 4, seed=0, label=0, w=1.0)[-1][1]
    for kwargs in ({"seed": 1, "label": 0, "w": 1.0}, {"seed": 0, "label": 2, "w": 1.0},
                   {"seed": 0, "label": 0, "w": 4.0}):
        assert not torch.allclose(denoise_trail(net, sched, (1, 8, 8), 4, **kwargs)[-1][1], base)


def test_frame_pair_and_errors():
    trail = [(5, torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2))]
    t, pair = frame_pair(trail, 0, to_image=lambda x: x + 1)
    assert t == 5 and pair.shape == (2, 1, 2, 2) and pair[0].sum() == 4 and pair[1].sum() == 8
    with pytest.raises(ValueError, match="index must be in 0..0"):
        frame_pair(trail, 1)


def test_widget_headless():
    net, sched = _net(num_classes=10), cosine_schedule(40)
    w = DenoiseScrubber(net, sched, (1, 8, 8), steps=4, num_classes=10)
    assert w.current[0] == 40
    w.step.value = 4
    assert w.current[0] == 0
    final = w.current[1][1].clone()
    w.w.value = 5.0                                               # guidance changes the whole trail
    assert w.current[0] == 0 and not torch.allclose(w.current[1][1], final)
    w.label.value = 7
    w.seed.value = 9
    assert torch.allclose(w.current[1][1], denoise_trail(net, sched, (1, 8, 8), 4, 9, 7, 5.0)[-1][1])
