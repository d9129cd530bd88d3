"""Attention maps of a GPT: pick a text, a layer and a head, see who attends to whom.

Pure functions first (tested on their own), then :class:`AttentionViewer`, which only wires ipywidgets
controls to them. Build it headless, set a control's ``.value`` and read ``.weights`` / ``.tokens``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from aigc_course.viz import _token_label, plot_attention
from aigc_course.widgets import LABEL_STYLE, int_in

MEAN = "mean"   # the head control's value for the mean of the heads


def attention_map(model, tokenizer, text: str, layer: int, head: int | None) -> tuple[list[str], Tensor]:
    """The characters of ``text`` (its last block_size) and the weights (T, T) of one layer and head.

    Row i is the distribution query i puts over keys 0..i. ``head=None`` averages the heads.
    """
    cfg = model.cfg
    if not 0 <= layer < cfg.n_layer:
        raise ValueError(f"layer must be in 0..{cfg.n_layer - 1}, got {layer}")
    if head is not None and not 0 <= head < cfg.n_head:
        raise ValueError(f"head must be in 0..{cfg.n_head - 1} or None (mean of heads), got {head}")
    if not text:
        raise ValueError("text is empty: give at least one character")
    ids = tokenizer.encode(text)[-cfg.block_size:]
    was_training = model.training
    model.eval()
    maps = model.attention_maps(torch.tensor([ids]))            # (L, 1, nh, T, T)
    model.train(was_training)
    weights = maps[layer, 0]                                    # (nh, T, T)
    weights = weights.mean(0) if head is None else weights[head]   # (T, T)
    return [tokenizer.decode([i]) for i in ids], weights


def readable_ticks(ax, tokens: list[str], fontsize: int = 8, max_labels: int = 32) -> None:
    """Label at most ``max_labels`` positions of an attention map, at ``fontsize`` points (never smaller).

    Long texts keep every n-th label only, so that labels neither overlap nor shrink below a readable size.
    """
    T = len(tokens)
    stride = max(1, math.ceil(T / max_labels))
    ticks = list(range(0, T, stride))
    names = [_token_label(tokens[i]) for i in ticks]
    ax.set_xticks(ticks, names, fontsize=fontsize)
    ax.set_yticks(ticks, names, fontsize=fontsize)


class AttentionViewer:
    """Widget: choose a text, a layer and a head (or the mean of heads) of a GPT; see the attention map.

    ``.widget`` is the box to display; ``.tokens`` and ``.weights`` hold what is drawn.
    """

    def __init__(self, model, tokenizer, texts: list[str], layer: int = 0, head: int | None = 0):
        import ipywidgets as W

        if isinstance(texts, str) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise ValueError(f"texts must be a non-empty list of non-empty strings, got {texts!r}")
        self.model, self.tokenizer = model, tokenizer
        cfg = model.cfg
        int_in("layer", layer, 0, cfg.n_layer - 1)
        if head is not None:
            int_in("head (or None for the mean of heads)", head, 0, cfg.n_head - 1)
        self.text = W.Dropdown(options=list(texts), value=texts[0], description="text", style=LABEL_STYLE)
        self.layer = W.IntSlider(value=layer, min=0, max=cfg.n_layer - 1, description="layer", style=LABEL_STYLE)
        # "mean" rather than None as the value: a Dropdown whose value is None shows an empty box
        self.head = W.Dropdown(options=[("mean of heads", MEAN)] + [(str(h), h) for h in range(cfg.n_head)],
                               value=MEAN if head is None else head, description="head", style=LABEL_STYLE)
        self.output = W.Output()
        for control in (self.text, self.layer, self.head):
            control.observe(self._update, names="value")
        self.widget = W.VBox([W.HBox([self.text]), W.HBox([self.layer, self.head]), self.output])
        self._update()

    def _update(self, change=None) -> None:
        from IPython.display import clear_output, display

        self.tokens, self.weights = attention_map(self.model, self.tokenizer, self.text.value,
                                                  self.layer.value, self.head_index)
        with self.output:
            clear_output(wait=True)
            display(self.figure())

    @property
    def head_index(self) -> int | None:
        """The head shown, or None for the mean of the heads."""
        return None if self.head.value == MEAN else self.head.value

    def figure(self):
        head = "mean of heads" if self.head_index is None else f"head {self.head_index}"
        fig = plot_attention(self.weights, self.tokens, f"layer {self.layer.value}, {head}")
        readable_ticks(fig.axes[0], self.tokens)
        return fig
