"""Attention: our equations against torch's kernels, masks that leak nothing, positions."""

import math

import pytest
import torch
import torch.nn.functional as F

from aigc_course.models.attention import (
    KVCache,
    LearnedPositionalEncoding,
    MultiHeadAttention,
    SinusoidalPositionalEncoding,
    apply_rotary,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
    sinusoidal_encoding,
)


def qkv(B=2, H=3, T=5, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, H, T, d, generator=g), torch.randn(B, H, T, d, generator=g),
            torch.randn(B, H, T, d, generator=g))


def test_sdpa_equals_torch_with_and_without_masks():
    q, k, v = qkv()
    for mask in (None, causal_mask(5), padding_mask(torch.tensor([5, 3]), 5) & causal_mask(5)):
        ours, w = scaled_dot_product_attention(q, k, v, mask)
        theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        assert torch.allclose(ours, theirs, atol=1e-5)
        assert torch.allclose(w.sum(-1), torch.ones(2, 3, 5))


def test_sdpa_by_hand_on_one_query():
    # one query, two keys: weights = softmax([q·k1, q·k2] / sqrt(2))
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    v = torch.tensor([[10.0], [20.0]])
    out, w = scaled_dot_product_attention(q, k, v)
    a = math.exp(1 / math.sqrt(2)) / (math.exp(1 / math.sqrt(2)) + 1)
    assert torch.allclose(w, torch.tensor([[a, 1 - a]]))
    assert torch.allclose(out, torch.tensor([[10 * a + 20 * (1 - a)]]))


def test_causal_mask_shapes_and_offset():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    # two new queries after three cached tokens see keys 0..3 and 0..4
    assert causal_mask(2, 5).tolist() == [[True, True, True, True, False], [True] * 5]
    with pytest.raises(ValueError, match="t_key must be >= t_query"):
        causal_mask(4, 2)


def test_padding_mask_and_bad_lengths():
    m = padding_mask(torch.tensor([2, 4]), 4)
    assert m.shape == (2, 1, 1, 4)
    assert m[:, 0, 0].tolist() == [[True, True, False, False], [True] * 4]
    with pytest.raises(ValueError, match=r"values in 1\.\.4"):
        padding_mask(torch.tensor([0, 5]), 4)


def test_causal_attention_leaks_nothing_from_the_future():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, causal=True)
    x = torch.randn(1, 6, 16, requires_grad=True)
    y, _ = mha(x)
    for t in range(6):
        (grad,) = torch.autograd.grad(y[0, t].sum(), x, retain_graph=True)
        assert torch.all(grad[0, t + 1:] == 0), f"output {t} depends on a later input"
        assert grad[0, : t + 1].abs().sum() > 0


def test_padding_mask_leaks_nothing_from_padding():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 2)
    x = torch.randn(2, 5, 16, requires_grad=True)
    y, _ = mha(x, mask=padding_mask(torch.tensor([3, 5]), 5))
    (grad,) = torch.autograd.grad(y[0, :3].sum(), x)
    assert torch.all(grad[0, 3:] == 0) and torch.all(grad[1] == 0)


def torch_mha(C=16, H=4, seed=0):
    torch.manual_seed(seed)
    theirs = torch.nn.MultiheadAttention(C, H, batch_first=True)
    torch.nn.init.normal_(theirs.in_proj_bias)
    torch.nn.init.normal_(theirs.out_proj.bias)
    return theirs, MultiHeadAttention(C, H).load_from_torch(theirs)


def test_multihead_equals_torch_multiheadattention():
    theirs, ours = torch_mha()
    x = torch.randn(3, 7, 16)
    ref, ref_w = theirs(x, x, x, average_attn_weights=False)
    y, w = ours(x, need_weights=True)
    assert torch.allclose(y, ref, atol=1e-5) and torch.allclose(w, ref_w, atol=1e-6)
    # causal: torch's boolean attn_mask means "blocked", ours means "allowed"
    ours.causal = True
    ref, _ = theirs(x, x, x, attn_mask=~causal_mask(7))
    assert torch.allclose(ours(x)[0], ref, atol=1e-5)


def test_fused_path_equals_ours():
    torch.manual_seed(1)
    mha = MultiHeadAttention(16, 4, causal=True)
    x = torch.randn(2, 6, 16)
    slow = mha(x, need_weights=True)[0]
    mha.fused = True
    assert torch.allclose(mha(x)[0], slow, atol=1e-5)


def test_kv_cache_gives_the_same_outputs_token_by_token():
    torch.manual_seed(2)
    mha = MultiHeadAttention(16, 4, causal=True)
    x = torch.randn(1, 6, 16)
    full, _ = mha(x)
    cache = KVCache()
    steps = [mha(x[:, t: t + 1], cache=cache)[0] for t in range(6)]
    assert len(cache) == 6
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_permutation_equivariance_without_mask():
    torch.manual_seed(3)
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(1, 5, 8)
    perm = torch.tensor([3, 0, 4, 1, 2])
    assert torch.allclose(mha(x[:, perm])[0], mha(x)[0][:, perm], atol=1e-5)


