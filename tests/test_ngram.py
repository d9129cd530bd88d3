"""n-gram LM: probabilities sum to 1, add-k and Kneser-Ney against direct computations from counts."""

import math
from collections import Counter

import pytest
import torch

from aigc_course.models.ngram import NGramConfig, NGramLM, context_ids

TEXT = [0, 1, 2, 0, 1, 3, 0, 1, 2, 4, 2, 0, 1, 2, 0, 3, 3, 1, 2, 0]


def fitted(**kw):
    return NGramLM(NGramConfig.tiny(**kw)).fit(torch.tensor(TEXT))


@pytest.mark.parametrize("smoothing", ["kneser-ney", "add-k"])
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_probabilities_sum_to_one_everywhere(smoothing, n):
    model = fitted(n=n, smoothing=smoothing)
    idx = torch.randint(0, 5, (6, 9), generator=torch.Generator().manual_seed(n))   # seen and unseen contexts
    p = model.probs(idx)
    assert p.shape == (6, 9, 5) and p.dtype == torch.float64
    assert torch.allclose(p.sum(-1), torch.ones(6, 9, dtype=torch.float64), atol=1e-12)
    assert (p > 0).all()                                       # smoothing: nothing is impossible


def test_context_ids_are_base_v_numbers_of_the_last_tokens():
    ctx, valid = context_ids(torch.tensor([[3, 1, 4, 1]]), 2, 10)
    assert ctx.tolist() == [[3, 31, 14, 41]]                   # x_t + 10 x_{t-1}
    assert valid.tolist() == [[False, True, True, True]]


def test_add_k_matches_the_formula():
    model = fitted(n=2, smoothing="add-k", k=0.5)
    bigrams = Counter(zip(TEXT[:-1], TEXT[1:]))
    after_0 = sum(v for (a, _), v in bigrams.items() if a == 0)
    p = model.probs(torch.tensor([[0]]))[0, 0]
    expected = torch.tensor([(bigrams[(0, x)] + 0.5) / (after_0 + 0.5 * 5) for x in range(5)], dtype=torch.float64)
    assert torch.allclose(p, expected)
    unigram = fitted(n=1, smoothing="add-k", k=1.0).probs(torch.tensor([[2]]))[0, 0]
    counts = Counter(TEXT[1:])
    assert torch.allclose(unigram, torch.tensor([(counts[x] + 1) / (19 + 5) for x in range(5)], dtype=torch.float64))


def kn_reference(text, n, d, V):
    """Interpolated Kneser-Ney straight from the definitions, with Python dicts (slow, independent)."""
    grams = [Counter(tuple(text[i - j:i + 1]) for i in range(j, len(text))) for j in range(n)]

    def count(j, gram):   # highest order: raw count; lower: continuation count N1+(. gram)
        if j == n - 1:
            return grams[j][gram]
        return sum(1 for g in grams[j + 1] if g[1:] == gram)

    def p(history, x):
        if len(history) == 0 and n == 0:
            return 1 / V
        lower = 1 / V
        for j in range(0, min(len(history), n - 1) + 1):
            h = tuple(history[len(history) - j:]) if j else ()
            total = sum(count(j, h + (y,)) for y in range(V))
            if total == 0:
                continue
            types = sum(1 for y in range(V) if count(j, h + (y,)) > 0)
            lower = max(count(j, h + (x,)) - d, 0) / total + d * types / total * lower
        return lower

    return p


def test_kneser_ney_matches_a_reference_built_from_the_definitions():
    model = fitted(n=3, smoothing="kneser-ney", discount=0.6)
    ref = kn_reference(TEXT, 3, 0.6, 5)
    idx = torch.tensor([[0, 1, 2, 4, 4, 3, 1]])
    p = model.probs(idx)[0]
    for t in range(idx.shape[1]):
        history = idx[0, max(0, t - 1): t + 1].tolist()
        for x in range(5):
            assert math.isclose(float(p[t, x]), ref(history, x), rel_tol=1e-9), (t, x)


def test_higher_order_fits_structured_text_better_and_call_matches_nll():
    pattern = torch.tensor([0, 1, 2, 3, 4, 2, 1, 0] * 40)
    losses = [NGramLM(NGramConfig(vocab_size=5, n=n)).fit(pattern).nll(pattern) for n in (1, 2, 3)]
    assert losses[0] > losses[1] > losses[2]
    model = NGramLM(NGramConfig(vocab_size=5, n=3)).fit(pattern)
    logits, loss = model(pattern[None, :-1], pattern[None, 1:])
    assert logits.shape == (1, len(pattern) - 1, 5)
    assert math.isclose(float(loss), model.nll(pattern), rel_tol=1e-5)
    assert math.isclose(model.nll(pattern, chunk=7), model.nll(pattern), rel_tol=1e-9)   # chunks carry context


def test_bad_configs_and_inputs():
    with pytest.raises(ValueError, match="smoothing must be one of"):
        NGramConfig(vocab_size=5, smoothing="good-turing")
    with pytest.raises(ValueError, match="n must be a positive int"):
        NGramConfig(vocab_size=5, n=0)
    with pytest.raises(ValueError, match="discount must be in"):
        NGramConfig(vocab_size=5, discount=1.0)
    with pytest.raises(ValueError, match="does not fit the int64 keys"):
        NGramConfig(vocab_size=50_000, n=5)
    with pytest.raises(RuntimeError, match="has not been fitted"):
        NGramLM(NGramConfig.tiny()).probs(torch.tensor([[0]]))
    with pytest.raises(ValueError, match=r"ids must be in 0..4"):
        NGramLM(NGramConfig.tiny()).fit(torch.tensor([0, 7]))
    with pytest.raises(ValueError, match=r"token ids must be in 0..4"):
        fitted().probs(torch.tensor([[9]]))
