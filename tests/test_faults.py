"""Faults a learner meets, each required to lose nothing: real Ctrl-C mid-step, killed saves, a full disk,
a read-only folder, flipped bytes, the wrong optimizer or config, malicious files."""

import errno
import os
import pickle
import random
import signal
import subprocess
import sys
import warnings
from dataclasses import dataclass

import pytest
import torch

from aigc_course import checkpoint as ckpt
from aigc_course.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from aigc_course.train import CheckpointWarning, TrainingDiverged, lm_step, train

STEPS = 16
PHASES = ("start", "after_backward", "after_optimizer_step", "before_return")


def problem(seed=0):
    """A small MLP on random batches drawn from its own generator (saved through modules=)."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Dropout(0.1), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed + 100)
    return model, opt, gen


def make_step(model, opt, gen, interrupt_at=None, phase=None, signals=1):
    def hit(here, step):
        if step == interrupt_at and here == phase:
            for _ in range(signals):
                os.kill(os.getpid(), signal.SIGINT)   # a real Ctrl-C, delivered to the running loop

    def step_fn(step):
        hit("start", step)
        x = torch.randn(8, 4, generator=gen)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()  # dropout: the global RNG matters too
        opt.zero_grad()
        loss.backward()
        hit("after_backward", step)
        opt.step()
        hit("after_optimizer_step", step)
        value = loss.item()
        hit("before_return", step)
        return value

    return step_fn


def straight_run():
    model, opt, gen = problem()
    torch.manual_seed(7)
    hist = train(make_step(model, opt, gen), STEPS, modules={"m": model, "o": opt, "g": gen}, progress=False)
    return hist, [p.detach().clone() for p in model.parameters()]


def interrupted_then_resumed(tmp_path, at, phase, signals=1):
    path = tmp_path / f"run-{at}-{phase}-{signals}.pt"
    model, opt, gen = problem()
    torch.manual_seed(7)
    first = train(make_step(model, opt, gen, at, phase, signals), STEPS, modules={"m": model, "o": opt, "g": gen},
                  checkpoint=path, checkpoint_every=4, progress=False)
    model2, opt2, gen2 = problem(seed=99)       # other weights, other generator: the checkpoint must win
    torch.manual_seed(12345)
    second = train(make_step(model2, opt2, gen2), STEPS, modules={"m": model2, "o": opt2, "g": gen2},
                   checkpoint=path, resume=True, progress=False)
    return first, second, [p.detach() for p in model2.parameters()]


def test_real_interrupts_at_random_points_resume_bit_identically(tmp_path, capsys):
    """Ctrl-C anywhere in a step (even after optimizer.step, before the history records it) stops the run
    at the step boundary; the resumed run equals the uninterrupted one bit for bit. Was 0/10 before."""
    straight, weights = straight_run()
    rng, identical, trials = random.Random(0), 0, 12
    for _ in range(trials):
        at, phase = rng.randint(1, STEPS - 1), rng.choice(PHASES)
        first, second, resumed = interrupted_then_resumed(tmp_path, at, phase)
        assert first.interrupted and first.steps == list(range(1, at + 1))   # the step in flight completed
        identical += (second.logs["loss"] == straight.logs["loss"]
                      and all(torch.equal(a, b) for a, b in zip(resumed, weights)))
    assert identical == trials, f"{identical}/{trials} resumes bit-identical"
    assert "stopping after this step" in capsys.readouterr().out


def test_a_second_interrupt_stops_mid_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    straight, weights = straight_run()
    first, second, resumed = interrupted_then_resumed(tmp_path, 10, "after_optimizer_step", signals=2)
    out = capsys.readouterr().out
    assert first.interrupted and first.steps == list(range(1, 10))
    assert "in the middle of step 10" in out and "still holds step 8" in out
    assert second.logs["loss"] == straight.logs["loss"]                     # resumed from step 8: exact
    assert all(torch.equal(a, b) for a, b in zip(resumed, weights))


def test_lm_step_generator_is_checkpointed(tmp_path):
    """lm_step's torch.Generator used to be left out: a resumed run replayed the batches from the seed."""
    from aigc_course.models.transformer import GPT, GPTConfig

    data = torch.arange(300) % 11

    def setup(seed):
        torch.manual_seed(seed)
        model = GPT(GPTConfig.nano(vocab_size=11, block_size=8))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        return model, opt, lm_step(model, opt, data, 8, 4, generator=torch.Generator().manual_seed(seed))

    model, opt, step = setup(0)
    straight = train(step, 8, modules={"model": model, "opt": opt}, progress=False)
    model, opt, step = setup(0)

    def stop_at_5(s):
        out = step(s)
        if s == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    stop_at_5.generators = step.generators   # a wrapper passes on what the step declares
    train(stop_at_5, 8, modules={"model": model, "opt": opt}, checkpoint=tmp_path / "lm.pt", progress=False)
    assert "lm_step.generator" in read_checkpoint(tmp_path / "lm.pt")["modules"]
    model2, opt2, step2 = setup(3)
    resumed = train(step2, 8, modules={"model": model2, "opt": opt2}, checkpoint=tmp_path / "lm.pt", resume=True,
                    progress=False)
    assert resumed.logs["loss"] == straight.logs["loss"]


