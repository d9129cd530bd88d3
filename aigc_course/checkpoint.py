"""Checkpoints: save a run atomically, load it safely (``weights_only=True``), explain every mismatch.

A checkpoint is a plain dict of tensors and Python primitives:
``{"format": 1, "step", "modules": {name: state}, "classes": {name: class name}, "config", "history", "rng",
"sha256"}``. It never holds pickled code, so loading it cannot execute anything (with torch >= 2.10, the
package's floor: older versions had ways around ``weights_only``). ``sha256`` is a digest of everything
else, verified on load, so a flipped byte is caught instead of loaded. A ``torch.Generator`` can be saved
beside models and optimisers: its state is stored and restored.

Saving serialises in memory, writes a temporary file next to the target, fsyncs it and renames it over the
target, so a crash or a kill never leaves half a checkpoint; temporary files left by killed saves are
removed by the next save. A full disk or a read-only folder gives a :class:`CheckpointWriteError` that says
how much space was needed and where.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from aigc_course.checkpoint_safety import refusal_reason
from aigc_course.device import rng_state, set_rng_state

FORMAT = 1
SAFE_TORCH = (2, 10)   # the oldest torch whose weights_only loader has no known bypass (pyproject's floor)
_PRIMITIVES = (bool, int, float, str, type(None))


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used: corrupt, untrusted, or from another model."""


class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint could not be written (disk full, read-only folder); nothing was overwritten."""


# ------------------------------------------------------------------------------------------- contents


def _check_primitive(value: Any, where: str) -> None:
    """Refuse at save time what ``weights_only`` could not read back at load time (e.g. a NumPy float)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_primitive(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_primitive(item, f"{where}[{i}]")
    elif not isinstance(value, _PRIMITIVES) or type(value).__module__ == "numpy":
        raise TypeError(f"{where} is a {type(value).__module__}.{type(value).__name__} ({value!r}), which a "
                        f"weights_only checkpoint cannot read back; store a plain int, float, str, bool, "
                        f"list or dict (e.g. float(x))")


def config_to_dict(config: Any) -> dict | None:
    if config is None:
        return None
    if dataclasses.is_dataclass(config):
        out = {"class": type(config).__name__, **dataclasses.asdict(config)}
    elif isinstance(config, dict):
        out = dict(config)
    else:
        raise TypeError(f"config must be a dataclass or a dict, got {type(config).__name__}")
    _check_primitive(out, "config")
    return out


def _state_of(module: Any) -> Any:
    if isinstance(module, torch.Generator):
        return {"generator_state": module.get_state()}
    if not hasattr(module, "state_dict"):
        raise TypeError(f"modules values must have a state_dict (a model, optimizer, scheduler) or be a "
                        f"torch.Generator, got {type(module).__name__}")
    return module.state_dict()


def _digest(value: Any, h: Any) -> None:
    """Feed ``value`` (tensors, containers, primitives) into the hash ``h`` in a canonical order."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, dict):
        h.update(b"D%d" % len(value))
        for key in sorted(value, key=repr):
            h.update(repr(key).encode())
            _digest(value[key], h)
    elif isinstance(value, (list, tuple)):
        h.update(b"L%d" % len(value))
        for item in value:
            _digest(item, h)
    else:
        h.update(repr(value).encode())


def checksum(payload: dict) -> str:
    """SHA-256 of everything in a checkpoint's payload except the stored checksum itself."""
    h = hashlib.sha256()
    _digest({k: v for k, v in payload.items() if k != "sha256"}, h)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------- writing


def _remove_orphans(path: Path) -> None:
    """Delete temporary files that killed saves of this checkpoint left behind."""
    for orphan in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            orphan.unlink()
        except OSError:
            pass


def _write_durably(path: Path, data: memoryview) -> None:
    """Write ``data`` to a temporary file, fsync it, rename it over ``path``, fsync the folder."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_error(path: Path, size: int, err: OSError) -> CheckpointWriteError:
    need = f"needed ≈ {size / 1e6:.1f} MB at {path}"
    if err.errno == errno.ENOSPC:
        free = shutil.disk_usage(path.parent).free / 1e6 if path.parent.exists() else 0.0
        return CheckpointWriteError(f"no space left on device ({need}, {free:.1f} MB free); free some space "
                                    f"or pass another checkpoint path")
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return CheckpointWriteError(f"cannot write the checkpoint: {path.parent} is read-only ({need}); pass a "
                                    f"checkpoint path in a folder you can write")
    return CheckpointWriteError(f"could not write the checkpoint ({need}): {err}")


def save_checkpoint(path: str | os.PathLike, modules: dict[str, Any], step: int,
                    config: Any = None, history: dict | None = None, rng: dict | None = None) -> Path:
    """Write ``modules`` (models, optimizers, schedulers, generators) and the run's state to ``path``.

    ``rng`` is the random state to store (default: the current one). The file appears complete or not at
    all; :class:`CheckpointWriteError` when the disk is full or the folder read-only.
    """
    path = Path(path)
    payload = {
        "format": FORMAT,
        "step": int(step),
        "modules": {name: _state_of(m) for name, m in modules.items()},
        "classes": {name: type(m).__name__ for name, m in modules.items()},
        "config": config_to_dict(config),
        "history": history,
        "rng": rng if rng is not None else rng_state(),
    }
    payload["sha256"] = checksum(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getbuffer()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(path)
        _write_durably(path, data)
    except OSError as err:
        raise _write_error(path, data.nbytes, err) from err
    return path


# ------------------------------------------------------------------------------------------- reading


def _torch_version() -> tuple[int, int]:
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint file with ``weights_only=True`` (tensors and primitives only, no code), checksum
    verified. Refused under a torch older than :data:`SAFE_TORCH`, whose loader could be tricked."""
    if _torch_version() < SAFE_TORCH:
        raise CheckpointError(f"torch {torch.__version__} is older than {SAFE_TORCH[0]}.{SAFE_TORCH[1]}: its "
                              f"weights_only loader can be bypassed (CVE-2025-32434) or crashed by a crafted "
                              f"file, so checkpoints are not loaded with it. Upgrade: pip install 'torch>=2.10'")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # refused pickles, truncated zips, random bytes, an HTML page, ...
        refused = refusal_reason(path)
        if refused:
            raise CheckpointError(
                f"{path} holds pickled objects or code, not just weights, and was refused, not executed "
                f"({refused}). Only checkpoints written by save_checkpoint can be loaded") from err
        detail = " ".join(str(err).split())[:200] or type(err).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated): {detail}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "modules" not in payload:
        raise CheckpointError(f"{path} is a torch file but not an aigc_course checkpoint "
                              f"(expected a dict with format={FORMAT} and 'modules')")
    if "sha256" in payload and checksum(payload) != payload["sha256"]:
        raise CheckpointError(f"{path} is damaged: its contents do not match the checksum stored when it was "
                              f"written (a changed byte on disk or in transfer). Use an older checkpoint or "
                              f"start again without resume")
    return payload


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


