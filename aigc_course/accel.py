"""Running faster on a GPU without changing what is computed: mixed precision, no host syncs, compile.

- **Precision** (:func:`resolve_precision`): ``"fp32"``; ``"bf16"`` autocast (same exponent range as fp32,
  so no loss scaling); ``"fp16"`` autocast with a :class:`torch.amp.GradScaler` (fp16's smallest normal
  number is 6·10⁻⁵, so small gradients would flush to zero unless the loss is scaled up first and the
  gradients scaled back down); ``"auto"``: bf16 on CUDA GPUs that have it (Ampere and newer), fp16 + scaler
  on those that do not (T4, V100), fp32 on CPU and MPS (see ``benchmarks/README.md`` for what bf16 does on
  a CPU: faster for most training steps on a CPU with bf16 instructions, slower for generation, and it
  changes every figure the chapters measured in fp32, so it stays an opt-in there).
- :class:`MixedPrecision` does one update under a precision: autocast forward, (scaled) backward, unscale,
  clip, step. Its ``state_dict`` is the scaler's, which :func:`aigc_course.train.train` checkpoints.
- :func:`loggable`: a loss to return from a step function: a float on the CPU (free), the detached
  tensor on a GPU, where ``.item()`` would wait for the GPU every step; the loop reads it later.
- :func:`speed_up`: ``torch.compile`` and ``channels_last`` behind flags (measured in ``make bench``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from aigc_course.validation import check_bool, check_choice

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``precision`` with ``"auto"`` replaced by what ``device`` should use: bf16 / fp16 / fp32."""
    check_choice("precision", precision, PRECISIONS)
    device = torch.device(device)
    if precision != "auto":
        return precision
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def loggable(value: Tensor) -> float | Tensor:
    """A number for a step function to return: ``.item()`` on the CPU, the detached tensor elsewhere."""
    value = value.detach()
    return value.item() if value.device.type == "cpu" else value


class MixedPrecision:
    """One optimiser update under a precision: ``mp.backward_step(loss, optimizer, params, grad_clip)``.

    Use ``with mp.autocast():`` around the forward pass. With fp16 the loss is multiplied by the scaler's
    scale s before backward, the gradients are divided by s before clipping (so the clip threshold means
    what it does in fp32), and a step whose gradients hold inf/NaN is skipped while s is halved; every
    ``growth_interval`` clean steps s doubles. bf16 and fp32 need none of that (the scaler is disabled and
    ``backward_step`` is a plain backward/clip/step).
    """

    def __init__(self, device: torch.device | str, precision: str = "auto"):
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)
        self.dtype = DTYPES[self.precision]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def backward_step(self, loss: Tensor, optimizer: torch.optim.Optimizer, params: Iterable[Tensor] | None = None,
                      grad_clip: float | None = None) -> None:
        """zero_grad, backward (scaled under fp16), unscale, clip ``params`` to ``grad_clip``, step, update.

        ``grad_clip`` is validated by the caller (once, not every step)."""
        optimizer.zero_grad(set_to_none=True)
        if not self.scaler.is_enabled():                      # fp32 / bf16: the plain update
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        if grad_clip is not None:
            self.scaler.unscale_(optimizer)                   # clip the true gradients, not s times them
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        self.scaler.step(optimizer)                           # skipped if the (unscaled) grads are not finite
        self.scaler.update()

    def state_dict(self) -> dict:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.scaler.load_state_dict(state)


def speed_up(model: nn.Module, compile: bool = False, channels_last: bool = False) -> nn.Module:
    """``model`` with optional speed-ups, in place: ``channels_last`` stores conv weights as NHWC (faster
    convolutions on tensor-core GPUs and many CPUs); ``compile`` wraps ``forward`` with ``torch.compile``
    (TorchInductor: the first call compiles, seconds to a minute). Neither changes what is computed beyond
    floating-point rounding."""
    check_bool("compile", compile)
    check_bool("channels_last", channels_last)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if compile:
        model.compile()
    return model
