"""Chorale language-model glue: windows, per-step NLL, sampling whole pieces, grammar share, copying."""

import numpy as np
import pytest
import torch

from aigc_course.data.music import REST, Chorale, ChoraleTokenizer
from aigc_course.models.chorale_lm import (
    longest_copy,
    nll_per_step,
    sample_chorales,
    well_formed_share,
    window_nll,
    windows,
)
from aigc_course.models.ngram import NGramConfig, NGramLM
from aigc_course.models.transformer import GPT, GPTConfig


def _piece(seed: int, steps: int = 24) -> Chorale:
    rng = np.random.default_rng(seed)
    pitch = np.repeat(rng.integers(50, 70, (steps // 2, 4)), 2, axis=0)
    onset = np.zeros(pitch.shape, bool)
    onset[::2] = True
    return Chorale(pitch, onset, f"p{seed}")


def test_windows_and_window_nll_of_a_uniform_model():
    ids = torch.arange(50)
    w = windows(ids, 9)
    assert w.shape == (4, 10) and torch.equal(w[1], torch.arange(10, 20))
    uniform = lambda x: torch.zeros(*x.shape, 7)
    assert window_nll(uniform, torch.randint(0, 7, (5, 10)), batch=2) == pytest.approx(np.log(7), rel=1e-6)
    with pytest.raises(ValueError, match="length must be in"):
        windows(ids, 60)


def test_nll_per_step_counts_end_tokens():
    tok = ChoraleTokenizer()
    ids = tok.encode_many([_piece(0, 8), _piece(1, 12)])            # 20 steps, 80 + 2 tokens
    assert len(ids) == 82
    assert nll_per_step(1.0, ids) == pytest.approx(82 / 20)


def test_sampling_gives_pieces_that_stop_at_end():
    tok = ChoraleTokenizer()
    torch.manual_seed(0)
    model = GPT(GPTConfig.nano(vocab_size=tok.vocab_size))
    pieces = sample_chorales(model, tok, 3, 6, generator=torch.Generator().manual_seed(0), block_size=32)
    assert len(pieces) == 3 and all(len(p) <= 6 for p in pieces)
    again = sample_chorales(model, tok, 3, 6, generator=torch.Generator().manual_seed(0), block_size=32)
    assert pieces == again
    with pytest.raises(ValueError, match="positive"):
        sample_chorales(model, tok, 0, 6)


def test_a_fitted_ngram_samples_well_formed_chorales():
    tok = ChoraleTokenizer()
    train = [_piece(s) for s in range(6)]
    ids = tok.encode_many(train)
    ngram = NGramLM(NGramConfig(vocab_size=tok.vocab_size, n=5)).fit(ids)
    assert well_formed_share(tok, ids.tolist()) == 1.0
    pieces = sample_chorales(ngram, tok, 4, 8, generator=torch.Generator().manual_seed(0), block_size=4)
    stream = tok.encode_many(pieces).tolist()
    assert well_formed_share(tok, stream) > 0.9                    # a 5-gram has learnt whose turn it is
    shuffled = [tok.token((v + 1) % 4, 60, True) for v in range(8)]
    assert well_formed_share(tok, shuffled) == 0.0


def test_longest_copy_in_steps():
    tok = ChoraleTokenizer()
    train = [_piece(0), _piece(1)]
    copied = Chorale(train[1].pitch[4:14], train[1].onset[4:14])     # 10 steps taken from one piece
    assert longest_copy(copied, train, tok) == 10
    fresh = Chorale(np.full((6, 4), REST), np.zeros((6, 4), bool))
    assert longest_copy(fresh, train, tok) == 0
