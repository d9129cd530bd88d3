"""Memory of training state with and without sharding (appendix, chapter 15): ZeRO stages and FSDP.

Training with Adam keeps, per parameter, the weight, its gradient and two moments. In mixed precision
(Rajbhandari et al., "ZeRO", 2020) that is 2 + 2 bytes of 16-bit weight and gradient plus 12 bytes of fp32
master weight, first and second moment: K = 16 bytes per parameter (eq. 15.3); in plain fp32 it is 4 + 4 + 8,
also 16. Data parallelism keeps all of it on every device. ZeRO shards it over the N_d data-parallel ranks:

    stage 1 (optimizer state)           (w + g)·Ψ + o·Ψ / N_d
    stage 2 (+ gradients)               w·Ψ + (g + o)·Ψ / N_d
    stage 3 (+ parameters) = FSDP       (w + g + o)·Ψ / N_d                    (eq. 15.4)

with w, g, o the bytes per parameter of weights, gradients and optimizer state. Activations come on top and
depend on batch and sequence length, not on Ψ alone (sharding does not divide them).

:func:`measure` counts what one process really holds (the local shard of each sharded tensor), and ``python -m
aigc_course.zero`` under ``torchrun`` shards the course's GPT with FSDP (``fully_shard``) and reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

STAGES = (0, 1, 2, 3)


@dataclass(frozen=True)
class Precision:
    """Bytes per parameter of what training keeps."""

    weights: int = 2            # 16-bit weights used in forward and backward
    grads: int = 2              # 16-bit gradients
    optimizer: int = 12         # fp32 master weights + Adam's two moments

    @classmethod
    def fp32(cls) -> Precision:
        """Plain fp32 Adam: 4-byte weights and gradients, two 4-byte moments (no master copy)."""
        return cls(weights=4, grads=4, optimizer=8)

    @property
    def total(self) -> int:
        return self.weights + self.grads + self.optimizer


def training_bytes(n_params: int, stage: int = 0, n_devices: int = 1, precision: Precision | None = None) -> float:
    """Bytes of weights, gradients and optimizer state per device for ZeRO ``stage`` over ``n_devices`` (eq. 15.4).

    Stage 0 is plain data parallelism (eq. 15.3: K·Ψ on every device, K = 16 with Adam).
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {list(STAGES)} (0 = plain data parallelism), got {stage!r}")
    if not isinstance(n_devices, int) or n_devices < 1:
        raise ValueError(f"n_devices must be a positive int, got {n_devices!r}")
    if not isinstance(n_params, int) or n_params < 1:
        raise ValueError(f"n_params must be a positive int, got {n_params!r}")
    p = precision or Precision()
    sharded = {0: 0, 1: p.optimizer, 2: p.optimizer + p.grads, 3: p.total}[stage]
    return n_params * (p.total - sharded) + n_params * sharded / n_devices


def _local(t: torch.Tensor) -> torch.Tensor:
    return t.to_local() if hasattr(t, "to_local") else t       # a DTensor's shard on this rank


def measure(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, int]:
    """Bytes this process holds of parameters, gradients and optimizer state (Adam's step counters excluded)."""
    params = list(model.parameters())
    nbytes = lambda t: _local(t).numel() * _local(t).element_size()
    return {"weights": sum(nbytes(p) for p in params),
            "grads": sum(nbytes(p.grad) for p in params if p.grad is not None),
            "optimizer": sum(nbytes(v) for state in optimizer.state.values() for k, v in state.items()
                             if k != "step" and torch.is_tensor(v))}


def main(argv: list[str] | None = None) -> int:
    """Under torchrun: shard the course's GPT with FSDP over every rank, take one AdamW step, report bytes."""
    import argparse
    import json
    from pathlib import Path

    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard

    from aigc_course.distributed import setup, teardown
    from aigc_course.models.transformer import GPT, GPTConfig

    parser = argparse.ArgumentParser(prog="python -m aigc_course.zero")
    parser.add_argument("--preset", choices=["nano", "tiny", "small"], default="tiny")
    parser.add_argument("--out", type=Path, required=True, help="each rank writes out.rank<r>.json")
    args, ctx = parser.parse_args(argv), setup()
    try:
        torch.manual_seed(0)
        model = GPT(getattr(GPTConfig, args.preset)(vocab_size=96, dropout=0.0)).to(ctx.device)
        n_params = sum(p.numel() for p in model.parameters())
        if ctx.backend is not None:
            for block in model.blocks:               # one shard group per block, then the rest
                fully_shard(block)
            fully_shard(model)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        idx = torch.randint(0, 96, (2, model.cfg.block_size), device=ctx.device)
        model(idx, idx)[1].backward()
        optimizer.step()
        report = {"rank": ctx.rank, "world_size": ctx.world_size, "n_params": n_params, **measure(model, optimizer)}
        Path(f"{args.out}.rank{ctx.rank}.json").write_text(json.dumps(report))
        if ctx.backend is not None:
            dist.barrier()
    finally:
        teardown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
