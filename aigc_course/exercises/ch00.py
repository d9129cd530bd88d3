"""Checkers for chapter 00's exercises."""

import os

import torch

from aigc_course.config import budget
from aigc_course.exercises.core import exercise


@exercise("ch00.accuracy")
def accuracy(fn) -> None:
    """``fn(logits (N, K), labels (N,))`` -> the fraction of rows whose largest logit is at the label (a float)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 4, generator=g)
    labels = torch.randint(0, 4, (50,), generator=g)
    expected = (logits.argmax(1) == labels).float().mean().item()
    got = float(fn(logits, labels))
    assert abs(got - expected) < 1e-6, f"on random logits the accuracy is {expected:.2f}, you returned {got:.2f}"
    perfect = torch.eye(4)
    got = float(fn(perfect, torch.arange(4)))
    assert got == 1.0, f"when every argmax equals the label, accuracy is 1.0; you returned {got}"


def _reference(mode: str, full, fast, workshop):
    """What ``budget`` itself returns in ``mode`` (the environment set for the call, then restored)."""
    saved = {key: os.environ.pop(key, None) for key in ("AIGC_MODE", "AIGC_FAST")}
    os.environ["AIGC_MODE"] = mode
    try:
        return budget(full=full, fast=fast, workshop=workshop)
    finally:
        del os.environ["AIGC_MODE"]
        os.environ.update({key: value for key, value in saved.items() if value is not None})


@exercise("ch00.budget_for")
def budget_for(fn) -> None:
    """``fn(mode, full, fast, workshop=None)`` -> what ``budget(full=, fast=, workshop=)`` returns in run mode
    ``mode`` ('full', 'workshop' or 'fast'); a ValueError for any other mode."""
    g = torch.Generator().manual_seed(0)
    for _ in range(4):
        full, fast, workshop = (int(v) for v in torch.randint(1, 10_000, (3,), generator=g))
        for mode in ("full", "workshop", "fast"):
            for ws in (workshop, None):
                want, got = _reference(mode, full, fast, ws), fn(mode, full, fast, ws)
                hint = (" (without a workshop value, a workshop gets the full budget)" if ws is None and
                        mode == "workshop" else "")
                assert got == want, (f"in mode {mode!r}, budget(full={full}, fast={fast}, workshop={ws}) is "
                                     f"{want}, you returned {got!r}{hint}")
    try:
        fn("quick", 5000, 40, None)
    except ValueError:
        return
    raise AssertionError("mode 'quick' is not a run mode: raise ValueError naming the valid modes")
