"""How exercises are checked.

A checker is a function that takes the learner's answer (a function, a tensor, a number ...) and raises
``AssertionError`` with a helpful message when it is wrong. Decorating it with :func:`exercise` turns it into
a callable that

- reports ``unsolved`` when the answer is ``None``, ``...`` or raises ``NotImplementedError`` (the stub);
- reports ``failed`` with the checker's message when an assertion fails;
- reports ``passed`` otherwise;
- returns a :class:`Result`, which a notebook shows as one line (✅ / ❌ with the hint / ✏️) when the
  checker call ends the cell;
- raises (:class:`ExerciseNotSolved` / :class:`ExerciseFailed`) instead when ``strict=True`` or the
  environment sets ``AIGC_STRICT_EXERCISES=1``. Chapters call checkers non-strictly, so an unsolved exercise
  never fails a notebook run; solutions and tests call them strictly.

Notebook convention: an exercise lives in one code cell tagged ``exercise`` that holds the stub (or, in
``solutions/``, the worked answer) and the checker call. The cell imports what it needs, so the tests can run
it on its own: it must pass in the solutions notebook and report unsolved in the chapter.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ExerciseNotSolved(Exception):
    """The answer is still the stub."""


class ExerciseFailed(AssertionError):
    """The answer was checked and is wrong."""


@dataclass
class Result:
    name: str
    status: str          # "passed", "failed" or "unsolved"
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __repr__(self) -> str:   # what a notebook shows when the checker call ends a cell
        return str(self)

    def __str__(self) -> str:
        mark = {"passed": "✅", "failed": "❌", "unsolved": "✏️"}[self.status]
        return f"{mark} {self.name}: {self.status}" + (f" — {self.message}" if self.message else "")


REGISTRY: dict[str, Callable[..., Result]] = {}
CALLS: list[Result] = []   # every check made in this process, in order (the tests read it)


def _strict_from_env() -> bool:
    return os.environ.get("AIGC_STRICT_EXERCISES", "").strip().lower() in {"1", "true", "yes"}


def _is_stub(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def _expected(checker: Callable[[Any], None]) -> str:
    """The checker's docstring (what the answer must do), as a hint after a crash."""
    doc = " ".join((checker.__doc__ or "").split())
    return f". Expected: {doc}" if doc else ""


def _run(name: str, checker: Callable[[Any], None], answer: Any) -> Result:
    if _is_stub(answer):
        return Result(name, "unsolved", "replace the placeholder with your answer")
    try:
        checker(answer)
    except NotImplementedError:
        return Result(name, "unsolved", "your function still raises NotImplementedError")
    except AssertionError as err:
        message = str(err).split("\nassert ")[0]   # drop pytest's assertion-rewriting detail, if any
        return Result(name, "failed", message or "the answer does not match")
    except Exception as err:  # the learner's code crashed: say how, and what was expected of it
        return Result(name, "failed", f"your answer raised {type(err).__name__}: {err}{_expected(checker)}")
    return Result(name, "passed", "")


def exercise(name: str) -> Callable[[Callable[[Any], None]], Callable[..., Result]]:
    """Register ``checker(answer)`` under ``name`` (e.g. ``"ch04.gaussian_kl"``)."""

    def wrap(checker: Callable[[Any], None]) -> Callable[..., Result]:
        if name in REGISTRY:
            raise ValueError(f"an exercise named {name!r} is already registered")

        @functools.wraps(checker)
        def check(answer: Any, strict: bool | None = None) -> Result:
            result = _run(name, checker, answer)
            CALLS.append(result)
            if strict if strict is not None else _strict_from_env():
                if result.status == "unsolved":
                    raise ExerciseNotSolved(str(result))
                if result.status == "failed":
                    raise ExerciseFailed(str(result))
            return result

        check.exercise_name = name
        REGISTRY[name] = check
        return check

    return wrap
