"""Latent explorer and interpolation: the pure functions, then both widgets driven headless."""

import pytest
import torch

from aigc_course.models.vae import VAE, VAEConfig
from aigc_course.widgets.latent_explorer import (
    Interpolator,
    LatentExplorer,
    decode_latent,
    encode_mean,
    grid_codes,
    interpolate_inputs,
    latent_map,
    traversal,
)


def _model(**kw):
    torch.manual_seed(0)
    return VAE(VAEConfig.tiny(**kw))


def test_grid_codes_layout():
    z = grid_codes(3, lim=1.0, latent_dim=4, dims=(1, 3))
    assert z.shape == (9, 4)
    assert z[:, [0, 2]].abs().sum() == 0
    assert z[0, 1] == -1.0 and z[0, 3] == 1.0                   # top-left: x = -lim, y = +lim
    assert z[8, 1] == 1.0 and z[8, 3] == -1.0                   # bottom-right
    with pytest.raises(ValueError, match="dims must be two different indices in 0..1"):
        grid_codes(3, latent_dim=2, dims=(0, 0))
    with pytest.raises(ValueError, match="n must be at least 2"):
        grid_codes(1)


def test_decode_latent_map_traversal_shapes_and_values():
    model = _model()
    img = decode_latent(model, torch.zeros(2, 2))
    assert img.shape == (2, 1, 8, 8) and 0 <= img.min() and img.max() <= 1
    assert torch.allclose(img[0], model.mean_image(model.decode(torch.zeros(1, 2)))[0].detach())
    assert latent_map(model, n=4).shape == (16, 1, 8, 8)
    walk = traversal(model, torch.zeros(2), dim=1, lim=2.0, steps=5)
    assert walk.shape == (5, 1, 8, 8)
    assert torch.allclose(walk[2], img[0])                      # the middle of the walk is z = 0
    assert model.training                                       # eval mode was restored


def test_interpolation_ends_at_the_reconstructions():
    model = _model()
    x = torch.rand(2, 1, 8, 8)
    frames = interpolate_inputs(model, x[0], x[1], steps=5)
    model.eval()
    recon = model.reconstruct(x)
    assert frames.shape == (5, 1, 8, 8)
    assert torch.allclose(frames[0], recon[0], atol=1e-6) and torch.allclose(frames[-1], recon[1], atol=1e-6)
    mu = encode_mean(model, x)
    assert torch.allclose(decode_latent(model, mu.mean(0, keepdim=True))[0], frames[2], atol=1e-6)


def test_conditional_label_changes_the_image():
    model = _model(num_classes=3)
    a, b = decode_latent(model, torch.zeros(1, 2), label=0), decode_latent(model, torch.zeros(1, 2), label=2)
    assert not torch.allclose(a, b)


def test_latent_explorer_headless():
    model = _model(latent_dim=3)
    explorer = LatentExplorer(model)
    assert len(explorer.sliders) == 3 and explorer.image.shape == (1, 1, 8, 8)
    start = explorer.image.clone()
    explorer.sliders[1].value = 2.0                             # moving one slider redraws
    assert explorer.z.tolist() == [[0.0, 2.0, 0.0]]
    assert torch.allclose(explorer.image, decode_latent(model, torch.tensor([[0.0, 2.0, 0.0]])))
    assert not torch.allclose(explorer.image, start)
    explorer.set_code(torch.tensor([9.0, -0.44, 0.0]))          # clipped to the slider range
    assert explorer.z.tolist()[0] == pytest.approx([3.0, -0.4, 0.0])


def test_interpolator_headless():
    model = _model()
    images = torch.rand(4, 1, 8, 8)
    widget = Interpolator(model, images, steps=5, first=0, second=1)
    assert widget.frames.shape == (5, 1, 8, 8)
    widget.second.value = 3
    assert torch.allclose(widget.frames, interpolate_inputs(model, images[0], images[3], 5))
    widget.steps.value = 9
    assert widget.frames.shape[0] == 9
    widget.mode.value = "slerp"
    assert torch.allclose(widget.frames, interpolate_inputs(model, images[0], images[3], 9, mode="slerp"))


@pytest.mark.parametrize("lim, error", [(-1, ValueError), (0, ValueError), (float("nan"), ValueError),
                                        ("3", TypeError)])
def test_latent_explorer_refuses_a_bad_lim(lim, error):
    with pytest.raises(error, match=r"lim must be a (finite|positive) number"):
        LatentExplorer(_model(), lim=lim)


def test_latent_explorer_refuses_bad_labels_and_codes():
    with pytest.raises(ValueError, match=r"label must be None: the model is unconditional"):
        LatentExplorer(_model(), label=3)
    with pytest.raises(ValueError, match=r"label must be in 0\.\.9, got 12"):
        LatentExplorer(_model(num_classes=10), label=12)
    explorer = LatentExplorer(_model())
    with pytest.raises(ValueError, match=r"z must be a vector of the"):
        explorer.set_code(torch.zeros(99))


def test_interpolator_refuses_bad_indices_and_steps():
    images = torch.rand(5, 1, 28, 28)
    with pytest.raises(ValueError, match=r"second must be in 0\.\.4, got 9"):
        Interpolator(_model(), images, second=9)
    with pytest.raises(ValueError, match=r"steps must be in 3\.\.16, got 2"):
        Interpolator(_model(), images, steps=2)
    with pytest.raises(ValueError, match=r"at least 2 images"):
        Interpolator(_model(), images[:1], second=0)
