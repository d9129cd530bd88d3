"""Chapter 12's explorer: type a caption -> images generated for it and the gallery's best matches; pick a
gallery image -> the captioner's description of it.

:func:`rank_gallery` and :func:`explore` are the pure functions (tested headless); :class:`TextImageExplorer`
only wires a text box and two sliders to :func:`explore`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from matplotlib.figure import Figure
from torch import Tensor

from aigc_course.models.captioner import Captioner, caption_images
from aigc_course.models.clip import CLIP, embed_images, embed_texts
from aigc_course.models.text_to_image import generate_images
from aigc_course.models.unet import UNet
from aigc_course.viz import new_figure


@torch.no_grad()
def rank_gallery(clip: CLIP, tokenizer, caption: str, images: Tensor, k: int = 5) -> tuple[Tensor, Tensor]:
    """The ``k`` gallery images (N, 1, 16, 16) closest to ``caption`` in CLIP's space: (indices (k,),
    cosine similarities (k,)), best first. An out-of-vocabulary or empty caption is a ValueError."""
    text = embed_texts(clip, tokenizer, [caption])                       # (1, D)
    sims = (embed_images(clip, images) @ text.t().to(images.device))[:, 0].cpu()   # (N,)
    top = sims.topk(min(k, len(sims)))
    return top.indices, top.values


@dataclass
class Models:
    """What the explorer needs: the three trained models, their tokenizer and a gallery of real images."""

    clip: CLIP
    captioner: Captioner
    unet: UNet
    tokenizer: object
    gallery: Tensor               # (N, 1, 16, 16) in [0, 1]


def explore(m: Models, caption: str, index: int, w: float, n: int = 6, steps: int = 20) -> tuple[Figure, str]:
    """Row 1: ``n`` images generated for ``caption`` (guidance ``w``); row 2: the gallery's ``n`` best matches
    for it; right: gallery image ``index`` and the caption the captioner writes for it."""
    if not 0 <= index < len(m.gallery):
        raise ValueError(f"index must be in 0..{len(m.gallery) - 1} (the gallery's images), got {index}")
    generated = generate_images(m.unet, m.clip, m.tokenizer, [caption] * n, steps=steps, w=w)
    best, sims = rank_gallery(m.clip, m.tokenizer, caption, m.gallery, n)
    described = caption_images(m.captioner, m.gallery[index:index + 1], m.tokenizer)[0]
    fig = new_figure(1.3 * (n + 2), 3.2)
    grid = fig.add_gridspec(2, n + 2)
    for j in range(n):
        for row, (img, label) in enumerate([(generated[j], "generated" if j == 0 else ""),
                                            (m.gallery[best[j]], f"{float(sims[j]):.2f}")]):
            ax = fig.add_subplot(grid[row, j])
            ax.imshow(img[0].cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(label, fontsize=8)
    ax = fig.add_subplot(grid[:, n:])
    ax.imshow(m.gallery[index][0].cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(f"image {index}:\n“{described}”", fontsize=9)
    fig.suptitle(f"“{caption}” — top: generated (w = {w:g}); bottom: retrieved (cosine)", fontsize=9)
    return fig, described


class TextImageExplorer:
    """A caption box, an image-index slider and a guidance slider over :func:`explore`; ``.widget`` shows it."""

    def __init__(self, models: Models, caption: str = "a big heart in the lower right", w: float = 2.0):
        import ipywidgets as widgets
        from IPython.display import display

        self.models = models

        def show(caption: str, index: int, w: float) -> str:
            try:
                fig, described = explore(models, caption, index, w)
            except ValueError as err:
                print(f"⚠️ {err}")
                return str(err)
            print(f"caption typed: {caption!r}; image {index} described as: {described!r}")
            display(fig)
            return described

        self.widget = widgets.interactive(
            show,
            caption=widgets.Text(value=caption, description="caption", continuous_update=False,
                                 layout=widgets.Layout(width="520px")),
            index=widgets.IntSlider(value=0, min=0, max=len(models.gallery) - 1, description="image",
                                    continuous_update=False),
            w=widgets.FloatSlider(value=w, min=0.0, max=6.0, step=0.5, description="guidance w",
                                  continuous_update=False))
