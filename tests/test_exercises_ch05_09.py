"""Chapters 05-09: every checker fails a plausible wrong answer, with a hint that names the mistake.

Each case is one mistake a learner makes; the checker must say "failed" (not pass it, not crash) and its
message must point at the mistake. The right answers are run by tests/test_exercises.py (the solutions).
"""

import math

import pytest
import torch
import torch.nn.functional as F

from aigc_course.exercises import ch05, ch06, ch07, ch08, ch09


def naive_bernoulli(logits, x):                      # log(sigmoid) underflows at large logits
    p = torch.sigmoid(logits)
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)


def naive_log_mean_exp(log_w):                       # exp overflows for log-weights near ±900
    return log_w.exp().mean(0).log()


def kl_reversed(mu_q, logvar_q, mu_p, logvar_p):     # KL(p ‖ q) instead of KL(q ‖ p)
    q = torch.distributions.Normal(mu_p, (0.5 * logvar_p).exp())
    p = torch.distributions.Normal(mu_q, (0.5 * logvar_q).exp())
    return torch.distributions.kl_divergence(q, p).sum(-1)


def attention_unscaled(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, -1) @ v


def causal_upper(T):
    return torch.ones(T, T, dtype=torch.bool).triu()


def sinusoidal_swapped(T, d):                        # cos in even columns, sin in odd
    p = torch.arange(T)[:, None].float()
    w = 10000 ** (-torch.arange(0, d, 2) / d)
    pe = torch.zeros(T, d)
    pe[:, 0::2], pe[:, 1::2] = torch.cos(p * w), torch.sin(p * w)
    return pe


def split_heads_reshape(x, n_head):                  # one reshape mixes time and channels
    B, T, C = x.shape
    return x.reshape(B, n_head, T, C // n_head)


def layer_norm_unbiased(x, gamma, beta, eps=1e-5):
    return gamma * (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps) + beta


def count_with_head(cfg):                            # counts the tied head twice
    C, b = cfg.n_embd, int(cfg.bias)
    return (2 * cfg.vocab_size * C + cfg.block_size * C + cfg.n_layer * (12 * C * C + (2 + 11 * b) * C)
            + (1 + b) * C)


def top_k_rescaled(logits, k):                       # keeps the right entries but renormalises them
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]
    kept = logits.masked_fill(logits < kth, float("-inf"))
    return torch.log_softmax(kept, -1)


def flops_all_parameters(cfg, seq_len):              # counts the embedding tables as products
    from aigc_course.models.transformer import GPT

    n = sum(p.numel() for p in GPT(cfg).parameters())
    return 6 * n + 12 * cfg.n_layer * seq_len * cfg.n_embd


def flops_forward_only(cfg, seq_len):
    n_mm = 12 * cfg.n_layer * cfg.n_embd ** 2 + cfg.vocab_size * cfg.n_embd
    return 2 * n_mm + 4 * cfg.n_layer * seq_len * cfg.n_embd



def perplexity_bits(logits, targets):                # reports bits per token instead of perplexity
    return F.cross_entropy(logits, targets).item() / math.log(2)


def top_p_inclusive(logits, p):                      # drops the token that crosses p
    probs = logits.softmax(-1)
    sorted_p, order = probs.sort(-1, descending=True)
    keep_sorted = sorted_p.cumsum(-1) <= p
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return logits.masked_fill(~keep, float("-inf"))


def merge_overlapping(ids, pair, new_id):            # replaces overlapping occurrences (7 7 7 -> 9 9)
    out = []
    for i in range(len(ids)):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
        elif not (i > 0 and (ids[i - 1], ids[i]) == pair):
            out.append(ids[i])
    return out


def frechet_variances(mu1, var1, mu2, var2):
    return float((mu1 - mu2).pow(2).sum() + (var1 - var2).pow(2).sum())


def precision_with_self(real, fake, k):              # the k-th neighbour counts the point itself
    radii = torch.cdist(real, real).kthvalue(k, dim=1).values
    inside = torch.cdist(fake, real) <= radii[None]
    return inside.any(1).double().mean().item()


def cost_rental_only(tokens_per_second, price_per_hour, watts, price_per_kwh, pue):
    return 1000 / tokens_per_second * price_per_hour / 3600


def power_law_sign(compute, loss):                   # returns the slope itself as b
    X = torch.stack([torch.ones_like(compute), compute.log()], 1)
    coef = torch.linalg.lstsq(X, loss.log()[:, None]).solution[:, 0]
    return coef[0].exp(), coef[1]


CASES = [
    (ch05.bernoulli_log_likelihood, naive_bernoulli, "logsigmoid"),
    (ch05.log_mean_exp, naive_log_mean_exp, "logsumexp"),
    (ch05.gaussian_kl_diag, kl_reversed, "direction is reversed"),
    (ch06.attention, attention_unscaled, "√d_k"),
    (ch06.causal_mask, causal_upper, "upper triangle"),
    (ch06.sinusoidal, sinusoidal_swapped, "even columns sin"),
    (ch06.split_heads, split_heads_reshape, "transpose"),
    (ch07.layer_norm, layer_norm_unbiased, "unbiased variance"),
    (ch07.parameter_count, count_with_head, "tie_weights=True"),
    (ch07.top_k, top_k_rescaled, "row 0 keeps 5 and 4"),
    (ch07.training_flops, flops_all_parameters, "embedding tables are look-ups"),
    (ch07.training_flops, flops_forward_only, "forward pass only"),
    (ch08.perplexity, perplexity_bits, "exp of the mean negative log-likelihood"),
    (ch08.top_k, top_k_rescaled, "do not rescale"),
    (ch08.top_p, top_p_inclusive, "smallest set of most likely tokens"),
    (ch08.bpe_merge, merge_overlapping, "skip both tokens"),
    (ch09.frechet_diagonal, frechet_variances, "standard deviations"),
    (ch09.precision, precision_with_self, "leave out the point itself"),
    (ch09.cost_per_1k_tokens, cost_rental_only, "rental only"),
    (ch09.power_law_fit, power_law_sign, "wrong sign"),
]


@pytest.mark.parametrize("check, wrong, hint", CASES, ids=[f"{c.exercise_name}-{w.__name__}" for c, w, _ in CASES])
def test_a_plausible_wrong_answer_fails_with_a_hint(check, wrong, hint):
    result = check(wrong, strict=False)
    assert result.status == "failed", f"{check.exercise_name} accepted {wrong.__name__}: {result}"
    assert hint in result.message, f"{check.exercise_name}: the hint should mention {hint!r}, got {result.message!r}"
    assert "raised" not in result.message, f"the checker crashed instead of checking: {result.message}"


def test_every_exercise_of_chapters_05_to_09_has_a_wrong_answer_case():
    from aigc_course.exercises.core import REGISTRY

    names = {n for n in REGISTRY if n[:4] in {"ch05", "ch06", "ch07", "ch08", "ch09"}}
    covered = {check.exercise_name for check, _, _ in CASES}
    assert names == covered, f"no wrong-answer case for {sorted(names - covered)}"


def test_the_training_flops_exercise_takes_a_config_not_a_recalled_formula():
    old_style = lambda n_params, n_layer, seq_len, n_embd: 6 * n_params + 12 * n_layer * seq_len * n_embd  # noqa: E731
    result = ch07.training_flops(old_style, strict=False)
    assert result.status == "failed"
