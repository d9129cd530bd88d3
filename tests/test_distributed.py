"""aigc_course.distributed: sharding, the Ctrl-C boundary, torchrun commands, and real 2-process gloo runs.

The integration tests launch ``torchrun`` (2 processes, gloo, CPU) on the course's GPT and compare with a
one-process run whose batch is twice as large: the same parameters to float tolerance (eq. 15.1), also after
the 2-process run was interrupted with Ctrl-C and resumed from rank 0's checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from aigc_course import distributed as D
from aigc_course.checkpoint import CheckpointError, read_checkpoint

ROOT = Path(__file__).resolve().parent.parent
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
STEPS, BATCH = 40, 16            # per-rank batch B; the one-process reference uses 2B
ATOL = 1e-8                      # float64: runs agree to ~1e-11 (float32 rounding grows to 1e-2 in 50 steps)


# ----------------------------------------------------------------------------------------------- units


def test_shards_partition_the_global_batch_and_cover_each_epoch():
    n, b, world = 50, 4, 2
    ranks = [D.ShardedBatches(n, b, rank=r, world_size=world, seed=3) for r in range(world)]
    one = D.ShardedBatches(n, b * world, rank=0, world_size=1, seed=3)
    seen = []
    for step in range(1, 7):                      # 6 steps x 8 = 48 < 50: inside the first epoch
        parts = [shard(step) for shard in ranks]
        assert all(len(p) == b for p in parts)
        assert not set(parts[0].tolist()) & set(parts[1].tolist())          # no example on two ranks
        assert torch.equal(torch.cat(parts), one(step))                      # p ranks x B == 1 rank x pB
        seen += torch.cat(parts).tolist()
    assert len(set(seen)) == 48                   # no example twice within an epoch
    across = torch.cat([one(s) for s in range(1, 26)])   # 25 x 8 = 200 = 4 epochs exactly
    assert torch.equal(torch.bincount(across, minlength=n), torch.full((n,), 4))


def test_shards_depend_on_seed_and_step_only():
    a, b = D.ShardedBatches(100, 8, seed=1), D.ShardedBatches(100, 8, seed=1)
    assert torch.equal(a(7), b(7)) and not torch.equal(a(7), a(8))
    assert not torch.equal(a(7), D.ShardedBatches(100, 8, seed=2)(7))


@pytest.mark.parametrize("kwargs, word", [({"n": 0}, "n"), ({"batch_size": -1}, "batch_size"),
                                          ({"rank": 2, "world_size": 2}, "rank"), ({"world_size": 0}, "world_size")])
def test_shards_reject_bad_arguments(kwargs, word):
    args = {"n": 10, "batch_size": 2, **kwargs}
    with pytest.raises(ValueError, match=word):
        D.ShardedBatches(**args)
    with pytest.raises(ValueError, match="step"):
        D.ShardedBatches(10, 2)(0)


def test_lm_windows_are_shifted_slices():
    data = torch.arange(100)
    x, y = D.lm_windows(data, torch.tensor([0, 5, 90]), block_size=8)
    assert x.shape == y.shape == (3, 8)
    assert torch.equal(x[1], torch.arange(5, 13)) and torch.equal(y[1], torch.arange(6, 14))
    assert torch.equal(y[2], torch.arange(91, 99))


def test_setup_without_torchrun_is_one_plain_process(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    ctx = D.setup(backend="gloo")
    assert (ctx.rank, ctx.world_size, ctx.backend, ctx.is_main) == (0, 1, None, True)
    model = torch.nn.Linear(2, 2)
    assert D.wrap(model, ctx) is model and D.unwrap(model) is model
    assert D.all_reduce_mean(2.5, ctx) == 2.5


def test_setup_rejects_bad_backend_and_environment(monkeypatch):
    with pytest.raises(ValueError, match="backend must be one of"):
        D.setup(backend="mpi")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "two")
    with pytest.raises(ValueError, match="RANK"):
        D.setup(backend="gloo")
    monkeypatch.setenv("RANK", "3")
    with pytest.raises(ValueError, match="RANK must be in 0..WORLD_SIZE-1"):
        D.setup(backend="gloo")


def test_ctrl_c_waits_for_the_next_step_boundary():
    boundary, done, before = D._StepBoundary(), [], signal.getsignal(signal.SIGINT)
    step = boundary.guard(lambda s: done.append(s))
    with boundary:
        step(1)
        os.kill(os.getpid(), signal.SIGINT)      # arrives mid-run: held, not raised here
        time.sleep(0.05)
        done.append("rest of the step ran")
        with pytest.raises(KeyboardInterrupt):
            step(2)                              # raised before step 2 computes anything
    assert done == [1, "rest of the step ran"]
    assert signal.getsignal(signal.SIGINT) is before                          # handler restored


def test_a_second_ctrl_c_interrupts_at_once():
    boundary, before = D._StepBoundary(), signal.getsignal(signal.SIGINT)
    with boundary, pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)      # e.g. a rank stuck in a collective: do not wait for the step
        time.sleep(1)
        pytest.fail("the second Ctrl-C was held too")
    assert signal.getsignal(signal.SIGINT) is before


def test_an_interrupted_run_checkpoints_the_step_its_parameters_reached(tmp_path, monkeypatch):
    """Ctrl-C inside step 3, after its update: the checkpoint must say step 3 (plain train() could say 2)."""
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    ctx, counter = D.setup(backend="gloo"), torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(counter.weight)

    def step_fn(step: int) -> float:
        with torch.no_grad():
            counter.weight += 1                  # the "update": weight == number of completed steps
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        return float(step)

    history = D.train_distributed(step_fn, 10, modules={"counter": counter}, ctx=ctx,
                                  checkpoint=tmp_path / "c.pt", progress=False)
    saved = read_checkpoint(tmp_path / "c.pt")
    assert history.interrupted and history.steps == [1, 2, 3]
    assert saved["step"] == 3 and saved["modules"]["counter"]["weight"].item() == 3.0


def test_torchrun_commands():
    assert D.torchrun_command("train.py", "--steps", "9", nproc_per_node=4) == [
        "torchrun", "--nproc_per_node=4", "--standalone", "train.py", "--steps", "9"]
    multi = D.torchrun_command("aigc_course.distributed", nproc_per_node=8, nnodes=2,
                               rdzv_endpoint="node0:29400", module=True)
    assert multi == ["torchrun", "--nproc_per_node=8", "--nnodes=2", "--rdzv_backend=c10d",
                     "--rdzv_endpoint=node0:29400", "--rdzv_id=aigc", "-m", "aigc_course.distributed"]
    with pytest.raises(ValueError, match="rdzv_endpoint"):
        D.torchrun_command("train.py", nnodes=2)
    with pytest.raises(ValueError, match="nproc_per_node"):
        D.torchrun_command("train.py", nproc_per_node=0)


# -------------------------------------------------------------------------------- real torchrun runs


def _env(tmp: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "AIGC_DATA_DIR": str(tmp / "data")}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def _args(tmp: Path, name: str, batch: int, *extra: str) -> list[str]:
    return ["--steps", str(STEPS), "--batch-size", str(batch), "--chars", "30000", "--dtype", "float64", "--checkpoint",
            str(tmp / f"{name}.pt"), "--out", str(tmp / f"{name}.json"), *extra]


def _torchrun(*args: str) -> list[str]:
    """The command torchrun_command gives, with this environment's torchrun."""
    return [TORCHRUN] + D.torchrun_command("aigc_course.distributed", *args, nproc_per_node=2, module=True)[1:]