def test_bad_heads_raise_with_valid_choices():
    with pytest.raises(ValueError, match=r"n_embd \(10\) must be divisible by n_head \(3\).*\[1, 2, 5, 10\]"):
        MultiHeadAttention(10, 3)


def test_sinusoidal_values_and_modules():
    pe = sinusoidal_encoding(50, 6)
    assert pe.shape == (50, 6)
    assert torch.allclose(pe[7, 2], torch.tensor(math.sin(7 / 10000 ** (2 / 6))))
    assert torch.allclose(pe[7, 3], torch.tensor(math.cos(7 / 10000 ** (2 / 6))))
    x = torch.zeros(1, 4, 6)
    assert torch.allclose(SinusoidalPositionalEncoding(50, 6)(x, offset=2)[0], pe[2:6])
    learned = LearnedPositionalEncoding(8, 6)
    assert torch.allclose(learned(x, offset=1)[0], learned.table.weight[1:5])
    with pytest.raises(ValueError, match=r"covers 0\.\.7 \(max_len=8\)"):
        learned(torch.zeros(1, 5, 6), offset=4)
    with pytest.raises(ValueError, match="d must be even"):
        sinusoidal_encoding(4, 5)


def test_rotary_scores_depend_only_on_relative_position():
    g = torch.Generator().manual_seed(4)
    q, k = torch.randn(8, generator=g), torch.randn(8, generator=g)
    rot = lambda v, p: apply_rotary(v[None], offset=p)[0]
    s1 = rot(q, 5) @ rot(k, 2)
    s2 = rot(q, 13) @ rot(k, 10)
    assert torch.allclose(s1, s2, atol=1e-5)
    assert not torch.allclose(s1, rot(q, 5) @ rot(k, 4), atol=1e-3)
    assert torch.allclose(apply_rotary(q[None], 3).norm(), q.norm(), atol=1e-5)   # a rotation keeps norms


def test_chapter_checkers_reject_wrong_answers():
    from aigc_course.exercises import ch06

    def flipped_mask(q, k, v, mask=None):
        s = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
        return torch.softmax(s if mask is None else s.masked_fill(mask, float("-inf")), -1) @ v

    unscaled = ch06.attention(lambda q, k, v, mask=None: torch.softmax(q @ k.transpose(-2, -1), -1) @ v)
    assert unscaled.status == "failed" and "√d_k" in unscaled.message
    assert ch06.attention(flipped_mask).status == "failed"
    upper = ch06.causal_mask(lambda t: torch.ones(t, t, dtype=torch.bool).triu())
    assert upper.status == "failed" and "upper triangle" in upper.message
    assert ch06.sinusoidal(lambda t, d: torch.zeros(t, d)).status == "failed"
    flat = ch06.split_heads(lambda x, n: x.reshape(x.shape[0], n, x.shape[1], -1))
    assert flat.status == "failed" and "transpose" in flat.message


# ---------------------------------------------------------------------------------------------- one mask rule


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.uint8])
def test_non_boolean_masks_are_refused_on_both_paths(fused, dtype):
    """A float 0/1 mask used to be read as additive by the fused kernel (future tokens leaked) and to raise
    an obscure TypeError on the unfused path: now both refuse it with the same message."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, causal=False, fused=fused)
    x = torch.randn(2, 5, 8)
    with pytest.raises(TypeError, match=r"mask must be a boolean tensor.*mask\.bool\(\)"):
        mha(x, mask=causal_mask(5).to(dtype))
    with pytest.raises(TypeError, match=r"mask must be a boolean"):
        scaled_dot_product_attention(x, x, x, causal_mask(5).to(dtype))
    with pytest.raises(TypeError, match=r"mask must be a boolean torch.Tensor"):
        mha(x, mask=[[True] * 5] * 5)
    y_bool, _ = mha(x, mask=causal_mask(5))
    y_fixed, _ = mha(x, mask=causal_mask(5).to(dtype).bool())    # the advice in the message works
    assert torch.equal(y_bool, y_fixed)


def test_both_paths_agree_on_a_boolean_mask():
    torch.manual_seed(0)
    a = MultiHeadAttention(8, 2, fused=False)
    b = MultiHeadAttention(8, 2, fused=True)
    b.load_state_dict(a.state_dict())
    x, mask = torch.randn(2, 6, 8), padding_mask(torch.tensor([6, 3]), 6) & causal_mask(6)
    assert torch.allclose(a(x, mask=mask)[0], b(x, mask=mask)[0], atol=1e-6)
    with pytest.raises(ValueError, match=r"x must be \(B, T, C\) with C = n_embd = 8"):
        a(torch.randn(2, 6, 4))