def _load_one(path: Path, name: str, module: Any, state: Any, saved_class: str | None) -> None:
    if saved_class is not None and not isinstance(module, torch.nn.Module) and saved_class != type(module).__name__:
        raise CheckpointError(f"{path} holds {saved_class} state for {name!r}, but this run passes a "
                              f"{type(module).__name__}; use the same class, or start without resume")
    if isinstance(module, torch.Generator):
        if not isinstance(state, dict) or "generator_state" not in state:
            raise CheckpointError(f"{path} holds no generator state for {name!r}")
        module.set_state(state["generator_state"])
        return
    if isinstance(module, torch.nn.Module):
        _check_keys(path, name, module, state)
    module.load_state_dict(state)


def load_checkpoint(path: str | os.PathLike, modules: dict[str, Any], restore_rng: bool = True,
                    optional: dict[str, Any] | None = None) -> dict:
    """Load a checkpoint into ``modules`` (same names as when saved) and return the payload.

    ``optional``: more modules, each loaded only when the checkpoint holds it (e.g. generators that older
    checkpoints did not save).

    Raises :class:`CheckpointError` naming the file and, for a model mismatch, every mismatched key; for an
    optimizer (or scheduler, generator) of another class than the one saved, both class names.
    """
    path = Path(path)
    payload = read_checkpoint(path)
    saved, classes = payload["modules"], payload.get("classes", {})
    absent = sorted(set(modules) - set(saved))
    if absent:
        raise CheckpointError(f"{path} has no state for {absent}; it holds {sorted(saved)}")
    present = {name: m for name, m in (optional or {}).items() if name in saved}
    for name, module in {**modules, **present}.items():
        _load_one(path, name, module, saved[name], classes.get(name))
    if restore_rng and payload.get("rng"):
        set_rng_state(payload["rng"])
    return payload
