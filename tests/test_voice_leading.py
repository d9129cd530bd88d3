"""The parallel-fifth rule as a candidate set, the unlikelihood loss and constrained decoding (chapter 13)."""


import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aigc_course.data.music import REST, VOICES, Chorale, ChoraleTokenizer
from aigc_course.data.text import get_batch
from aigc_course.models.chorale_lm import sample_chorales
from aigc_course.models.transformer import GPT, GPTConfig
from aigc_course.models.voice_leading import (
    candidate_mask,
    candidate_mass,
    completing_counts,
    forbid_parallels,
    next_candidates,
    step_context,
    stream_context,
    token_pitches,
    unlikelihood_loss,
    unlikelihood_step,
)
from aigc_course.music_metrics import parallel_motion


def _perfect(pieces) -> int:
    par = parallel_motion(pieces)
    return par["fifths"] + par["octaves"]


def _with_cell(tok, ids, s, v, token):
    """The piece up to step s, voice v written as ``token``, the later voices of step s resting."""
    rests = [tok.token(w, REST, False) for w in range(v + 1, len(VOICES))]
    return tok.decode(ids[: s * len(VOICES) + v] + [token] + rests, strict=False)


@pytest.mark.parametrize("held", ["pitch", "hold"])
def test_a_candidate_adds_exactly_the_parallels_it_predicts_and_no_other_token_adds_any(chorales, held):
    tok = ChoraleTokenizer(held=held)
    pitches = token_pitches(tok)
    rng = np.random.default_rng(0)
    checked = 0
    for c in chorales[:2]:
        ids = tok.encode(c, end=False)
        before, now = step_context(c)
        for s in range(1, min(len(c), 48)):
            voices = torch.arange(1, 4)
            counts = completing_counts(torch.from_numpy(before[[s] * 3]), torch.from_numpy(now[[s] * 3]), voices)
            for v in [int(x) for x in voices[counts.sum(1) > 0]]:
                base = _perfect(_with_cell(tok, ids, s, v, tok.token(v, REST, False)))
                tokens = rng.choice(tok.vocab_size, 30, replace=False).tolist()
                tokens += [t for t in range(tok.vocab_size) if pitches[t] >= 0 and counts[v - 1, pitches[t]] > 0]
                for t in tokens:
                    added = _perfect(_with_cell(tok, ids, s, v, t)) - base
                    assert added == (int(counts[v - 1, pitches[t]]) if pitches[t] >= 0 else 0), (s, v, tok.name(t))
                checked += 1
    assert checked >= 6


def test_the_next_token_mask_agrees_with_the_stream_context(chorales):
    tok = ChoraleTokenizer(held="pitch")
    stream = tok.encode_many(chorales[:2])
    context, voice = stream_context(chorales[:2])
    assert context.shape == (len(stream), 8) and voice.shape == (len(stream),)
    from_stream = candidate_mask(tok, context, voice)                        # (N, V): C_t of each token
    positions = list(range(1, len(stream), 7))
    from_rows = next_candidates(tok, [stream[:i].tolist() for i in positions])
    assert torch.equal(from_rows, from_stream[positions])
    assert from_stream.any(1).float().mean() > 0.01                          # real music has candidates
    uniform = lambda x: torch.zeros(*x.shape, tok.vocab_size)
    sizes = from_stream[1:1 + 16 * ((len(stream) - 1) // 16)]                  # the targets of the windows
    expected = float(sizes.sum(1)[sizes.any(1)].float().mean()) / tok.vocab_size
    assert candidate_mass(uniform, tok, stream, context, voice, 16) == pytest.approx(expected, rel=1e-5)


def test_unlikelihood_loss_is_the_nll_at_lambda_zero_and_its_gradient_is_the_closed_form():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 11, generator=g, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 11, (2, 5), generator=g)
    cand = torch.rand(2, 5, 11, generator=g) < 0.3
    plain = F.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1))
    assert torch.allclose(unlikelihood_loss(logits, targets, cand, 0.0).double(), plain)
    lam = 0.7
    loss = unlikelihood_loss(logits.double(), targets, cand, lam)
    (grad,) = torch.autograd.grad(loss, logits)
    p = logits.detach().softmax(-1)
    c = (cand & (torch.arange(11) != targets[..., None])).double()
    w = c * p / (1 - p)                                                      # p_c / (1 − p_c) on C_t
    closed = (p - F.one_hot(targets, 11) + lam * (w - p * w.sum(-1, keepdim=True))) / 10
    assert torch.allclose(grad, closed, atol=1e-12)
    wrong = (p - F.one_hot(targets, 11) + lam * (c * p - p * (c * p).sum(-1, keepdim=True))) / 10   # a +p penalty
    assert not torch.allclose(grad, wrong, atol=1e-4)
    with pytest.raises(ValueError, match="lam"):
        unlikelihood_loss(logits, targets, cand, -1.0)
    with pytest.raises(ValueError, match=r"context must be \(\.\.\., 8\)"):
        candidate_mask(ChoraleTokenizer(), torch.zeros(5, 4), torch.zeros(5))


