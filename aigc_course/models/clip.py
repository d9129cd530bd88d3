"""Contrastive language-image pre-training (CLIP, Radford et al. 2021), small enough for a CPU — chapter 12.

Small to big:

1. :class:`ImageEncoder` — a small CNN: (B, C, 16, 16) -> a 4x4 grid of tokens (B, 16, n_embd), each with a
   learned position; the captioner attends to these tokens, CLIP flattens them into one vector.
2. :class:`TextEncoder` — chapter 07's GPT (its embeddings, causal blocks and final LayerNorm, reused): the
   feature at the closing end-of-text token, which has seen the whole caption, as in CLIP.
3. :class:`CLIP` — both towers, projections into one ``embed_dim`` space, unit-normalised, and a learned
   temperature τ = exp(−s) (``logit_scale`` = s).
4. :func:`clip_loss` (eq. 12.2) — the symmetric InfoNCE loss; :func:`retrieval_top1` (12.4) and
   :func:`zero_shot_logits` (12.5) — what the aligned space is good for.

Shapes: B batch, L caption length (``max_len``), N = 16 image tokens, C = n_embd, D = embed_dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aigc_course.models.transformer import GPT, GPTConfig
from aigc_course.validation import check_float, positive_ints


@dataclass
class CLIPConfig:
    vocab_size: int = 343       # a CaptionTokenizer's vocab_size (BPE ids + eot + pad)
    max_len: int = 16           # caption tokens, both eot markers included
    image_size: int = 16        # the encoder takes square images of exactly this side (two stride-2 convs)
    channels: int = 1
    width: int = 32             # CNN feature maps at full resolution; 2·width after the first downsampling
    n_embd: int = 64            # width of the text transformer and of each image token
    n_layer: int = 2            # text transformer blocks
    n_head: int = 4
    embed_dim: int = 64         # D, the shared space
    init_temperature: float = 0.07   # CLIP's τ at initialisation (logit scale log(1/0.07) ≈ 2.66)

    def __post_init__(self) -> None:
        positive_ints(self, "vocab_size", "max_len", "image_size", "channels", "width", "n_embd", "n_layer",
                      "n_head", "embed_dim")
        check_float("init_temperature", self.init_temperature, 0, low_open=True)
        if self.image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 (two stride-2 convolutions), got {self.image_size}")

    @classmethod
    def tiny(cls, **overrides) -> CLIPConfig:
        return cls(**{"width": 8, "n_embd": 16, "n_layer": 1, "n_head": 2, "embed_dim": 16, **overrides})

    def gpt_config(self) -> GPTConfig:
        return GPTConfig(vocab_size=self.vocab_size, block_size=self.max_len, n_layer=self.n_layer,
                         n_head=self.n_head, n_embd=self.n_embd)


class ImageEncoder(nn.Module):
    """(B, C, S, S) -> image tokens (B, (S/4)², n_embd): conv, conv stride 2, conv stride 2, 1x1 conv, plus a
    learned position per token (so that "top left" survives flattening and attention alike)."""

    def __init__(self, image_size: int, channels: int, width: int, n_embd: int):
        super().__init__()
        self.image_size, self.channels = image_size, channels
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 3, padding=1), nn.GELU(),                   # (B, w, S, S)
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.GELU(),            # (B, 2w, S/2, S/2)
            nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1), nn.GELU(),        # (B, 2w, S/4, S/4)
            nn.Conv2d(2 * w, n_embd, 1),                                       # (B, C, S/4, S/4)
        )
        self.pos = nn.Parameter(torch.zeros(1, (image_size // 4) ** 2, n_embd))
        nn.init.normal_(self.pos, std=0.02)

    def check(self, images: Tensor) -> None:
        want = (self.channels, self.image_size, self.image_size)
        if not isinstance(images, Tensor) or images.dim() != 4 or tuple(images.shape[1:]) != want:
            got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"images must be (B, {want[0]}, {want[1]}, {want[2]}): this encoder takes only "
                             f"{want[1]}x{want[2]} images with {want[0]} channel(s), got {got}")

    def forward(self, images: Tensor) -> Tensor:
        self.check(images)
        h = self.net(images * 2 - 1)                              # pixels [0, 1] -> [-1, 1]
        return h.flatten(2).transpose(1, 2) + self.pos            # (B, C, s, s) -> (B, s·s, C)


class TextEncoder(nn.Module):
    """ids (B, L), lengths (B,) -> (B, n_embd): GPT's causal transformer, read at the last real token."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.gpt = GPT(cfg)                                      # its head is unused here

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        if lengths.shape != ids.shape[:1] or int(lengths.min()) < 1 or int(lengths.max()) > ids.shape[1]:
            raise ValueError(f"lengths must be (B,) = ({ids.shape[0]},) values in 1..{ids.shape[1]}, got "
                             f"{lengths.tolist()}")
        h = self.gpt._embed(ids, offset=0)                       # (B, L, C)
        for block in self.gpt.blocks:
            h, _ = block(h)                                      # causal: padding after a token never reaches it
        h = self.gpt.ln_f(h)
        return h[torch.arange(len(ids), device=ids.device), lengths.to(ids.device) - 1]   # (B, C)


