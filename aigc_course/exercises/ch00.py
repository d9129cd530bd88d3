"""Checkers for chapter 00's exercises."""

import torch

from aigc_course.exercises.core import exercise


@exercise("ch00.accuracy")
def accuracy(fn) -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 4, generator=g)
    labels = torch.randint(0, 4, (50,), generator=g)
    expected = (logits.argmax(1) == labels).float().mean().item()
    got = float(fn(logits, labels))
    assert abs(got - expected) < 1e-6, f"on random logits the accuracy is {expected:.2f}, you returned {got:.2f}"
    perfect = torch.eye(4)
    got = float(fn(perfect, torch.arange(4)))
    assert got == 1.0, f"when every argmax equals the label, accuracy is 1.0; you returned {got}"


@exercise("ch00.steps_for")
def steps_for(fn) -> None:
    assert fn(True) == 40, f"in FAST mode budget(full=5000, fast=40) is 40, you returned {fn(True)!r}"
    assert fn(False) == 5000, f"in full mode it is 5000, you returned {fn(False)!r}"
