"""An image captioner: chapter 07's GPT decoder, each block followed by cross-attention to the image — chapter 12.

Small to big:

1. :class:`CrossAttention` — queries from the text, keys and values from the image tokens (eq. 12.6); the
   attention itself is chapter 06's :func:`~aigc_course.models.attention.scaled_dot_product_attention`.
2. :class:`Captioner` — an :class:`~aigc_course.models.clip.ImageEncoder` (its 4x4 grid of tokens is the
   *memory*) and a GPT whose every block is followed by x ← x + CrossAttn(LN(x), memory). Trained on the
   next-token loss of the caption given the image (eq. 12.7).
3. :func:`caption_images` — greedy or beam decoding with chapter 08's :func:`~aigc_course.sampling.generate`
   and :func:`~aigc_course.sampling.beam_search`, applied to "the GPT with this image fixed".

Shapes: B batch, T caption tokens, N image tokens, C = n_embd, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aigc_course.models.attention import check_heads, scaled_dot_product_attention
from aigc_course.models.clip import ImageEncoder
from aigc_course.models.transformer import GPT, GPTConfig, lm_loss
from aigc_course.sampling import beam_search, generate
from aigc_course.validation import check_int, positive_ints


@dataclass
class CaptionerConfig:
    vocab_size: int = 343       # a CaptionTokenizer's vocab_size
    max_len: int = 16           # caption tokens, both eot markers included
    image_size: int = 16
    channels: int = 1
    width: int = 32             # the image encoder's CNN width
    n_embd: int = 64
    n_layer: int = 2            # decoder blocks, each with its cross-attention
    n_head: int = 4

    def __post_init__(self) -> None:
        positive_ints(self, "vocab_size", "max_len", "image_size", "channels", "width", "n_embd", "n_layer",
                      "n_head")
        check_heads(self.n_embd, self.n_head)

    @classmethod
    def tiny(cls, **overrides) -> CaptionerConfig:
        return cls(**{"width": 8, "n_embd": 16, "n_layer": 1, "n_head": 2, **overrides})


class CrossAttention(nn.Module):
    """CrossAttn(X, M) = Concat_h softmax((X W_Q^h)(M W_K^h)ᵀ / √d) (M W_V^h) · W_O   (eq. 12.6).

    x (B, T, C) asks, memory (B, N, C) answers: the output has x's length T and is a mix of memory rows.
    No mask: every text position may look at every image token."""

    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        check_heads(n_embd, n_head)
        self.n_head = n_head
        self.q = nn.Linear(n_embd, n_embd)                       # W_Q, all heads side by side
        self.kv = nn.Linear(n_embd, 2 * n_embd)                  # W_K and W_V
        self.proj = nn.Linear(n_embd, n_embd)                    # W_O

    def _heads(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        return x.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)   # (B, T, C) -> (B, nh, T, hs)

    def forward(self, x: Tensor, memory: Tensor, need_weights: bool = False):
        """-> (B, T, C), and the weights (B, nh, T, N) when ``need_weights``."""
        if x.dim() != 3 or memory.dim() != 3 or x.shape[0] != memory.shape[0] or x.shape[2] != memory.shape[2]:
            raise ValueError(f"x must be (B, T, C) and memory (B, N, C) with the same B and C, got "
                             f"{tuple(x.shape)} and {tuple(memory.shape)}")
        B, T, C = x.shape
        k, v = self.kv(memory).split(C, dim=2)                   # 2 x (B, N, C)
        out, weights = scaled_dot_product_attention(self._heads(self.q(x)), self._heads(k), self._heads(v))
        out = self.proj(out.transpose(1, 2).reshape(B, T, C))    # (B, nh, T, hs) -> (B, T, C)
        return (out, weights) if need_weights else out


class Captioner(nn.Module):
    """p(w_{t+1} | w_{≤t}, image): ``forward(images, ids, targets=None) -> (logits (B, T, V), loss or None)``."""

    def __init__(self, cfg: CaptionerConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = ImageEncoder(cfg.image_size, cfg.channels, cfg.width, cfg.n_embd)
        self.gpt = GPT(GPTConfig(vocab_size=cfg.vocab_size, block_size=cfg.max_len, n_layer=cfg.n_layer,
                                 n_head=cfg.n_head, n_embd=cfg.n_embd))
        self.cross_ln = nn.ModuleList(nn.LayerNorm(cfg.n_embd) for _ in range(cfg.n_layer))
        self.cross = nn.ModuleList(CrossAttention(cfg.n_embd, cfg.n_head) for _ in range(cfg.n_layer))

    def decode(self, memory: Tensor, ids: Tensor, maps: list | None = None) -> Tensor:
        """Image tokens (B, N, C) and caption ids (B, T) -> logits (B, T, V); each layer's cross-attention
        weights (B, nh, T, N) are appended to ``maps`` when a list is given."""
        h = self.gpt._embed(ids, offset=0)                       # (B, T, C)
        for block, ln, cross in zip(self.gpt.blocks, self.cross_ln, self.cross):
            h, _ = block(h)                                      # causal self-attention + MLP (chapter 07)
            out, weights = cross(ln(h), memory, need_weights=True)
            h = h + out                                          # then look at the image
            if maps is not None:
                maps.append(weights)
        return self.gpt.head(self.gpt.ln_f(h))                   # (B, T, V)

    @torch.no_grad()
    def cross_attention_maps(self, images: Tensor, ids: Tensor) -> Tensor:
        """Where each caption position looks in the image: (L, B, nh, T, N), every layer and head."""
        maps: list = []
        self.decode(self.encoder(images), ids, maps)
        return torch.stack(maps)

    def forward(self, images: Tensor, ids: Tensor, targets: Tensor | None = None):
        logits = self.decode(self.encoder(images), ids)
        return logits, None if targets is None else lm_loss(logits, targets)


def captioner_step(model: Captioner, optimizer: torch.optim.Optimizer, data, tokenizer, batch_size: int = 128,
                   seed: int = 0, scheduler=None):
    """A ``step_fn`` for :func:`aigc_course.train.train`: teacher forcing on (image, caption) pairs — the
    input is the caption's ids[:-1], the target ids[1:] (padding after the closing eot is a target too: the
    model learns to stop)."""
    from aigc_course.train import supervised_step

    device = next(model.parameters()).device
    ids = tokenizer.batch(data.captions)[0].to(device)
    images = data.images.to(device)
    g = torch.Generator().manual_seed(seed)

    def batch_fn(step: int):
        idx = torch.randint(0, len(images), (batch_size,), generator=g).to(device)
        return images[idx], ids[idx, :-1], ids[idx, 1:]

    return supervised_step(model, optimizer, lambda m, b: m(*b)[1], batch_fn, grad_clip=1.0, scheduler=scheduler)


@torch.no_grad()
def caption_images(model: Captioner, images: Tensor, tokenizer, beam_width: int = 1) -> list[str]:
    """Describe each image (B, C, S, S): greedy decoding (``beam_width=1``, all images at once) or beam search
    with ``beam_width`` beams (one image at a time), from the opening eot for max_len − 1 tokens."""
    check_int("beam_width", beam_width, 1)
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    memory = model.encoder(images.to(device))                                  # (B, N, C)
    steps = model.cfg.max_len - 1
    if beam_width == 1:
        start = torch.full((len(images), 1), tokenizer.eot, device=device)
        out = generate(lambda ids: model.decode(memory, ids), start, steps, greedy=True)
        texts = [tokenizer.decode(row) for row in out]
    else:
        texts = []
        for mem in memory:
            fn = lambda ids, mem=mem: model.decode(mem.expand(len(ids), -1, -1), ids)   # noqa: E731
            best, _ = beam_search(fn, [tokenizer.eot], steps, beam_width=beam_width)
            texts.append(tokenizer.decode(best))
    model.train(was)
    return texts
