"""The transformer block and a GPT built from it (chapter 07).

Small to big:

1. :class:`GPTConfig` — sizes, with presets ``nano()`` (tests), ``tiny()`` (FAST mode), ``small()``.
2. :class:`MLP` and :class:`Block` — pre-norm residual block: x + Attn(LN(x)), then x + MLP(LN(x)).
3. :class:`GPT` — token + learned position embeddings, n_layer blocks, final LN, a linear head tied to
   the token embedding; ``forward(idx, targets) -> (logits, loss)``; ``generate`` with or without a KV cache.
4. Formulas: :func:`parameter_count` and :func:`flops_per_token` (the 6N rule for training).

Shapes: B batch, T time, C = n_embd, V = vocab_size, L = n_layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aigc_course.models.attention import KVCache, MultiHeadAttention, check_heads
from aigc_course.sampling import check_temperature, check_top_k, sample_next
from aigc_course.validation import (
    check_bool,
    check_fields,
    check_int,
    check_tensor,
    check_token_ids,
    dropout_rate,
    positive_ints,
)


@dataclass
class GPTConfig:
    vocab_size: int = 128       # number of distinct tokens (a CharTokenizer's len)
    block_size: int = 128       # the longest context the model sees (size of the position table)
    n_layer: int = 4            # number of transformer blocks
    n_head: int = 4             # attention heads per block; must divide n_embd
    n_embd: int = 128           # width C of the residual stream
    dropout: float = 0.0        # on attention weights, residual branches and embeddings (training only)
    bias: bool = True           # biases in Linear and LayerNorm layers
    tie_weights: bool = True    # the output head reuses the token embedding matrix (V x C)
    fused: bool = True          # use torch's fused attention kernel when weights are not requested
    gelu: str = "exact"         # "exact" GELU, or "tanh": the tanh approximation GPT-2 was trained with (ch11)

    def __post_init__(self) -> None:
        positive_ints(self, "vocab_size", "block_size", "n_layer", "n_head", "n_embd")
        check_fields(self)
        check_heads(self.n_embd, self.n_head)
        dropout_rate(self.dropout)
        if self.gelu not in ("exact", "tanh"):
            raise ValueError(f"gelu must be 'exact' or 'tanh' (GPT-2's approximation), got {self.gelu!r}")

    @classmethod
    def nano(cls, **overrides) -> GPTConfig:
        """2 layers, 2 heads, C = 32, context 32: for unit tests (≈ 30 k parameters with V = 65)."""
        return cls(**{"block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 32, **overrides})

    @classmethod
    def tiny(cls, **overrides) -> GPTConfig:
        """4 layers, 4 heads, C = 64, context 64: FAST mode and quick experiments (≈ 0.2 M parameters)."""
        return cls(**{"block_size": 64, "n_layer": 4, "n_head": 4, "n_embd": 64, **overrides})

    @classmethod
    def small(cls, **overrides) -> GPTConfig:
        """6 layers, 6 heads, C = 192, context 128: a full run on a CPU (≈ 2.7 M parameters)."""
        return cls(**{"block_size": 128, "n_layer": 6, "n_head": 6, "n_embd": 192, "dropout": 0.1, **overrides})


class MLP(nn.Module):
    """MLP(x) = W₂ GELU(W₁ x + b₁) + b₂, widening C -> 4C -> C, applied to each position alone."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)     # W₁ (4C x C)
        self.act = nn.GELU(approximate="tanh" if cfg.gelu == "tanh" else "none")
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)   # W₂ (C x 4C)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.proj(self.act(self.fc(x))))                 # (B, T, C) -> (B, T, 4C) -> (B, T, C)


class Block(nn.Module):
    """Pre-norm block:  x ← x + Attn(LN₁(x));  x ← x + MLP(LN₂(x))   (chapter 07, eq. 7.1).

    The residual stream x is only ever added to; each branch reads a normalised copy of it.
    """

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = MultiHeadAttention(cfg.n_embd, cfg.n_head, cfg.dropout, cfg.bias, causal=True, fused=cfg.fused)
        self.ln2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: Tensor, cache: KVCache | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """x (B, T, C) -> (x (B, T, C), attention weights (B, nh, T, T_key) or None)."""
        a, weights = self.attn(self.ln1(x), cache=cache, need_weights=need_weights)
        x = x + a
        x = x + self.mlp(self.ln2(x))
        return x, weights


