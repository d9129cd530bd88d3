"""Chapter 12's models: CLIP and its loss, the captioner's cross-attention, the text-conditioned U-Net."""

import math

import pytest
import torch
import torch.nn.functional as F

from aigc_course.data.captions import caption_tokenizer, load_captioned_shapes
from aigc_course.models import clip as C
from aigc_course.models.captioner import Captioner, CaptionerConfig, CrossAttention, caption_images, captioner_step
from aigc_course.models.diffusion import drop_labels, guided
from aigc_course.models.text_to_image import generate_images, judge_factors, text_unet_config
from aigc_course.models.unet import UNet, UNetConfig
from aigc_course.train import train


def _unit(n, d, seed):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_clip_loss_equals_a_direct_computation_and_log_n_without_signal():
    u, v, s = _unit(6, 5, 0), _unit(6, 5, 1), 3.0
    total = 0.0
    for i in range(6):
        row = [math.exp(s * float(u[i] @ v[j])) for j in range(6)]
        col = [math.exp(s * float(u[j] @ v[i])) for j in range(6)]
        total += -math.log(row[i] / sum(row)) - math.log(col[i] / sum(col))
    assert C.clip_loss(u, v, s).item() == pytest.approx(total / 12, rel=1e-5)
    assert C.clip_loss(u, v, 0.0).item() == pytest.approx(math.log(6), rel=1e-6)      # uniform: log N
    assert C.clip_loss(u, u, 100.0).item() < 1e-3                                       # aligned, sharp: → 0
    with pytest.raises(ValueError, match="both be"):
        C.clip_loss(u, v[:3], s)


def test_retrieval_top1_and_zero_shot():
    sim = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.1, 0.8], [0.3, 0.4, 0.1]])
    match = torch.eye(3, dtype=torch.bool)
    assert C.retrieval_top1(sim, match) == pytest.approx(1 / 3)       # only row 0 picks its own item
    match[1, 2] = True
    assert C.retrieval_top1(sim, match) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        C.retrieval_top1(sim, match[:2])
    u, t = _unit(4, 3, 2), torch.randn(2, 3)
    assert torch.allclose(C.zero_shot_logits(u, t, 2.0), 2.0 * u @ F.normalize(t, dim=-1).t())


def test_encoders_shapes_padding_and_bad_images():
    tok = caption_tokenizer()
    model = C.CLIP(C.CLIPConfig.tiny(vocab_size=tok.vocab_size)).eval()
    ids, lengths = tok.batch(["a tiny heart in the upper left", "big box , lower right"])
    u, v = model(torch.rand(2, 1, 16, 16), ids, lengths)
    assert u.shape == v.shape == (2, 16) and torch.allclose(u.norm(dim=1), torch.ones(2))
    junk = ids.clone()
    junk[1, int(lengths[1]):] = 5                                     # what follows the last token is never read
    assert torch.allclose(model.encode_text(junk, lengths), v, atol=1e-6)
    with pytest.raises(ValueError, match="16x16"):
        model.encode_image(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="lengths"):
        model.encode_text(ids, torch.tensor([0, 3]))


def test_clip_training_aligns_pairs():
    torch.manual_seed(0)
    tok, data = caption_tokenizer(), load_captioned_shapes("train", 256)
    model = C.CLIP(C.CLIPConfig.tiny(vocab_size=tok.vocab_size))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    hist = train(C.clip_step(model, opt, data, tok, batch_size=32), 40, modules={"clip": model}, progress=False)
    first, last = sum(hist.logs["loss"][:5]) / 5, sum(hist.logs["loss"][-5:]) / 5
    assert first > math.log(32) - 0.3 and last < first - 0.5


