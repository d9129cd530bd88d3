"""Step functions for :func:`aigc_course.train.train`: the usual supervised update, and a language model's.

Both run under a precision (:class:`aigc_course.accel.MixedPrecision`: fp32 on the CPU by default, bf16 or
fp16 with a GradScaler on a GPU) and return the loss with :func:`aigc_course.accel.loggable`, so that on a
GPU the loop reads it back every few steps instead of waiting for the GPU after every one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from aigc_course.accel import MixedPrecision, loggable
from aigc_course.validation import check_float

StepFn = Callable[[int], "float | dict[str, Any]"]


def supervised_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
                    batch_fn: Callable[[int], Any], grad_clip: float | None = None,
                    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
                    precision: str = "auto") -> StepFn:
    """The usual update as a ``step_fn``: draw a batch, compute the loss, backpropagate, clip, step.

    A ``scheduler`` (e.g. ``LambdaLR(optimizer, WarmupCosine(...))``) is stepped after every update; put it in
    ``train(modules=...)`` beside the optimiser so that a resumed run continues the schedule where it stopped.
    ``precision``: ``auto`` (bf16 autocast on recent NVIDIA GPUs, fp16 with a GradScaler on older ones, fp32
    on CPU and MPS), ``fp32``, ``bf16`` or ``fp16`` (:class:`aigc_course.accel.MixedPrecision`); an fp16
    run's scaler is checkpointed by :func:`train` with the model. The loss comes back as a float on the CPU
    and as a device tensor on a GPU, which :func:`train` reads every ``log_every`` steps (no per-step sync).
    """
    check_float("grad_clip", grad_clip, 0, low_open=True, none_ok=True)
    param = next(model.parameters(), None)
    mp = MixedPrecision(param.device if param is not None else "cpu", precision)

    def step_fn(step: int) -> dict[str, Any]:
        with mp.autocast():
            loss = loss_fn(model, batch_fn(step))
        mp.backward_step(loss, optimizer, model.parameters() if grad_clip is not None else None, grad_clip)
        if scheduler is not None:
            scheduler.step()
        return {"loss": loggable(loss)}

    step_fn.precision = mp
    if mp.scaler.is_enabled():   # fp16: the loss scale is part of the run's state (checkpointed, resumed)
        step_fn.state = {"amp.scaler": mp}
    return step_fn


def lm_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: torch.Tensor, block_size: int,
            batch_size: int, generator: torch.Generator | None = None, device: torch.device | str | None = None,
            grad_clip: float | None = 1.0, scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
            precision: str = "auto") -> StepFn:
    """:func:`supervised_step` for a language model: each step trains on ``batch_size`` random windows of the
    token ids ``data`` (``get_batch``); the model returns ``(logits, mean cross-entropy)`` as the course's
    GPT, LSTM and MLP language models do."""
    from aigc_course.data.text import get_batch

    step_fn = supervised_step(model, optimizer, loss_fn=lambda m, batch: m(*batch)[1],
                              batch_fn=lambda step: get_batch(data, block_size, batch_size, generator=generator,
                                                              device=device),
                              grad_clip=grad_clip, scheduler=scheduler, precision=precision)
    if generator is not None:  # train() checkpoints it, so a resumed run draws the batches it would have
        step_fn.generators = {"lm_step.generator": generator}
    return step_fn