def lm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean next-token cross-entropy: L = −(1/BT) Σ_{b,t} log p_θ(x_{t+1} | x_{≤t})   (chapter 07, eq. 7.5)."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))   # (B*T, V), (B*T,)


class GPT(nn.Module):
    """A decoder-only transformer: p(x_{t+1} | x_{≤t}) for every t at once."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)      # token -> vector (V x C)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)      # position -> vector (block_size x C)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if cfg.tie_weights:
            self.head.weight = self.tok_emb.weight                    # one (V x C) matrix, used twice
        self.apply(self._init_weights)
        for name, p in self.named_parameters():                       # residual-branch outputs: smaller
            if name.endswith("attn.proj.weight") or name.endswith("mlp.proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """GPT-2's initialisation: N(0, 0.02²) weights, zero biases."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Distinct parameters (a tied matrix counts once); ``non_embedding`` leaves out both tables."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.pos_emb.weight.numel() + self.tok_emb.weight.numel()
        return n

    def _embed(self, idx: Tensor, offset: int) -> Tensor:
        T = idx.size(1)
        if offset + T > self.cfg.block_size:
            raise ValueError(f"sequence of length {offset + T} is longer than block_size={self.cfg.block_size}; "
                             f"valid lengths are 1..{self.cfg.block_size}: crop to the last "
                             f"{self.cfg.block_size} tokens (generate does this)")
        positions = torch.arange(offset, offset + T, device=idx.device)    # (T,)
        return self.drop(self.tok_emb(idx) + self.pos_emb(positions))     # (B, T, C) + (T, C)

    def forward(self, idx: Tensor, targets: Tensor | None = None,
                caches: list[KVCache] | None = None) -> tuple[Tensor, Tensor | None]:
        """idx (B, T) token ids -> (logits (B, T, V), mean cross-entropy against targets (B, T) or None)."""
        if idx.device.type == "cpu":   # on a GPU the range check would cost a host sync every step
            check_token_ids("idx", idx, self.cfg.vocab_size)
        else:
            check_tensor("idx", idx, kind="int")
        if idx.dim() != 2:
            raise ValueError(f"idx must be (B, T) token ids, got shape {tuple(idx.shape)}")
        x = self._embed(idx, offset=len(caches[0]) if caches else 0)        # (B, T, C)
        for i, block in enumerate(self.blocks):
            x, _ = block(x, cache=caches[i] if caches else None)
        logits = self.head(self.ln_f(x))                                    # (B, T, C) -> (B, T, V)
        loss = None if targets is None else lm_loss(logits, targets)
        return logits, loss

    @torch.no_grad()
    def attention_maps(self, idx: Tensor) -> Tensor:
        """Attention weights of every layer and head: idx (B, T) -> (L, B, nh, T, T)."""
        x, maps = self._embed(idx, offset=0), []
        for block in self.blocks:
            x, weights = block(x, need_weights=True)
            maps.append(weights)
        return torch.stack(maps)

    def _next_logits(self, idx: Tensor, caches: list[KVCache] | None, fresh: int) -> Tensor:
        """Logits (B, V) for the token after idx; with caches, only the ``fresh`` newest tokens are run.

        Once the sequence outgrows block_size the window slides, and no cached key or value stays valid
        (see :meth:`generate`): the window is recomputed in full, without building a cache it cannot reuse.
        """
        if caches is None or len(caches[0]) + fresh > self.cfg.block_size:
            return self(idx[:, -self.cfg.block_size:])[0][:, -1]
        return self(idx[:, -fresh:], caches=caches)[0][:, -1]

    @torch.no_grad()
    def generate(self, idx: Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 use_cache: bool = True, generator: torch.Generator | None = None) -> Tensor:
        """Sample max_new_tokens tokens after idx (B, T0) -> (B, T0 + max_new_tokens).

        Each step samples from softmax(logits / temperature), restricted to the top_k most likely tokens
        (exactly k of them, even when logits tie, as :func:`aigc_course.sampling.top_k_filter`: top_k=1 is
        greedy). With ``use_cache`` each step runs only the newest token and reuses the keys and values of
        the earlier ones (same result as recomputing everything) — until the sequence outgrows block_size.
        From then on each step recomputes the last block_size tokens, exactly as ``use_cache=False``: with
        learned *absolute* positions no cached entry survives a slide. When the window moves by one, the
        token that sat at position i now sits at i − 1, so its layer-0 input tok + pos[i − 1] differs from
        the tok + pos[i] its cached key and value were computed from, and every layer above inherits the
        change; the dropped first token also changed what every later token attended to. Keeping the cache
        and dropping its oldest entry is therefore a different (approximate) model, not this one
        (``tests/test_transformer.py`` shows the logits differ). Relative or rotary positions would fix
        only the first cause, not the second (beyond layer 0 a key depends on every earlier token in the
        window); only a model *defined* with sliding-window attention, where a token's keys are computed
        once from the tokens before it and never recomputed, can reuse them. So a generation of N ≫
        block_size tokens costs ≈ N full-window forwards either way (``benchmarks/README.md`` measures it).
        """
        check_token_ids("idx", idx, self.cfg.vocab_size)
        if idx.dim() != 2:
            raise ValueError(f"idx must be (B, T0) token ids, got shape {tuple(idx.shape)}")
        check_int("max_new_tokens", max_new_tokens, 0)
        check_temperature(temperature)
        check_top_k(top_k, self.cfg.vocab_size)
        check_bool("use_cache", use_cache)
        caches, fresh = ([KVCache() for _ in self.blocks] if use_cache else None), idx.size(1)
        for _ in range(max_new_tokens):
            logits = self._next_logits(idx, caches, fresh)                   # (B, V)
            nxt = sample_next(logits, temperature, top_k, None, generator)   # (B,)
            idx, fresh = torch.cat([idx, nxt[:, None].to(idx.device)], dim=1), 1
        return idx


