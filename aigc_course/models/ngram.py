"""A count-based n-gram language model with smoothing (chapter 08): the baseline the neural models must beat.

An n-gram model predicts token x_t from the previous n − 1 tokens only, with probabilities read off counts
c(·) in the training text. Raw counts give probability 0 to anything unseen (an infinite loss), so the
counts are *smoothed*:

- add-k (Laplace for k = 1):   P(x | h) = (c(h x) + k) / (c(h) + k V)
- interpolated Kneser-Ney (Chen & Goodman, 1998), with discount d and h' = h without its oldest token:
      P_KN(x | h) = max(c(h x) − d, 0) / c(h)  +  d · N₁₊(h •) / c(h) · P_KN(x | h')
  where N₁₊(h •) is the number of distinct tokens seen after h (so the two terms sum to 1). For every order
  but the highest, c is replaced by the *continuation count* N₁₊(• h x): in how many distinct contexts
  the n-gram appears. Contexts never seen (c(h) = 0) fall back to P_KN(x | h'); the order −1 is uniform.

Counts live in sorted int64 tensors: an n-gram (h, x) with h = (x_{t−j+1} … x_t) is the number
key = Σ_l x_{t−l} V^l · V + x, looked up with ``searchsorted``. Nothing is learned by gradient descent, so
this is a plain class (no ``nn.Module``) that works on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from aigc_course.validation import check_fields

SMOOTHINGS = ("kneser-ney", "add-k")


@dataclass
class NGramConfig:
    vocab_size: int
    n: int = 3                       # order: x_t is predicted from the previous n − 1 tokens (1 = unigram)
    smoothing: str = "kneser-ney"    # or "add-k"
    k: float = 1.0                   # add-k pseudo-count per token (1.0 is Laplace smoothing)
    discount: float = 0.75           # Kneser-Ney absolute discount d, in (0, 1)

    def __post_init__(self) -> None:
        check_fields(self)  # every field of the annotated type (TypeError / ValueError naming it)
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2, got {self.vocab_size}")
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n must be a positive int (1 = unigram, 2 = bigram, ...), got {self.n!r}")
        if self.smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing must be one of {SMOOTHINGS}, got {self.smoothing!r}")
        if not self.k > 0:
            raise ValueError(f"k must be > 0 (add-k needs a positive pseudo-count), got {self.k}")
        if not 0 < self.discount < 1:
            raise ValueError(f"discount must be in (0, 1), got {self.discount}")
        if self.vocab_size ** self.n >= 2 ** 62:
            raise ValueError(f"vocab_size ** n = {self.vocab_size}**{self.n} does not fit the int64 keys; "
                             f"use a smaller n or vocabulary")

    @classmethod
    def tiny(cls, **overrides) -> NGramConfig:
        return cls(**{"vocab_size": 5, "n": 3, **overrides})


def context_ids(idx: Tensor, j: int, vocab_size: int) -> tuple[Tensor, Tensor]:
    """The context made of the last j tokens up to each position, as one number, and whether it exists.

    ctx_j[t] = Σ_{l<j} x_{t−l} V^l; valid[t] is False where fewer than j tokens precede (t + 1 < j).
    (..., T) -> (..., T), (..., T).
    """
    ctx = torch.zeros_like(idx)
    for lag in range(j):
        shifted = F.pad(idx, (lag, 0))[..., : idx.shape[-1]]               # x_{t-lag}, 0 before the start
        ctx = ctx + shifted * vocab_size ** lag
    valid = torch.arange(idx.shape[-1], device=idx.device) + 1 >= j        # (T,)
    return ctx, valid.expand_as(idx)


def _sum_by_key(keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
    """Sorted unique keys and the sum of ``values`` per key."""
    uniq, inverse = torch.unique(keys, return_inverse=True)
    return uniq, torch.zeros(len(uniq), dtype=torch.float64).index_add_(0, inverse, values.double())


def _lookup(keys: Tensor, values: Tensor, queries: Tensor) -> Tensor:
    """values[key == query], or 0 where the query is not among the sorted ``keys``."""
    if keys.numel() == 0:
        return torch.zeros(queries.shape, dtype=torch.float64)
    pos = torch.searchsorted(keys, queries).clamp(max=len(keys) - 1)
    return torch.where(keys[pos] == queries, values[pos], torch.zeros((), dtype=torch.float64))


@dataclass
class _Table:
    """Counts for one order j: n-gram keys with their counts; contexts with c(h) and N₁₊(h •)."""

    keys: Tensor
    counts: Tensor
    ctx: Tensor
    totals: Tensor
    types: Tensor

    @classmethod
    def from_counts(cls, keys: Tensor, counts: Tensor, vocab_size: int) -> _Table:
        ctx, totals = _sum_by_key(keys // vocab_size, counts)
        _, types = _sum_by_key(keys // vocab_size, torch.ones_like(counts))
        return cls(keys, counts.double(), ctx, totals, types)


class NGramLM:
    """Count-based n-gram LM. ``fit(ids)`` counts; ``probs(idx)`` (B, T) -> (B, T, V) next-token
    distributions; calling it like a model gives ``(logits, loss)`` as the neural models do."""

    def __init__(self, cfg: NGramConfig):
        self.cfg = cfg
        self.tables: list[_Table] = []

    @property
    def fitted(self) -> bool:
        return len(self.tables) == self.cfg.n

    def fit(self, ids: Tensor) -> NGramLM:
        """Count every j-gram (j = 1 … n) of a 1-D tensor of token ids; KN turns the lower orders into
        continuation counts."""
        ids = torch.as_tensor(ids, dtype=torch.long).cpu()
        V, n = self.cfg.vocab_size, self.cfg.n
        if ids.dim() != 1 or len(ids) < 2:
            raise ValueError(f"ids must be a 1-D tensor of at least 2 token ids, got shape {tuple(ids.shape)}")
        if int(ids.min()) < 0 or int(ids.max()) >= V:
            raise ValueError(f"ids must be in 0..{V - 1} (vocab_size={V}), got {int(ids.min())}..{int(ids.max())}")
        raw = []
        for j in range(n):                                                  # context length j
            ctx, valid = context_ids(ids[:-1], j, V)                        # (L-1,) each
            keys = (ctx * V + ids[1:])[valid]                               # n-gram (h, x) as one number
            uniq, counts = torch.unique(keys, return_counts=True)
            raw.append((uniq, counts))
        self.tables = [_Table.from_counts(*raw[j], V) for j in range(n)]
        if self.cfg.smoothing == "kneser-ney":
            for j in range(n - 1):                                          # N₁₊(• h x): drop the oldest token
                shorter = raw[j + 1][0] % V ** (j + 1)
                keys, cont = torch.unique(shorter, return_counts=True)
                self.tables[j] = _Table.from_counts(keys, cont, V)
        return self

    def _order_probs(self, j: int, ctx: Tensor, x: Tensor, lower: Tensor) -> Tensor:
        """P_j(x | h) from the order-j table, given the order j−1 estimate ``lower``; broadcasts."""
        t, V = self.tables[j], self.cfg.vocab_size
        total = _lookup(t.ctx, t.totals, ctx)                               # c(h)
        count = _lookup(t.keys, t.counts, ctx * V + x)                      # c(h x)
        seen = total > 0
        safe = total.clamp(min=1)
        if self.cfg.smoothing == "add-k":
            k = self.cfg.k
            return torch.where(seen, (count + k) / (total + k * V), torch.full_like(count, 1 / V))
        d = self.cfg.discount
        types = _lookup(t.ctx, t.types, ctx)                                # N₁₊(h •)
        kn = (count - d).clamp(min=0) / safe + d * types / safe * lower
        return torch.where(seen, kn, lower)

    def prob_of(self, idx: Tensor, x: Tensor) -> Tensor:
        """P(x | the n − 1 tokens up to each position of idx): idx (B, T), x (B, T, K) -> (B, T, K), float64."""
        if not self.fitted:
            raise RuntimeError("this n-gram model has not been fitted: call .fit(train_ids) first")
        idx = torch.as_tensor(idx, dtype=torch.long).cpu()
        V = self.cfg.vocab_size
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= V):
            raise ValueError(f"token ids must be in 0..{V - 1}, got {int(idx.min())}..{int(idx.max())}")
        p = torch.full(x.shape, 1.0 / V, dtype=torch.float64)               # order −1: uniform
        for j in range(self.cfg.n):
            ctx, valid = context_ids(idx, j, V)                             # (B, T) each
            pj = self._order_probs(j, ctx[..., None], x, p)                 # (B, T, K)
            p = torch.where(valid[..., None], pj, p)                        # too early for order j: keep j−1
        return p

    def probs(self, idx: Tensor) -> Tensor:
        """Next-token distributions (B, T) -> (B, T, V), float64; every row sums to 1."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        vocab = torch.arange(self.cfg.vocab_size).expand(*idx.shape, -1)    # (B, T, V)
        return self.prob_of(idx, vocab)

    def __call__(self, idx: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Like the neural models: logits = log P (B, T, V) and the mean cross-entropy when targets are given."""
        logits = self.probs(idx).log().float()                              # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), torch.as_tensor(targets).flatten().cpu())
        return logits, loss

    def nll(self, ids: Tensor, chunk: int = 200_000) -> float:
        """Mean NLL (nats/token) of ids[1:] given all that precedes them (up to n − 1 tokens):
        −1/(L−1) Σ_t log P(x_{t+1} | x_{t−n+2} … x_t)."""
        ids = torch.as_tensor(ids, dtype=torch.long).cpu()
        total, n = 0.0, self.cfg.n
        for start in range(0, len(ids) - 1, chunk):
            lo = max(0, start - (n - 1))                                    # carry the context into the chunk
            window = ids[lo: start + chunk + 1]
            p = self.prob_of(window[None, :-1], window[None, 1:, None])[0, start - lo:, 0]
            total += float(-p.log().sum())
        return total / (len(ids) - 1)