class CLIP(nn.Module):
    """Two towers and a temperature: ``forward(images, ids, lengths) -> (u (B, D), v (B, D))``, unit vectors."""

    def __init__(self, cfg: CLIPConfig):
        super().__init__()
        self.cfg = cfg
        self.image = ImageEncoder(cfg.image_size, cfg.channels, cfg.width, cfg.n_embd)
        self.text = TextEncoder(cfg.gpt_config())
        n_tokens = (cfg.image_size // 4) ** 2
        self.image_proj = nn.Linear(n_tokens * cfg.n_embd, cfg.embed_dim)     # flatten the grid, keep "where"
        self.text_proj = nn.Linear(cfg.n_embd, cfg.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.init_temperature)))

    def encode_image(self, images: Tensor) -> Tensor:
        """(B, C, S, S) -> (B, D) unit vectors."""
        return F.normalize(self.image_proj(self.image(images).flatten(1)), dim=-1)

    def encode_text(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """(B, L) ids, (B,) lengths -> (B, D) unit vectors."""
        return F.normalize(self.text_proj(self.text(ids, lengths)), dim=-1)

    def forward(self, images: Tensor, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return self.encode_image(images), self.encode_text(ids, lengths)

    def scale(self) -> Tensor:
        """1/τ = exp(s), clamped at 100 as in CLIP (a larger scale only sharpens ties among equal captions)."""
        return self.logit_scale.exp().clamp(max=100.0)


def clip_logits(u: Tensor, v: Tensor, scale: Tensor | float) -> Tensor:
    """S_ij = ⟨u_i, v_j⟩ / τ for unit vectors (eq. 12.1): (B, D), (B, D) -> (B, B), images down, texts across."""
    return scale * u @ v.t()


def clip_loss(u: Tensor, v: Tensor, scale: Tensor | float) -> Tensor:
    """Symmetric InfoNCE (eq. 12.2): L = ½ · (1/B) Σ_i [ −log softmax_j(S_i·)_i − log softmax_j(S_·i)_i ]:
    each image must pick its own caption among the batch's B, and each caption its own image."""
    if u.shape != v.shape or u.dim() != 2:
        raise ValueError(f"u and v must both be (B, D), got {tuple(u.shape)} and {tuple(v.shape)}")
    logits = clip_logits(u, v, scale)                            # (B, B)
    target = torch.arange(len(u), device=u.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def retrieval_top1(similarity: Tensor, match: Tensor) -> float:
    """Top-1 retrieval accuracy (eq. 12.4): the share of queries (rows) whose best-scoring gallery item
    (column) is a correct one, ``match[q, argmax_g sim[q, g]]``. ``match`` (Q, G) bool: which items are right."""
    if similarity.shape != match.shape or similarity.dim() != 2:
        raise ValueError(f"similarity and match must be (Q, G) alike, got {tuple(similarity.shape)} and "
                         f"{tuple(match.shape)}")
    best = similarity.argmax(dim=1)                              # (Q,)
    return float(match[torch.arange(len(match)), best].float().mean())


def zero_shot_logits(u: Tensor, class_text: Tensor, scale: Tensor | float) -> Tensor:
    """p(k | image) = softmax_k(⟨u, t_k⟩ / τ) (eq. 12.5) with t_k the normalised mean embedding of class k's
    prompts: (B, D), (K, D) -> logits (B, K)."""
    return scale * u @ F.normalize(class_text, dim=-1).t()


def caption_batch(tokenizer, captions: list[str], device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Tokenised captions on ``device``: (ids (B, L), lengths (B,))."""
    ids, lengths = tokenizer.batch(captions)
    return ids.to(device), lengths.to(device)


@torch.no_grad()
def embed_texts(model: CLIP, tokenizer, captions: list[str], batch_size: int = 512) -> Tensor:
    """CLIP text embeddings (B, D) of many captions, batched, in eval mode."""
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    out = [model.encode_text(*caption_batch(tokenizer, captions[i:i + batch_size], device))
           for i in range(0, len(captions), batch_size)]
    model.train(was)
    return torch.cat(out)


@torch.no_grad()
def embed_images(model: CLIP, images: Tensor, batch_size: int = 512) -> Tensor:
    """CLIP image embeddings (N, D), batched, in eval mode."""
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    out = [model.encode_image(images[i:i + batch_size].to(device)) for i in range(0, len(images), batch_size)]
    model.train(was)
    return torch.cat(out)


def clip_step(model: CLIP, optimizer: torch.optim.Optimizer, data, tokenizer, batch_size: int = 128,
              seed: int = 0, scheduler=None):
    """A ``step_fn`` for :func:`aigc_course.train.train`: a random batch of (image, caption) pairs of ``data``
    (a :class:`~aigc_course.data.captions.CaptionedShapes`), one update on :func:`clip_loss`."""
    from aigc_course.train import supervised_step

    device = next(model.parameters()).device
    ids, lengths = caption_batch(tokenizer, data.captions, device)
    images = data.images.to(device)
    g = torch.Generator().manual_seed(seed)

    def batch_fn(step: int):
        idx = torch.randint(0, len(images), (batch_size,), generator=g).to(device)
        return images[idx], ids[idx], lengths[idx]

    def loss_fn(m: CLIP, batch) -> Tensor:
        u, v = m(*batch)
        return clip_loss(u, v, m.scale())

    return supervised_step(model, optimizer, loss_fn, batch_fn, grad_clip=1.0, scheduler=scheduler)
