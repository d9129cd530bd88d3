"""Checkers for chapter 12's exercises (text and images). Each rejects a plausible wrong answer with a hint
that names the mistake."""

import math

import torch
import torch.nn.functional as F

from aigc_course.exercises.core import exercise


def _pair(seed: int = 0, n: int = 6, d: int = 5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * 3, torch.randn(n, d, generator=g) * 3


@exercise("ch12.info_nce")
def info_nce(fn) -> None:
    """fn(image_features (B, D), text_features (B, D), scale) -> the symmetric InfoNCE loss (12.2), a scalar.
    The features are NOT normalised yet."""
    from aigc_course.models.clip import clip_loss

    a, b = _pair()
    got = float(torch.as_tensor(fn(a.clone(), b.clone(), 2.0)))
    u, v = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    target = torch.arange(len(a))
    if math.isclose(got, float(clip_loss(a, b, 2.0)), rel_tol=1e-4):
        raise AssertionError("CLIP compares directions: normalise both feature sets to unit length first")
    logits = 2.0 * u @ v.t()
    if math.isclose(got, float(F.cross_entropy(logits, target)), rel_tol=1e-4):
        raise AssertionError("that is only image → text; average it with text → image (the transpose)")
    if math.isclose(got, float(clip_loss(u, v, 0.5)), rel_tol=1e-4):
        raise AssertionError("the scale multiplies the cosine similarities (it is 1/τ), it does not divide them")
    assert math.isclose(got, float(clip_loss(u, v, 2.0)), rel_tol=1e-4), \
        "L = ½ [CE(S, diag) + CE(Sᵀ, diag)] with S = scale · u vᵀ, u and v unit rows"


@exercise("ch12.top1")
def top1(fn) -> None:
    """fn(similarity (Q, G), match (Q, G) bool) -> top-1 retrieval accuracy (12.4), a float in [0, 1]."""
    sim = torch.tensor([[0.9, 0.1, 0.0, 0.2], [0.2, 0.1, 0.8, 0.0], [0.3, 0.4, 0.1, 0.5]])
    match = torch.tensor([[True, False, False, False], [False, True, True, False], [False, True, False, False]])
    got = float(fn(sim.clone(), match.clone()))
    if math.isclose(got, 1 / 3, rel_tol=1e-5):
        raise AssertionError("a query is right when its best item is ANY correct one (match), not only "
                             "the item on the diagonal")
    if math.isclose(got, float(match[sim.argmax(0), torch.arange(4)].float().mean()), rel_tol=1e-5):
        raise AssertionError("the argmax runs over the gallery (each row's columns), not over the queries")
    assert math.isclose(got, 2 / 3, rel_tol=1e-5), "mean over queries q of match[q, argmax_g sim[q, g]]"


@exercise("ch12.cross_attention")
def cross_attention(fn) -> None:
    """fn(x (B, T, C), memory (B, N, C), Wq, Wk, Wv (C, C)) -> (B, T, C): one head, x @ W (12.6)."""
    g = torch.Generator().manual_seed(2)
    x, mem = torch.randn(2, 3, 4, generator=g), torch.randn(2, 5, 4, generator=g)
    wq, wk, wv = (torch.randn(4, 4, generator=g) for _ in range(3))
    got = torch.as_tensor(fn(x, mem, wq, wk, wv))

    def attend(q, k, v, dim=-1):
        return torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=dim) @ v

    if got.shape == (2, 5, 4):
        raise AssertionError("the output has one row per query (the text), T rows, not one per image token")
    assert got.shape == (2, 3, 4), f"expected shape (2, 3, 4), got {tuple(got.shape)}"
    if torch.allclose(got, attend(x @ wq, x @ wk, x @ wv), atol=1e-5):
        raise AssertionError("that is self-attention: keys and values come from the memory (the image)")
    if torch.allclose(got, torch.softmax((x @ wq) @ (mem @ wk).transpose(-2, -1), -1) @ (mem @ wv), atol=1e-5):
        raise AssertionError("divide the scores by √d_k (here √4 = 2) before the softmax")
    assert torch.allclose(got, attend(x @ wq, mem @ wk, mem @ wv), atol=1e-5), \
        "softmax((x Wq)(M Wk)ᵀ / √d) (M Wv), the softmax over the memory tokens"


@exercise("ch12.drop_condition")
def drop_condition(fn) -> None:
    """fn(cond (B, D), u (B,) uniform draws, p) -> cond with each sample's WHOLE vector set to 0 (∅) where
    u < p: the condition dropout that teaches one network ε(x, ∅) for guidance."""
    g = torch.Generator().manual_seed(3)
    cond, u = torch.randn(8, 3, generator=g), torch.rand(8, generator=g)
    got = torch.as_tensor(fn(cond.clone(), u.clone(), 0.5))
    expected = torch.where((u < 0.5)[:, None], torch.zeros_like(cond), cond)
    assert got.shape == cond.shape, f"expected shape {tuple(cond.shape)}, got {tuple(got.shape)}"
    if torch.allclose(got, torch.where((u >= 0.5)[:, None], torch.zeros_like(cond), cond)):
        raise AssertionError("reversed: a sample is dropped (set to ∅) when u < p, so that p is the drop rate")
    assert torch.allclose(got, expected), \
        "zero the whole row of each dropped sample: cond * (u >= p)[:, None]; keep the others unchanged"
