"""Interactive explorers. Each module keeps the computation in plain, tested functions and only wires
ipywidgets controls to them; every widget can be built and driven headless.

A widget's constructor checks its arguments with the helpers below, so a bad value is refused with one clear
message naming the argument (never silently clamped by a slider, never a traitlets error).
"""

from __future__ import annotations

import math

LABEL_STYLE = {"description_width": "initial"}   # a control's description is shown whole, never cut off


def int_in(name: str, value: object, low: int, high: int) -> int:
    """``value`` if it is an int in [low, high] (bools refused), else a ValueError/TypeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int in {low}..{high}, got {value!r} ({type(value).__name__})")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
    return value


def positive_number(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number > 0, else a ValueError/TypeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a positive number, got {value!r} ({type(value).__name__})")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def optional_class(name: str, value: object, num_classes: int) -> int | None:
    """A class label for a conditional model (0..num_classes-1), or None for an unconditional one."""
    if num_classes == 0:
        if value is not None:
            raise ValueError(f"{name} must be None: the model is unconditional (num_classes=0), got {value!r}")
        return None
    if value is None:
        raise ValueError(f"{name} must be a class in 0..{num_classes - 1} for this conditional model, got None")
    return int_in(name, value, 0, num_classes - 1)