def _fail_writes(monkeypatch, code):
    def refuse(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(ckpt.os, "fsync", refuse)


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, r"no space left on device \(needed ≈ "),
                                         (errno.EROFS, "is read-only")])
def test_disk_full_or_read_only_keeps_the_old_checkpoint_and_the_history(tmp_path, monkeypatch, code, words):
    model, opt, gen = problem()
    path = save_checkpoint(tmp_path / "run.pt", {"m": model}, step=3)
    _fail_writes(monkeypatch, code)
    with pytest.raises(CheckpointWriteError, match=words) as err:
        save_checkpoint(path, {"m": model}, step=4)
    assert str(path) in str(err.value) and "MB" in str(err.value)
    assert read_checkpoint(path)["step"] == 3                               # the old one is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]        # and no temporary file is left
    with pytest.warns(CheckpointWarning, match="History is kept") as record:
        hist = train(make_step(model, opt, gen), 6, modules={"m": model, "o": opt}, checkpoint=tmp_path / "b.pt",
                     checkpoint_every=2, progress=False)
    assert len(record) == 1 and hist.steps == list(range(1, 7)) and not hist.interrupted


def test_next_save_removes_temporary_files_of_killed_saves(tmp_path):
    model, _, _ = problem()
    for pid in (11, 12, 13):
        (tmp_path / f".run.pt.{pid}.tmp").write_bytes(b"x" * 1000)
    (tmp_path / ".other.pt.1.tmp").write_bytes(b"not ours")
    save_checkpoint(tmp_path / "run.pt", {"m": model}, step=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.pt.1.tmp", "run.pt"]


KILLER = """
import sys, torch
from aigc_course.checkpoint import save_checkpoint
model = torch.nn.Linear(512, 512)
step = 0
print("ready", flush=True)
while True:
    step += 1
    save_checkpoint(sys.argv[1], {"m": model}, step=step)
"""


@pytest.mark.slow
def test_kills_during_saves_never_leave_half_a_checkpoint_nor_orphans(tmp_path):
    path, survived = tmp_path / "run.pt", 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    rng = random.Random(1)
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", KILLER, str(path)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline().strip() == b"ready"
        try:
            proc.wait(timeout=rng.uniform(0.2, 0.6))
        except subprocess.TimeoutExpired:
            proc.kill()                                                     # SIGKILL mid-save, most likely
        proc.wait()
        if path.exists():
            survived += read_checkpoint(path)["step"] >= 1                  # complete and verified
    assert survived == 4
    save_checkpoint(path, {"m": torch.nn.Linear(2, 2)}, step=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]


def test_flipped_bytes_never_load_silently(tmp_path):
    model = torch.nn.Linear(64, 64)
    path = save_checkpoint(tmp_path / "run.pt", {"m": model}, step=1)
    clean = path.read_bytes()
    rng, caught, harmless = random.Random(0), 0, 0
    for _ in range(150):
        data = bytearray(clean)
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        try:
            payload = read_checkpoint(path)
        except CheckpointError:
            caught += 1
            continue
        assert torch.equal(payload["modules"]["m"]["weight"], model.weight)   # loaded: then it is unchanged
        harmless += 1
    assert caught + harmless == 150 and caught > 100   # most bytes are tensor data: each flip is caught
    data = bytearray(clean)
    data[clean.find(model.weight.detach().numpy().tobytes()[:16]) + 5] ^= 4    # one byte inside the weights
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="do not match the checksum"):
        read_checkpoint(path)


def test_another_optimizer_class_is_refused(tmp_path):
    model, opt, _ = problem()
    path = save_checkpoint(tmp_path / "run.pt", {"m": model, "opt": opt}, step=1)
    with pytest.raises(CheckpointError, match="holds Adam state for 'opt', but this run passes a SGD"):
        load_checkpoint(path, {"m": model, "opt": torch.optim.SGD(model.parameters(), lr=0.1)})


