"""Chapter 01/02 checkers discriminate: right answers pass, typical wrong answers fail with a helpful hint."""

import math

import pytest
import torch
import torch.nn.functional as F

from aigc_course.exercises import ch01, ch02


def _status(check, answer):
    return check(answer, strict=False)


def test_ch01_gaussian_log_prob():
    right = lambda x, mu, s: -0.5 * ((x - mu) / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)
    assert _status(ch01.gaussian_log_prob, right).passed
    density = lambda x, mu, s: right(x, mu, s).exp()
    result = _status(ch01.gaussian_log_prob, density)
    assert result.status == "failed" and "density" in result.message
    no_norm = lambda x, mu, s: -0.5 * ((x - mu) / s) ** 2
    assert _status(ch01.gaussian_log_prob, no_norm).status == "failed"


def test_ch01_gaussian_kl_catches_the_reversed_direction():
    kl = lambda m1, s1, m2, s2: torch.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5
    assert _status(ch01.gaussian_kl, kl).passed
    result = _status(ch01.gaussian_kl, lambda m1, s1, m2, s2: kl(m2, s2, m1, s1))
    assert result.status == "failed" and "KL(q ‖ p)" in result.message


def test_ch01_mixture_log_prob_needs_logsumexp():
    def naive(x, logits, means, stds):
        sq = (x[:, None, :] - means[None]).pow(2).sum(-1)
        dens = torch.exp(-sq / (2 * stds ** 2)) / (2 * math.pi * stds ** 2)
        return torch.log((torch.softmax(logits, 0) * dens).sum(1))

    result = _status(ch01.mixture_log_prob, naive)
    assert result.status == "failed" and "logsumexp" in result.message


def test_ch01_mle_rejects_the_unbiased_variance():
    assert _status(ch01.mle_gaussian, lambda x: (x.mean(), x.std(unbiased=False))).passed
    result = _status(ch01.mle_gaussian, lambda x: (x.mean(), x.std()))
    assert result.status == "failed" and "N − 1" in result.message


def test_ch02_checkers():
    guarded = lambda p, q: torch.where(p + q > 0, p / (p + q), torch.full_like(p, 0.5))
    assert _status(ch02.optimal_discriminator, guarded).passed
    unguarded = _status(ch02.optimal_discriminator, lambda p, q: p / (p + q))
    assert unguarded.status == "failed" and "0/0" in unguarded.message
    assert "REAL" in _status(ch02.optimal_discriminator, lambda p, q: q / (p + q)).message
    naive_ns = lambda logits: -torch.log(torch.sigmoid(logits)).mean()
    assert "softplus" in _status(ch02.non_saturating_loss, naive_ns).message
    saturating = lambda logits: -F.softplus(logits).mean()
    assert "saturating" in _status(ch02.non_saturating_loss, saturating).message
    bits = lambda p, q: (0.5 * sum(a * math.log2(2 * a / (a + b)) for a, b in zip(p.tolist(), q.tolist()) if a > 0)
                         + 0.5 * sum(b * math.log2(2 * b / (a + b)) for a, b in zip(p.tolist(), q.tolist()) if b > 0))
    assert "bits" in _status(ch02.js_divergence, bits).message


@pytest.mark.parametrize("check", [ch01.gaussian_log_prob, ch01.gaussian_kl, ch01.mixture_log_prob,
                                   ch01.mle_gaussian, ch02.optimal_discriminator, ch02.js_divergence,
                                   ch02.non_saturating_loss])
def test_stubs_are_unsolved(check):
    def stub(*args):
        raise NotImplementedError

    assert check(stub, strict=False).status == "unsolved"
    assert check(None, strict=False).status == "unsolved"
