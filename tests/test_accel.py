"""Mixed precision, deferred loss reads and speed-up flags, exercised on the CPU (the GPU paths share the code)."""

import math

import pytest
import torch
from torch import nn

from aigc_course.accel import MixedPrecision, loggable, resolve_precision, speed_up
from aigc_course.train import TrainingDiverged, supervised_step, train


def _problem(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    x = torch.randn(64, 4)
    y = x.sum(dim=1, keepdim=True)
    return model, x, y


def _tensor_step(model, opt, x, y, nan_at=None):
    """A step function that returns its loss as a tensor (what a GPU step returns)."""
    def step_fn(step):
        loss = (model(x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        out = loss.detach()
        return {"loss": out * math.nan if step == nan_at else out, "twice": 2 * out}
    return step_fn


class Recorder:
    def __init__(self):
        self.seen = []

    def on_step(self, step, logs, history):
        self.seen.append((step, dict(logs), len(history.steps)))


def _run(log_every, nan_at=None, steps=23, **kw):
    model, x, y = _problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    rec = Recorder()
    hist = train(_tensor_step(model, opt, x, y, nan_at), steps, callbacks=[rec], progress=False,
                 log_every=log_every, **kw)
    return hist, rec, model


def test_deferred_reads_give_the_same_history_and_callbacks_as_reading_every_step():
    ref, ref_rec, ref_model = _run(None)               # CPU tensors read at once
    hist, rec, model = _run(7)                          # read every 7 steps (and at the end)
    assert hist.steps == ref.steps == list(range(1, 24))
    assert hist.logs == ref.logs                        # exact floats, not approximately
    assert [(s, logs) for s, logs, _ in rec.seen] == [(s, logs) for s, logs, _ in ref_rec.seen]
    assert [n for _, _, n in rec.seen] == list(range(1, 24))   # each callback saw the history up to its step
    for a, b in zip(model.parameters(), ref_model.parameters()):
        assert torch.equal(a, b)


def test_deferred_read_equals_item_of_each_step():
    model, x, y = _problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    step_fn, values = _tensor_step(model, opt, x, y), []
    hist = train(lambda s: values.append(step_fn(s)) or values[-1], 10, progress=False, log_every=4)
    assert hist.logs["loss"] == [v["loss"].item() for v in values]


def test_nan_found_late_still_names_its_step():
    with pytest.raises(TrainingDiverged, match=r"diverged at step 13: loss=nan .*taken 2 more updates") as err:
        _run(5, nan_at=13)                              # read at step 15: steps 11..15 pending
    assert err.value.history.steps == list(range(1, 13))


class EvalWatcher:
    def __init__(self):
        self.at = []

    def on_eval(self, step, logs, history):
        self.at.append((step, history.steps[-1]))


def test_evaluation_and_checkpoints_come_after_every_step_is_recorded(tmp_path):
    model, x, y = _problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    watcher, path = EvalWatcher(), tmp_path / "ck.pt"
    train(_tensor_step(model, opt, x, y), 12, modules={"model": model}, eval_fn=lambda: {"v": 0.0}, eval_every=5,
          callbacks=[watcher], checkpoint=path, checkpoint_every=4, progress=False, log_every=50)
    assert watcher.at == [(5, 5), (10, 10), (12, 12)]
    from aigc_course.checkpoint import read_checkpoint
    assert read_checkpoint(path)["history"]["steps"] == list(range(1, 13))


def test_resolve_precision():
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp8", "cpu")


def test_loggable_is_a_float_on_cpu():
    assert isinstance(loggable(torch.tensor(1.5, requires_grad=True) * 1), float)


def _fp16_run(steps, checkpoint=None, resume=False):
    model, x, y = _problem()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    step_fn = supervised_step(model, opt, lambda m, b: (m(b[0]) - b[1]).pow(2).mean() * 1e3,
                              lambda s: (x, y), grad_clip=1.0, precision="fp16")
    hist = train(step_fn, steps, modules={"model": model, "opt": opt}, checkpoint=checkpoint,
                 checkpoint_every=5, resume=resume, progress=False)
    return hist, model, step_fn.precision


def test_fp16_with_grad_scaler_trains_on_cpu():
    hist, _, mp = _fp16_run(40)
    assert mp.dtype is torch.float16 and mp.scaler.is_enabled()
    assert mp.scaler.get_scale() < 65536.0              # overflowing steps were skipped and the scale backed off
    assert hist.logs["loss"][-1] < 0.5 * hist.logs["loss"][0]


def test_fp16_resume_is_bit_identical_with_the_scaler_state(tmp_path):
    ref_hist, ref_model, ref_mp = _fp16_run(12)
    path = tmp_path / "ck.pt"
    _fp16_run(5, checkpoint=path)                       # stops at step 5, checkpoint holds the scaler
    hist, model, mp = _fp16_run(12, checkpoint=path, resume=True)
    assert hist.logs == ref_hist.logs
    assert mp.scaler.get_scale() == ref_mp.scaler.get_scale()
    for a, b in zip(model.parameters(), ref_model.parameters()):
        assert torch.equal(a, b)


def test_fp32_supervised_step_is_unchanged_by_the_precision_layer():
    model, x, y = _problem()
    ref = [p.detach().clone() for p in model.parameters()]
    ref_model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    for p, r in zip(ref_model.parameters(), ref):
        p.data.copy_(r)
    opt, ref_opt = (torch.optim.Adam(m.parameters(), lr=1e-2) for m in (model, ref_model))
    step = supervised_step(model, opt, lambda m, b: (m(b[0]) - b[1]).pow(2).mean(), lambda s: (x, y), grad_clip=0.5)
    for s in range(5):
        out = step(s)
        loss = (ref_model(x) - y).pow(2).mean()
        ref_opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(ref_model.parameters(), 0.5)
        ref_opt.step()
        assert out["loss"] == loss.item()
    for a, b in zip(model.parameters(), ref_model.parameters()):
        assert torch.equal(a, b)


def test_bf16_autocast_runs_the_forward_in_bf16_on_cpu():
    mp = MixedPrecision("cpu", "bf16")
    with mp.autocast():
        out = nn.Linear(4, 4)(torch.randn(2, 4))
    assert out.dtype is torch.bfloat16 and not mp.scaler.is_enabled()


def test_speed_up_channels_last_keeps_the_output():
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    x = torch.randn(2, 3, 12, 12)
    ref = conv(x)
    speed_up(conv, channels_last=True)
    assert conv[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(conv(x), ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="compile"):
        speed_up(conv, compile="yes")


def test_read_back_gives_exactly_what_item_gives():
    from aigc_course.train import _read_back
    g = torch.Generator().manual_seed(0)
    tensors = [torch.randn((), generator=g).to(d) for d in (torch.float32, torch.bfloat16, torch.float16)]
    tensors += [torch.tensor(3.0000001, dtype=torch.float64), torch.tensor(2**30 + 1)]
    assert _read_back(tensors) == [t.item() for t in tensors]
