"""One training loop for every chapter: callbacks, progress, checkpoints, resume, NaN guard, Ctrl-C.

The loop knows nothing about models. A chapter gives it a ``step_fn(step) -> losses`` that does one update
(one optimiser step for a classifier, a D step and a G step for a GAN) and returns the numbers to log.
Plots and widgets subscribe through callbacks; the loop itself never displays anything but its progress bar.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from aigc_course.checkpoint import CheckpointWriteError, config_to_dict, load_checkpoint, save_checkpoint
from aigc_course.interrupts import DeferredInterrupt
from aigc_course.schedules import WarmupCosine  # noqa: F401  (re-exported: chapters import it from here)
from aigc_course.steps import lm_step, supervised_step  # noqa: F401  (re-exported: chapters import them from here)
from aigc_course.validation import ArgumentTypeError, check_bool, check_int

Logs = dict[str, float]
StepFn = Callable[[int], "float | Mapping[str, Any]"]


@dataclass
class History:
    """What a run recorded: training logs per step, evaluation logs per evaluation, and how it ended."""

    steps: list[int] = field(default_factory=list)                  # completed step numbers (1-based)
    logs: dict[str, list[float]] = field(default_factory=dict)      # name -> one value per entry in steps
    eval_steps: list[int] = field(default_factory=list)
    eval_logs: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0                                            # wall time spent in the loop
    interrupted: bool = False                                       # True when Ctrl-C stopped the run

    def record(self, step: int, logs: Logs, evaluation: bool = False) -> None:
        steps, table = (self.eval_steps, self.eval_logs) if evaluation else (self.steps, self.logs)
        steps.append(step)
        for name, value in logs.items():
            column = table.setdefault(name, [math.nan] * (len(steps) - 1))
            column.append(value)
        for column in table.values():   # a key missing this time gets NaN, so columns stay aligned
            if len(column) < len(steps):
                column.append(math.nan)

    def last(self, name: str) -> float:
        """The latest value of ``name`` (training logs first, then evaluation logs)."""
        for table in (self.logs, self.eval_logs):
            if table.get(name):
                return table[name][-1]
        known = sorted(set(self.logs) | set(self.eval_logs))
        raise KeyError(f"nothing logged under {name!r}; logged: {known}")

    def to_dict(self) -> dict:
        return {"steps": self.steps, "logs": self.logs, "eval_steps": self.eval_steps,
                "eval_logs": self.eval_logs, "seconds": self.seconds, "interrupted": self.interrupted}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        return cls(**data)


class Callback(Protocol):
    """Anything with some of these methods can watch a run (missing methods are skipped)."""

    def on_step(self, step: int, logs: Logs, history: History) -> None: ...
    def on_eval(self, step: int, logs: Logs, history: History) -> None: ...
    def on_end(self, history: History) -> None: ...


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; ``.history`` holds what was recorded before."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


class CheckpointWarning(UserWarning):
    """A checkpoint could not be written; training went on and the History was kept."""


def _to_logs(out: float | Mapping[str, Any], step: int, keep_device: bool = False,
             keep_cpu: bool = False) -> dict[str, Any]:
    """The step function's result as {name: float}, or a TypeError / ValueError that says what came back.

    ``keep_device``: a one-element tensor on a GPU stays a (detached) tensor, read later by :func:`_flush`
    with the other steps' values in one transfer, instead of a host synchronisation now; ``keep_cpu``: a CPU
    tensor too (``train(log_every=N)`` given explicitly: the same path, testable without a GPU)."""
    items = out.items() if isinstance(out, Mapping) else [("loss", out)]
    logs: dict[str, Any] = {}
    for name, v in items:
        where = f"step_fn returned {'a dict whose ' + repr(name) + ' is ' if isinstance(out, Mapping) else ''}"
        if torch.is_tensor(v):
            if v.numel() != 1:
                raise ValueError(f"{where}a tensor of shape {tuple(v.shape)} at step {step}; return one number "
                                 f"per name (e.g. loss.mean().item())")
            if (keep_cpu or (keep_device and v.device.type != "cpu")) and v.dtype != torch.bool:
                logs[str(name)] = v.detach().reshape(())
                continue
            v = v.detach().item()
        if isinstance(v, bool) or not isinstance(v, Real):
            raise ArgumentTypeError(f"{where}{v!r} ({type(v).__name__}) at step {step}; step_fn must return a "
                                    f"float (or a 0-dim tensor) or a dict of them, e.g. return loss.item()")
        logs[str(name)] = float(v)
    return logs


def _notify(callbacks: Iterable[Any], event: str, *args: Any) -> None:
    for cb in callbacks:
        method = getattr(cb, event, None)
        if method is not None:
            method(*args)


def _check_finite(step: int, logs: Logs, history: History, run: _Run, ahead: int = 0) -> None:
    bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
    if bad:
        later = (f" (losses on this device are read every log_every={run.log_every} steps, so the weights have "
                 f"taken {ahead} more update{'s' if ahead > 1 else ''} since)" if ahead else "")
        shown = ", ".join(f"{k}={v}" for k, v in bad.items())
        restore = (f"load_checkpoint({str(run.checkpoint)!r}, modules) restores step {run.saved_step}"
                   if run.saved_step is not None else "no checkpoint was written: rebuild the model")
        raise TrainingDiverged(
            f"training diverged at step {step}: {shown}{later}. The weights in memory are probably NaN now (the step "
            f"that diverged has updated them), so do not keep training them: {restore}. Then try a smaller "
            f"learning rate, gradient clipping, or check the loss for log(0). History up to step {step - 1} "
            f"is in .history.", history)


def _set_mode(modules: Mapping[str, Any], training: bool) -> None:
    for m in modules.values():
        if isinstance(m, torch.nn.Module):
            m.train(training)


@dataclass
class _Run:
    """The settings of one call to :func:`train`, gathered so the helpers below stay small."""

    step_fn: StepFn
    steps: int
    modules: Mapping[str, Any]
    eval_fn: Callable[[], Mapping[str, Any]] | None
    eval_every: int
    callbacks: list[Any]
    checkpoint: Path | None
    checkpoint_every: int
    config: Any
    generators: dict[str, torch.Generator] = field(default_factory=dict)   # the step function's own
    saved_step: int | None = None                                           # the last step on disk
    write_failed: bool = False
    log_every: int = 50                     # steps between reads of losses that live on a GPU
    pending: list[tuple[int, dict[str, Any]]] = field(default_factory=list)   # steps not yet read back
    running: float | None = None            # the progress bar's smoothed first loss
    defer_cpu: bool = False                 # log_every was given: CPU tensors wait for the read too

    def save(self, step: int, history: History) -> None:
        """Write the checkpoint; a full disk or read-only folder warns once and the run goes on."""
        if self.checkpoint is None or not self.modules:
            return
        try:
            save_checkpoint(self.checkpoint, {**self.modules, **self.generators}, step, self.config,
                            history.to_dict())
            self.saved_step = step
        except CheckpointWriteError as err:
            if not self.write_failed:
                warnings.warn(CheckpointWarning(f"checkpoint at step {step} not written: {err}. Training goes "
                                                f"on and the History is kept in memory."), stacklevel=4)
            self.write_failed = True

    def evaluate(self, step: int, history: History) -> Logs:
        _set_mode(self.modules, training=False)
        with torch.no_grad():
            logs = _to_logs(self.eval_fn(), step)
        _set_mode(self.modules, training=True)
        history.record(step, logs, evaluation=True)
        _notify(self.callbacks, "on_eval", step, logs, history)
        return logs


def _check_callbacks(callbacks: Any) -> list[Any]:
    events = ("on_step", "on_eval", "on_end")
    if any(hasattr(callbacks, e) for e in events) or isinstance(callbacks, (str, bytes)) \
            or not isinstance(callbacks, Iterable):
        name = type(callbacks).__name__
        raise ArgumentTypeError(f"callbacks must be a list of callbacks, got a {name}; pass callbacks=[{name}(...)]")
    out = list(callbacks)
    for i, cb in enumerate(out):
        if not any(callable(getattr(cb, e, None)) for e in events):
            raise ArgumentTypeError(f"callbacks[{i}] ({type(cb).__name__}) has none of {', '.join(events)}")
    return out


def _validate(step_fn: Any, steps: int, eval_fn: Any, eval_every: int | None, checkpoint: Any,
              checkpoint_every: int | None, modules: Mapping | None) -> None:
    if not callable(step_fn):
        raise ArgumentTypeError(f"step_fn must be a function step -> loss, got {type(step_fn).__name__}")
    if eval_fn is not None and not callable(eval_fn):
        raise ArgumentTypeError(f"eval_fn must be a function () -> dict or None, got {type(eval_fn).__name__}")
    check_int("steps", steps, 1)
    check_int("eval_every", eval_every, 1, none_ok=True)
    check_int("checkpoint_every", checkpoint_every, 1, none_ok=True)
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise ArgumentTypeError(f"checkpoint must be a path (str or Path) or None, got {type(checkpoint).__name__}")
    if checkpoint is not None and not modules:
        raise ValueError("a checkpoint path needs modules={name: model_or_optimizer} to know what to save")


def _resume(run: _Run, config: Any) -> tuple[History, int]:
    """History and step of the checkpoint, loaded into the run's modules (and generators it holds)."""
    payload = load_checkpoint(run.checkpoint, dict(run.modules), optional=run.generators)
    start = payload["step"]
    if start > run.steps:
        raise ValueError(f"{run.checkpoint} is at step {start}, beyond steps={run.steps}: pass steps >= {start} "
                         f"to continue it, or resume=False (or another checkpoint path) to start again")
    _warn_config_change(run.checkpoint, payload.get("config"), config)
    history = History.from_dict(payload["history"]) if payload.get("history") else History()
    history.interrupted = False
    run.saved_step = start
    return history, start