def parameter_count(cfg: GPTConfig) -> int:
    """Parameters of GPT(cfg), by formula (chapter 07, eq. 7.7). With b = 1 if bias else 0:

    per block: 2 LayerNorms (2C + 2bC) + attention (3C² + 3bC + C² + bC) + MLP (4C² + 4bC + 4C² + bC)
             = 12C² + (2 + 11b)C;
    total = V·C + block_size·C + L·(12C² + (2 + 11b)C) + (C + bC) [final LN] + (0 if tied else V·C).
    """
    C, b = cfg.n_embd, int(cfg.bias)
    per_block = 12 * C * C + (2 + 11 * b) * C
    head = 0 if cfg.tie_weights else cfg.vocab_size * C
    return cfg.vocab_size * C + cfg.block_size * C + cfg.n_layer * per_block + (1 + b) * C + head


def flops_per_token(cfg: GPTConfig, seq_len: int | None = None, training: bool = True) -> int:
    """Matmul FLOPs per token (a multiply-add = 2 FLOPs), as in PaLM (2022), appendix B:

    forward  = 2·N_mm + 4·L·T·C,   N_mm = 12·L·C² + V·C  (weights used in matmuls: blocks + output head);
    training = 3 × forward = 6·N_mm + 12·L·T·C     (backward costs twice the forward) — the "6N rule".
    The 4·L·T·C term is attention itself (QKᵀ and weights·V, each 2·T·C per token and layer).
    """
    T = cfg.block_size if seq_len is None else seq_len
    n_mm = 12 * cfg.n_layer * cfg.n_embd ** 2 + cfg.vocab_size * cfg.n_embd
    forward = 2 * n_mm + 4 * cfg.n_layer * T * cfg.n_embd
    return 3 * forward if training else forward
