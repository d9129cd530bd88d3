"""Time every workload in every mode, compare with this device's matmul peak, print a table, write JSON.

Modes: ``fp32`` (plain), ``autocast`` (bf16 autocast: the GPU's dtype, or bf16 on a CPU, which PyTorch
supports but the course leaves off by default), ``fp16`` (float16 autocast: what a T4 or V100 gets, with a
GradScaler in training), ``compile`` (``aigc_course.accel.speed_up(compile=True)``, TorchInductor; the first
call, which compiles, is timed apart) and ``channels_last`` (``speed_up(channels_last=True)``: NHWC conv
weights and images; only for workloads with convolutions). A mode that fails is recorded with its error,
never hidden. Timings are measurements, never pass/fail checks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import torch

from aigc_course.accel import speed_up
from aigc_course.cost import matmul_peak, time_fn
from aigc_course.device import autocast_dtype, get_device
from benchmarks.workloads import MODELS, Workload, build

MODES = ("fp32", "autocast", "fp16", "compile", "channels_last")
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def mode_dtype(mode: str, device: torch.device) -> torch.dtype:
    """The dtype the matmuls of ``mode`` run in on ``device``."""
    if mode == "autocast":
        return autocast_dtype(device) or torch.bfloat16
    return torch.float16 if mode == "fp16" else torch.float32


def _context(mode: str, device: torch.device) -> contextlib.AbstractContextManager:
    if mode in ("autocast", "fp16"):
        return torch.autocast(device_type=device.type, dtype=mode_dtype(mode, device))
    return contextlib.nullcontext()


def has_convolutions(w: Workload) -> bool:
    return any(isinstance(m, torch.nn.modules.conv._ConvNd) for mod in w.modules for m in mod.modules())


def environment(device: torch.device) -> dict:
    """Where and with what the figures were measured."""
    info = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "python": platform.python_version(), "torch": torch.__version__, "device": str(device),
            "cpu": _cpu_name(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def time_workload(w: Workload, mode: str, device: torch.device, repeats: int, peak: float) -> dict:
    """One row of results: seconds per call, throughput and share of the peak."""
    first = None
    if mode == "channels_last":
        for m in w.modules:
            speed_up(m, channels_last=True)
    if mode == "compile":
        for m in w.modules:
            speed_up(m, compile=True)
        t0 = time.perf_counter()
        with _context(mode, device):
            w.step()
        first = time.perf_counter() - t0
    with _context(mode, device):
        timing = time_fn(w.step, repeats=repeats, warmup=1, device=device)
    achieved = w.flops / timing.median
    return {"model": w.model, "kind": w.kind, "mode": mode, "config": w.config, "parameters": w.parameters,
            "items": w.items, "unit": w.unit, "seconds_median": timing.median, "seconds_best": timing.best,
            "spread": timing.spread, "throughput": w.items / timing.median, "flops": w.flops,
            "flops_source": w.flops_source, "achieved_flops_per_s": achieved, "fraction_of_peak": achieved / peak,
            "first_call_seconds": first, "error": None}


def run(models=MODELS, modes=MODES, quick: bool = False, repeats: int | None = None,
        device: str | None = None, progress: bool = True) -> dict:
    """Measure ``models`` x ``modes`` on ``device``; returns ``{"environment", "peak_flops_per_s", "results"}``."""
    bad = [m for m in models if m not in MODELS] + [m for m in modes if m not in MODES]
    if bad:
        raise ValueError(f"unknown model or mode {bad}; models: {', '.join(MODELS)}; modes: {', '.join(MODES)}")
    dev = get_device(device)
    repeats = repeats or (2 if quick else 5)
    n = 256 if quick else None
    peaks = {str(mode_dtype(m, dev)): matmul_peak(dev, n=n, dtype=mode_dtype(m, dev)) for m in modes}
    rows = []
    for model in models:
        for mode in modes:
            if progress:
                print(f"  {model:5s} {mode:9s} ...", flush=True)
            try:
                for w in build(model, quick, dev):
                    if mode == "channels_last" and not has_convolutions(w):
                        continue          # NHWC is a layout for 4-D conv tensors: nothing to change
                    rows.append(time_workload(w, mode, dev, repeats, peaks[str(mode_dtype(mode, dev))]))
            except Exception as err:  # a mode this machine cannot run: record why, go on
                rows.append({"model": model, "kind": "train", "mode": mode, "error": f"{type(err).__name__}: "
                             f"{str(err).splitlines()[0][:200] if str(err) else ''}"})
    return {"environment": environment(dev), "quick": quick, "repeats": repeats, "peak_flops_per_s": peaks,
            "results": rows}


def _fmt_rate(x: float, unit: str) -> str:
    return f"{x:,.0f} {unit}/s" if x >= 10 else f"{x:.2f} {unit}/s"


def format_table(report: dict) -> str:
    """The results as a Markdown table (also readable in a terminal)."""
    env = report["environment"]
    peaks = ", ".join(f"{k.replace('torch.', '')} {v / 1e9:.1f} GFLOP/s" for k, v in report["peak_flops_per_s"].items())
    lines = [f"{env['date']} | torch {env['torch']} | Python {env['python']} | {env.get('gpu', env['cpu'])} "
             f"| {env['torch_threads']} threads | load {env['load_average']:.1f}" if env["load_average"] is not None
             else env["date"], f"matmul peak: {peaks}", "",
             "| model | kind | mode | ms / call | throughput | GFLOP / call | achieved GFLOP/s | % of peak |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in report["results"]:
        if r.get("error"):
            lines.append(f"| {r['model']} | {r['kind']} | {r['mode']} | — | failed: {r['error'][:60]} | | | |")
            continue
        first = f" (1st {r['first_call_seconds']:.0f} s)" if r.get("first_call_seconds") else ""
        lines.append(f"| {r['model']} | {r['kind']} | {r['mode']} | {1e3 * r['seconds_median']:,.1f}{first} | "
                     f"{_fmt_rate(r['throughput'], r['unit'])} | {r['flops'] / 1e9:.3f} | "
                     f"{r['achieved_flops_per_s'] / 1e9:.2f} | {100 * r['fraction_of_peak']:.1f} |")
    return "\n".join(lines)


def write_json(report: dict, path: str | Path | None = None) -> Path:
    """Write the report (default: benchmarks/results/<date>-<device>.json); returns the path."""
    if path is None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        path = RESULTS_DIR / f"{stamp}-{report['environment']['device'].replace(':', '')}.json"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    return path
