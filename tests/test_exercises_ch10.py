"""Chapter 10 checkers discriminate: right answers pass, typical wrong answers fail with a helpful hint."""

import torch

from aigc_course.exercises import ch10


def _status(check, answer):
    return check(answer, strict=False)


def test_alpha_bar():
    assert _status(ch10.alpha_bar, lambda b: torch.cumprod(1 - b, 0)).passed
    result = _status(ch10.alpha_bar, lambda b: 1 - b)
    assert result.status == "failed" and "multiplies" in result.message
    assert "first-order" in _status(ch10.alpha_bar, lambda b: 1 - torch.cumsum(b, 0)).message
    assert _status(ch10.alpha_bar, None).status == "unsolved"


def test_q_sample():
    assert _status(ch10.q_sample, lambda x0, ab, e: ab.sqrt() * x0 + (1 - ab).sqrt() * e).passed
    result = _status(ch10.q_sample, lambda x0, ab, e: ab.sqrt() * x0 + (1 - ab) * e)
    assert result.status == "failed" and "standard deviation" in result.message
    assert _status(ch10.q_sample, lambda x0, ab, e: ab * x0 + (1 - ab) * e).status == "failed"


def test_ddim_step():
    def right(x, e, a, s):
        x0 = (x - (1 - a).sqrt() * e) / a.sqrt()
        return s.sqrt() * x0 + (1 - s).sqrt() * e
    assert _status(ch10.ddim_step, right).passed
    result = _status(ch10.ddim_step, lambda x, e, a, s: (x - (1 - a).sqrt() * e) / a.sqrt())
    assert result.status == "failed" and "re-noise" in result.message
    fresh = lambda x, e, a, s: right(x, torch.randn_like(e), a, s)   # noqa: E731
    assert _status(ch10.ddim_step, fresh).status == "failed"


def test_guided_eps():
    assert _status(ch10.guided_eps, lambda c, u, w: (1 + w) * c - w * u).passed
    result = _status(ch10.guided_eps, lambda c, u, w: u + w * (c - u))
    assert result.status == "failed" and "convention" in result.message
    assert "swapped" in _status(ch10.guided_eps, lambda c, u, w: (1 - w) * c + w * u).message


def test_flow_target():
    right = lambda x0, x1, t: ((1 - t[:, None]) * x0 + t[:, None] * x1, x1 - x0)   # noqa: E731
    assert _status(ch10.flow_target, right).passed
    backwards = lambda x0, x1, t: (t[:, None] * x0 + (1 - t[:, None]) * x1, x1 - x0)   # noqa: E731
    assert "noise (t = 0)" in _status(ch10.flow_target, backwards).message
    flipped = lambda x0, x1, t: (right(x0, x1, t)[0], x0 - x1)   # noqa: E731
    assert "from noise to data" in _status(ch10.flow_target, flipped).message
