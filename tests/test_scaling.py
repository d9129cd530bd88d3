"""Power-law fits recover known laws from noisy synthetic data, and their intervals behave."""

import numpy as np
import pytest

from aigc_course.scaling import bootstrap_power_law, extrapolate, fit_power_law, power_law

A, B, C0 = 40.0, 0.12, 1.2


def _points(n=5, noise=0.01, irreducible=0.0, seed=0):
    rng = np.random.default_rng(seed)
    compute = np.logspace(12, 15, n)
    loss = power_law(compute, A, B, irreducible) * np.exp(noise * rng.standard_normal(n))
    return compute, loss


def test_power_law_values():
    assert power_law(100.0, 2.0, 0.5) == pytest.approx(0.2)
    assert power_law([1.0, 100.0], 2.0, 0.5, 1.0) == pytest.approx([3.0, 1.2])


def test_noise_free_points_are_fitted_exactly():
    compute, loss = _points(noise=0.0)
    fit = fit_power_law(compute, loss)
    assert fit.a == pytest.approx(A, rel=1e-6) and fit.b == pytest.approx(B, rel=1e-6)
    assert fit.residual_std == pytest.approx(0.0, abs=1e-8) and fit.dof == 3


def test_fit_recovers_a_and_b_from_noisy_points_and_the_interval_covers_them():
    compute, loss = _points(n=6, noise=0.01, seed=1)
    fit = fit_power_law(compute, loss)
    sd_b = np.sqrt(fit.cov[1, 1])
    assert abs(fit.b - B) < 4 * sd_b and abs(fit.b - B) < 0.02
    assert fit.residual_std == pytest.approx(0.01, rel=0.8)
    far = 1e18
    low, high = fit.interval(far, level=0.95)
    assert low[0] < power_law(far, A, B) < high[0]
    near_low, near_high = fit.interval(1e13, level=0.95)
    assert (high - low)[0] / power_law(far, A, B) > (near_high - near_low)[0] / power_law(1e13, A, B)
    assert "C^(−" in str(fit)


def test_str_of_a_rising_law_has_one_sign():
    """A fitted b < 0 (loss rising with compute) printed as C^(+|b|), never the doubled "C^(−-0.0004)"."""
    compute = np.logspace(12, 15, 5)
    fit = fit_power_law(compute, power_law(compute, A, -0.05))
    assert fit.b < 0
    assert "C^(+0.05" in str(fit) and "−-" not in str(fit)


def test_fit_with_irreducible_loss_recovers_the_floor():
    rng = np.random.default_rng(2)
    compute = np.logspace(6, 12, 8)                         # a range where the floor matters
    loss = power_law(compute, A, 0.3, C0) * np.exp(0.002 * rng.standard_normal(8))
    fit = fit_power_law(compute, loss, irreducible=True)
    assert fit.c == pytest.approx(C0, abs=0.1) and fit.b == pytest.approx(0.3, abs=0.05)
    plain = fit_power_law(compute, loss)
    assert plain.residual_std > 3 * fit.residual_std       # a pure power law cannot bend to the floor


def test_bootstrap_distribution_is_centred_on_the_truth():
    compute, loss = _points(n=5, noise=0.01, seed=3)
    boots = bootstrap_power_law(compute, loss, n_boot=200, seed=0)
    assert boots.shape[1] == 3 and len(boots) > 150
    assert np.all(boots[:, 2] == 0)
    lo, hi = np.percentile(boots[:, 1], [1, 99])
    assert lo < B < hi and hi - lo < 0.1


def test_extrapolate_returns_ordered_intervals():
    compute, loss = _points(n=4, noise=0.02, seed=4)
    out = extrapolate(compute, loss, at=[1e15, 1e17], level=0.9, n_boot=100)
    assert set(out) >= {"prediction", "low", "high", "boot_low", "boot_high", "fit"}
    assert np.all(out["low"] < out["prediction"]) and np.all(out["prediction"] < out["high"])
    assert np.all(out["boot_low"] <= out["boot_high"])
    width = (out["high"] - out["low"]) / out["prediction"]
    assert width[1] > width[0]                              # further out, less certain


def test_bad_inputs_raise_with_a_reason():
    with pytest.raises(ValueError, match="at least 3 points"):
        fit_power_law([1e3, 1e4], [2.0, 1.0])
    with pytest.raises(ValueError, match="at least 4 points"):
        fit_power_law([1e3, 1e4, 1e5], [2.0, 1.5, 1.0], irreducible=True)
    with pytest.raises(ValueError, match="finite and positive"):
        fit_power_law([1e3, 1e4, -1e5], [2.0, 1.5, 1.0])
    with pytest.raises(ValueError, match="same length"):
        fit_power_law([1e3, 1e4, 1e5], [2.0, 1.5])
    with pytest.raises(ValueError, match="level must be in"):
        fit_power_law(*_points()).interval(1e16, level=1.5)
