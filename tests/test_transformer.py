"""GPT: parameter and FLOP formulas, causality, KV-cache generation, torch's encoder layer, training."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from aigc_course.models.attention import KVCache, causal_mask
from aigc_course.models.transformer import GPT, Block, GPTConfig, flops_per_token, parameter_count


def nano(**kw):
    torch.manual_seed(0)
    return GPT(GPTConfig.nano(vocab_size=11, **kw))


@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_parameter_count_matches_formula(tie, bias):
    cfg = GPTConfig.nano(vocab_size=11, tie_weights=tie, bias=bias)
    model = GPT(cfg)
    counted = sum(p.numel() for p in model.parameters())
    assert counted == parameter_count(cfg) == model.num_parameters()
    assert (model.head.weight is model.tok_emb.weight) == tie


def test_presets_sizes():
    assert parameter_count(GPTConfig.tiny(vocab_size=65)) == 208_320
    assert parameter_count(GPTConfig.small(vocab_size=65)) == 2_706_624
    assert GPTConfig.small().dropout == 0.1 and GPTConfig.tiny(n_layer=1).n_layer == 1


def test_forward_shapes_and_loss_at_init_is_log_vocab():
    model = nano()
    idx, targets = torch.randint(0, 11, (3, 20)), torch.randint(0, 11, (3, 20))
    logits, loss = model(idx, targets)
    assert logits.shape == (3, 20, 11)
    assert abs(loss.item() - torch.log(torch.tensor(11.0)).item()) < 0.1   # small init: nearly uniform
    assert model(idx)[1] is None


def test_flops_formula_equals_counted_matmul_flops():
    cfg = GPTConfig.nano(vocab_size=11, fused=False)
    model, T = GPT(cfg), 16
    idx = torch.randint(0, 11, (2, T))
    with FlopCounterMode(display=False) as fwd:
        model(idx)
    assert fwd.get_total_flops() == 2 * T * flops_per_token(cfg, seq_len=T, training=False)
    with FlopCounterMode(display=False) as both:
        model(idx, idx)[1].backward()
    assert both.get_total_flops() == 2 * T * flops_per_token(cfg, seq_len=T, training=True)


def test_gpt_is_causal():
    model = nano()
    idx = torch.randint(0, 11, (1, 10))
    logits = model(idx)[0]
    changed = idx.clone()
    changed[0, 6:] = (changed[0, 6:] + 1) % 11
    assert torch.allclose(model(changed)[0][0, :6], logits[0, :6], atol=1e-6)
    assert not torch.allclose(model(changed)[0][0, 6:], logits[0, 6:])


def test_generate_with_cache_equals_recomputation():
    model = nano().eval()
    prompt = torch.randint(0, 11, (2, 5))
    greedy_cached = model.generate(prompt, 40, top_k=1, use_cache=True)       # 45 > block_size 32: slides
    greedy_full = model.generate(prompt, 40, top_k=1, use_cache=False)
    assert greedy_cached.shape == (2, 45) and torch.equal(greedy_cached, greedy_full)
    a = model.generate(prompt, 20, use_cache=True, generator=torch.Generator().manual_seed(1))
    b = model.generate(prompt, 20, use_cache=False, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_cached_logits_equal_full_logits_step_by_step():
    from aigc_course.models.attention import KVCache

    model = nano().eval()
    idx = torch.randint(0, 11, (1, 12))
    full = model(idx)[0]
    caches = [KVCache() for _ in model.blocks]
    first = model(idx[:, :4], caches=caches)[0]
    steps = [model(idx[:, t: t + 1], caches=caches)[0] for t in range(4, 12)]
    assert torch.allclose(torch.cat([first, *steps], dim=1), full, atol=1e-5)


def test_same_seed_same_model_and_samples():
    a, b = nano(), nano()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    prompt = torch.zeros(1, 1, dtype=torch.long)
    s1 = a.generate(prompt, 15, generator=torch.Generator().manual_seed(3))
    s2 = b.generate(prompt, 15, generator=torch.Generator().manual_seed(3))
    s3 = b.generate(prompt, 15, generator=torch.Generator().manual_seed(4))
    assert torch.equal(s1, s2) and not torch.equal(s1, s3)


def test_block_equals_torch_encoder_layer_in_causal_mode():
    torch.manual_seed(0)
    cfg = GPTConfig.nano(vocab_size=11, fused=False)
    block = Block(cfg).eval()
    layer = torch.nn.TransformerEncoderLayer(32, 2, dim_feedforward=128, dropout=0.0, activation="gelu",
                                             batch_first=True, norm_first=True).eval()
    with torch.no_grad():
        block.attn.load_from_torch(layer.self_attn)
        for ours, theirs in [(block.ln1, layer.norm1), (block.ln2, layer.norm2),
                             (block.mlp.fc, layer.linear1), (block.mlp.proj, layer.linear2)]:
            ours.weight.copy_(theirs.weight)
            ours.bias.copy_(theirs.bias)
    x = torch.randn(2, 9, 32)
    ref = layer(x, src_mask=~causal_mask(9), is_causal=True)
    assert torch.allclose(block(x)[0], ref, atol=1e-5)


def test_attention_maps_shape_and_rows():
    model = nano()
    maps = model.attention_maps(torch.randint(0, 11, (1, 8)))
    assert maps.shape == (2, 1, 2, 8, 8)
    assert torch.allclose(maps.sum(-1), torch.ones(2, 1, 2, 8), atol=1e-6)
    assert torch.all(maps[..., 0, 1:] == 0)                       # the first token sees only itself


def test_tiny_model_overfits_a_short_text():
    torch.manual_seed(0)
    data = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] * 4)
    model = GPT(GPTConfig.nano(vocab_size=11, block_size=16))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, y = data[None, :16], data[None, 1:17]
    first = model(x, y)[1].item()
    for _ in range(25):
        loss = model(x, y)[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first


def test_bad_configs_and_inputs_raise_clearly():
    with pytest.raises(ValueError, match=r"n_embd \(30\) must be divisible by n_head \(4\).*\[1, 2, 3, 5, 6"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="n_layer must be a positive int"):
        GPTConfig(n_layer=0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        GPTConfig(dropout=1.0)
    model = nano()
    with pytest.raises(ValueError, match=r"length 33 is longer than block_size=32; valid lengths are 1\.\.32"):
        model(torch.zeros(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        model.generate(torch.zeros(1, 1, dtype=torch.long), 2, temperature=0)
    with pytest.raises(ValueError, match=r"top_k must be in 1\.\.11"):
        model.generate(torch.zeros(1, 1, dtype=torch.long), 2, top_k=12)


def test_chapter_checkers_reject_wrong_answers():
    from aigc_course.exercises import ch07

    unbiased = ch07.layer_norm(lambda x, g, b, eps=1e-5: g * (x - x.mean(-1, keepdim=True))
                               / torch.sqrt(x.var(-1, keepdim=True) + eps) + b)
    assert unbiased.status == "failed" and "unbiased" in unbiased.message
    untied = ch07.parameter_count(lambda c: parameter_count(GPTConfig(**{**c.__dict__, "tie_weights": False})))
    assert untied.status == "failed" and "tie_weights=True" in untied.message
    assert ch07.top_k(lambda logits, k: logits).status == "failed"
    six_n = ch07.training_flops(lambda c, T: 6 * (12 * c.n_layer * c.n_embd ** 2 + c.vocab_size * c.n_embd))
    assert six_n.status == "failed" and "attention" in six_n.message


def _all_tied_gpt() -> GPT:
    """A GPT whose next-token logits are all equal: zero token embeddings, tied to the output head."""
    model = GPT(GPTConfig.nano(vocab_size=11)).eval()
    with torch.no_grad():
        model.tok_emb.weight.zero_()
    return model


def test_top_k_1_is_greedy_even_when_logits_tie():
    """top_k=1 used to keep every token tied with the k-th (here all 11): a random draw, not greedy."""
    model, prompt = _all_tied_gpt(), torch.zeros(1, 3, dtype=torch.long)
    logits = model(prompt)[0][:, -1]
    assert torch.equal(logits, logits[:, :1].expand_as(logits))   # the premise: an 11-way tie
    outs = {tuple(model.generate(prompt, 12, top_k=1, generator=torch.Generator().manual_seed(s))[0].tolist())
            for s in range(8)}
    assert len(outs) == 1                                           # the same text under every seed


def test_gpt_generate_and_sampling_generate_follow_one_top_k_rule():
    from aigc_course.sampling import generate

    model, prompt = _all_tied_gpt(), torch.zeros(2, 2, dtype=torch.long)
    for k in (1, 3, 11):
        a = model.generate(prompt, 10, top_k=k, generator=torch.Generator().manual_seed(4))
        b = generate(model, prompt, 10, top_k=k, generator=torch.Generator().manual_seed(4))
        assert torch.equal(a, b)                                     # the same draws from the same filter
    for bad in (0, 12):
        with pytest.raises(ValueError, match="top_k must be"):
            model.generate(prompt, 2, top_k=bad)
        with pytest.raises(ValueError, match="top_k must be"):
            generate(model, prompt, 2, top_k=bad)


def test_sliding_the_cache_is_not_exact_with_learned_positions():
    """Why generate recomputes the window once it is full: reusing the cache with its oldest entry dropped
    (and positions shifted down by one) gives other logits than the model applied to the window."""
    torch.manual_seed(0)
    model = GPT(GPTConfig.nano(vocab_size=11, block_size=8)).eval()
    idx = torch.randint(0, 11, (1, 9))
    exact = model(idx[:, 1:])[0][:, -1]                         # the model on the last 8 tokens
    caches = [KVCache() for _ in model.blocks]
    model(idx[:, :8], caches=caches)                            # cache of positions 0..7
    for c in caches:                                            # drop token 0; tokens 1..7 keep their K, V
        c.k, c.v = c.k[:, :, 1:], c.v[:, :, 1:]
    slid = model(idx[:, 8:], caches=caches)[0][:, -1]           # token 8 at position 7
    assert (slid - exact).abs().max() > 1e-3
    assert torch.equal(model.generate(idx, 3, top_k=1, use_cache=True),
                       model.generate(idx, 3, top_k=1, use_cache=False))
