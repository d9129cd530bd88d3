"""Training across processes (appendix, chapter 15): DistributedDataParallel launched by ``torchrun``.

Data parallelism in four pieces, small to big:

1. :func:`setup` reads what ``torchrun`` puts in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
   ``MASTER_ADDR``/``PORT``) and joins the process group: ``gloo`` on CPUs, ``nccl`` on GPUs (one per process).
   Without ``torchrun`` it returns a one-process :class:`Context` and nothing is initialised.
2. :class:`ShardedBatches`: step ``s`` has one *global* batch of ``world_size × batch_size`` examples; rank r
   takes the r-th slice. So p processes with batch B see exactly the examples one process with batch p·B sees
   (eq. 15.1), and a resumed run draws the same batches as an uninterrupted one (they depend on the step only).
3. :func:`ddp_step`: the course's :func:`~aigc_course.train.supervised_step` on a DDP-wrapped model (its
   backward all-reduces the gradients, averaging them), plus the all-reduced loss for the log.
4. :func:`train_distributed`: the course's :func:`~aigc_course.train.train` loop on every rank, with the
   progress bar, callbacks, evaluation and checkpoints on rank 0 only; every rank resumes from rank 0's file.
   Ctrl-C is held until the next step boundary, so that rank 0's checkpoint matches its parameters.

``python -m aigc_course.distributed --help`` trains the course's GPT this way; :func:`torchrun_command` spells
out the command for one machine or several.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from aigc_course.checkpoint import load_checkpoint
from aigc_course.train import History, StepFn, supervised_step, train
from aigc_course.validation import positive_int

BACKENDS = ("gloo", "nccl")


# ------------------------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Context:
    """Who this process is in the job."""

    rank: int                 # 0 .. world_size - 1, unique across all machines
    world_size: int           # number of processes (p in the text)
    local_rank: int           # index on this machine: which GPU this process drives
    backend: str | None       # "gloo", "nccl", or None for a plain one-process run
    device: torch.device      # where this rank's model and batches live

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, shows progress and evaluates."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if not raw.strip().isdigit():
        raise ValueError(f"environment variable {name} must be a non-negative int (torchrun sets it), got {raw!r}")
    return int(raw)


def setup(backend: str | None = None, timeout_s: float = 120.0) -> Context:
    """Join the process group ``torchrun`` prepared (or describe a one-process run when there is none).

    ``backend``: ``"gloo"`` (CPU tensors) or ``"nccl"`` (one CUDA device per process); default nccl when CUDA
    is available, else gloo. ``timeout_s`` bounds how long a collective waits for a missing rank.
    """
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)} or None (automatic), got {backend!r}")
    world, rank, local = _env_int("WORLD_SIZE", 1), _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if not 0 <= rank < world:
        raise ValueError(f"RANK must be in 0..WORLD_SIZE-1 = 0..{world - 1}, got {rank}")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        if local >= torch.cuda.device_count():
            raise ValueError(f"nccl needs one GPU per process: LOCAL_RANK={local} but this machine has "
                             f"{torch.cuda.device_count()} CUDA devices (use --nproc_per_node <= that, or gloo)")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if "WORLD_SIZE" not in os.environ:
        return Context(0, 1, 0, None, device)
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s), device_id=device
                                if backend == "nccl" else None)
    return Context(rank, world, local, backend, device)


def teardown() -> None:
    """Leave the process group (a no-op in a one-process run)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, ctx: Context) -> torch.nn.Module:
    """``model`` on this rank's device, inside DistributedDataParallel when there are several processes.

    DDP copies rank 0's parameters to every rank here, and from then on averages gradients in ``backward``.
    """
    model = model.to(ctx.device)
    if ctx.backend is None:
        return model
    return DistributedDataParallel(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside a DDP wrapper: checkpoints hold its state, so any process count can load them."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def all_reduce_mean(value: float | torch.Tensor, ctx: Context) -> float:
    """The mean of ``value`` over all ranks (the value itself in a one-process run)."""
    if ctx.backend is None:
        return float(value)
    t = torch.as_tensor(value, dtype=torch.float64 if ctx.backend == "gloo" else torch.float32,
                        device=ctx.device).clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.item() / ctx.world_size


# ------------------------------------------------------------------------------------------------ data


class ShardedBatches:
    """Indices of this rank's share of step ``s``'s global batch, over a data set of ``n`` examples.

    The examples are visited in epochs, each a fresh permutation drawn from ``seed + epoch``; the global batch
    of step s is positions (s-1)·G .. s·G-1 of that endless sequence, G = world_size · batch_size, and rank r
    takes the slice r·B .. (r+1)·B-1. Every rank sees different examples, none is skipped, and the batches
    depend on (seed, step) alone, so a resumed run sees what the uninterrupted run would have seen.
    """

    def __init__(self, n: int, batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0):
        self.n, self.batch_size = positive_int("n", n), positive_int("batch_size", batch_size)
        self.world_size = positive_int("world_size", world_size)
        if not isinstance(rank, int) or not 0 <= rank < world_size:
            raise ValueError(f"rank must be an int in 0..world_size-1 = 0..{world_size - 1}, got {rank!r}")
        self.rank, self.seed = rank, seed

    def _permutation(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch))

    def global_indices(self, step: int) -> torch.Tensor:
        """All ranks' indices for ``step`` (1-based), rank 0's slice first: shape (world_size · batch_size,)."""
        if not isinstance(step, int) or step < 1:
            raise ValueError(f"step must be a positive int (train() counts from 1), got {step!r}")
        size = self.world_size * self.batch_size
        positions = torch.arange((step - 1) * size, step * size)          # (G,) in the endless sequence
        epochs = positions // self.n                                        # (G,)
        out = torch.empty(size, dtype=torch.long)
        for epoch in epochs.unique().tolist():
            here = epochs == epoch
            out[here] = self._permutation(epoch)[positions[here] % self.n]
        return out

    def __call__(self, step: int) -> torch.Tensor:
        """This rank's indices for ``step``: shape (batch_size,)."""
        start = self.rank * self.batch_size
        return self.global_indices(step)[start:start + self.batch_size]


