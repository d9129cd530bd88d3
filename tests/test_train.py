import math

import pytest
import torch

from aigc_course.checkpoint import read_checkpoint
from aigc_course.train import (
    History,
    LivePlot,
    TrainingDiverged,
    WarmupCosine,
    lm_step,
    supervised_step,
    train,
)


def regression_problem(seed=0):
    """y = 3x - 1 with a linear model: a loss that must fall towards zero."""
    torch.manual_seed(seed)
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    y = 3 * x - 1

    def loss_fn(m, batch):
        xb, yb = batch
        return torch.nn.functional.mse_loss(m(xb), yb)

    def batch_fn(step):
        idx = torch.randint(0, 64, (16,))          # the global RNG: checkpoints save and restore it
        return x[idx], y[idx]

    return model, opt, supervised_step(model, opt, loss_fn, batch_fn), (lambda: {"val": loss_fn(model, (x, y))})


def test_loss_goes_down_and_history_is_complete():
    model, opt, step, evaluate = regression_problem()
    hist = train(step, 60, modules={"model": model}, eval_fn=evaluate, eval_every=20, progress=False)
    assert hist.steps == list(range(1, 61))
    assert hist.eval_steps == [20, 40, 60]
    assert hist.eval_logs["val"][-1] < 0.05 * hist.eval_logs["val"][0]
    assert hist.last("loss") == hist.logs["loss"][-1] and hist.seconds > 0 and not hist.interrupted


def test_callbacks_see_every_event_in_order():
    events = []

    class Spy:
        def on_step(self, step, logs, history):
            events.append(("step", step))

        def on_eval(self, step, logs, history):
            events.append(("eval", step, round(logs["v"], 3)))

        def on_end(self, history):
            events.append(("end", len(history.steps)))

    train(lambda s: float(s), 4, eval_fn=lambda: {"v": 0.5}, eval_every=2, callbacks=[Spy()], progress=False)
    assert events == [("step", 1), ("step", 2), ("eval", 2, 0.5), ("step", 3), ("step", 4), ("eval", 4, 0.5),
                      ("end", 4)]


def test_eval_runs_without_grad_in_eval_mode_and_restores_train_mode():
    model = torch.nn.Dropout(0.5)
    seen = {}

    def evaluate():
        seen["training"], seen["grad"] = model.training, torch.is_grad_enabled()
        return {"v": 0.0}

    train(lambda s: 1.0, 2, modules={"m": model}, eval_fn=evaluate, progress=False)
    assert seen == {"training": False, "grad": False} and model.training


def test_nan_loss_stops_naming_the_step():
    values = [1.0, 0.5, float("nan"), 0.1]
    with pytest.raises(TrainingDiverged, match=r"diverged at step 3: loss=nan") as err:
        train(lambda s: values[s - 1], 4, progress=False)
    assert err.value.history.steps == [1, 2]


def test_inf_in_any_named_loss_is_caught():
    with pytest.raises(TrainingDiverged, match="loss_g=inf"):
        train(lambda s: {"loss_d": 1.0, "loss_g": math.inf}, 3, progress=False)


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    straight_model, opt, step, _ = regression_problem()
    straight = train(step, 30, modules={"model": straight_model, "opt": opt}, progress=False)

    model, opt, step, _ = regression_problem()
    ckpt = tmp_path / "run.pt"

    def interrupting(s):
        if s == 13:
            raise KeyboardInterrupt
        return step(s)

    partial = train(interrupting, 30, modules={"model": model, "opt": opt}, checkpoint=ckpt, progress=False)
    assert partial.interrupted and partial.steps == list(range(1, 13))
    assert read_checkpoint(ckpt)["step"] == 12

    straight_weight = straight_model.weight.detach().clone()
    model2, opt2, step2, _ = regression_problem(seed=99)   # fresh objects, other init: the checkpoint must win
    resumed = train(step2, 30, modules={"model": model2, "opt": opt2}, checkpoint=ckpt, resume=True,
                    progress=False)
    assert resumed.steps == list(range(1, 31)) and not resumed.interrupted
    assert resumed.logs["loss"][:12] == partial.logs["loss"]
    assert resumed.logs["loss"] == straight.logs["loss"]       # model, optimizer and RNG all restored
    assert torch.equal(model2.weight, straight_weight)


def test_resume_restores_rng_so_random_steps_repeat(tmp_path):
    def noisy(s):
        return torch.rand(()).item()

    dummy = torch.nn.Linear(1, 1)
    torch.manual_seed(5)
    straight = train(noisy, 10, progress=False)
    torch.manual_seed(5)

    def interrupting(s):
        if s == 6:
            raise KeyboardInterrupt
        return noisy(s)

    train(interrupting, 10, modules={"m": dummy}, checkpoint=tmp_path / "r.pt", progress=False)
    torch.manual_seed(1234)     # resume must restore the RNG state saved in the checkpoint
    resumed = train(noisy, 10, modules={"m": dummy}, checkpoint=tmp_path / "r.pt", resume=True, progress=False)
    assert resumed.logs["loss"] == straight.logs["loss"]


def test_interrupt_without_checkpoint_keeps_history(capsys):
    def stop_at_3(s):
        if s == 3:
            raise KeyboardInterrupt
        return 1.0 / s

    hist = train(stop_at_3, 10, progress=False)
    assert hist.interrupted and hist.logs["loss"] == [1.0, 0.5]
    assert "Interrupted after step 2 of 10: history kept." in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, "steps must be a positive int, got 0"),
    ({"steps": 5, "eval_every": 0}, "eval_every must be a positive int or None, got 0"),
    ({"steps": 5, "checkpoint": "x.pt"}, "needs modules="),
])
def test_bad_arguments(kwargs, message):
    steps = kwargs.pop("steps")
    with pytest.raises(ValueError, match=message):
        train(lambda s: 0.0, steps, progress=False, **kwargs)


