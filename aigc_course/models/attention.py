"""Attention (chapter 06): scaled dot-product attention, masks, multi-head attention, positions.

Read it top to bottom, small pieces first:

1. :func:`scaled_dot_product_attention` — softmax(QKᵀ/√d_k + mask) V, returning the weights too.
2. :func:`causal_mask` and :func:`padding_mask` — boolean masks, ``True`` where a query MAY look.
   (``torch.nn.functional.scaled_dot_product_attention`` uses the same convention; note that
   ``torch.nn.MultiheadAttention``'s boolean ``attn_mask`` uses the opposite one: ``True`` = blocked.)
3. :class:`KVCache` — the keys and values of the tokens seen so far, for fast generation.
4. :class:`MultiHeadAttention` — h heads of size C/h side by side, one fused QKV projection.
5. Positions: :func:`sinusoidal_encoding`, :class:`SinusoidalPositionalEncoding`,
   :class:`LearnedPositionalEncoding`, and rotary embeddings (:func:`apply_rotary`) as an aside.

Shapes: B batch, T time (tokens), C channels (n_embd), nh heads, hs = C / nh head size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None,
                                 dropout_p: float = 0.0, training: bool = False) -> tuple[Tensor, Tensor]:
    """Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + M) V   (chapter 06, eq. 6.2).

    q (..., Tq, d_k), k (..., Tk, d_k), v (..., Tk, d_v); ``mask`` broadcasts to (..., Tq, Tk) and is
    ``True`` where query i may attend to key j (M = 0 there, −∞ elsewhere). Returns the output
    (..., Tq, d_v) and the attention weights (..., Tq, Tk), whose rows sum to 1.
    A query whose row is entirely masked has no defined output (NaN): do not build such masks.
    Only boolean masks are accepted (:func:`check_mask`): a float 0/1 mask would be read as additive.
    """
    check_mask(mask)
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)   # (..., Tq, d_k) @ (..., d_k, Tk) -> (..., Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)              # (..., Tq, Tk), each row a distribution
    if dropout_p > 0.0 and training:
        weights = F.dropout(weights, dropout_p)
    return weights @ v, weights                          # (..., Tq, Tk) @ (..., Tk, d_v) -> (..., Tq, d_v)


def check_mask(mask: Tensor | None) -> None:
    """One rule for every attention path: a mask is None or a boolean tensor, True where a query may look.

    A float mask is refused (TypeError), because torch's fused kernel reads a float mask as *added* to the
    scores: a 0/1 float mask would add 0 to blocked positions and let future tokens leak.
    """
    if mask is None:
        return
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a boolean torch.Tensor (True = may attend) or None, got "
                        f"{type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a boolean tensor (True = may attend), got dtype {mask.dtype}; "
                        f"a 0/1 mask converts with mask.bool(), an additive one (0 / -inf) with mask == 0")


def causal_mask(t_query: int, t_key: int | None = None, device: torch.device | None = None) -> Tensor:
    """(Tq, Tk) boolean, True where query i may see key j: j ≤ i + (Tk − Tq).

    With Tk = Tq this is the lower triangle. With a cache (Tk > Tq) the Tq new queries sit at the end
    of the sequence, so query i is at absolute position Tk − Tq + i.
    """
    t_key = t_query if t_key is None else t_key
    if t_key < t_query:
        raise ValueError(f"t_key must be >= t_query (the queries are the last tokens), got {t_key} < {t_query}")
    ones = torch.ones(t_query, t_key, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=t_key - t_query)


def padding_mask(lengths: Tensor, t: int) -> Tensor:
    """(B, 1, 1, T) boolean, True where the key is a real token (position < length of its sequence).

    Broadcasts against attention scores (B, nh, Tq, Tk); combine with a causal mask by ``&``.
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or (lengths < 1).any() or (lengths > t).any():
        raise ValueError(f"lengths must be a 1-D tensor of values in 1..{t}, got {lengths.tolist()}")
    positions = torch.arange(t, device=lengths.device)     # (T,)
    return (positions[None, :] < lengths[:, None])[:, None, None, :]   # (B, T) -> (B, 1, 1, T)


