"""Checkers for chapter 06's exercises (attention)."""

import math

import torch
import torch.nn.functional as F

from aigc_course.exercises.core import exercise


def _qkv(seed: int, shape=(2, 3, 6, 8)):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, generator=g) for _ in range(3))


@exercise("ch06.attention")
def attention(fn) -> None:
    """fn(q, k, v, mask=None) -> softmax(q kᵀ / √d_k, masked) v."""
    q, k, v = _qkv(0)
    out = fn(q, k, v)
    out = out[0] if isinstance(out, tuple) else out
    assert out.shape == (2, 3, 6, 8), f"the output must be (B, h, T, d_v) = (2, 3, 6, 8), got {tuple(out.shape)}"
    unscaled = torch.softmax(q @ k.transpose(-2, -1), -1) @ v
    if torch.allclose(out, unscaled, atol=1e-4):
        raise AssertionError("the scores are not scaled: divide q kᵀ by √d_k before the softmax")
    ref = F.scaled_dot_product_attention(q, k, v)
    assert torch.allclose(out, ref, atol=1e-4), "without a mask your output differs from softmax(q kᵀ/√d_k) v"
    mask = torch.ones(6, 6, dtype=torch.bool).tril()
    out = fn(q, k, v, mask)
    out = out[0] if isinstance(out, tuple) else out
    assert not torch.isnan(out).any(), \
        "with a causal mask your output has NaN: a query sees no key. True means 'may attend' (keep it)"
    flipped = F.scaled_dot_product_attention(q, k, v, attn_mask=~mask | torch.eye(6, dtype=torch.bool))
    if torch.allclose(out, flipped, atol=1e-4):
        raise AssertionError("the mask is read the wrong way round: True means 'may attend'")
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(out, ref, atol=1e-4), \
        "with a causal mask your output differs: set masked scores to -inf before the softmax"


@exercise("ch06.causal_mask")
def causal_mask(fn) -> None:
    """fn(T) -> (T, T) boolean, True where query i may see key j (j <= i)."""
    for t in (1, 4, 9):
        m = fn(t)
        assert isinstance(m, torch.Tensor) and m.dtype == torch.bool, \
            f"return a boolean tensor, got {type(m).__name__} {getattr(m, 'dtype', '')}"
        assert m.shape == (t, t), f"for T={t} the mask is ({t}, {t}), got {tuple(m.shape)}"
        expected = torch.ones(t, t, dtype=torch.bool).tril()
        if t > 1 and torch.equal(m, ~expected | torch.eye(t, dtype=torch.bool)):
            raise AssertionError("this is the upper triangle: query i may look at keys j <= i (the past)")
        assert torch.equal(m, expected), f"for T={t}, row i must be True exactly at columns 0..i"


@exercise("ch06.sinusoidal")
def sinusoidal(fn) -> None:
    """fn(T, d) -> (T, d) with PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d))."""
    pe = fn(20, 8)
    assert tuple(pe.shape) == (20, 8), f"the table is (T, d) = (20, 8), got {tuple(pe.shape)}"
    assert torch.allclose(pe[0], torch.tensor([0.0, 1.0] * 4), atol=1e-6), \
        "at position 0 every sin is 0 and every cos is 1: even columns sin, odd columns cos"
    for p, i in [(3, 0), (7, 1), (19, 3)]:
        angle = p / 10000 ** (2 * i / 8)
        assert abs(pe[p, 2 * i].item() - math.sin(angle)) < 1e-5, \
            f"PE[{p}, {2 * i}] should be sin({p} / 10000^({2 * i}/8)) = {math.sin(angle):.5f}, got {pe[p, 2 * i]:.5f}"
        assert abs(pe[p, 2 * i + 1].item() - math.cos(angle)) < 1e-5, \
            f"PE[{p}, {2 * i + 1}] should be cos of the same angle = {math.cos(angle):.5f}"


@exercise("ch06.split_heads")
def split_heads(fn) -> None:
    """fn(x (B, T, C), n_head) -> (B, n_head, T, C // n_head): head h holds channels h*hs .. (h+1)*hs - 1."""
    x = torch.arange(2 * 5 * 12, dtype=torch.float32).reshape(2, 5, 12)
    out = fn(x, 3)
    assert tuple(out.shape) == (2, 3, 5, 4), \
        f"(B, T, C) = (2, 5, 12) with 3 heads -> (2, 3, 5, 4), got {tuple(out.shape)}"
    wrong = x.reshape(2, 3, 5, 4)
    if torch.equal(out, wrong):
        raise AssertionError("a plain reshape mixes time and channels: view as (B, T, nh, hs), then transpose(1, 2)")
    assert torch.equal(out[1, 2, 4], x[1, 4, 8:12]), \
        "head h at time t must hold the channels h*hs .. (h+1)*hs - 1 of token t"
