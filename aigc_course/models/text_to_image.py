"""Text-to-image (chapter 12): chapter 10's U-Net and flow matching, conditioned on a caption's CLIP embedding.

Nothing here is a new model: the U-Net takes a conditioning vector c (``UNetConfig.cond_dim``), trained with
:func:`~aigc_course.models.flow.generative_step` on (image, text embedding) pairs with the embedding dropped
to ∅ = 0 a tenth of the time, and sampled with :func:`~aigc_course.models.flow.flow_sample` and classifier-free
guidance (eq. 10.16). What is new is the judge: a classifier of the 24 factor combinations, trained on real
images, that reads back what a generated image shows (:func:`judge_factors`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from aigc_course.data.captions import IMAGE_SIZE, NUM_COMBOS, combo_factors, load_captioned_shapes
from aigc_course.metrics import predict
from aigc_course.models.classifier import ClassifierConfig, DigitClassifier, train_classifier
from aigc_course.models.clip import CLIP, embed_texts
from aigc_course.models.dcgan import to_pixels
from aigc_course.models.flow import flow_sample
from aigc_course.models.unet import UNet, UNetConfig


def text_unet_config(cond_dim: int, **overrides) -> UNetConfig:
    """The chapter's U-Net: 16x16 grey, widths 32 / 64, attention at 8x8, conditioned on a ``cond_dim`` vector."""
    return UNetConfig(**{"image_size": IMAGE_SIZE, "channels": 1, "base": 32, "mults": (1, 2), "attn_heads": 4,
                         "cond_dim": cond_dim, **overrides})


@torch.no_grad()
def generate_images(unet: UNet, clip: CLIP, tokenizer, captions: list[str], steps: int = 20, w: float = 2.0,
                    seed: int = 0) -> Tensor:
    """One image per caption: c = CLIP's text embedding, then Euler flow sampling with guidance scale ``w``
    from seeded noise. Returns pixels (B, 1, 16, 16) in [0, 1]."""
    device = next(unet.parameters()).device
    cond = embed_texts(clip, tokenizer, list(captions)).to(device)                    # (B, D)
    g = torch.Generator().manual_seed(seed)
    was = unet.training
    unet.eval()
    x = flow_sample(unet, (len(cond), 1, IMAGE_SIZE, IMAGE_SIZE), steps, "euler", y=cond, w=w,
                    null_label=unet.null_label, generator=g, device=device)
    unet.train(was)
    return to_pixels(x).cpu()


def train_judge(n: int = 6000, steps: int = 600, seed: int = 0, device: torch.device | str = "cpu",
                progress: bool = False) -> DigitClassifier:
    """Chapter 09's classifier, trained on ``n`` real images of all 24 combinations (the judge is a measuring
    instrument, not a generator: it may see the held-out combinations) to name an image's combination."""
    data = load_captioned_shapes("judge", n, "all", seed=seed)
    cfg = ClassifierConfig(image_size=IMAGE_SIZE, channels=1, num_classes=NUM_COMBOS)
    return train_classifier(data.images, data.combos, cfg, steps=steps, seed=seed, device=device, progress=progress)


def judge_factors(judge: DigitClassifier, images: Tensor) -> Tensor:
    """What the judge reads in each image (N, 1, 16, 16): factor ids (N, 4)."""
    return combo_factors(predict(judge, images))
