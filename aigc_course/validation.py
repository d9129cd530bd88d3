"""One validation layer for everything a learner can type: each check names the argument, the bad value and
what is valid.

Wrong *type* (a string where a number goes, a float where an int goes, a bool where a number goes) raises an
:class:`ArgumentTypeError`, a ``TypeError`` that is also a ``ValueError`` (so code written when these were
ValueErrors still catches them); a value of the right type that is out of range, NaN, infinite or empty
raises a ``ValueError``.
Both messages start with the argument's name: ``"dropout must be in [0, 1), got '0.1' (str)"``.

- scalars: :func:`check_int`, :func:`check_float`, :func:`check_bool`, :func:`check_choice`;
- tensors: :func:`check_tensor` (dtype kind, dimensions, finite, non-empty), :func:`check_token_ids`;
- configs: :func:`check_fields` checks every field of a dataclass against its annotation (``int``,
  ``float``, ``bool``, ``str`` and their ``| None`` forms), so a config needs only its range checks;
- the older helpers :func:`positive_int`, :func:`positive_ints` and :func:`dropout_rate` are kept.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from numbers import Integral, Real

import torch
from torch import Tensor


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (the message names it, its value and what is valid)."""


def _got(value: object) -> str:
    return f"got {value!r} ({type(value).__name__})"


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return " a finite number"
    if high is None:
        return f" {'>' if low_open else '>='} {low}"
    if low is None:
        return f" {'<' if high_open else '<='} {high}"
    return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def _int_range(low: int | None, high: int | None) -> str:
    if high is not None:
        return f" in {low}..{high}" if low is not None else f" an int <= {high}"
    return {None: " an int", 1: " a positive int"}.get(low, f" an int >= {low}")


def check_int(name: str, value: object, low: int | None = None, high: int | None = None, *,
              none_ok: bool = False, hint: str = "") -> int | None:
    """``value`` as a plain int in ``low..high`` (NumPy ints welcome, bools and floats refused)."""
    if value is None and none_ok:
        return None
    what = f"{name} must be{_int_range(low, high)}{' or None' if none_ok else ''}{hint}"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ArgumentTypeError(f"{what}, {_got(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{what}, got {value!r}")
    return int(value)


def check_float(name: str, value: object, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False, none_ok: bool = False,
                hint: str = "") -> float | None:
    """``value`` as a finite float in the interval given (ints and NumPy numbers welcome, bools refused)."""
    if value is None and none_ok:
        return None
    what = f"{name} must be{_interval(low, high, low_open, high_open)}{' or None' if none_ok else ''}{hint}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ArgumentTypeError(f"{what}, {_got(value)}")
    x = float(value)
    bad = (not math.isfinite(x) or (low is not None and (x <= low if low_open else x < low))
           or (high is not None and (x >= high if high_open else x > high)))
    if bad:
        raise ValueError(f"{what}, got {value!r}")
    return x


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is True or False (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be True or False, {_got(value)}")
    return value


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices`` (strings)."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be one of {', '.join(map(repr, choices))}, {_got(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_tensor(name: str, value: object, *, kind: str = "float", ndim: int | Sequence[int] | None = None,
                 finite: bool = True, nonempty: bool = True) -> Tensor:
    """``value`` if it is a tensor of the right kind ("float", "int", "bool" or "any"), dimension and content."""
    if not isinstance(value, Tensor):
        raise ArgumentTypeError(f"{name} must be a torch.Tensor, {_got(value)}")
    kinds = {"float": value.is_floating_point(), "bool": value.dtype == torch.bool, "any": True,
             "int": not value.is_floating_point() and not value.is_complex() and value.dtype != torch.bool}
    if not kinds[kind]:
        raise ArgumentTypeError(f"{name} must be a {kind} tensor, got dtype {value.dtype}")
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if dims is not None and value.dim() not in dims:
        raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimensions, got shape {tuple(value.shape)}")
    if nonempty and value.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(value.shape)}")
    if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN/inf value(s) of {value.numel()}")
    return value


def check_token_ids(name: str, ids: Tensor, vocab_size: int) -> Tensor:
    """``ids`` if it is a non-empty integer tensor of ids in 0..vocab_size-1."""
    check_tensor(name, ids, kind="int")
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= vocab_size:
        raise ValueError(f"{name} must hold token ids in 0..{vocab_size - 1} (vocab_size={vocab_size}), "
                         f"got ids from {lo} to {hi}")
    return ids


_SIMPLE = {"int": check_int, "float": check_float, "bool": check_bool}


def check_fields(config: object) -> None:
    """Check every field of the dataclass ``config`` against its annotation; NumPy numbers become plain ones.

    ``int`` / ``float`` / ``bool`` / ``str`` (with ``| None``) are checked; other annotations are left to the
    config's own checks. A converted value is written back, so the config holds only built-in types (which a
    ``weights_only`` checkpoint can read back).
    """
    for field in dataclasses.fields(config):
        kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
        kind = kind.replace(" ", "")
        none_ok = kind.endswith("|None") or kind.startswith("None|")
        kind = kind.replace("|None", "").replace("None|", "")
        value = getattr(config, field.name)
        if value is None and none_ok:
            continue
        if kind == "str":
            if not isinstance(value, str):
                raise ArgumentTypeError(f"{field.name} must be a str, {_got(value)}")
        elif kind in ("int", "float"):
            object.__setattr__(config, field.name, _SIMPLE[kind](field.name, value))  # frozen ones too
        elif kind == "bool":
            check_bool(field.name, value)


# ------------------------------------------------------------------------------------------ older helpers


def positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1 (bools and floats refused with a TypeError), else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ArgumentTypeError(f"{name} must be a positive int, {_got(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def positive_ints(config: object, *names: str) -> None:
    """Check that each named field of ``config`` is a positive int."""
    for name in names:
        positive_int(name, getattr(config, name))


def dropout_rate(value: float, name: str = "dropout") -> float:
    """A probability of dropping a unit: a float in [0, 1)."""
    return check_float(name, value, 0, 1, high_open=True)
