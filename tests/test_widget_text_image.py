"""Chapter 12's explorer, headless: the pure functions and every control of the widget."""

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from aigc_course.data.captions import caption_tokenizer, load_captioned_shapes  # noqa: E402
from aigc_course.models.captioner import Captioner, CaptionerConfig  # noqa: E402
from aigc_course.models.clip import CLIP, CLIPConfig, embed_images, embed_texts  # noqa: E402
from aigc_course.models.text_to_image import text_unet_config  # noqa: E402
from aigc_course.models.unet import UNet  # noqa: E402
from aigc_course.widgets.text_image import Models, TextImageExplorer, explore, rank_gallery  # noqa: E402


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    tok = caption_tokenizer()
    clip = CLIP(CLIPConfig.tiny(vocab_size=tok.vocab_size))
    cap = Captioner(CaptionerConfig.tiny(vocab_size=tok.vocab_size))
    unet = UNet(text_unet_config(16, base=8, attn_heads=2, groups=4))
    torch.nn.init.normal_(unet.out[-1].weight, std=0.1)
    return Models(clip, cap, unet, tok, load_captioned_shapes("test", 12, "all").images)


def test_rank_gallery_orders_by_cosine(models):
    idx, sims = rank_gallery(models.clip, models.tokenizer, "a tiny box in the top left", models.gallery, 4)
    all_sims = embed_images(models.clip, models.gallery) @ embed_texts(models.clip, models.tokenizer,
                                                                       ["a tiny box in the top left"])[0]
    assert torch.allclose(sims, all_sims.sort(descending=True).values[:4], atol=1e-6)
    assert torch.equal(all_sims[idx], sims)
    with pytest.raises(ValueError, match="vocabulary"):
        rank_gallery(models.clip, models.tokenizer, "a purple cat", models.gallery)


def test_explore_and_every_control(models):
    fig, described = explore(models, "big heart , lower right", 3, 1.0, n=3, steps=2)
    assert isinstance(described, str) and len(fig.axes) == 7
    with pytest.raises(ValueError, match="index"):
        explore(models, "big heart , lower right", 99, 1.0)
    widget = TextImageExplorer(models).widget
    caption, index, w = widget.children[:3]
    assert isinstance(widget.result, str) and "vocabulary" not in widget.result
    caption.value = "a lefta"
    assert "vocabulary" in widget.result
    caption.value = "a tiny oval in the upper left"
    index.value = 5
    w.value = 0.0
    assert isinstance(widget.result, str) and "vocabulary" not in widget.result