def lm_windows(data: torch.Tensor, starts: torch.Tensor, block_size: int,
               device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Language-model pairs from chosen window starts: x (B, T) = data[s : s+T], y (B, T) = data[s+1 : s+T+1]."""
    windows = data.unfold(0, block_size + 1, 1)[starts].long()              # (B, T + 1)
    x, y = windows[:, :-1].contiguous(), windows[:, 1:].contiguous()        # (B, T), (B, T)
    return (x, y) if device is None else (x.to(device), y.to(device))


# -------------------------------------------------------------------------------------------- training


class _StepBoundary:
    """Hold SIGINT (Ctrl-C, or torchrun passing its own on) during a run and raise it as KeyboardInterrupt at the
    start of the next step, before that step computes anything.

    Raised anywhere else, an interrupt can land after a step's update but before ``train`` records the step
    (the checkpoint would then say step k for the parameters of step k+1), or inside a step whose all-reduce
    the other ranks are waiting in. Held like this, rank 0's checkpoint always matches its parameters.
    A second Ctrl-C before the step ends interrupts at once (for a rank stuck waiting on a dead peer).
    """

    def __init__(self) -> None:
        self.caught, self._previous = False, None

    def _hold(self, signum: int, frame: Any) -> None:
        if self.caught:
            raise KeyboardInterrupt
        self.caught = True

    def __enter__(self) -> _StepBoundary:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._hold)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def guard(self, step_fn: StepFn) -> StepFn:
        """``step_fn`` that first raises KeyboardInterrupt if Ctrl-C came since the previous step."""
        def guarded(step: int) -> Any:
            if self.caught:
                self.caught = False
                raise KeyboardInterrupt
            return step_fn(step)
        return guarded


def ddp_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor], batch_fn: Callable[[int], Any], ctx: Context,
             grad_clip: float | None = None, scheduler: Any = None) -> StepFn:
    """:func:`~aigc_course.train.supervised_step` for a (DDP-wrapped) model; logs the loss averaged over ranks.

    ``batch_fn(step)`` must return this rank's shard (e.g. through :class:`ShardedBatches`).
    """
    inner = supervised_step(model, optimizer, loss_fn, batch_fn, grad_clip=grad_clip, scheduler=scheduler)

    def step_fn(step: int) -> dict[str, float]:
        return {name: all_reduce_mean(value, ctx) for name, value in inner(step).items()}

    return step_fn


def train_distributed(step_fn: StepFn, steps: int, *, modules: Mapping[str, Any], ctx: Context,
                      checkpoint: str | Path | None = None, resume: bool = False, **kwargs: Any) -> History:
    """:func:`~aigc_course.train.train` on every rank; rank 0 alone shows progress, calls ``callbacks`` and
    ``eval_fn`` and writes ``checkpoint``. With ``resume=True`` every rank loads rank 0's file and continues.

    ``modules`` should hold the unwrapped model (:func:`unwrap`) and its optimiser, so that the checkpoint
    loads into a run with any number of processes. The :class:`History` returned is complete on rank 0.
    """
    boundary = _StepBoundary()
    step_fn = boundary.guard(step_fn)
    if ctx.is_main:
        with boundary:
            return train(step_fn, steps, modules=modules, checkpoint=checkpoint, resume=resume, **kwargs)
    start = 0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        start = load_checkpoint(checkpoint, dict(modules), restore_rng=False)["step"]
    if start >= steps:
        return History()
    quiet = {k: v for k, v in kwargs.items() if k not in ("callbacks", "eval_fn", "eval_every", "progress")}
    with boundary:
        history = train(lambda s: step_fn(s + start), steps - start, modules=modules, progress=False, **quiet)
    history.steps = [s + start for s in history.steps]
    return history


# ------------------------------------------------------------------------------------------- launching


def torchrun_command(script: str, *args: str, nproc_per_node: int = 2, nnodes: int = 1,
                     rdzv_endpoint: str | None = None, job_id: str = "aigc", module: bool = False) -> list[str]:
    """The ``torchrun`` command line for ``script`` (or ``-m module``) on one machine or ``nnodes`` machines.

    One machine: ``--standalone`` (a private rendezvous on a free port). Several: run the same command on each
    machine with ``rdzv_endpoint="host:port"`` of any one of them (the c10d rendezvous backend).
    """
    positive_int("nproc_per_node", nproc_per_node)
    positive_int("nnodes", nnodes)
    cmd = ["torchrun", f"--nproc_per_node={nproc_per_node}"]
    if nnodes == 1 and rdzv_endpoint is None:
        cmd.append("--standalone")
    else:
        if rdzv_endpoint is None or ":" not in rdzv_endpoint:
            raise ValueError(f"a run on {nnodes} machines needs rdzv_endpoint='host:port' (one machine every "
                             f"node can reach), got {rdzv_endpoint!r}")
        cmd += [f"--nnodes={nnodes}", "--rdzv_backend=c10d", f"--rdzv_endpoint={rdzv_endpoint}",
                f"--rdzv_id={job_id}"]
    return cmd + (["-m", script] if module else [script]) + list(args)


def time_all_reduce(numel: int, ctx: Context, repeats: int = 10) -> float:
    """Median seconds of one all-reduce of ``numel`` float32 numbers (0.0 in a one-process run)."""
    import statistics
    import time

    if ctx.backend is None:
        return 0.0
    t, times = torch.ones(positive_int("numel", numel), device=ctx.device), []
    for _ in range(repeats + 1):            # the first one warms the connections up and is not counted
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(t)
        if ctx.device.type == "cuda":
            torch.cuda.synchronize(ctx.device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


# --------------------------------------------------------------------------------- the course's GPT, p ranks


def _parse(argv: list[str] | None):
    import argparse

    p = argparse.ArgumentParser(prog="python -m aigc_course.distributed",
                                description="Train the course's GPT with data parallelism (run it under torchrun).")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=8, help="per rank; the global batch is world_size times it")
    p.add_argument("--preset", choices=["nano", "tiny", "small"], default="nano", help="a GPTConfig preset")
    p.add_argument("--chars", type=int, default=100_000, help="characters of the python-docs corpus to use")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float64 makes runs with different process counts agree to ~1e-12 (tests)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", type=Path, help="rank 0 writes it; every rank resumes from it with --resume")
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--backend", choices=list(BACKENDS))
    p.add_argument("--time-all-reduce", action="store_true", help="after training, time one gradient all-reduce")
    p.add_argument("--out", type=Path, help="rank 0 writes a JSON summary here (losses, timings)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Train the course's GPT on python-docs: one process, or p under ``torchrun``; see ``--help``."""
    import json

    from aigc_course.data.text import CharTokenizer, load_corpus
    from aigc_course.models.transformer import GPT, GPTConfig

    args, ctx = _parse(argv), setup()
    try:
        text = load_corpus("python-docs", max_chars=args.chars)
        tok = CharTokenizer.from_text(text)
        data = torch.tensor(tok.encode(text), dtype=torch.long)
        torch.manual_seed(args.seed)                      # the same initial weights on every rank (DDP checks)
        cfg = getattr(GPTConfig, args.preset)(vocab_size=tok.vocab_size, dropout=0.0)
        model = wrap(GPT(cfg).to(getattr(torch, args.dtype)), ctx)
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
        shards = ShardedBatches(len(data) - cfg.block_size, args.batch_size, ctx.rank, ctx.world_size, args.seed)
        step = ddp_step(model, optimizer, lambda m, batch: m(*batch)[1],
                        lambda s: lm_windows(data, shards(s), cfg.block_size, ctx.device), ctx)
        history = train_distributed(step, args.steps, modules={"model": unwrap(model), "optimizer": optimizer},
                                    ctx=ctx, checkpoint=args.checkpoint, resume=args.resume,
                                    checkpoint_every=args.checkpoint_every, config=cfg,
                                    desc=f"GPT on {ctx.world_size} process(es)")
        n_grad = sum(p.numel() for p in model.parameters())
        reduce_s = time_all_reduce(n_grad, ctx) if args.time_all_reduce and not history.interrupted else None
        if ctx.is_main and args.out is not None:
            summary = {"world_size": ctx.world_size, "backend": ctx.backend, "batch_per_rank": args.batch_size,
                       "steps": history.steps[-1] if history.steps else 0, "loss": history.logs.get("loss", []),
                       "seconds": history.seconds, "interrupted": history.interrupted, "parameters": n_grad,
                       "all_reduce_seconds": reduce_s}
            args.out.write_text(json.dumps(summary))
    finally:
        teardown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
