"""The denoising networks of chapter 10: a time-conditioned MLP for 2-D points and a small U-Net for images.

Both are called ``net(x, time, y)``: ``time`` (B,) in [0, 1] (t / T for diffusion, t for flow matching),
``y`` (B,) class labels or None. They predict a vector like x: the noise ε (diffusion) or a velocity
(flow matching); which one is decided only by the loss they are trained with.

1. :func:`time_embedding` — sinusoidal features of the time, as the transformer's positions (chapter 06).
2. :class:`TimeMLP` — for 2-D toy data: [x, emb(t)] through a residual MLP.
3. :class:`ResBlock`, :class:`AttentionBlock` — the U-Net's pieces; the attention block is chapter 06's
   :class:`~aigc_course.models.attention.MultiHeadAttention` over the H·W positions of a feature map.
4. :class:`UNet` (Ronneberger et al. 2015, as used by Ho et al. 2020): down 16 → 8 → 4, attention at the
   lowest resolution, up again with skip connections. With ``patch = p > 1`` it first folds each p×p patch of
   pixels into channels (``pixel_unshuffle``, a lossless reshape) and unfolds its output the same way, so a
   32×32 image is processed as a 16-channel 8×8 map at a sixteenth of the cost of every layer.

Conditional networks (``num_classes = K > 0``) embed labels 0..K−1 and one more, ``null_label = K``, which
stands for "no label" (∅); ``y=None`` means ∅ for every sample. A U-Net with ``cond_dim = D > 0`` is
conditioned on a float vector per sample instead (a caption's text embedding, chapter 12): y (B, D), with the
zero vector as ∅ (``null_label = 0``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aigc_course.models.attention import MultiHeadAttention
from aigc_course.validation import dropout_rate, positive_ints


def time_embedding(time: Tensor, dim: int, scale: float = 1000.0) -> Tensor:
    """emb(t)_{2i} = sin(s t / 10000^{2i/d}), emb(t)_{2i+1} = cos(...): (B,) -> (B, dim), s = ``scale``."""
    if dim < 2 or dim % 2:
        raise ValueError(f"dim must be an even int >= 2, got {dim}")
    freqs = torch.exp(-math.log(10000.0) * torch.arange(dim // 2, device=time.device) / (dim // 2))  # (d/2,)
    angles = scale * time.float()[:, None] * freqs[None]                                  # (B, d/2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)                    # (B, d)


class _Conditioning(nn.Module):
    """emb(t) [+ label embedding, or + W c for a conditioning vector c] through a small MLP -> (B, dim).

    Labels (``num_classes = K``): y (B,) in 0..K, K = ∅. A conditioning vector (``cond_dim = D``, e.g. a
    caption's text embedding, chapter 12): y (B, D) float, projected by a learned W (D -> dim) and added;
    the zero vector stands for ∅ (``null_label = 0``: ``torch.full_like(y, 0)`` is ∅ for a whole batch)."""

    def __init__(self, dim: int, num_classes: int, cond_dim: int = 0):
        super().__init__()
        if num_classes and cond_dim:
            raise ValueError(f"a network is conditioned on labels (num_classes={num_classes}) or on a vector "
                             f"(cond_dim={cond_dim}), not both")
        self.dim, self.num_classes, self.cond_dim = dim, num_classes, cond_dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.label = nn.Embedding(num_classes + 1, dim) if num_classes else None
        self.vector = nn.Linear(cond_dim, dim) if cond_dim else None

    @property
    def null_label(self) -> int | None:
        if self.cond_dim:
            return 0
        return self.num_classes if self.num_classes else None

    def _vector(self, time: Tensor, y: Tensor | None) -> Tensor:
        if y is None:
            y = torch.zeros(len(time), self.cond_dim, device=time.device)
        if not isinstance(y, Tensor) or not y.is_floating_point() or y.shape != (len(time), self.cond_dim):
            got = f"shape {tuple(y.shape)} {y.dtype}" if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(f"y must be float conditioning vectors of shape ({len(time)}, {self.cond_dim}) "
                             f"(zeros = no condition), got {got}")
        return self.vector(y)                                                               # (B, dim)

    def forward(self, time: Tensor, y: Tensor | None) -> Tensor:
        emb = self.mlp(time_embedding(time, self.dim))                                     # (B, dim)
        if self.vector is not None:
            return emb + self._vector(time, y)
        if self.label is None:
            if y is not None:
                raise ValueError("this network is unconditional (num_classes=0) but labels y were given")
            return emb
        if y is None:
            y = torch.full((len(time),), self.num_classes, dtype=torch.long, device=time.device)
        if y.shape != time.shape or (y.numel() and (y.min() < 0 or y.max() > self.num_classes)):
            raise ValueError(f"y must be labels of shape {tuple(time.shape)} in 0..{self.num_classes} "
                             f"({self.num_classes} = no label), got shape {tuple(y.shape)}")
        return emb + self.label(y)                                                          # (B, dim)


def _check_time(x: Tensor, time: Tensor) -> Tensor:
    time = torch.as_tensor(time, dtype=torch.float32, device=x.device)
    if time.dim() == 0:
        time = time.expand(x.shape[0])
    if time.shape != (x.shape[0],):
        raise ValueError(f"time must be a scalar or have shape ({x.shape[0]},), got {tuple(time.shape)}")
    return time


@dataclass
class TimeMLPConfig:
    dim: int = 2                # size of a data point
    hidden: int = 128           # width of every hidden layer
    depth: int = 3              # residual blocks
    num_classes: int = 0

    def __post_init__(self) -> None:
        positive_ints(self, "dim", "hidden", "depth")

    @classmethod
    def tiny(cls, **overrides) -> TimeMLPConfig:
        return cls(**{"hidden": 16, "depth": 1, **overrides})


class TimeMLP(nn.Module):
    """x (B, D), time (B,) [, y] -> (B, D): a residual MLP whose every block is told emb(t)."""

    def __init__(self, cfg: TimeMLPConfig):
        super().__init__()
        self.cfg, h = cfg, cfg.hidden
        self.cond = _Conditioning(h, cfg.num_classes)
        self.inp = nn.Linear(cfg.dim, h)
        self.blocks = nn.ModuleList(nn.Sequential(nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, h))
                                    for _ in range(cfg.depth))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(h, cfg.dim))

    @property
    def null_label(self) -> int | None:
        return self.cond.null_label

    def forward(self, x: Tensor, time: Tensor, y: Tensor | None = None) -> Tensor:
        emb = self.cond(_check_time(x, time), y)                # (B, H)
        h = self.inp(x)                                         # (B, D) -> (B, H)
        for block in self.blocks:
            h = h + block(h + emb)
        return self.out(h)                                      # (B, D)


# ---------------------------------------------------------------------------------------------- U-Net

@dataclass
class UNetConfig:
    image_size: int = 16        # height = width of the images; must be divisible by patch * 2^(len(mults) - 1)
    channels: int = 1
    base: int = 32              # feature maps at full resolution
    mults: tuple[int, ...] = (1, 2, 2)   # multiplier of ``base`` at each resolution (16, 8, 4 for 16px)
    attn_heads: int = 4         # heads of the self-attention at the lowest resolution (0: no attention)
    num_classes: int = 0        # 0: unconditional; K: labels 0..K-1 and K = ∅
    cond_dim: int = 0           # D > 0: conditioned on float vectors y (B, D) instead (chapter 12); 0 = ∅
    dropout: float = 0.0
    groups: int = 8             # GroupNorm groups; must divide every width
    patch: int = 1              # p: fold p×p pixel patches into channels first (1: work on the pixels themselves)

    def __post_init__(self) -> None:
        positive_ints(self, "image_size", "channels", "base", "groups", "patch")
        dropout_rate(self.dropout)
        if isinstance(self.cond_dim, bool) or not isinstance(self.cond_dim, int) or self.cond_dim < 0:
            raise ValueError(f"cond_dim must be an int >= 0 (0: no conditioning vector), got {self.cond_dim!r}")
        if not self.mults or any(not isinstance(m, int) or m < 1 for m in self.mults):
            raise ValueError(f"mults must be a non-empty tuple of positive ints, got {self.mults!r}")
        factor = self.patch * 2 ** (len(self.mults) - 1)
        if self.image_size % factor:
            raise ValueError(f"image_size {self.image_size} must be divisible by patch * 2^{len(self.mults) - 1} = "
                             f"{factor} for patch={self.patch} and {len(self.mults)} resolutions")
        if any((self.base * m) % self.groups for m in self.mults):
            raise ValueError(f"groups={self.groups} must divide every width {[self.base * m for m in self.mults]}")

    @classmethod
    def tiny(cls, **overrides) -> UNetConfig:
        return cls(**{"image_size": 8, "base": 8, "mults": (1, 2), "attn_heads": 2, "groups": 4, **overrides})


class ResBlock(nn.Module):
    """h = conv(act(norm(x))) + proj(emb); h = conv(drop(act(norm(h)))); out = h + skip(x). (B, C, H, W)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(groups, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))                   # (B, C_out, H, W)
        h = h + self.emb(F.silu(emb))[:, :, None, None]          # (B, C_out) -> (B, C_out, 1, 1)
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return h + self.skip(x)


