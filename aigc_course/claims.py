"""What a chapter says it reaches, checked where it is meant to hold.

A chapter states figures ("the conditional DCGAN draws the requested digit 98.6 % of the time"). Each such
figure is a :func:`claim`: the measured value, the value the text states, and the band it must fall in.

- full mode: the band is asserted; a full run that no longer reaches its figures fails loudly.
- workshop mode: asserted against the ``workshop`` band when the chapter gives one (its text must hold there
  too), else only reported.
- FAST mode (CI): only reported. FAST numbers mean nothing, so nothing is claimed of them.

When ``AIGC_CLAIMS_FILE`` names a file, every claim is appended to it as one JSON line; ``make verify``
collects these into one table of measured against stated.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from aigc_course.config import run_mode

NOT_YET_MEASURED = float("nan")  # ``stated=`` of a claim whose full-run figure has not been measured yet:
                                 # only its band is asserted, and reports say "not yet measured"


def stated_text(stated: float, unit: str = "") -> str:
    """How a stated figure reads in a printout or report: the number, or "not yet measured" for NaN."""
    return "not yet measured" if math.isnan(stated) else f"{stated:g}{unit}"


class ClaimFailed(AssertionError):
    """A figure the chapter states was not reached in a mode where it must hold."""


def _check_band(name: str, low: float | None, high: float | None) -> None:
    if low is None and high is None:
        raise ValueError(f"claim {name!r} needs low= or high= (or both): a claim without a band checks nothing")
    for label, bound in (("low", low), ("high", high)):
        if bound is not None and not (isinstance(bound, (int, float)) and math.isfinite(bound)):
            raise ValueError(f"claim {name!r}: {label} must be a finite number, got {bound!r}")
    if low is not None and high is not None and low > high:
        raise ValueError(f"claim {name!r}: low={low} is above high={high}")


def band_text(low: float | None, high: float | None) -> str:
    """A band as it reads in a printout or report: "≥ 0.9", "≤ 2", "[0.9, 1]" (or "(not checked)")."""
    if low is None and high is None:
        return "(not checked)"
    if low is None:
        return f"≤ {high:g}"
    if high is None:
        return f"≥ {low:g}"
    return f"[{low:g}, {high:g}]"


def _reach(low: float | None, high: float | None) -> str:
    return ("in " if low is not None and high is not None else "") + band_text(low, high)


def _record(entry: dict) -> None:
    target = os.environ.get("AIGC_CLAIMS_FILE")
    if target:
        with Path(target).open("a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")


def claim(name: str, measured: float, *, stated: float, low: float | None = None, high: float | None = None,
          workshop: tuple[float | None, float | None] | None = None, unit: str = "") -> float:
    """Check that ``measured`` lies in the band the chapter promises; return ``measured``.

    >>> claim("cDCGAN class accuracy", 0.985, stated=0.986, low=0.97, unit="")  # doctest: +SKIP

    ``stated`` is the figure the text quotes (from a full run); ``low``/``high`` bound what a full run must
    reach (one may be None for a one-sided claim); ``workshop=(low, high)`` is the band in workshop mode.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"claim name must be a non-empty string, got {name!r}")
    _check_band(name, low, high)
    if workshop is not None:
        if not (isinstance(workshop, tuple) and len(workshop) == 2):
            raise ValueError(f"claim {name!r}: workshop must be a (low, high) tuple, got {workshop!r}")
        _check_band(name, *workshop)
    value = float(measured)
    mode = run_mode()
    band = {"full": (low, high), "workshop": workshop, "fast": None}[mode]
    if band is None:
        holds = None
        verdict = "not checked in this mode" if mode == "workshop" else "not checked in FAST mode"
    else:
        lo, hi = band
        holds = math.isfinite(value) and (lo is None or value >= lo) and (hi is None or value <= hi)
        verdict = ("holds" if holds else "FAILS") + f" ({_reach(lo, hi)})"
    _record({"name": name, "measured": value, "stated": stated, "low": low, "high": high,
             "workshop": list(workshop) if workshop else None, "mode": mode, "holds": holds, "unit": unit})
    print(f"claim: {name}: measured {value:.4g}{unit}, stated {stated_text(stated, unit)} — {verdict}")
    if holds is False:
        raise ClaimFailed(f"{name}: measured {value:.4g}{unit}, but a {mode} run must reach "
                          f"{_reach(*band)} (the text states {stated_text(stated, unit)})")
    return value