class KVCache:
    """The keys and values (B, nh, T_past, hs) that one attention layer has seen so far."""

    def __init__(self) -> None:
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.size(-2)

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append the new keys/values (B, nh, T_new, hs) and return all of them (B, nh, T_past + T_new, hs)."""
        self.k = k if self.k is None else torch.cat([self.k, k], dim=-2)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=-2)
        return self.k, self.v


def check_heads(n_embd: int, n_head: int) -> None:
    """Raise a ValueError unless n_embd splits into n_head equal heads."""
    if n_embd < 1 or n_head < 1 or n_embd % n_head != 0:
        valid = [h for h in range(1, n_embd + 1) if n_embd % h == 0] if n_embd >= 1 else []
        raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head}); "
                         f"valid n_head for n_embd={n_embd}: {valid}")


class MultiHeadAttention(nn.Module):
    """MultiHead(X) = Concat(head_1, …, head_h) W_O,  head_i = Attention(X W_Q^i, X W_K^i, X W_V^i).

    The h projections W_Q^i (C × C/h) are stored side by side in one (C × 3C) linear layer ``qkv``
    (queries, keys, values in that order, as ``torch.nn.MultiheadAttention.in_proj_weight``).
    ``causal=True`` adds the causal mask itself; ``fused=True`` calls torch's fused kernel when the
    weights are not asked for (same maths, faster).
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = True,
                 causal: bool = False, fused: bool = False):
        super().__init__()
        check_heads(n_embd, n_head)
        self.n_embd, self.n_head, self.dropout = n_embd, n_head, dropout
        self.causal, self.fused = causal, fused
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=bias)     # W_Q, W_K, W_V for all heads at once
        self.proj = nn.Linear(n_embd, n_embd, bias=bias)        # W_O
        self.resid_drop = nn.Dropout(dropout)

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, T, C) -> (B, nh, T, hs)."""
        B, T, C = x.shape
        return x.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)

    def _mask(self, mask: Tensor | None, t_query: int, t_key: int, device: torch.device) -> Tensor | None:
        if self.causal:
            causal = causal_mask(t_query, t_key, device=device)      # (Tq, Tk)
            mask = causal if mask is None else mask & causal
        return mask

    def forward(self, x: Tensor, mask: Tensor | None = None, cache: KVCache | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """x (B, T, C) -> (y (B, T, C), weights (B, nh, T, T_key) or None).

        ``mask`` (broadcastable to (B, nh, T, T_key), True = may attend) is combined with the causal mask.
        With a ``cache`` the new keys/values are appended to it and the queries see all of them.
        """
        check_mask(mask)                                        # the same rule for the fused and unfused paths
        if x.dim() != 3 or x.size(-1) != self.n_embd:
            raise ValueError(f"x must be (B, T, C) with C = n_embd = {self.n_embd}, got shape {tuple(x.shape)}")
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)                   # (B, T, 3C) -> 3 x (B, T, C)
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)   # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.update(k, v)                           # (B, nh, T_past + T, hs)
        mask = self._mask(mask, T, k.size(-2), x.device)
        p = self.dropout if self.training else 0.0
        if self.fused and not need_weights:
            y, weights = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p), None
        else:
            y, weights = scaled_dot_product_attention(q, k, v, mask, p, self.training)
        y = y.transpose(1, 2).contiguous().view(B, T, C)        # (B, nh, T, hs) -> (B, T, C)
        return self.resid_drop(self.proj(y)), weights

    @torch.no_grad()
    def load_from_torch(self, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of a ``torch.nn.MultiheadAttention`` (batch_first, same sizes) into this module."""
        if mha.embed_dim != self.n_embd or mha.num_heads != self.n_head:
            raise ValueError(f"sizes differ: torch has embed_dim={mha.embed_dim}, num_heads={mha.num_heads}; "
                             f"ours has n_embd={self.n_embd}, n_head={self.n_head}")
        self.qkv.weight.copy_(mha.in_proj_weight)                # (3C, C)
        self.proj.weight.copy_(mha.out_proj.weight)              # (C, C)
        if self.qkv.bias is not None:
            self.qkv.bias.copy_(mha.in_proj_bias)
            self.proj.bias.copy_(mha.out_proj.bias)
        return self


