"""What a generative model costs (chapter 09): parameters, FLOPs, time, energy and money.

Small to big:

1. Counting: :func:`count_parameters`; FLOPs by formula, layer by layer (:func:`forward_flops`, from the
   shapes a forward pass sees) and for the language models (:func:`lstm_flops_per_token`; the GPT's formula
   is :func:`aigc_course.models.transformer.flops_per_token`); :func:`counted_flops` asks PyTorch's own
   FLOP counter instead, as an independent check.
2. Measuring: :func:`time_fn` (warm-up, repeats, device synchronisation) and :func:`matmul_peak`, the
   FLOP/s a large matrix product reaches on this device: the yardstick for "achieved FLOP/s".
3. Money and energy: :class:`CostAssumptions` (every number an estimate rests on, written down) and
   :func:`cost_estimate` -> joules, kWh, dollars and grams of CO₂ for a measured number of seconds.

Conventions: one multiply-add = 2 FLOPs; only the products with weights (and attention's QKᵀ, AV) are
counted, not biases, norms or activations, which are a few percent of the total in these models. A
training step costs about 3 forward passes (the backward pass computes two products per forward product).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from aigc_course.validation import check_fields, check_float

BACKWARD_FACTOR = 3   # training FLOPs ≈ 3 × forward FLOPs (forward + grad wrt inputs + grad wrt weights)


# ---------------------------------------------------------------------------------------------- counting


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Distinct parameters of ``model`` (a tied matrix counts once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _linear_flops(m: nn.Linear, x: Tensor, y: Tensor) -> int:
    return 2 * m.in_features * m.out_features * (x.numel() // m.in_features)      # 2 · D_in · D_out per row


def _conv_flops(m: nn.Conv2d, x: Tensor, y: Tensor) -> int:
    kh, kw = m.kernel_size
    per_output = 2 * (m.in_channels // m.groups) * kh * kw                         # one output value
    return per_output * y.numel()                                                  # B · C_out · H_out · W_out


def _conv_transpose_flops(m: nn.ConvTranspose2d, x: Tensor, y: Tensor) -> int:
    kh, kw = m.kernel_size
    per_input = 2 * (m.out_channels // m.groups) * kh * kw                         # one input value scatters
    return per_input * x.numel()                                                   # B · C_in · H_in · W_in


def _lstm_flops(m: nn.LSTM, x: Tensor, y: Tensor) -> int:
    steps = x.numel() // x.shape[-1]                                               # B · T (batch_first or not)
    total, d_in = 0, m.input_size
    for _ in range(m.num_layers):
        total += 2 * 4 * m.hidden_size * (d_in + m.hidden_size) * steps            # gates: W x + U h
        d_in = m.hidden_size
    return total * (2 if m.bidirectional else 1)


_RULES: dict[type, Callable[[nn.Module, Tensor, Tensor], int]] = {
    nn.Linear: _linear_flops, nn.Conv2d: _conv_flops, nn.ConvTranspose2d: _conv_transpose_flops,
    nn.LSTM: _lstm_flops,
}


def forward_flops(model: nn.Module, *args, **kwargs) -> dict[str, int]:
    """Matmul FLOPs of one forward pass ``model(*args, **kwargs)``, by formula from the shapes seen:

    Linear  2 · D_in · D_out per row;       Conv2d  2 · (C_in/g) · k_h · k_w per output value;
    ConvTranspose2d  2 · (C_out/g) · k_h · k_w per input value;   LSTM  2 · 4H · (D + H) per step and layer.

    Returns ``{"total": ..., "<module name>": ...}``. Attention's score products (QKᵀ, AV) are functions,
    not modules, and are not seen here: use the transformer's own formula for a GPT.
    """
    found: dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():
        rule = next((r for t, r in _RULES.items() if isinstance(module, t)), None)
        if rule is None:
            continue

        def hook(m, inputs, output, name=name, rule=rule):
            out = output[0] if isinstance(output, tuple) else output
            found[name or "model"] = found.get(name or "model", 0) + rule(m, inputs[0], out)
        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return {"total": sum(found.values()), **found}


def counted_flops(fn: Callable[[], object]) -> int:
    """FLOPs of everything ``fn()`` runs, as counted by ``torch.utils.flop_counter.FlopCounterMode``
    (an independent count: it sees the matmuls and convolutions PyTorch dispatches, backward included)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def lstm_flops_per_token(n_embd: int, n_hidden: int, n_layers: int, vocab_size: int,
                         training: bool = False) -> int:
    """Matmul FLOPs per token of the LSTM language model (chapter 08):

    forward = 2 · [ 4H(E + H) + (L − 1) · 4H(H + H) ] + 2 · H · V      (gates of every layer, then the head)
    training = 3 × forward.
    """
    for name, v in (("n_embd", n_embd), ("n_hidden", n_hidden), ("n_layers", n_layers), ("vocab_size", vocab_size)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    gates = 4 * n_hidden * (n_embd + n_hidden) + (n_layers - 1) * 4 * n_hidden * 2 * n_hidden
    forward = 2 * gates + 2 * n_hidden * vocab_size
    return BACKWARD_FACTOR * forward if training else forward


# ---------------------------------------------------------------------------------------------- measuring


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work (CUDA and MPS run asynchronously; a timer must not stop before it ends)."""
    kind = torch.device(device).type
    if kind == "cuda":
        torch.cuda.synchronize()
    elif kind == "mps":
        torch.mps.synchronize()


@dataclass
class Timing:
    """Wall-clock seconds of repeated calls (after warm-up)."""

    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def spread(self) -> float:
        """(max − min) / median: how much the repeats disagree (large on a shared machine)."""
        return (max(self.seconds) - min(self.seconds)) / self.median if self.median > 0 else 0.0


def time_fn(fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
            device: torch.device | str = "cpu") -> Timing:
    """Call ``fn()`` ``warmup`` times untimed, then ``repeats`` times, timing each call (synchronised)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return Timing(times)


def matmul_peak(device: torch.device | str = "cpu", n: int | None = None, dtype: torch.dtype = torch.float32,
                repeats: int = 5) -> float:
    """FLOP/s of an (n x n) @ (n x n) product on ``device`` (best of ``repeats``): 2n³ / seconds.

    The best a dense model can hope for on this device and dtype; a model's achieved FLOP/s divided by
    this says how well it uses the hardware. With n=None it is the best over three sizes (512, 1024, 2048
    on a CPU; 2048, 4096, 8192 on a GPU): on a shared or virtual machine the best of a few calls at one size
    can fall far below what the hardware does (on the course's 2-core VM, repeated best-of-5 at n = 1024 gave
    139 to 167 GFLOP/s while n = 512 reached 204), and a too-low peak makes models look over 100 % efficient.
    """
    device = torch.device(device)
    if n is not None and n < 1:
        raise ValueError(f"n must be positive, got {n}")
    sizes = [n] if n is not None else ([512, 1024, 2048] if device.type == "cpu" else [2048, 4096, 8192])
    return max(_matmul_rate(device, size, dtype, repeats) for size in sizes)


def _matmul_rate(device: torch.device, n: int, dtype: torch.dtype, repeats: int) -> float:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    timing = time_fn(lambda: a @ b, repeats=repeats, warmup=1, device=device)
    return 2 * n**3 / timing.best


# ---------------------------------------------------------------------------------------------- money and energy


@dataclass
class CostAssumptions:
    """Every number a cost estimate rests on. None of them is measured here: change them to your case."""

    watts: float = 35.0              # power the busy device draws (2 busy cores of a server CPU, incl. memory)
    pue: float = 1.3                 # power usage effectiveness: data-centre overhead (cooling, ...) per watt
    price_per_kwh: float = 0.20      # electricity, USD per kWh
    price_per_hour: float = 0.08     # renting the machine, USD per hour (a 2-vCPU cloud VM); 0: electricity only
    grams_co2_per_kwh: float = 400.0  # carbon intensity of the grid (varies ~20 to ~800 by country)

    def __post_init__(self) -> None:
        check_fields(self)  # every field of the annotated type (TypeError / ValueError naming it)
        for name, value in asdict(self).items():
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if self.pue < 1:
            raise ValueError(f"pue is total facility power / device power, so at least 1; got {self.pue}")

    @classmethod
    def cpu_2core(cls) -> CostAssumptions:
        """This course's CI-like machine: two cores of a cloud VM."""
        return cls()

    @classmethod
    def gpu_h100(cls) -> CostAssumptions:
        """One rented H100 (SXM, 700 W board power at full load; ~2.5 USD/hour on-demand in 2025)."""
        return cls(watts=700.0, pue=1.2, price_per_hour=2.5)


def cost_estimate(seconds: float, assumptions: CostAssumptions | None = None) -> dict[str, float]:
    """Energy, money and CO₂ for ``seconds`` of busy device time:

    energy [J] = watts × PUE × seconds;   kWh = J / 3.6e6;
    electricity [USD] = kWh × price_per_kWh;   rental [USD] = seconds / 3600 × price_per_hour;
    CO₂ [g] = kWh × grams_per_kWh.      total = rental + electricity (a renter pays both, one way or another).
    """
    seconds = check_float("seconds", seconds, 0)
    a = assumptions or CostAssumptions()
    joules = a.watts * a.pue * seconds
    kwh = joules / 3.6e6
    electricity, rental = kwh * a.price_per_kwh, seconds / 3600 * a.price_per_hour
    return {"seconds": seconds, "joules": joules, "kwh": kwh, "electricity_usd": electricity,
            "rental_usd": rental, "total_usd": electricity + rental, "co2_g": kwh * a.grams_co2_per_kwh}


def cost_per_items(seconds: float, items: float, per: float = 1.0,
                   assumptions: CostAssumptions | None = None) -> dict[str, float]:
    """:func:`cost_estimate` for ``per`` items when ``items`` of them took ``seconds`` (e.g. per = 1000 for
    the cost of 1,000 tokens, or 1 for the cost of one image)."""
    for name, value in (("items", items), ("per", per)):
        if check_float(name, value) <= 0:
            raise ValueError(f"items and per must be positive, got items={items}, per={per}")
    return cost_estimate(seconds / items * per, assumptions)


def achieved_fraction(flops: float, seconds: float, peak_flops_per_s: float) -> float:
    """(flops / seconds) / peak: the share of this device's measured matmul peak that a workload reached."""
    check_float("flops", flops, 0)
    if check_float("seconds", seconds) <= 0 or check_float("peak_flops_per_s", peak_flops_per_s) <= 0:
        raise ValueError(f"seconds and peak must be positive, got {seconds}, {peak_flops_per_s}")
    return flops / seconds / peak_flops_per_s
