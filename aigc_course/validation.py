"""Checks on user-supplied settings that every model config shares, with messages that say what is valid."""

from __future__ import annotations


def positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1 (bools refused), else raise a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def positive_ints(config: object, *names: str) -> None:
    """Check that each named field of ``config`` is a positive int."""
    for name in names:
        positive_int(name, getattr(config, name))


def dropout_rate(value: float, name: str = "dropout") -> float:
    """A probability of dropping a unit: in [0, 1)."""
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value
