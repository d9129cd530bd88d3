"""Latent interpolation: the pure functions, then the widget driven headless."""

import math

import pytest
import torch

from aigc_course.models.dcgan import DCGANConfig, DCGenerator
from aigc_course.widgets.latent_walk import LatentWalk, axis_walk, endpoints, interpolate, lerp, slerp


def test_slerp_end_points_and_norm():
    z0, z1 = endpoints(64, seed=0)
    assert torch.allclose(slerp(z0, z1, 0.0), z0, atol=1e-5)
    assert torch.allclose(slerp(z0, z1, 1.0), z1, atol=1e-5)
    # two unit vectors at 90 degrees: the slerp midpoint is (e0 + e1) / sqrt(2), still of norm 1
    e0, e1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.allclose(slerp(e0, e1, 0.5), torch.tensor([1.0, 1.0]) / math.sqrt(2), atol=1e-6)
    assert torch.allclose(lerp(e0, e1, 0.5), torch.tensor([0.5, 0.5]))


def test_slerp_keeps_gaussian_norms_but_lerp_shrinks_them():
    z0, z1 = endpoints(256, seed=1)
    mid_lin, mid_sph = lerp(z0, z1, 0.5).norm(), slerp(z0, z1, 0.5).norm()
    typical = math.sqrt(256)
    assert abs(mid_sph - typical) / typical < 0.15
    assert mid_lin / typical < 0.8                               # ≈ 1/sqrt(2) of the typical norm


def test_slerp_parallel_falls_back_to_lerp():
    z = torch.tensor([1.0, 2.0, 3.0])
    assert torch.allclose(slerp(z, 2 * z, 0.5), 1.5 * z)


def test_interpolate_and_axis_walk_shapes_and_errors():
    z0, z1 = endpoints(5, seed=2)
    path = interpolate(z0, z1, 7, mode="linear")
    assert path.shape == (7, 5)
    assert torch.allclose(path[3], (z0 + z1) / 2)
    assert torch.allclose(interpolate(z0, z1, 4)[-1], z1, atol=1e-5)
    with pytest.raises(ValueError, match=r"mode must be one of \('slerp', 'linear'\)"):
        interpolate(z0, z1, 3, mode="cubic")
    with pytest.raises(ValueError, match="steps must be at least 2"):
        interpolate(z0, z1, 1)
    walk = axis_walk(z0, 2, torch.linspace(-2, 2, 5))
    assert walk.shape == (5, 5) and walk[:, 2].tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert torch.equal(walk[:, 0], z0[0].expand(5))
    with pytest.raises(ValueError, match="dim must be in 0..4"):
        axis_walk(z0, 5, torch.zeros(2))


def test_endpoints_are_seeded():
    a, b = endpoints(8, 3)
    c, d = endpoints(8, 3)
    assert torch.equal(a, c) and torch.equal(b, d) and not torch.equal(a, b)


def test_widget_headless_controls_drive_the_result():
    torch.manual_seed(0)
    gen = DCGenerator(DCGANConfig.tiny(num_classes=3))
    walk = LatentWalk(gen, seed=0, steps=5)
    assert walk.frames.shape == (5, 1, 16, 16) and walk.current.shape == (1, 1, 16, 16)
    walk.t.value = 0.0                                           # the frame at t=0 is the first frame
    assert torch.allclose(walk.current[0], walk.frames[0], atol=1e-5)
    walk.t.value = 1.0
    assert torch.allclose(walk.current[0], walk.frames[-1], atol=1e-5)
    walk.steps.value = 9
    assert walk.frames.shape[0] == 9
    before = walk.frames.clone()
    walk.label.value = 2                                         # another class, same noise: other images
    assert not torch.allclose(before, walk.frames)
    walk.seed.value = 7
    assert not torch.allclose(walk.frames[0], render_first(gen, 0, 2))


def render_first(gen, seed, label):
    from aigc_course.widgets.latent_walk import render

    z0, _ = endpoints(gen.cfg.latent_dim, seed)
    return render(gen, z0[None], label)[0]


def test_widget_unconditional_has_no_class_control():
    walk = LatentWalk(DCGenerator(DCGANConfig.tiny()), steps=3)
    assert walk.label.disabled and walk.label not in walk.widget.children[1].children
    walk.mode.value = "linear"
    assert walk.frames.shape == (3, 1, 16, 16)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"steps": 1}, ValueError, r"steps must be in 3\.\.16, got 1"),
    ({"steps": 40}, ValueError, r"steps must be in 3\.\.16, got 40"),
    ({"steps": 4.0}, TypeError, r"steps must be an int"),
    ({"seed": -1}, ValueError, r"seed must be in 0\.\."),
    ({"label": 3}, ValueError, r"label must be in 0\.\.2, got 3"),
    ({"label": None}, ValueError, r"label must be a class in 0\.\.2"),
])
def test_widget_refuses_bad_arguments_by_name(kwargs, error, match):
    gen = DCGenerator(DCGANConfig.tiny(num_classes=3))
    with pytest.raises(error, match=match):
        LatentWalk(gen, **kwargs)


def test_unconditional_widget_refuses_a_class():
    with pytest.raises(ValueError, match=r"label must be None: the generator is unconditional"):
        LatentWalk(DCGenerator(DCGANConfig.tiny()), label=4)
