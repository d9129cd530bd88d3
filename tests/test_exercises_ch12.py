"""Chapter 12 checkers discriminate: right answers pass, typical wrong answers fail with a helpful hint."""

import torch
import torch.nn.functional as F

from aigc_course.exercises import ch12


def _status(check, answer):
    return check(answer, strict=False)


def _nce(a, b, s, normalise=True, both=True, divide=False):
    u, v = (F.normalize(a, dim=-1), F.normalize(b, dim=-1)) if normalise else (a, b)
    logits = (u @ v.t()) / s if divide else s * u @ v.t()
    t = torch.arange(len(a))
    one = F.cross_entropy(logits, t)
    return 0.5 * (one + F.cross_entropy(logits.t(), t)) if both else one


def test_info_nce():
    assert _status(ch12.info_nce, _nce).passed
    assert "normalise" in _status(ch12.info_nce, lambda a, b, s: _nce(a, b, s, normalise=False)).message
    assert "text → image" in _status(ch12.info_nce, lambda a, b, s: _nce(a, b, s, both=False)).message
    assert "multiplies" in _status(ch12.info_nce, lambda a, b, s: _nce(a, b, s, divide=True)).message
    assert _status(ch12.info_nce, None).status == "unsolved"


def test_top1():
    right = lambda s, m: m[torch.arange(len(m)), s.argmax(1)].float().mean()   # noqa: E731
    assert _status(ch12.top1, right).passed
    diagonal = lambda s, m: (s.argmax(1) == torch.arange(len(s))).float().mean()   # noqa: E731
    assert "ANY correct" in _status(ch12.top1, diagonal).message
    wrong_axis = lambda s, m: m[s.argmax(0), torch.arange(s.shape[1])].float().mean()   # noqa: E731
    assert "over the gallery" in _status(ch12.top1, wrong_axis).message


def test_cross_attention():
    def right(x, m, wq, wk, wv):
        q, k, v = x @ wq, m @ wk, m @ wv
        return torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, -1) @ v
    assert _status(ch12.cross_attention, right).passed
    selfish = lambda x, m, wq, wk, wv: right(x, x, wq, wk, wv)   # noqa: E731
    assert "self-attention" in _status(ch12.cross_attention, selfish).message
    swapped = lambda x, m, wq, wk, wv: right(m, x, wq, wk, wv)   # noqa: E731
    assert "one row per query" in _status(ch12.cross_attention, swapped).message

    def unscaled(x, m, wq, wk, wv):
        return torch.softmax((x @ wq) @ (m @ wk).transpose(-2, -1), -1) @ (m @ wv)
    assert "√d_k" in _status(ch12.cross_attention, unscaled).message


def test_drop_condition():
    assert _status(ch12.drop_condition, lambda c, u, p: c * (u >= p)[:, None]).passed
    reversed_ = lambda c, u, p: c * (u < p)[:, None]   # noqa: E731
    assert "reversed" in _status(ch12.drop_condition, reversed_).message
    per_entry = lambda c, u, p: c * (torch.rand(c.shape) >= p)   # noqa: E731
    assert _status(ch12.drop_condition, per_entry).status == "failed"