def test_cross_attention_equals_torch_and_ignores_memory_order():
    torch.manual_seed(0)
    ours = CrossAttention(8, 2)
    ref = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q.weight, ours.kv.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q.bias, ours.kv.bias]))
        ref.out_proj.weight.copy_(ours.proj.weight)
        ref.out_proj.bias.copy_(ours.proj.bias)
    x, memory = torch.randn(3, 5, 8), torch.randn(3, 7, 8)
    out, weights = ours(x, memory, need_weights=True)
    expected, _ = ref(x, memory, memory)
    assert out.shape == (3, 5, 8) and weights.shape == (3, 2, 5, 7)
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(ours(x, memory[:, torch.randperm(7)]), out, atol=1e-5)
    with pytest.raises(ValueError, match="memory"):
        ours(x, memory[:, :, :4])


def test_captioner_is_causal_learns_and_decodes():
    torch.manual_seed(0)
    tok, data = caption_tokenizer(), load_captioned_shapes("train", 128)
    model = Captioner(CaptionerConfig.tiny(vocab_size=tok.vocab_size))
    ids = tok.batch(data.captions[:2])[0]
    logits, _ = model(data.images[:2], ids)
    changed = ids.clone()
    changed[:, 6:] = 7
    assert torch.allclose(model(data.images[:2], changed)[0][:, :6], logits[:, :6], atol=1e-6)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    hist = train(captioner_step(model, opt, data, tok, batch_size=32), 30, modules={"m": model}, progress=False)
    assert hist.logs["loss"][-1] < hist.logs["loss"][0] - 1.0
    maps = model.cross_attention_maps(data.images[:2], ids)
    assert maps.shape == (1, 2, 2, tok.max_len, 16) and torch.allclose(maps.sum(-1), torch.ones(1, 2, 2, tok.max_len))
    greedy = caption_images(model, data.images[:3], tok)
    beams = caption_images(model, data.images[:2], tok, beam_width=2)
    assert len(greedy) == 3 and len(beams) == 2 and all(isinstance(t, str) for t in greedy + beams)


def test_unet_conditioning_vector_and_whole_vector_dropout():
    torch.manual_seed(0)
    net = UNet(UNetConfig.tiny(cond_dim=4))
    torch.nn.init.normal_(net.out[-1].weight, std=0.1)                # the zero-initialised output layer
    x, t = torch.randn(3, 1, 8, 8), torch.rand(3)
    c = torch.randn(3, 4)
    assert net(x, t, c).shape == x.shape and net.null_label == 0
    assert torch.allclose(net(x, t, None), net(x, t, torch.zeros(3, 4)))
    assert not torch.allclose(net(x, t, c), net(x, t, None))
    w = 2.0
    assert torch.allclose(guided(net, x, t, c, w, 0), (1 + w) * net(x, t, c) - w * net(x, t, None), atol=1e-5)
    with pytest.raises(ValueError, match="float conditioning vectors"):
        net(x, t, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="not both"):
        UNet(UNetConfig.tiny(cond_dim=4, num_classes=3))
    dropped = drop_labels(torch.ones(1000, 4), 0.3, 0, torch.Generator().manual_seed(0))
    rows = dropped.sum(1)
    assert set(rows.tolist()) == {0.0, 4.0} and 0.25 < float((rows == 0).float().mean()) < 0.35
    labels = torch.arange(10)                                          # 1-D labels: the draws they always had
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    expected = torch.where(torch.rand(10, generator=g2) < 0.5, torch.full_like(labels, 99), labels)
    assert torch.equal(drop_labels(labels, 0.5, 99, g1), expected)


def test_generate_images_and_judge_shapes():
    tok = caption_tokenizer()
    clip = C.CLIP(C.CLIPConfig.tiny(vocab_size=tok.vocab_size))
    unet = UNet(text_unet_config(16, base=8, attn_heads=2, groups=4))
    imgs = generate_images(unet, clip, tok, ["a big heart in the lower right", "tiny box , top left"], steps=2)
    assert imgs.shape == (2, 1, 16, 16) and 0 <= imgs.min() and imgs.max() <= 1
    from aigc_course.models.classifier import ClassifierConfig, DigitClassifier
    judge = DigitClassifier(ClassifierConfig(image_size=16, num_classes=24))
    f = judge_factors(judge, imgs)
    assert f.shape == (2, 4) and int(f[:, 0].max()) <= 2