def _run(cmd: list[str], tmp: Path, timeout: float = 180) -> None:
    proc = subprocess.run(cmd, env=_env(tmp), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _params(path: Path) -> dict:
    return read_checkpoint(path)["modules"]["model"]


def _assert_same_params(a: dict, b: dict, atol: float = ATOL) -> None:
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < atol, f"parameters differ by up to {worst:.3g}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One process, batch 2B, no torchrun: the run the 2-process runs must reproduce."""
    tmp = tmp_path_factory.mktemp("ddp")
    _run([sys.executable, "-m", "aigc_course.distributed", *_args(tmp, "one", 2 * BATCH)], tmp)
    return tmp


@pytest.mark.slow
def test_two_processes_with_batch_b_equal_one_process_with_batch_2b(reference, tmp_path):
    _run(_torchrun(*_args(tmp_path, "two", BATCH)), tmp_path)
    one, two = (json.loads((d / f"{n}.json").read_text()) for d, n in ((reference, "one"), (tmp_path, "two")))
    assert (one["world_size"], two["world_size"], two["backend"]) == (1, 2, "gloo")
    assert two["steps"] == STEPS and not two["interrupted"]
    assert one["loss"][-1] < one["loss"][0] - 0.5                      # it learned something
    assert max(abs(a - b) for a, b in zip(one["loss"], two["loss"])) < ATOL   # the logged loss is the global mean
    _assert_same_params(_params(reference / "one.pt"), _params(tmp_path / "two.pt"))


def _interrupt_when_checkpointed(cmd: list[str], tmp: Path, ckpt: Path, at_least: int) -> int:
    """Start ``cmd``, send Ctrl-C to its process group once ``ckpt`` holds step >= at_least; its exit code."""
    proc = subprocess.Popen(cmd, env=_env(tmp), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if read_checkpoint(ckpt)["step"] >= at_least:
                    break
            except (FileNotFoundError, CheckpointError):
                pass
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGINT)              # what Ctrl-C in the terminal does
        return proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
def test_an_interrupted_two_process_run_resumes_where_it_stopped(reference, tmp_path):
    cmd = _torchrun(*_args(tmp_path, "two", BATCH, "--checkpoint-every", "1"))
    rc = _interrupt_when_checkpointed(cmd, tmp_path, tmp_path / "two.pt", at_least=3)
    stopped = read_checkpoint(tmp_path / "two.pt")["step"]
    summary = json.loads((tmp_path / "two.json").read_text())
    assert rc != 0 and summary["interrupted"], "the run finished before Ctrl-C reached it"
    assert 3 <= stopped < STEPS and summary["steps"] == stopped    # rank 0 saved the step it reached
    _run(cmd + ["--resume"], tmp_path)
    resumed = json.loads((tmp_path / "two.json").read_text())
    assert resumed["steps"] == STEPS and not resumed["interrupted"]
    assert len(resumed["loss"]) == STEPS                                # history carried across the restart
    _assert_same_params(_params(reference / "one.pt"), _params(tmp_path / "two.pt"))


# ------------------------------------------------------------------------------ ZeRO / FSDP arithmetic


def test_training_bytes_by_stage():
    from aigc_course.zero import Precision, training_bytes

    psi = 1000
    assert training_bytes(psi) == 16 * psi                                     # eq. 15.3, mixed precision
    assert training_bytes(psi, 1, 4) == 4 * psi + 12 * psi / 4
    assert training_bytes(psi, 2, 4) == 2 * psi + 14 * psi / 4
    assert training_bytes(psi, 3, 4) == 16 * psi / 4
    assert training_bytes(psi, 3, 4, Precision.fp32()) == 16 * psi / 4         # 4 + 4 + 8 is also 16
    assert all(training_bytes(psi, s, 1) == 16 * psi for s in range(4))      # one device: nothing to divide
    for kwargs, word in [({"stage": 4}, "stage"), ({"n_devices": 0}, "n_devices")]:
        with pytest.raises(ValueError, match=word):
            training_bytes(psi, **kwargs)
    with pytest.raises(ValueError, match="n_params"):
        training_bytes(0)


def test_measure_counts_weights_grads_and_adam_moments():
    from aigc_course.zero import measure

    model = torch.nn.Linear(10, 5)                                             # 55 parameters
    opt = torch.optim.AdamW(model.parameters())
    assert measure(model, opt) == {"weights": 220, "grads": 0, "optimizer": 0}
    model(torch.randn(3, 10)).sum().backward()
    opt.step()
    assert measure(model, opt) == {"weights": 220, "grads": 220, "optimizer": 440}
