import pytest
import torch

from aigc_course.widgets.toy_explorer import describe_toy, toy_explorer


def test_describe_toy_counts_modes_and_scores_samples():
    fig, summary = describe_toy("ring", modes=6, scale=2.0, std=0.05, n_samples=400)
    assert "ring: 6 modes" in summary and "modes hit by samples: 6/6" in summary
    assert len(fig.axes) == 2
    # mean log-density of samples from N(mu, s^2 I) mixtures with well separated modes ~ -log(K) - log(2 pi s^2) - 1
    expected = -torch.log(torch.tensor(6.0)) - torch.log(torch.tensor(2 * torch.pi * 0.05 ** 2)) - 1
    value = float(summary.split("mean log p(x) of the samples: ")[1].split()[0])
    assert value == pytest.approx(expected.item(), abs=0.15)


def test_grid_uses_side_squared_modes():
    _, summary = describe_toy("grid", modes=3, scale=1.5, std=0.05, n_samples=600)
    assert "grid: 9 modes" in summary and "9/9" in summary


def test_bad_name():
    with pytest.raises(ValueError, match="'ring' or 'grid', got 'moons'"):
        describe_toy("moons")


def test_widget_driven_headless():
    w = toy_explorer(n_samples=200)
    assert "ring: 8 modes" in w.result
    w.children[1].value = 4                   # the modes slider
    assert "ring: 4 modes" in w.result and "4/4" in w.result
    w.children[0].value = "grid"
    assert w.result.startswith("grid: 16 modes")
