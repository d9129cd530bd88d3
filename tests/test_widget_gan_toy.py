"""The toy GAN trainer: the pure session (training, coverage, determinism) and the widget driven headless."""

import pytest
import torch

from aigc_course.models import gan
from aigc_course.widgets.gan_toy import ToyGANSession, ToyGANSettings, ToyGANTrainer

TINY = gan.ToyGANConfig.tiny()


def test_session_trains_and_reports_losses_and_coverage():
    session = ToyGANSession(ToyGANSettings(batch_size=32), cfg=TINY)
    before = session.samples(200).clone()
    result = session.train(5)
    assert session.steps_done == 5 and len(session.logs) == 5
    assert {"loss_d", "loss_g", "modes_covered", "n_modes", "high_quality"} <= set(result)
    assert result["n_modes"] == 8 and 0 <= result["modes_covered"] <= 8
    assert not torch.equal(before, session.samples(200))                  # the samples moved
    assert session.figure().axes


def test_session_is_deterministic_and_wgan_logs_penalty():
    a = ToyGANSession(ToyGANSettings(batch_size=32, loss="wgan-gp", d_steps=2), cfg=TINY)
    b = ToyGANSession(ToyGANSettings(batch_size=32, loss="wgan-gp", d_steps=2), cfg=TINY)
    ra, rb = a.train(3), b.train(3)
    assert ra == rb and "gp" in ra
    assert torch.equal(a.samples(50), b.samples(50))


def test_learning_rates_change_in_the_running_optimisers():
    session = ToyGANSession(cfg=TINY)
    session.set_learning_rates(1e-4, 3e-3)
    assert session.opt_g.param_groups[0]["lr"] == 1e-4 and session.opt_d.param_groups[0]["lr"] == 3e-3


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="loss must be one of"):
        ToyGANSettings(loss="hinge")
    with pytest.raises(ValueError, match="'ring' or 'grid'"):
        ToyGANSettings(data="moons")


def test_widget_headless_set_controls_and_click():
    trainer = ToyGANTrainer(chunk=2, chunks_per_click=2)
    trainer.session = ToyGANSession(trainer._settings(), cfg=TINY)        # small model for a fast test
    trainer.lr_d.value = 2e-3
    assert trainer.session.opt_d.param_groups[0]["lr"] == pytest.approx(2e-3)
    trainer.d_steps.value = 3
    assert trainer.session.settings.d_steps == 3
    trainer.train_button.click()
    assert trainer.session.steps_done == 4
    assert trainer.status.value.startswith("step 4") and "modes" in trainer.status.value
    trainer.loss.value = "minimax"                                          # a new loss starts a new session
    assert trainer.session.steps_done == 0 and trainer.session.settings.loss == "minimax"
    assert trainer.session.settings.d_steps == 3


def test_every_setting_shows_in_the_widget_before_training():
    trainer = ToyGANTrainer(chunk=2, chunks_per_click=2)
    trainer.session = ToyGANSession(trainer._settings(), cfg=TINY)
    seen = [trainer.next_settings.value]
    for control, value in ((trainer.lr_g, 1e-4), (trainer.lr_d, 1e-2), (trainer.d_steps, 4)):
        control.value = value
        assert trainer.next_settings.value not in seen, control.description
        seen.append(trainer.next_settings.value)
    assert "lr G 1.0e-04" in seen[-1] and "lr D 1.0e-02" in seen[-1] and "4 D step(s)" in seen[-1]


@pytest.mark.parametrize("kwargs, match", [({"chunk": 0}, r"chunk must be in 1\.\.100000, got 0"),
                                           ({"chunks_per_click": 2.5}, r"chunks_per_click must be an int")])
def test_widget_refuses_bad_arguments_by_name(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ToyGANTrainer(**kwargs)
