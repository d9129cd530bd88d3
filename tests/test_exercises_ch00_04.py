"""Every exercise of chapters 00-04: one plausible wrong answer is reported "failed", with a hint.

The right answers are the worked solutions (tests/test_exercises.py runs them). Here each checker meets the
mistake a learner is likely to make, and must say something that points at it; a crash in the learner's
code must be reported with what the answer was expected to do.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from aigc_course.exercises import ch00, ch01, ch02, ch03, ch04


def _kl_1d(m1, s1, m2, s2):
    return torch.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5


def _naive_mixture(x, logits, means, stds):
    sq = (x[:, None, :] - means[None]).pow(2).sum(-1)
    return torch.log((torch.softmax(logits, 0) * torch.exp(-sq / (2 * stds ** 2)) / (2 * math.pi * stds ** 2)).sum(1))


def _lerp(z0, z1, t):
    return (1 - t) * z0 + t * z1


def _frechet_elementwise_sqrt(a, b):
    ca, cb = torch.cov(a.T.double()), torch.cov(b.T.double())
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + torch.trace(ca + cb - 2 * (ca * cb).clamp_min(0).sqrt()))


def _label_maps_first(images, labels, k):
    maps = F.one_hot(labels, k).float()[:, :, None, None].expand(-1, -1, *images.shape[2:])
    return torch.cat([maps, images], dim=1)


def _score_with_sigma(f, mu, sigma, eps):
    z = mu + sigma * eps
    return (f(z) * (z - mu) / sigma).mean(0)


WRONG = [
    # (checker, a plausible wrong answer, words the hint must contain)
    (ch00.accuracy, lambda logits, labels: (logits.argmax(1) == labels).sum(), "accuracy"),
    (ch00.budget_for, lambda mode, full, fast, workshop=None: fast if mode == "fast" else full, "workshop"),
    (ch00.budget_for, lambda mode, full, fast, workshop=None: 40 if mode == "fast" else 5000, "budget(full="),
    (ch01.gaussian_log_prob, lambda x, mu, s: -0.5 * ((x - mu) / s) ** 2 - math.log(float(s.flatten()[0]))
     - 0.5 * math.log(2 * math.pi), "row"),
    (ch01.gaussian_kl, lambda m1, s1, m2, s2: _kl_1d(m2, s2, m1, s1), "KL(q ‖ p)"),
    (ch01.mixture_log_prob, _naive_mixture, "logsumexp"),
    (ch01.mle_gaussian, lambda x: (x.mean(), x.std()), "N − 1"),
    (ch02.optimal_discriminator, lambda p, q: p / (p + q), "0/0"),
    (ch02.js_divergence, lambda p, q: 0.5 * (p - q).abs().sum(), "JS"),
    (ch02.non_saturating_loss, lambda logits: -torch.log(torch.sigmoid(logits)).mean(), "softplus"),
    (ch03.discriminator_loss,
     lambda r, f: -(torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean()), "NaN or inf"),
    (ch03.transposed_conv_size, lambda n, k, s, p: (n + 2 * p - k) // s + 1, "transposed"),
    (ch03.label_maps, _label_maps_first, "first C channels"),
    (ch03.slerp, _lerp, "slerp at t=0.25"),
    (ch03.frechet_distance, _frechet_elementwise_sqrt, "matrix square root"),
    (ch04.gaussian_kl, lambda mu, logvar: 0.5 * (mu.pow(2) + logvar.exp() - logvar).sum(-1), "−1"),
    (ch04.reparameterize, lambda mu, logvar, eps: mu + logvar.exp() * eps, "exp(½ logvar)"),
    (ch04.score_function_gradient, _score_with_sigma, "(z − mu)/σ²"),
]


@pytest.mark.parametrize("check, wrong, hint", WRONG,
                         ids=[f"{c.exercise_name}-{i}" for i, (c, _, _) in enumerate(WRONG)])
def test_a_plausible_wrong_answer_fails_with_a_hint(check, wrong, hint):
    result = check(wrong, strict=False)
    assert result.status == "failed", str(result)
    assert hint in result.message, f"the hint should mention {hint!r}: {result.message}"


def test_every_exercise_of_chapters_00_to_04_has_a_wrong_answer_here():
    from aigc_course.exercises.core import REGISTRY

    mine = {name for name in REGISTRY if name.split(".")[0] in {"ch00", "ch01", "ch02", "ch03", "ch04"}}
    assert mine == {check.exercise_name for check, _, _ in WRONG}


@pytest.mark.parametrize("check", [ch00.accuracy, ch01.mixture_log_prob, ch03.label_maps, ch04.reparameterize])
def test_a_crash_is_reported_with_what_was_expected(check):
    def crashes(*args):
        return args[0].no_such_attribute

    result = check(crashes, strict=False)
    assert result.status == "failed" and "AttributeError" in result.message
    assert "Expected:" in result.message and len(result.message.split("Expected:")[1]) > 20


def test_budget_for_leaves_the_environment_as_it_was(monkeypatch):
    monkeypatch.setenv("AIGC_FAST", "1")
    monkeypatch.delenv("AIGC_MODE", raising=False)

    def right(mode, full, fast, workshop=None):
        if mode not in ("full", "workshop", "fast"):
            raise ValueError(mode)
        return {"fast": fast, "workshop": full if workshop is None else workshop, "full": full}[mode]

    assert ch00.budget_for(right, strict=False).passed
    import os
    assert os.environ.get("AIGC_FAST") == "1" and "AIGC_MODE" not in os.environ
