"""Checkpoints: save a run atomically, load it safely (``weights_only=True``), explain every mismatch.

A checkpoint is a plain dict of tensors and Python primitives:
``{"format": 1, "step", "modules": {name: state_dict}, "config", "history", "rng"}``.
It never holds pickled code, so loading it cannot execute anything.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from aigc_course.device import rng_state, set_rng_state

FORMAT = 1


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used: corrupt, untrusted, or from another model."""


def _config_to_dict(config: Any) -> dict | None:
    if config is None:
        return None
    if dataclasses.is_dataclass(config):
        return {"class": type(config).__name__, **dataclasses.asdict(config)}
    if isinstance(config, dict):
        return dict(config)
    raise TypeError(f"config must be a dataclass or a dict, got {type(config).__name__}")


def save_checkpoint(path: str | os.PathLike, modules: dict[str, Any], step: int,
                    config: Any = None, history: dict | None = None) -> Path:
    """Write ``modules`` (models, optimizers: anything with ``state_dict``) and the run's state to ``path``.

    The file is written to a temporary name and renamed, so a crash never leaves half a checkpoint.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "step": int(step),
        "modules": {name: m.state_dict() for name, m in modules.items()},
        "config": _config_to_dict(config),
        "history": history,
        "rng": rng_state(),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint file with ``weights_only=True``: tensors and primitives only, no code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        detail = _unpickler_detail(str(err))
        if "global" in detail.lower() or "reduce" in detail.lower():
            raise CheckpointError(
                f"{path} holds pickled objects or code, not just weights, and was refused, not executed. "
                f"Only checkpoints written by save_checkpoint can be loaded ({detail})") from err
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated): {detail}") from err
    except Exception as err:  # truncated zip, random bytes, ...
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated): {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "modules" not in payload:
        raise CheckpointError(f"{path} is a torch file but not an aigc_course checkpoint "
                              f"(expected a dict with format={FORMAT} and 'modules')")
    return payload


def _unpickler_detail(message: str) -> str:
    """The one informative line of torch's long weights-only error."""
    for line in message.splitlines():
        if "WeightsUnpickler error:" in line:
            return line.split("WeightsUnpickler error:", 1)[1].strip()[:200]
    return message.strip().splitlines()[-1][:200] if message.strip() else "unreadable"


def _check_keys(path: Path, name: str, module: torch.nn.Module, state: dict) -> None:
    expected, found = set(module.state_dict()), set(state)
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
              for k, v in module.state_dict().items()
              if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        lines = [f"{path} does not match {name!r} ({type(module).__name__}): it comes from another model."]
        if missing:
            lines.append(f"  missing from the checkpoint: {', '.join(missing[:20])}")
        if unexpected:
            lines.append(f"  not in the model: {', '.join(unexpected[:20])}")
        if shapes:
            lines.append("  different shapes: " + "; ".join(shapes[:20]))
        raise CheckpointError("\n".join(lines))


def load_checkpoint(path: str | os.PathLike, modules: dict[str, Any], restore_rng: bool = True) -> dict:
    """Load a checkpoint into ``modules`` (same names as when saved) and return the payload.

    Raises :class:`CheckpointError` naming the file and, for a model mismatch, every mismatched key.
    """
    path = Path(path)
    payload = read_checkpoint(path)
    saved = payload["modules"]
    absent = sorted(set(modules) - set(saved))
    if absent:
        raise CheckpointError(f"{path} has no state for {absent}; it holds {sorted(saved)}")
    for name, module in modules.items():
        if isinstance(module, torch.nn.Module):
            _check_keys(path, name, module, saved[name])
        module.load_state_dict(saved[name])
    if restore_rng and payload.get("rng"):
        set_rng_state(payload["rng"])
    return payload