def _warn_config_change(path: Path, saved: dict | None, config: Any) -> None:
    now = config_to_dict(config)
    if saved is None or now is None or saved == now:
        return
    changed = [f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in sorted(set(saved) | set(now), key=str)
               if saved.get(k) != now.get(k)]
    warnings.warn(f"resuming {path} with a different config ({'; '.join(changed[:10])}); the weights were trained "
                  f"under the old one. Pass the old config, or resume=False to start again.", stacklevel=4)


def train(step_fn: StepFn, steps: int, *, modules: Mapping[str, Any] | None = None,
          eval_fn: Callable[[], Mapping[str, Any]] | None = None, eval_every: int | None = None,
          callbacks: Iterable[Any] = (), checkpoint: str | Path | None = None,
          checkpoint_every: int | None = None, resume: bool = False, config: Any = None,
          progress: bool = True, desc: str = "training", log_every: int | None = None) -> History:
    """Run ``step_fn(step)`` for ``step = 1 .. steps`` and return the :class:`History`.

    - ``step_fn`` does one update and returns a loss (float/tensor) or a dict of named numbers.
    - ``modules``: models, optimisers, schedulers and ``torch.Generator``s by name; checkpoints save them,
      evaluation toggles train/eval. Generators a step function declares (``lm_step``'s) are saved too.
    - ``eval_fn()`` runs under ``torch.no_grad()`` every ``eval_every`` steps and at the end.
    - ``checkpoint``: a path; written every ``checkpoint_every`` steps (default: at each evaluation), at the
      end, and when the run is interrupted. ``resume=True`` continues from it when it exists (refusing a
      checkpoint beyond ``steps``, warning when ``config`` differs from the saved one).
    - A NaN/inf loss raises :class:`TrainingDiverged` naming the step. Ctrl-C (or the kernel's interrupt)
      takes effect at the end of the current step: the run stops, keeps the history
      (``history.interrupted``) and writes the checkpoint, which then resumes bit-identically. A second
      Ctrl-C stops at once, mid-step, and leaves the last checkpoint as it was.
    - Losses a step function returns as GPU tensors (:func:`aigc_course.accel.loggable`) are read back
      every ``log_every`` steps (default 50; given explicitly, CPU tensors wait too) and at every
      evaluation, checkpoint and stop, all in one transfer: no host synchronisation per step. Callbacks, the
      NaN check and the History then see each step's exact values, in order, late; a NaN still names its
      step. CPU losses are read at once.
    - A checkpoint that cannot be written (disk full, read-only folder) gives one :class:`CheckpointWarning`;
      the run goes on and the History is returned.
    """
    _validate(step_fn, steps, eval_fn, eval_every, checkpoint, checkpoint_every, modules)
    modules = dict(modules or {})
    check_bool("resume", resume)
    check_bool("progress", progress)
    check_int("log_every", log_every, 1, none_ok=True)
    run = _Run(step_fn, steps, modules, eval_fn, eval_every or steps, _check_callbacks(callbacks),
               Path(checkpoint) if checkpoint is not None else None,
               checkpoint_every or eval_every or max(1, steps // 10), config,
               generators={**(getattr(step_fn, "generators", None) or {}), **(getattr(step_fn, "state", None) or {})},
               log_every=log_every or 50, defer_cpu=log_every is not None)
    config_to_dict(config)   # a config a checkpoint cannot hold is refused now, not at the first save
    history, start = History(), 0
    if resume and run.checkpoint is not None and run.checkpoint.exists():
        history, start = _resume(run, config)
    return _loop(run, history, start, progress, desc)


def _stop(run: _Run, history: History, start: int, t0: float, forced: bool, bar: Any) -> History:
    _flush(run, history, bar)                        # the steps that completed before the interrupt
    history.interrupted = True
    done = history.steps[-1] if history.steps else start
    history.seconds = time.perf_counter() - t0
    if forced:
        kept = (f"; the checkpoint {run.checkpoint} still holds step {run.saved_step}" if run.saved_step is not None
                else "")
        print(f"Interrupted in the middle of step {done + 1} of {run.steps}: history kept up to step {done}; the "
              f"model may hold part of step {done + 1}'s update{kept}.")
    else:
        where = f"; checkpoint written to {run.checkpoint} (resume=True continues)" if run.checkpoint else ""
        print(f"Interrupted after step {done} of {run.steps}: history kept{where}.")
        run.save(done, history)
    _notify(run.callbacks, "on_end", history)
    return history


def _flush(run: _Run, history: History, bar: Any) -> None:
    """Read back every pending step's losses (one device-to-host copy for all), then check, record and
    report each step in order, exactly as if it had been read when it ran."""
    pending, run.pending = run.pending, []
    tensors = [v for _, logs in pending for v in logs.values() if torch.is_tensor(v)]
    values = iter(_read_back(tensors) if tensors else ())
    for i, (step, raw) in enumerate(pending):
        logs = {k: next(values) if torch.is_tensor(v) else v for k, v in raw.items()}
        _check_finite(step, logs, history, run, ahead=len(pending) - 1 - i)
        history.record(step, logs)
        _notify(run.callbacks, "on_step", step, logs, history)
        first = next(iter(logs.values()), math.nan)
        run.running = first if run.running is None else 0.95 * run.running + 0.05 * first
        bar.set_postfix({next(iter(logs), "loss"): f"{run.running:.4g}"}, refresh=False)


def _read_back(tensors: list[torch.Tensor]) -> list[float]:
    """The values of one-element tensors, in one device-to-host copy, exactly as ``.item()`` gives them:
    float32 holds bf16/fp16/float32 values exactly; float64 only where needed (MPS has none)."""
    device = tensors[0].device
    wide = device.type != "mps" and any(t.dtype not in (torch.float32, torch.float16, torch.bfloat16) for t in tensors)
    return torch.stack([t.to(device, torch.float64 if wide else torch.float32) for t in tensors]).tolist()


def _one_step(run: _Run, step: int, history: History, bar: Any, guard: DeferredInterrupt) -> None:
    """Run one step; read its losses now on the CPU, or at the next logging/eval/checkpoint/stop boundary."""
    logs = _to_logs(run.step_fn(step), step, keep_device=True, keep_cpu=run.defer_cpu)
    run.pending.append((step, logs))
    evaluating = run.eval_fn is not None and (step % run.eval_every == 0 or step == run.steps)
    on_device = any(torch.is_tensor(v) for v in logs.values())
    if (not on_device or len(run.pending) >= run.log_every or evaluating or guard.requested
            or (run.checkpoint is not None and step % run.checkpoint_every == 0) or step == run.steps):
        _flush(run, history, bar)
    if evaluating:
        run.evaluate(step, history)


def _loop(run: _Run, history: History, start: int, progress: bool, desc: str) -> History:
    _set_mode(run.modules, training=True)
    bar = tqdm(total=run.steps, initial=start, desc=desc, disable=not progress, dynamic_ncols=True)
    t0, step = time.perf_counter() - history.seconds, start
    with DeferredInterrupt() as guard:
        try:
            for step in range(start + 1, run.steps + 1):
                _one_step(run, step, history, bar, guard)
                bar.update(1)
                if step % run.checkpoint_every == 0 and step < run.steps:
                    history.seconds = time.perf_counter() - t0
                    run.save(step, history)
                if guard.requested and step < run.steps:   # the step boundary: model, history, RNG agree
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            return _stop(run, history, start, t0, guard.forced, bar)
        finally:
            bar.close()
    history.seconds = time.perf_counter() - t0
    run.save(step, history)
    _notify(run.callbacks, "on_end", history)
    return history


class LivePlot:
    """A callback that redraws the loss curves in a notebook every ``every`` steps (one output, updated)."""

    def __init__(self, every: int = 25, keys: Iterable[str] | None = None, log_y: bool = False):
        check_int("every", every, 1)
        self.every, self.keys, self.log_y = every, list(keys) if keys else None, log_y
        self._handle = None

    def _draw(self, history: History) -> None:
        from IPython.display import display

        from aigc_course.viz import plot_history

        fig = plot_history(history, keys=self.keys, log_y=self.log_y)
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)

    def on_step(self, step: int, logs: Logs, history: History) -> None:
        if step % self.every == 0:
            self._draw(history)

    def on_end(self, history: History) -> None:
        if history.steps:
            self._draw(history)