def _parallel_lover(tok):
    """A 'model' that puts its weight on exactly the tokens that complete parallels (when there are any)."""
    def fn(ids):
        logits = torch.zeros(ids.shape[0], ids.shape[1], tok.vocab_size)
        logits[:, -1] = 8.0 * next_candidates(tok, ids.tolist()).float()
        notes = token_pitches(tok) >= 0
        logits[:, -1, notes] += 2.0                                         # and otherwise likes to move
        return logits
    return fn


def test_forbidding_parallels_leaves_none_in_the_samples():
    tok = ChoraleTokenizer(low=48, high=72, held="pitch")
    lover = _parallel_lover(tok)
    kw = dict(n=3, steps=24, generator=torch.Generator().manual_seed(0))
    free = sample_chorales(lover, tok, **kw)
    kw["generator"] = torch.Generator().manual_seed(0)
    strict = sample_chorales(forbid_parallels(lover, tok, block_size=32), tok, **kw)
    assert _perfect(free) > 10 and _perfect(strict) == 0
    assert parallel_motion(strict)["moves"] > 20                              # the music still moves


def test_unlikelihood_steps_push_the_candidates_down_where_plain_nll_steps_do_not(chorales):
    tok = ChoraleTokenizer(held="pitch")
    ids = tok.encode_many(chorales[:2])
    context, voice = stream_context(chorales[:2])
    g = torch.Generator()

    def fine_tuned_mass(lam):
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=32))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        step = unlikelihood_step(model, opt, tok, ids, context, voice, 32, 16, lam=lam, generator=g)
        for _ in range(15):
            g.manual_seed(0)                                                 # the same batch every step
            step(0)
        x_at, y_at = get_batch(torch.arange(len(ids)), 32, 16, generator=g.manual_seed(0))
        mask = candidate_mask(tok, context[y_at], voice[y_at])              # (B, T, V)
        with torch.no_grad():
            p = model(ids[x_at])[0].softmax(-1)                              # (B, T, V)
        return float((p * mask).sum() / mask.any(-1).sum())

    assert fine_tuned_mass(100.0) < 0.4 * fine_tuned_mass(0.0)      # the gradient on c is λ p_c: small p, large λ


def test_step_context_reads_the_previous_moment():
    pitch = np.array([[67, 60, 52, 48], [67, 60, 52, 48], [69, 62, 52, 48]])
    onset = np.array([[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0]], dtype=bool)
    before, now = step_context(Chorale(pitch, onset))
    assert (before[0] == REST).all() and (before[1] == pitch[0]).all() and (before[2] == pitch[0]).all()
    counts = completing_counts(torch.from_numpy(before[[2]]), torch.from_numpy(now[[2]]), torch.tensor([1]))
    assert torch.nonzero(counts[0]).flatten().tolist() == list(range(62, 128, 12))   # up, a 5th below S's 69
