"""FAST mode, budgets, and where data lives.

Everything here reads environment variables at call time (not import time), so a test or a notebook can
change them and see the effect at once.

- ``AIGC_MODE``     ``full`` (default: what a learner gets), ``workshop`` (each chapter in a few minutes on a
                    2-core laptop, its text still true) or ``fast`` (CI only: numbers mean nothing).
- ``AIGC_FAST=1``   the same as ``AIGC_MODE=fast`` (set by ``make test`` and CI). Same code path, only shorter.
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


MODES = ("full", "workshop", "fast")


def run_mode() -> str:
    """``'full'``, ``'workshop'`` or ``'fast'``, from ``AIGC_MODE`` (or ``AIGC_FAST=1``, which means ``'fast'``)."""
    raw = os.environ.get("AIGC_MODE", "").strip().lower()
    if raw and raw not in MODES:
        raise ValueError(f"AIGC_MODE must be one of {list(MODES)}, got {raw!r}")
    if fast_mode():
        if raw and raw != "fast":
            raise ValueError(f"AIGC_FAST=1 and AIGC_MODE={raw!r} disagree: unset one of them")
        return "fast"
    return raw or "full"


def budget(full: T, fast: T, workshop: T | None = None) -> T:
    """Pick a budget for the run mode: ``full`` for a learner's run, ``fast`` in CI, ``workshop`` for a room.

    ``workshop`` defaults to ``full``: a chapter whose text needs the full budget keeps it in a workshop.

    >>> steps = budget(full=5000, fast=40, workshop=800)
    """
    for name, value in (("fast", fast), ("workshop", workshop)):
        if value is not None and type(full) is not type(value):
            raise TypeError(f"budget(full=..., {name}=...) needs values of one type, got "
                            f"{type(full).__name__} and {type(value).__name__}")
    mode = run_mode()
    if mode == "fast":
        return fast
    if mode == "workshop" and workshop is not None:
        return workshop
    return full


class DataDirError(ValueError):
    """The data folder cannot be used (it is a file, or cannot be created)."""


def data_dir() -> Path:
    """The cache folder for data sets and downloads (created on first use).

    Raises :class:`DataDirError` (a ValueError) naming the folder and the variable to change when the
    folder is a file or cannot be created. A folder that exists but is read-only is returned: writers
    (checkpoints, caches) then warn and keep their result in memory.
    """
    raw = os.environ.get("AIGC_DATA_DIR")
    source = "AIGC_DATA_DIR" if raw else ("XDG_CACHE_HOME" if os.environ.get("XDG_CACHE_HOME") else "HOME")
    if raw:
        path = Path(raw).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "aigc_course"
    if path.exists() and not path.is_dir():
        raise DataDirError(f"the data folder {path} is a file, not a folder; set {source} to a folder "
                           f"(e.g. export AIGC_DATA_DIR=~/aigc_data) or remove the file")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataDirError(f"cannot create the data folder {path} ({err.strerror or err}); set AIGC_DATA_DIR "
                           f"to a folder you can write (e.g. export AIGC_DATA_DIR=~/aigc_data)") from err
    return path


def banner() -> str:
    """One line that says how this run is set up: mode, device, versions."""
    import torch

    from aigc_course import __version__
    from aigc_course.device import get_device

    mode = {"fast": "FAST (small budgets, for tests)", "workshop": "workshop (short budgets, text still true)",
            "full": "full"}[run_mode()]
    return (f"aigc_course {__version__} | mode: {mode} | device: {get_device()} | "
            f"torch {torch.__version__} | Python {platform.python_version()}")