def test_history_columns_stay_aligned_when_keys_come_and_go():
    h = History()
    h.record(1, {"a": 1.0})
    h.record(2, {"b": 2.0})
    h.record(3, {"a": 3.0, "b": 4.0})
    assert h.logs["a"][0] == 1.0 and math.isnan(h.logs["a"][1]) and h.logs["a"][2] == 3.0
    assert math.isnan(h.logs["b"][0]) and h.logs["b"][1:] == [2.0, 4.0]
    assert History.from_dict(h.to_dict()).to_dict() == h.to_dict()
    with pytest.raises(KeyError, match=r"nothing logged under 'c'; logged: \['a', 'b'\]"):
        h.last("c")


def test_live_plot_updates_one_display(monkeypatch):
    shown = []

    class Handle:
        def update(self, fig):
            shown.append(("update", len(fig.axes[0].lines)))

    def fake_display(fig, display_id=False):
        shown.append(("display", len(fig.axes[0].lines)))
        return Handle()

    monkeypatch.setattr("IPython.display.display", fake_display)
    train(lambda s: 1.0 / s, 10, callbacks=[LivePlot(every=4)], progress=False)
    assert [kind for kind, _ in shown] == ["display", "update", "update"]   # steps 4, 8 and the end
    assert all(n == 2 for _, n in shown)  # raw + smoothed curve for the one loss


def test_warmup_cosine_rises_linearly_then_falls_to_the_floor():
    m = WarmupCosine(steps=100, warmup=10, floor=0.2)
    assert [m(s) for s in range(3)] == pytest.approx([0.1 * c for c in (1, 2, 3)], rel=0.01)  # linear ramp
    assert m(50) == pytest.approx(0.2 + 0.8 * 0.5)                  # half-way through the cosine: the midpoint
    assert m(100) == pytest.approx(0.2) and m(500) == pytest.approx(0.2)
    after = [m(s) for s in range(9, 101)]
    assert all(a >= b for a, b in zip(after, after[1:]))              # monotone after the warm-up
    assert WarmupCosine(steps=10)(0) == pytest.approx(1.0)            # warmup=1: no ramp


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, "positive ints"), ({"steps": 10, "warmup": 0}, "positive ints"),
    ({"steps": 10, "floor": 1.5}, "floor must be in"),
])
def test_warmup_cosine_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WarmupCosine(**kwargs)


def scheduled_problem(seed=0, steps=30):
    model, opt, _, _ = regression_problem(seed)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosine(steps, warmup=5))
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    step = supervised_step(model, opt, lambda m, b: torch.nn.functional.mse_loss(m(b), 3 * b - 1),
                           lambda s: x[torch.randint(0, 64, (16,))], grad_clip=1.0, scheduler=sched)
    return model, opt, sched, step


def test_supervised_step_follows_the_schedule():
    model, opt, sched, step = scheduled_problem()
    lrs = []
    for s in range(1, 31):
        lrs.append(opt.param_groups[0]["lr"])
        step(s)
    assert lrs == pytest.approx([0.1 * WarmupCosine(30, warmup=5)(s) for s in range(30)])


def test_resume_continues_the_learning_rate_schedule(tmp_path):
    straight_model, opt, sched, step = scheduled_problem()
    straight = train(step, 30, modules={"model": straight_model, "opt": opt, "sched": sched}, progress=False)

    model, opt, sched, step = scheduled_problem()

    def interrupting(s):
        if s == 17:
            raise KeyboardInterrupt
        return step(s)

    train(interrupting, 30, modules={"model": model, "opt": opt, "sched": sched}, checkpoint=tmp_path / "s.pt",
          progress=False)
    model2, opt2, sched2, step2 = scheduled_problem(seed=7)
    resumed = train(step2, 30, modules={"model": model2, "opt": opt2, "sched": sched2},
                    checkpoint=tmp_path / "s.pt", resume=True, progress=False)
    assert sched2.last_epoch == sched.last_epoch + 14 == 30                # the schedule went on from step 16
    assert resumed.logs["loss"] == straight.logs["loss"]
    assert torch.equal(model2.weight, straight_model.weight)


def test_lm_step_trains_on_the_windows_get_batch_draws():
    from aigc_course.data.text import get_batch
    from aigc_course.models.transformer import GPT, GPTConfig

    data = torch.arange(200) % 7                                          # a periodic "text" over 7 tokens
    torch.manual_seed(0)
    ours, reference = GPT(GPTConfig.nano(vocab_size=7, block_size=8)), GPT(GPTConfig.nano(vocab_size=7, block_size=8))
    reference.load_state_dict(ours.state_dict())
    step = lm_step(ours, torch.optim.SGD(ours.parameters(), lr=0.5), data, 8, 4,
                   generator=torch.Generator().manual_seed(3), grad_clip=None)
    opt, g = torch.optim.SGD(reference.parameters(), lr=0.5), torch.Generator().manual_seed(3)
    for s in range(1, 6):
        loss = reference(*get_batch(data, 8, 4, generator=g))[1]          # the same update, written out
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert step(s)["loss"] == pytest.approx(loss.item())
