"""FAST mode, budgets, and where data lives.

Everything here reads environment variables at call time (not import time), so a test or a notebook can
change them and see the effect at once.

- ``AIGC_FAST=1``   shrink every budget (set by ``make test`` and CI). Same code path, only shorter.
- ``AIGC_DATA_DIR`` where data sets and downloads are cached (default: ``~/.cache/aigc_course``).
- ``AIGC_DEVICE``   force a device (see :mod:`aigc_course.device`).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def fast_mode() -> bool:
    """True when ``AIGC_FAST`` asks for small budgets (CI and ``make test``)."""
    raw = os.environ.get("AIGC_FAST", "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"AIGC_FAST must be one of {sorted(_TRUE | _FALSE - {''})}, got {raw!r}")


def budget(full: T, fast: T) -> T:
    """Pick a budget: ``full`` for a learner's run, ``fast`` when FAST mode is on.

    >>> steps = budget(full=5000, fast=40)
    """
    if type(full) is not type(fast):
        raise TypeError(f"budget(full=..., fast=...) needs two values of one type, got "
                        f"{type(full).__name__} and {type(fast).__name__}")
    return fast if fast_mode() else full


def data_dir() -> Path:
    """The cache folder for data sets and downloads (created on first use)."""
    raw = os.environ.get("AIGC_DATA_DIR")
    if raw:
        path = Path(raw).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "aigc_course"
    path.mkdir(parents=True, exist_ok=True)
    return path


def banner() -> str:
    """One line that says how this run is set up: mode, device, versions."""
    import torch

    from aigc_course import __version__
    from aigc_course.device import get_device

    mode = "FAST (small budgets, for tests)" if fast_mode() else "full"
    return (f"aigc_course {__version__} | mode: {mode} | device: {get_device()} | "
            f"torch {torch.__version__} | Python {platform.python_version()}")
