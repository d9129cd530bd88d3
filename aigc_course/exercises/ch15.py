"""Checkers for chapter 15's exercises (training beyond one machine)."""

import math

import torch

from aigc_course.exercises.core import exercise


@exercise("ch15.ring_traffic")
def ring_traffic(fn) -> None:
    """fn(p, n_values, bytes_per_value) -> bytes one rank sends in a ring all-reduce (eq. 15.2)."""
    for p, n, b in [(2, 1000, 4), (4, 1000, 4), (8, 124_439_808, 2), (3, 999, 4)]:
        got, expected = float(fn(p, n, b)), 2 * (p - 1) / p * n * b
        if math.isclose(got, 2 * (p - 1) * n * b, rel_tol=1e-9):
            raise AssertionError("each of the 2(p−1) rounds sends one chunk, n/p values, not the whole vector")
        if math.isclose(got, (p - 1) / p * n * b, rel_tol=1e-9):
            raise AssertionError("that is the reduce-scatter alone: the all-gather sends as much again")
        assert math.isclose(got, expected, rel_tol=1e-9), f"p={p}, n={n}: expected {expected:.0f} bytes, got {got:.0f}"
    assert float(fn(1, 1000, 4)) == 0, "one rank alone sends nothing"


@exercise("ch15.zero_bytes")
def zero_bytes(fn) -> None:
    """fn(n_params, stage, n_devices) -> bytes per device with mixed-precision Adam under ZeRO (eq. 15.4)."""
    from aigc_course.zero import training_bytes

    psi = 124_439_808
    for stage in (0, 1, 2, 3):
        for n_d in (1, 8, 64):
            got, expected = float(fn(psi, stage, n_d)), training_bytes(psi, stage, n_d)
            assert math.isclose(got, expected, rel_tol=1e-9), \
                f"stage {stage} on {n_d} devices: expected {expected / 2**30:.3f} GiB, got {got / 2**30:.3f} GiB"


@exercise("ch15.shard")
def shard(fn) -> None:
    """fn(global_batch (G,), rank, world_size) -> this rank's contiguous slice of the global batch."""
    batch = torch.arange(100, 124)
    for world in (1, 2, 3, 4):
        parts = [fn(batch, r, world) for r in range(world)]
        assert all(len(part) == len(batch) // world for part in parts), f"world_size={world}: unequal shards"
        assert torch.equal(torch.cat(parts), batch), \
            f"world_size={world}: the shards, rank 0 first, must put the global batch back together"
