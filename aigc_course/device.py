"""Which device to compute on, mixed precision, and reproducible randomness."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from aigc_course.validation import check_bool, check_int

VALID_DEVICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def get_device(name: str | None = None) -> torch.device:
    """The device to use: CUDA > MPS > CPU, unless ``name`` or ``AIGC_DEVICE`` says otherwise.

    ``name`` (or the variable) may be ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    """
    raw = (name if name is not None else os.environ.get("AIGC_DEVICE", "auto")).strip().lower()
    kind = raw.split(":")[0]
    if kind not in VALID_DEVICES or (":" in raw and kind != "cuda"):
        source = "device name" if name is not None else "AIGC_DEVICE"
        raise ValueError(f"{source} must be one of {', '.join(VALID_DEVICES)} or cuda:N, got {raw!r}")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{raw!r} was asked for, but this machine has no CUDA GPU; use 'cpu' or 'auto'")
    if kind == "mps" and not _mps_available():
        raise ValueError("'mps' was asked for, but this machine has no Apple GPU; use 'cpu' or 'auto'")
    return torch.device(raw)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The low-precision dtype autocast uses on ``device``, or None where it does not help.

    bf16 on CUDA GPUs that support it (Ampere and newer); off on CPU and MPS, where it is slower or
    unsupported for training.
    """
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """A context that runs the forward pass in bf16 where that is a win, and does nothing elsewhere."""
    dtype = autocast_dtype(device)
    if not enabled or dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a torch Generator seeded the same way.

    ``deterministic=True`` also asks torch for deterministic kernels (slower on GPU; errors where an
    operation has no deterministic version).
    """
    seed = check_int("seed", seed, 0)
    check_bool("deterministic", deterministic)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)


def rng_state() -> dict:
    """Every random state that training touches, in a form ``torch.load(weights_only=True)`` accepts."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` saved."""
    version, gauss_keys, gauss = state["python"]
    random.setstate((version, tuple(gauss_keys), gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
