"""Decoding strategies: exact definitions, limits (τ → 0, W = 1), seeds, bad input, sample measures."""

import math

import pytest
import torch

from aigc_course.sampling import (
    apply_repetition_penalty,
    apply_temperature,
    beam_search,
    distinct_n,
    filtered_logits,
    generate,
    greedy,
    longest_copied_substring,
    sample_next,
    sequence_nll,
    top_k_filter,
    top_p_filter,
)

V = 11


class Bigram(torch.nn.Module):
    """A fixed random bigram model: logits depend on the last token only. (B, T) -> (B, T, V)."""

    def __init__(self, seed=0):
        super().__init__()
        self.table = torch.randn(V, V, generator=torch.Generator().manual_seed(seed)) * 2

    def forward(self, idx):
        return self.table[idx]


def test_top_k_keeps_exactly_k_even_with_ties():
    logits = torch.tensor([[1.0, 3.0, 3.0, 3.0, 0.0, -1.0]])
    for k in range(1, 7):
        kept = torch.isfinite(top_k_filter(logits, k))
        assert int(kept.sum()) == k
    kept = torch.isfinite(top_k_filter(logits, 2))[0]
    assert kept[1:4].sum() == 2 and not kept[0]
    x = torch.randn(4, 3, 50)
    assert (torch.isfinite(top_k_filter(x, 7)).sum(-1) == 7).all()
    assert torch.equal(top_k_filter(x, 50), x)


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([0.05, 0.4, 0.1, 0.3, 0.15])
    logits = probs.log()[None]
    # descending: 0.4, 0.3, 0.15, 0.1, 0.05; cumulative 0.4, 0.7, 0.85, 0.95, 1.0
    for p, size in [(0.1, 1), (0.4, 1), (0.41, 2), (0.7, 2), (0.71, 3), (0.9, 4), (0.96, 5), (1.0, 5)]:
        kept = torch.isfinite(top_p_filter(logits, p))[0]
        assert int(kept.sum()) == size, (p, kept)
        assert float(probs[kept].sum()) >= p - 1e-6
        removed = probs[~kept]
        assert removed.numel() == 0 or float(probs[kept].min()) >= float(removed.max())
    # independent brute force on random distributions: smallest prefix of the sorted probabilities reaching p
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        z = torch.randn(30, generator=g) * 2
        p = float(torch.rand(1, generator=g)) * 0.98 + 0.01
        sorted_p = z.softmax(0).sort(descending=True).values
        size = next(i + 1 for i in range(30) if float(sorted_p[: i + 1].sum()) >= p)
        assert int(torch.isfinite(top_p_filter(z[None], p)).sum()) == size