# ---------------------------------------------------------------------------------------------------------
# Positions. Attention is permutation-equivariant: shuffle the tokens and the outputs shuffle the same way.
# Word order only reaches the model if we add it to the token vectors (or rotate q and k by it).


def sinusoidal_encoding(t: int, d: int, base: float = 10000.0) -> Tensor:
    """(T, d) table: PE[p, 2i] = sin(p / base^(2i/d)),  PE[p, 2i+1] = cos(p / base^(2i/d))  (eq. 6.7)."""
    if d % 2 != 0:
        raise ValueError(f"the sinusoidal encoding pairs sin and cos, so d must be even, got {d}")
    position = torch.arange(t, dtype=torch.float32)[:, None]               # (T, 1)
    inv_freq = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)   # (d/2,)
    angles = position * inv_freq[None, :]                                  # (T, 1) * (1, d/2) -> (T, d/2)
    pe = torch.empty(t, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(angles), torch.cos(angles)
    return pe


def _check_length(offset: int, t: int, max_len: int) -> None:
    if offset + t > max_len:
        raise ValueError(f"positions {offset}..{offset + t - 1} do not fit: the encoding covers "
                         f"0..{max_len - 1} (max_len={max_len}); crop the sequence to at most {max_len} tokens")


class SinusoidalPositionalEncoding(nn.Module):
    """x + PE[offset : offset + T] with the fixed sinusoidal table (no parameters)."""

    def __init__(self, max_len: int, d: int):
        super().__init__()
        self.max_len = max_len
        self.register_buffer("pe", sinusoidal_encoding(max_len, d), persistent=False)   # (max_len, d)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        _check_length(offset, x.size(1), self.max_len)
        return x + self.pe[offset: offset + x.size(1)]           # (B, T, d) + (T, d)


class LearnedPositionalEncoding(nn.Module):
    """x + P[offset : offset + T] with a learned table P (max_len × d), as in GPT-2."""

    def __init__(self, max_len: int, d: int):
        super().__init__()
        self.max_len = max_len
        self.table = nn.Embedding(max_len, d)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        _check_length(offset, x.size(1), self.max_len)
        positions = torch.arange(offset, offset + x.size(1), device=x.device)   # (T,)
        return x + self.table(positions)                          # (B, T, d) + (T, d)


def apply_rotary(x: Tensor, offset: int = 0, base: float = 10000.0) -> Tensor:
    """Rotary embedding (RoFormer, 2021): rotate each pair (x_2i, x_2i+1) at position p by angle p·θ_i.

    θ_i = base^(−2i/d). Applied to queries and keys, ⟨R_m q, R_n k⟩ depends only on m − n: attention
    then sees relative positions. x (..., T, d) with d even -> same shape.
    """
    d, t = x.size(-1), x.size(-2)
    if d % 2 != 0:
        raise ValueError(f"rotary embeddings rotate pairs of channels, so the last dim must be even, got {d}")
    inv_freq = base ** (-torch.arange(0, d, 2, dtype=torch.float32, device=x.device) / d)        # (d/2,)
    angles = torch.arange(offset, offset + t, dtype=torch.float32, device=x.device)[:, None] * inv_freq
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)                   # (T, d/2)
    x1, x2 = x[..., 0::2], x[..., 1::2]                                                        # (..., T, d/2)
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)                      # (..., T, d/2, 2)
    return out.flatten(-2)                                                                     # (..., T, d)
