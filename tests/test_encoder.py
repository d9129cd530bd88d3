"""Masked-LM encoder: the 80/10/10 rule measured, bidirectional attention, the loss, and a short training run."""

import math

import pytest
import torch
import torch.nn.functional as F

from aigc_course.models.encoder import (
    IGNORE,
    MASK,
    PAD,
    MaskedLM,
    SpecialTokens,
    fill_left_to_right,
    mask_tokens,
    mlm_loss,
    tokenizer_with_specials,
)
from aigc_course.models.transformer import GPT, GPTConfig


def test_masking_rule_rates_match_15_80_10_10():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(2, 50, (400, 64), generator=g)
    inputs, targets = mask_tokens(ids, mask_id=0, vocab_size=50, generator=g)
    chosen = targets != IGNORE
    assert abs(chosen.float().mean().item() - 0.15) < 0.005
    assert torch.equal(targets[chosen], ids[chosen]) and torch.equal(inputs[~chosen], ids[~chosen])
    masked = (inputs == 0) & chosen
    kept = (inputs == ids) & chosen
    n = chosen.sum().item()
    assert abs(masked.sum().item() / n - 0.8) < 0.01
    # a random replacement equals the original 1/V of the time: kept ≈ 0.1 + 0.1/V, replaced ≈ 0.1 (1 - 1/V)
    assert abs(kept.sum().item() / n - (0.1 + 0.1 / 50)) < 0.01
    assert abs((chosen & ~masked & ~kept).sum().item() / n - 0.1 * (1 - 1 / 50)) < 0.01


def test_protected_tokens_are_never_chosen_and_every_row_has_a_target():
    ids = torch.tensor([[5, 6, 7, 1, 1, 1], [1, 1, 1, 1, 1, 8]])
    for seed in range(20):
        inputs, targets = mask_tokens(ids, 0, 10, p=0.01, protected=torch.tensor([1]),
                                      generator=torch.Generator().manual_seed(seed))
        assert ((targets != IGNORE) & (ids == 1)).sum() == 0
        assert ((targets != IGNORE).sum(1) >= 1).all()
        assert torch.equal(inputs[ids == 1], ids[ids == 1])


def test_masking_rejects_bad_arguments():
    ids = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="p must be in"):
        mask_tokens(ids, 0, 10, p=0.0)
    with pytest.raises(ValueError, match="mask_id must be in 0..9"):
        mask_tokens(ids, 10, 10)
    with pytest.raises(ValueError, match=r"\(B, T\) integer"):
        mask_tokens(ids.float(), 0, 10)


def test_encoder_sees_both_sides_and_gpt_does_not():
    torch.manual_seed(0)
    cfg = GPTConfig.nano(vocab_size=11)
    enc, gpt = MaskedLM(cfg), GPT(cfg)
    idx = torch.randint(0, 11, (1, 10))
    changed = idx.clone()
    changed[0, 7] = (changed[0, 7] + 1) % 11
    assert not torch.allclose(enc(changed)[0][0, :7], enc(idx)[0][0, :7])     # the future changes the past
    assert torch.allclose(gpt(changed)[0][0, :7], gpt(idx)[0][0, :7], atol=1e-6)
    assert sum(p.numel() for p in enc.parameters()) == sum(p.numel() for p in gpt.parameters())
    with pytest.raises(TypeError, match="not a left-to-right generator"):
        enc.generate(idx, 3)


def test_mlm_loss_is_the_mean_over_chosen_positions_only():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 7, generator=g)
    targets = torch.full((2, 5), IGNORE)
    targets[0, 1], targets[1, 4] = 3, 6
    by_hand = -(logits[0, 1].log_softmax(-1)[3] + logits[1, 4].log_softmax(-1)[6]) / 2
    assert torch.allclose(mlm_loss(logits, targets), by_hand)
    torch.manual_seed(0)
    enc = MaskedLM(GPTConfig.nano(vocab_size=7, block_size=5))
    idx = torch.randint(0, 7, (2, 5))
    assert torch.allclose(enc(idx, targets)[1], mlm_loss(enc(idx)[0], targets))


def test_special_tokens_wrap_a_bpe():
    tok = tokenizer_with_specials("the cat sat on the mat. " * 20, vocab_size=270)
    assert (tok.pad_id, tok.mask_id, tok.vocab_size) == (tok.base.vocab_size, tok.base.vocab_size + 1,
                                                         tok.base.vocab_size + 2)
    ids = tok.encode("the mat, €5")                                           # bytes: nothing is unknown
    assert tok.decode(ids) == "the mat, €5" and max(ids) < tok.pad_id
    assert tok.decode(ids[:2] + [tok.mask_id] + ids[2:] + [tok.pad_id]) == \
        tok.decode(ids[:2]) + MASK + tok.decode(ids[2:]) + PAD
    with pytest.raises(TypeError, match="base must be a tokenizer"):
        SpecialTokens("not a tokenizer")


def test_short_mlm_training_lowers_the_loss():
    torch.manual_seed(0)
    text = "the cat sat on the mat. " * 20
    tok = tokenizer_with_specials(text, vocab_size=262)
    ids = torch.tensor(tok.encode(text))
    ids = ids[:len(ids) // 12 * 12].view(-1, 12)                          # (N, 12)
    enc = MaskedLM(GPTConfig.nano(vocab_size=tok.vocab_size, block_size=12))
    opt = torch.optim.AdamW(enc.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(60):
        x, y = mask_tokens(ids, tok.mask_id, tok.vocab_size, generator=g)
        loss = enc(x, y)[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > math.log(tok.vocab_size) - 0.3 and sum(losses[-10:]) / 10 < losses[0] - 1.0
    prompt = tok.encode("the ")
    out = fill_left_to_right(enc.eval(), torch.tensor(prompt), 5, tok.mask_id)
    assert out.shape == (len(prompt) + 5,) and out[:len(prompt)].tolist() == prompt
    window = torch.tensor([prompt + [tok.mask_id]])
    assert out[len(prompt)] == enc(window)[0][0, -1].argmax()            # the MASK's most likely token
    assert F.softmax(enc(window)[0][0, -1], -1).sum().item() == pytest.approx(1.0)
