"""U-Net and time MLP: shapes, parameter count, attention reuse, conditioning, errors, determinism, learning."""

import math

import pytest
import torch

from aigc_course.models.attention import MultiHeadAttention
from aigc_course.models.unet import AttentionBlock, TimeMLP, TimeMLPConfig, UNet, UNetConfig, time_embedding


def test_time_embedding_is_sin_cos_of_scaled_time():
    emb = time_embedding(torch.tensor([0.0, 0.5]), 4, scale=10.0)
    assert emb.shape == (2, 4)
    assert torch.allclose(emb[0], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert torch.allclose(emb[1], torch.tensor([math.sin(5), math.cos(5), math.sin(0.05), math.cos(0.05)]), atol=1e-6)
    with pytest.raises(ValueError, match="even int"):
        time_embedding(torch.zeros(2), 5)


@pytest.mark.parametrize("num_classes", [0, 10])
def test_unet_shapes_and_zero_start(num_classes):
    cfg = UNetConfig(image_size=16, base=8, mults=(1, 2, 2), attn_heads=2, num_classes=num_classes, groups=4)
    net = UNet(cfg)
    x = torch.randn(3, 1, 16, 16)
    y = torch.tensor([0, 5, 9]) if num_classes else None
    out = net(x, torch.rand(3), y)
    assert out.shape == x.shape and torch.count_nonzero(out) == 0           # the last conv starts at zero
    assert any(isinstance(m, MultiHeadAttention) for m in net.modules())     # chapter 06's module


def _res(c_in, c_out, emb=32):
    """Parameters of a ResBlock by formula: two norms, two 3x3 convs, the time projection, a 1x1 skip."""
    skip = c_in * c_out + c_out if c_in != c_out else 0
    return 2 * c_in + 9 * c_in * c_out + c_out + emb * c_out + c_out + 2 * c_out + 9 * c_out**2 + c_out + skip


def test_tiny_parameter_count():
    net = UNet(UNetConfig.tiny())                         # 8px, base 8, mults (1, 2), emb 4 * 8 = 32
    cond, inp = 2 * (32 * 32 + 32), 8 * 9 + 8
    attn = 2 * 16 + (16 * 48 + 48) + (16 * 16 + 16)
    blocks = _res(8, 8) + _res(8, 16) + 2 * _res(16, 16) + _res(32, 16) + _res(24, 8)
    out = 2 * 8 + 8 * 9 + 1
    assert sum(p.numel() for p in net.parameters()) == cond + inp + attn + blocks + out
    mlp = TimeMLP(TimeMLPConfig.tiny())
    # cond MLP 2*(16*16+16), input 2*16+16, one block 2*(16*16+16), output 16*2+2
    assert sum(p.numel() for p in mlp.parameters()) == 2 * 272 + 48 + 2 * 272 + 34


def test_attention_block_attends_over_positions():
    torch.manual_seed(0)
    block = AttentionBlock(8, 2, groups=4)
    x = torch.randn(2, 8, 4, 4)
    out = block(x)
    x2 = x.clone()
    x2[:, :, 3, 3] += 5.0                                 # change one far-away position
    assert not torch.allclose(block(x2)[:, :, 0, 0], out[:, :, 0, 0])   # reaches position (0, 0)


def test_conditioning_changes_output_and_gradients_flow():
    torch.manual_seed(0)
    net = UNet(UNetConfig.tiny(num_classes=3))
    torch.nn.init.normal_(net.out[-1].weight, std=0.1)
    x, t = torch.randn(2, 1, 8, 8), torch.rand(2)
    a, b = net(x, t, torch.tensor([0, 0])), net(x, t, torch.tensor([1, 1]))
    assert not torch.allclose(a, b)
    assert torch.allclose(net(x, t, None), net(x, t, torch.tensor([3, 3])))      # None means ∅ = label 3
    net(x, t, torch.tensor([0, 1])).pow(2).sum().backward()
    assert all(p.grad is not None for n, p in net.named_parameters() if "label" not in n)


def test_patch_folds_pixels_into_channels_losslessly():
    import torch.nn.functional as F

    torch.manual_seed(0)
    net = UNet(UNetConfig.tiny(image_size=16, patch=2, num_classes=3))         # a 16px image as a 4-channel 8x8 map
    torch.nn.init.normal_(net.out[-1].weight, std=0.1)
    inner = UNet(UNetConfig.tiny(image_size=8, channels=4, num_classes=3))     # the same net, told 4 channels
    inner.load_state_dict(net.state_dict())
    x, t, y = torch.randn(3, 1, 16, 16), torch.rand(3), torch.tensor([0, 2, 3])
    folded = F.pixel_unshuffle(x, 2)                                            # (3, 1, 16, 16) -> (3, 4, 8, 8)
    assert torch.equal(folded[1, :, 2, 5], x[1, 0, 4:6, 10:12].flatten())      # channels = one 2x2 patch
    assert torch.equal(F.pixel_shuffle(folded, 2), x)                           # and back: nothing is lost
    assert torch.allclose(net(x, t, y), F.pixel_shuffle(inner(folded, t, y), 2), atol=1e-6)
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in inner.parameters())


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"divisible by patch \* 2\^2 = 4 for patch=1"):
        UNetConfig(image_size=10, mults=(1, 2, 2))
    with pytest.raises(ValueError, match=r"image_size 28 must be divisible by patch \* 2\^1 = 8 for patch=4"):
        UNetConfig(image_size=28, patch=4, mults=(1, 2))
    with pytest.raises(ValueError, match="patch"):
        UNetConfig(patch=0)
    with pytest.raises(ValueError, match="groups=8 must divide"):
        UNetConfig(base=12)
    with pytest.raises(ValueError, match="mults"):
        UNetConfig(mults=())
    net = UNet(UNetConfig.tiny(num_classes=3))
    with pytest.raises(ValueError, match=r"shape \(B, 1, 8, 8\)"):
        net(torch.randn(2, 1, 16, 16), torch.rand(2))
    with pytest.raises(ValueError, match="labels of shape"):
        net(torch.randn(2, 1, 8, 8), torch.rand(2), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="time must be"):
        net(torch.randn(2, 1, 8, 8), torch.rand(3))
    with pytest.raises(ValueError, match="unconditional"):
        UNet(UNetConfig.tiny())(torch.randn(2, 1, 8, 8), torch.rand(2), torch.tensor([0, 1]))


def test_same_seed_same_network_and_a_short_run_learns():
    from aigc_course.models.diffusion import cosine_schedule
    from aigc_course.models.flow import generative_step
    from aigc_course.train import train

    torch.manual_seed(3)
    a = UNet(UNetConfig.tiny())
    torch.manual_seed(3)
    b = UNet(UNetConfig.tiny())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    data = torch.zeros(64, 1, 8, 8)
    data[:, :, 2:6, 2:6] = 1.0                                           # one square: easy to learn
    opt = torch.optim.Adam(a.parameters(), lr=3e-3)
    hist = train(generative_step(a, opt, data, sched=cosine_schedule(50), batch_size=16), 60, progress=False)
    losses = hist.logs["loss"]
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:10]) / 10