class AttentionBlock(nn.Module):
    """Self-attention over the H·W positions of a feature map, with a residual: (B, C, H, W) -> same."""

    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.attn = MultiHeadAttention(channels, heads, fused=True)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)        # (B, C, H, W) -> (B, H·W, C)
        out, _ = self.attn(tokens)                              # (B, H·W, C)
        return x + out.transpose(1, 2).reshape(B, C, H, W)


class UNet(nn.Module):
    """x_t (B, C, S, S), time (B,) [, y (B,)] -> (B, C, S, S): a ResBlock per resolution on the way down (its
    output kept as a skip), ResBlock–attention–ResBlock at the bottom, a ResBlock on [h, skip] going up; with
    ``patch = p``, all of it on the (B, C·p², S/p, S/p) map of folded patches."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.cfg = cfg
        widths = [cfg.base * m for m in cfg.mults]
        emb = 4 * cfg.base
        self.cond = _Conditioning(emb, cfg.num_classes, cfg.cond_dim)
        folded = cfg.channels * cfg.patch**2                    # channels after folding p×p patches
        self.inp = nn.Conv2d(folded, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        c = widths[0]
        for w in widths:
            self.down.append(ResBlock(c, w, emb, cfg.groups, cfg.dropout))
            c = w
        self.mid1 = ResBlock(c, c, emb, cfg.groups, cfg.dropout)
        self.attn = AttentionBlock(c, cfg.attn_heads, cfg.groups) if cfg.attn_heads else nn.Identity()
        self.mid2 = ResBlock(c, c, emb, cfg.groups, cfg.dropout)
        self.up = nn.ModuleList()
        for w in reversed(widths):
            self.up.append(ResBlock(c + w, w, emb, cfg.groups, cfg.dropout))
            c = w
        self.out = nn.Sequential(nn.GroupNorm(cfg.groups, c), nn.SiLU(), nn.Conv2d(c, folded, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)                     # start by predicting 0
        nn.init.zeros_(self.out[-1].bias)

    @property
    def null_label(self) -> int | None:
        return self.cond.null_label

    def _check(self, x: Tensor) -> None:
        want = (self.cfg.channels, self.cfg.image_size, self.cfg.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"x must be images of shape (B, {want[0]}, {want[1]}, {want[2]}), "
                             f"got {tuple(x.shape)}")

    def forward(self, x: Tensor, time: Tensor, y: Tensor | None = None) -> Tensor:
        self._check(x)
        emb = self.cond(_check_time(x, time), y)                # (B, E)
        x = F.pixel_unshuffle(x, self.cfg.patch)                # (B, C, S, S) -> (B, C·p², S/p, S/p)
        h, skips = self.inp(x), []                              # (B, w0, S/p, S/p)
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < len(self.down) - 1:
                h = F.avg_pool2d(h, 2)                          # (B, w, s, s) -> (B, w, s/2, s/2)
        h = self.mid2(self.attn(self.mid1(h, emb)), emb)        # lowest resolution, attention over s·s tokens
        for i, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)  # (B, c + w, s, s) -> (B, w, s, s)
            if i < len(self.up) - 1:
                h = F.interpolate(h, scale_factor=2, mode="nearest")   # (B, w, 2s, 2s)
        return F.pixel_shuffle(self.out(h), self.cfg.patch)    # (B, C·p², S/p, S/p) -> (B, C, S, S)
