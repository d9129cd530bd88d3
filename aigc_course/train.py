"""One training loop for every chapter: callbacks, progress, checkpoints, resume, NaN guard, Ctrl-C.

The loop knows nothing about models. A chapter gives it a ``step_fn(step) -> losses`` that does one update
(one optimiser step for a classifier, a D step and a G step for a GAN) and returns the numbers to log.
Plots and widgets subscribe through callbacks; the loop itself never displays anything but its progress bar.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from aigc_course.checkpoint import load_checkpoint, save_checkpoint

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


def _to_logs(out: float | Mapping[str, Any]) -> Logs:
    items = out.items() if isinstance(out, Mapping) else [("loss", out)]
    return {name: float(v.detach().item() if torch.is_tensor(v) else v) for name, v in items}


def _notify(callbacks: Iterable[Any], event: str, *args: Any) -> None:
    for cb in callbacks:
        method = getattr(cb, event, None)
        if method is not None:
            method(*args)


def _check_finite(step: int, logs: Logs, history: History) -> None:
    bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
    if bad:
        shown = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise TrainingDiverged(
            f"training diverged at step {step}: {shown}. Try a smaller learning rate, gradient clipping, "
            f"or check the loss for log(0). History up to step {step - 1} is in .history.", history)


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

    def save(self, step: int, history: History) -> None:
        if self.checkpoint is not None and self.modules:
            save_checkpoint(self.checkpoint, dict(self.modules), step, self.config, history.to_dict())

    def evaluate(self, step: int, history: History) -> Logs:
        _set_mode(self.modules, training=False)
        with torch.no_grad():
            logs = _to_logs(self.eval_fn())
        _set_mode(self.modules, training=True)
        history.record(step, logs, evaluation=True)
        _notify(self.callbacks, "on_eval", step, logs, history)
        return logs


def _validate(steps: int, eval_every: int | None, checkpoint: Any, modules: Mapping | None) -> None:
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if eval_every is not None and (not isinstance(eval_every, int) or eval_every < 1):
        raise ValueError(f"eval_every must be a positive int or None, got {eval_every!r}")
    if checkpoint is not None and not modules:
        raise ValueError("a checkpoint path needs modules={name: model_or_optimizer} to know what to save")


def train(step_fn: StepFn, steps: int, *, modules: Mapping[str, Any] | None = None,
          eval_fn: Callable[[], Mapping[str, Any]] | None = None, eval_every: int | None = None,
          callbacks: Iterable[Any] = (), checkpoint: str | Path | None = None,
          checkpoint_every: int | None = None, resume: bool = False, config: Any = None,
          progress: bool = True, desc: str = "training") -> History:
    """Run ``step_fn(step)`` for ``step = 1 .. steps`` and return the :class:`History`.

    - ``step_fn`` does one update and returns a loss (float/tensor) or a dict of named numbers.
    - ``modules``: models and optimisers by name; checkpoints save them, evaluation toggles train/eval.
    - ``eval_fn()`` runs under ``torch.no_grad()`` every ``eval_every`` steps and at the end.
    - ``checkpoint``: a path; written every ``checkpoint_every`` steps (default: at each evaluation), at the
      end, and when the run is interrupted. ``resume=True`` continues from it when it exists.
    - A NaN/inf loss raises :class:`TrainingDiverged` naming the step. Ctrl-C (or the kernel's interrupt)
      stops the run, keeps the history (``history.interrupted``) and writes the checkpoint.
    """
    modules = dict(modules or {})
    _validate(steps, eval_every, checkpoint, modules)
    run = _Run(step_fn, steps, modules, eval_fn, eval_every or steps, list(callbacks),
               Path(checkpoint) if checkpoint is not None else None,
               checkpoint_every or eval_every or max(1, steps // 10), config)
    history, start = History(), 0
    if resume and run.checkpoint is not None and run.checkpoint.exists():
        payload = load_checkpoint(run.checkpoint, modules)
        start = payload["step"]
        history = History.from_dict(payload["history"]) if payload.get("history") else History()
        history.interrupted = False
    return _loop(run, history, start, progress, desc)


def _loop(run: _Run, history: History, start: int, progress: bool, desc: str) -> History:
    _set_mode(run.modules, training=True)
    bar = tqdm(total=run.steps, initial=start, desc=desc, disable=not progress, dynamic_ncols=True)
    t0, step, running = time.perf_counter() - history.seconds, start, None
    try:
        for step in range(start + 1, run.steps + 1):
            logs = _to_logs(run.step_fn(step))
            _check_finite(step, logs, history)
            history.record(step, logs)
            _notify(run.callbacks, "on_step", step, logs, history)
            first = next(iter(logs.values()), math.nan)
            running = first if running is None else 0.95 * running + 0.05 * first
            bar.set_postfix({next(iter(logs), "loss"): f"{running:.4g}"}, refresh=False)
            bar.update(1)
            if run.eval_fn is not None and (step % run.eval_every == 0 or step == run.steps):
                run.evaluate(step, history)
            if step % run.checkpoint_every == 0 and step < run.steps:
                history.seconds = time.perf_counter() - t0
                run.save(step, history)
    except KeyboardInterrupt:
        history.interrupted = True
        done = history.steps[-1] if history.steps else start
        where = f"; checkpoint written to {run.checkpoint} (resume=True continues)" if run.checkpoint else ""
        print(f"Interrupted after step {done} of {run.steps}: history kept{where}.")
        history.seconds = time.perf_counter() - t0
        run.save(done, history)
        _notify(run.callbacks, "on_end", history)
        return history
    finally:
        bar.close()
    history.seconds = time.perf_counter() - t0
    run.save(step, history)
    _notify(run.callbacks, "on_end", history)
    return history


def supervised_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
                    batch_fn: Callable[[int], Any], grad_clip: float | None = None,
                    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> StepFn:
    """The usual update as a ``step_fn``: draw a batch, compute the loss, backpropagate, clip, step.

    A ``scheduler`` (e.g. ``LambdaLR(optimizer, WarmupCosine(...))``) is stepped after every update; put it in
    ``train(modules=...)`` beside the optimiser so that a resumed run continues the schedule where it stopped.
    """
    if grad_clip is not None and grad_clip <= 0:
        raise ValueError(f"grad_clip must be positive or None, got {grad_clip}")

    def step_fn(step: int) -> Logs:
        loss = loss_fn(model, batch_fn(step))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return {"loss": loss.detach().item()}

    return step_fn


def lm_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: torch.Tensor, block_size: int,
            batch_size: int, generator: torch.Generator | None = None, device: torch.device | str | None = None,
            grad_clip: float | None = 1.0, scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> StepFn:
    """:func:`supervised_step` for a language model: each step trains on ``batch_size`` random windows of the
    token ids ``data`` (``get_batch``); the model returns ``(logits, mean cross-entropy)`` as the course's
    GPT, LSTM and MLP language models do."""
    from aigc_course.data.text import get_batch

    return supervised_step(model, optimizer, loss_fn=lambda m, batch: m(*batch)[1],
                           batch_fn=lambda step: get_batch(data, block_size, batch_size, generator=generator,
                                                           device=device),
                           grad_clip=grad_clip, scheduler=scheduler)


@dataclass(frozen=True)
class WarmupCosine:
    """A learning-rate multiplier for ``LambdaLR`` (chapter 07): linear warm-up, then cosine decay to ``floor``.

        m(s) = min(1, (s + 1) / warmup) · ( floor + (1 − floor) · ½ (1 + cos(π · min(s, steps) / steps)) )

    for update s = 0, 1, ...; m reaches ``floor`` at s = ``steps`` and stays there. A frozen dataclass, not a
    lambda, so the scheduler's ``state_dict`` (and with it a checkpoint) can hold it.
    """

    steps: int                 # length of the decay: the run's number of updates
    warmup: int = 1            # updates of linear warm-up (1 = none)
    floor: float = 0.1         # the final multiplier, as a share of the peak learning rate

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or not isinstance(self.warmup, int) or min(self.steps, self.warmup) < 1:
            raise ValueError(f"steps and warmup must be positive ints, got steps={self.steps!r}, "
                             f"warmup={self.warmup!r}")
        if not 0.0 <= self.floor <= 1.0:
            raise ValueError(f"floor must be in [0, 1] (a share of the peak learning rate), got {self.floor}")

    def __call__(self, s: int) -> float:
        decay = 0.5 * (1 + math.cos(math.pi * min(s, self.steps) / self.steps))
        return min(1.0, (s + 1) / self.warmup) * (self.floor + (1 - self.floor) * decay)


class LivePlot:
    """A callback that redraws the loss curves in a notebook every ``every`` steps (one output, updated)."""

    def __init__(self, every: int = 25, keys: Iterable[str] | None = None, log_y: bool = False):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
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
