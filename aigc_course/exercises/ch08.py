"""Checkers for chapter 08's exercises (text generation)."""

import math

import torch
from torch.nn import functional as F

from aigc_course.exercises.core import exercise


@exercise("ch08.perplexity")
def perplexity(fn) -> None:
    """fn(logits (N, V), targets (N,)) -> perplexity = exp(mean cross-entropy in nats)."""
    g = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(64, 7, generator=g), torch.randint(0, 7, (64,), generator=g)
    expected = math.exp(F.cross_entropy(logits, targets).item())
    got = float(fn(logits, targets))
    assert abs(got - expected) < 1e-4 * expected, (
        f"on random logits the perplexity is {expected:.4f}, you returned {got:.4f}; perplexity is exp of the "
        f"mean negative log-likelihood in nats (not log base 2, not a sum over tokens)")
    uniform = float(fn(torch.zeros(10, 7), torch.arange(10) % 7))
    assert abs(uniform - 7) < 1e-4, f"a uniform model over 7 tokens has perplexity 7, you returned {uniform:.4f}"


@exercise("ch08.top_k")
def top_k(fn) -> None:
    """fn(logits (B, V), k) -> logits with all but the k largest set to -inf."""
    from aigc_course.sampling import top_k_filter

    g = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 20, generator=g)
    for k in (1, 3, 20):
        out = fn(logits.clone(), k)
        kept = torch.isfinite(out)
        assert out.shape == logits.shape, \
            f"the output must keep the shape {tuple(logits.shape)}, got {tuple(out.shape)}"
        assert (kept.sum(-1) == k).all(), \
            f"with k={k} exactly {k} logits per row must stay finite, got {kept.sum(-1).tolist()}"
        assert torch.equal(out, top_k_filter(logits, k)), (
            f"with k={k} the kept logits must be the k largest of each row, unchanged (do not rescale them)")


@exercise("ch08.top_p")
def top_p(fn) -> None:
    """fn(logits (B, V), p) -> logits outside the nucleus set to -inf."""
    from aigc_course.sampling import top_p_filter

    probs = torch.tensor([[0.05, 0.4, 0.1, 0.3, 0.15]])
    for p, size in [(0.3, 1), (0.5, 2), (0.7, 2), (0.8, 3), (1.0, 5)]:
        kept = int(torch.isfinite(fn(probs.log(), p)).sum())
        shown = [round(x, 2) for x in probs[0].tolist()]
        assert kept == size, (f"probabilities {shown}, p={p}: the smallest set of most likely tokens "
                              f"with mass >= p has {size} tokens, you kept {kept}")
    logits = torch.randn(6, 30, generator=torch.Generator().manual_seed(2)) * 2
    for p in (0.2, 0.6, 0.95):
        assert torch.equal(torch.isfinite(fn(logits.clone(), p)), torch.isfinite(top_p_filter(logits, p))), (
            f"on random logits with p={p} you kept a different set from the nucleus")


@exercise("ch08.bpe_merge")
def bpe_merge(fn) -> None:
    """fn(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]."""
    cases = [(([1, 2, 3, 1, 2], (1, 2), 9), [9, 3, 9]),
             (([7, 7, 7], (7, 7), 9), [9, 7]),
             (([7, 7, 7, 7], (7, 7), 9), [9, 9]),
             (([1], (1, 2), 9), [1]),
             (([], (1, 2), 9), []),
             (([2, 1, 2, 1], (1, 2), 9), [2, 9, 1])]
    for (ids, pair, new), expected in cases:
        got = list(fn(list(ids), pair, new))
        assert got == expected, (f"merge({ids}, {pair}, {new}) should be {expected}, you returned {got} "
                                 f"(scan left to right; after a merge, skip both tokens)")