def test_temperature_definition_and_limit_equals_greedy():
    logits = torch.randn(5, V, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(apply_temperature(logits, 0.5).softmax(-1), (2 * logits).softmax(-1))
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        assert torch.equal(sample_next(logits, temperature=1e-4, generator=g), greedy(logits))
    model = Bigram()
    prompt = torch.tensor([[3], [7]])
    cold = generate(model, prompt, 20, temperature=1e-4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(cold, generate(model, prompt, 20, greedy=True))
    # very high temperature approaches uniform
    hot = apply_temperature(logits, 1e4).softmax(-1)
    assert torch.allclose(hot, torch.full_like(hot, 1 / V), atol=1e-3)


def test_beam_width_one_equals_greedy_and_wider_beams_score_at_least_as_well():
    model = Bigram(seed=3)
    prompt = torch.tensor([4])
    best1, score1 = beam_search(model, prompt, 8, beam_width=1)
    assert torch.equal(best1, generate(model, prompt, 8, greedy=True)[0])
    assert math.isclose(score1, -sequence_nll(model, best1, start=1) * 8, rel_tol=1e-5)
    best4, score4 = beam_search(model, prompt, 8, beam_width=4)
    assert score4 >= score1 - 1e-9
    # exhaustive search over 3 new tokens: the widest beam finds the true optimum
    logp = model.table.log_softmax(-1).double()
    best = max(((a, b, c) for a in range(V) for b in range(V) for c in range(V)),
               key=lambda s: logp[4, s[0]] + logp[s[0], s[1]] + logp[s[1], s[2]])
    seq, _ = beam_search(model, prompt, 3, beam_width=V * V)
    assert seq[1:].tolist() == list(best)


def test_repetition_penalty_definition():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    out = apply_repetition_penalty(logits, torch.tensor([[0, 1, 1]]), 2.0)
    assert torch.allclose(out, torch.tensor([[1.0, -2.0, 0.5, 3.0]]))
    assert torch.equal(apply_repetition_penalty(logits, torch.tensor([[0]]), 1.0), logits)
    model = Bigram()
    model.table = 2.0 * torch.eye(V) + torch.roll(torch.eye(V), 1, dims=1)   # stay (2.0) or move on (1.0)
    plain = generate(model, [0], 40, greedy=True)[0]
    penalised = generate(model, [0], 40, greedy=True, repetition_penalty=3.0)[0]
    assert plain.tolist() == [0] * 41                          # a repetition loop
    assert penalised[:V].tolist() == list(range(V))            # 2/3 < 1: the penalty breaks it
    assert distinct_n(penalised.tolist(), 2) > 5 * distinct_n(plain.tolist(), 2)


def test_generate_is_deterministic_under_a_seed_and_accepts_tuples_and_block_size():
    model = Bigram()
    a = generate(model, [1, 2], 30, top_k=5, top_p=0.9, generator=torch.Generator().manual_seed(7))
    b = generate(model, [1, 2], 30, top_k=5, top_p=0.9, generator=torch.Generator().manual_seed(7))
    c = generate(model, [1, 2], 30, top_k=5, top_p=0.9, generator=torch.Generator().manual_seed(8))
    assert a.shape == (1, 32) and torch.equal(a, b) and not torch.equal(a, c)
    assert a[0, :2].tolist() == [1, 2]
    as_tuple = lambda idx: (model(idx), None)
    d = generate(as_tuple, [1, 2], 30, top_k=5, top_p=0.9, generator=torch.Generator().manual_seed(7),
                 block_size=1)
    assert torch.equal(a, d)                     # a bigram needs one token of context: same answer


def test_sampling_frequencies_follow_the_filtered_distribution():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, -3.0]])
    target = filtered_logits(logits, temperature=0.7, top_k=3).softmax(-1)[0]
    draws = sample_next(logits.expand(20000, -1), 0.7, 3, None, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=5).float() / 20000
    assert torch.allclose(freq, target, atol=0.015)
    assert freq[3:].sum() == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": 0.0}, r"temperature must be > 0"),
    ({"temperature": -1.0}, r"temperature must be > 0"),
    ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
    ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
    ({"top_k": 0}, r"top_k must be a positive int"),
    ({"repetition_penalty": 0.0}, r"repetition_penalty must be > 0"),
])
def test_bad_settings_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(Bigram(), [0], 3, **kwargs)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="beam_width must be a positive int"):
        beam_search(Bigram(), [0], 3, beam_width=0)
    with pytest.raises(ValueError, match="prompt_ids must be a non-empty"):
        generate(Bigram(), [], 3)
    with pytest.raises(ValueError, match="n must be a positive int"):
        distinct_n("abc", 0)


def test_sequence_nll_matches_a_direct_sum_and_windows():
    model = Bigram(seed=5)
    ids = torch.tensor([1, 5, 2, 2, 9, 0])
    logp = model.table.log_softmax(-1)
    direct = -sum(float(logp[a, b]) for a, b in zip(ids[:-1].tolist(), ids[1:].tolist())) / 5
    assert math.isclose(sequence_nll(model, ids), direct, rel_tol=1e-5)
    assert math.isclose(sequence_nll(model, ids, block_size=2), direct, rel_tol=1e-5)
    tail = -sum(float(logp[a, b]) for a, b in zip(ids[2:-1].tolist(), ids[3:].tolist())) / 3
    assert math.isclose(sequence_nll(model, ids, start=3), tail, rel_tol=1e-5)
    assert math.isclose(sequence_nll(model, ids, start=3, block_size=3), tail, rel_tol=1e-5)
    # a model that sees its whole window: the strided evaluation gives each token >= block_size/2 of context
    seen = []
    def recorder(idx):
        seen.append(idx.shape[1])
        return model(idx)
    long = torch.randint(0, V, (2, 40))
    sequence_nll(recorder, long, block_size=8)
    assert max(seen) <= 8 and sum(seen) < 40 * 3
    both = sequence_nll(model, long)
    assert math.isclose(both, (sequence_nll(model, long[:1]) + sequence_nll(model, long[1:])) / 2, rel_tol=1e-5)


def test_distinct_n_and_longest_copied_substring():
    assert distinct_n("abab", 2) == 2 / 3                      # ab, ba, ab
    assert distinct_n([1, 2, 3, 4], 1) == 1.0
    assert distinct_n([[1, 1], [1, 1]], 1) == 0.25
    assert distinct_n(torch.tensor([5, 5, 5]), 2) == 0.5
    corpus = "the quick brown fox jumps over the lazy dog"
    assert longest_copied_substring("a brown fox jumps high", corpus) == " brown fox jumps "
    assert longest_copied_substring("#z#", corpus) == "z"
    assert longest_copied_substring("", corpus) == ""