@dataclass
class RunConfig:
    dropout: float = 0.0
    lr: float = 1e-3


def test_resuming_with_another_config_warns_and_numpy_configs_are_refused_at_once(tmp_path):
    import numpy as np

    model, opt, gen = problem()
    path = tmp_path / "run.pt"
    train(make_step(model, opt, gen), 4, modules={"m": model, "o": opt}, checkpoint=path, config=RunConfig(),
          progress=False)
    with pytest.warns(UserWarning, match=r"different config \(dropout: 0.0 -> 0.1\)"):
        train(make_step(model, opt, gen), 6, modules={"m": model, "o": opt}, checkpoint=path, resume=True,
              config=RunConfig(dropout=0.1), progress=False)
    with pytest.raises(TypeError, match=r"config\['lr'\] is a numpy.float64.*weights_only"):
        train(make_step(model, opt, gen), 2, modules={"m": model}, checkpoint=tmp_path / "n.pt",
              config={"lr": np.float64(0.1)}, progress=False)
    assert not (tmp_path / "n.pt").exists()


def test_resume_beyond_steps_is_refused(tmp_path):
    model, opt, gen = problem()
    train(make_step(model, opt, gen), 8, modules={"m": model}, checkpoint=tmp_path / "r.pt", progress=False)
    with pytest.raises(ValueError, match=r"is at step 8, beyond steps=5: pass steps >= 8"):
        train(make_step(model, opt, gen), 5, modules={"m": model}, checkpoint=tmp_path / "r.pt", resume=True,
              progress=False)


def test_training_diverged_says_the_weights_are_nan_and_how_to_restore(tmp_path):
    model, opt, gen = problem()
    step = make_step(model, opt, gen)
    with pytest.raises(TrainingDiverged) as err:
        train(lambda s: step(s) if s < 7 else float("nan"), 10, modules={"m": model}, checkpoint=tmp_path / "d.pt",
              checkpoint_every=5, progress=False)
    text = str(err.value)
    assert "diverged at step 7" in text and "weights in memory are probably NaN" in text
    assert f"load_checkpoint({str(tmp_path / 'd.pt')!r}, modules) restores step 5" in text
    assert err.value.history.steps == list(range(1, 7))


class Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.parametrize("writer", ["zip", "legacy", "raw-pickle"])
def test_malicious_files_are_refused_not_executed(tmp_path, monkeypatch, writer):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    payload = {"format": 1, "modules": {}, "x": Evil()}
    if writer == "raw-pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path, pickle_module=pickle, _use_new_zipfile_serialization=writer == "zip")
    with pytest.raises(CheckpointError, match=r"refused, not executed \(it would import (posix|os)\.system\)"):
        read_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("content", [b"", b"<html><body>Please log in to the Wi-Fi</body></html>", b"\x00" * 100])
def test_garbage_is_corrupt_not_malicious(tmp_path, content):
    path = tmp_path / "junk.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable checkpoint") as err:
        read_checkpoint(path)
    assert "not executed" not in str(err.value)


def test_warnings_do_not_leak_from_a_clean_run(tmp_path):
    model, opt, gen = problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(make_step(model, opt, gen), 3, modules={"m": model, "o": opt, "g": gen}, checkpoint=tmp_path / "c.pt",
              progress=False)


def test_a_read_only_data_folder_returns_the_trained_classifier(tmp_path, monkeypatch):
    """pretrained_digit_classifier() used to train, then lose the model on the cache write."""
    from aigc_course.models.classifier import pretrained_digit_classifier

    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    _fail_writes(monkeypatch, errno.EROFS)
    with pytest.warns(UserWarning, match="returned but not cached: cannot write the checkpoint.*read-only"):
        model = pretrained_digit_classifier("digits", size=8, steps=3, verbose=False)
    assert 0.0 <= model.test_accuracy <= 1.0 and not any(p.suffix == ".pt" for p in tmp_path.rglob("*"))


def test_data_dir_that_is_a_file_is_named(tmp_path, monkeypatch):
    from aigc_course import doctor
    from aigc_course.config import DataDirError, data_dir

    (tmp_path / "f").write_text("x")
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "f"))
    with pytest.raises(DataDirError, match=r"the data folder .*/f is a file, not a folder; set AIGC_DATA_DIR"):
        data_dir()
    rows = dict(doctor.report())                                       # the doctor reports it, no traceback
    assert rows["data cache"].startswith("ERROR: the data folder") and "data: digits" not in rows
