"""Checkers for chapter 09's exercises (evaluating generative models and what they cost)."""

import math

import torch

from aigc_course.exercises.core import exercise


@exercise("ch09.frechet_diagonal")
def frechet_diagonal(fn) -> None:
    """fn(mu1, var1, mu2, var2) -> Fréchet distance between N(mu1, diag var1) and N(mu2, diag var2)."""
    from aigc_course.metrics import gaussian_frechet

    g = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.randn(5, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)
    var1, var2 = (torch.rand(5, generator=g, dtype=torch.float64) + 0.2 for _ in range(2))
    got = float(fn(mu1, var1, mu2, var2))
    expected = gaussian_frechet(mu1, torch.diag(var1), mu2, torch.diag(var2))
    if math.isclose(got, float((mu1 - mu2).pow(2).sum() + (var1 - var2).pow(2).sum()), rel_tol=1e-6):
        raise AssertionError("you compared the variances; the trace term compares standard deviations: "
                             "Σ (σ₁ − σ₂)² = Σ (var₁ + var₂ − 2 √(var₁ var₂))")
    if math.isclose(got, math.sqrt(expected), rel_tol=1e-6):
        raise AssertionError("that is the square root: the Fréchet distance used as FID is the *squared* W2 distance")
    assert math.isclose(got, expected, rel_tol=1e-6), f"expected {expected:.6f}, got {got:.6f}"
    assert abs(float(fn(mu1, var1, mu1, var1))) < 1e-9, "a Gaussian's distance to itself must be 0"


@exercise("ch09.precision")
def precision(fn) -> None:
    """fn(real (N, D), fake (M, D), k) -> share of fake points inside some real point's k-NN ball."""
    from aigc_course.metrics import precision_recall

    g = torch.Generator().manual_seed(1)
    real = torch.randn(60, 3, generator=g, dtype=torch.float64)
    fake = torch.cat([torch.randn(30, 3, generator=g, dtype=torch.float64),
                      torch.randn(30, 3, generator=g, dtype=torch.float64) + 6])       # half of them far away
    for k in (1, 3, 5):
        got, expected = float(fn(real, fake, k)), precision_recall(real, fake, k=k)["precision"]
        recall = precision_recall(real, fake, k=k)["recall"]
        if not math.isclose(got, expected, abs_tol=1e-9) and math.isclose(got, recall, abs_tol=1e-9):
            raise AssertionError("that is recall (real points inside the fake balls): precision asks whether "
                                 "each *fake* point falls inside a ball around the real points")
        assert math.isclose(got, expected, abs_tol=1e-9), (
            f"with k={k} precision is {expected:.3f}, you got {got:.3f}. Radius of real point i = distance to "
            f"its k-th nearest *other* real point (leave out the point itself, at distance 0)")


@exercise("ch09.cost_per_1k_tokens")
def cost_per_1k_tokens(fn) -> None:
    """fn(tokens_per_second, price_per_hour, watts, price_per_kwh, pue) -> USD for 1,000 tokens."""
    from aigc_course.cost import CostAssumptions, cost_per_items

    for tps, hour, watts, kwh, pue in [(500.0, 0.08, 35.0, 0.2, 1.3), (20_000.0, 2.5, 700.0, 0.15, 1.1)]:
        a = CostAssumptions(watts=watts, pue=pue, price_per_kwh=kwh, price_per_hour=hour)
        expected = cost_per_items(seconds=1.0, items=tps, per=1000, assumptions=a)["total_usd"]
        got = float(fn(tps, hour, watts, kwh, pue))
        rental_only = 1000 / tps * hour / 3600
        if math.isclose(got, rental_only, rel_tol=1e-6):
            raise AssertionError("you counted the rental only: add the electricity, watts × PUE × seconds / 3.6e6 "
                                 "kWh at price_per_kwh")
        assert math.isclose(got, expected, rel_tol=1e-6), (
            f"for {tps:,.0f} tokens/s, {hour} USD/h, {watts} W, {kwh} USD/kWh, PUE {pue}: expected "
            f"{expected:.3g} USD per 1,000 tokens, got {got:.3g}. 1,000 tokens take 1000 / tokens_per_second s")


@exercise("ch09.power_law_fit")
def power_law_fit(fn) -> None:
    """fn(compute, loss) (1-D tensors) -> (a, b) of L = a · C^(−b), by least squares in log-log space."""
    compute = torch.logspace(10, 14, 5, dtype=torch.float64)
    noise = torch.tensor([0.01, -0.02, 0.015, 0.0, -0.005], dtype=torch.float64)
    loss = 30.0 * compute ** -0.1 * noise.exp()
    a, b = (float(v) for v in fn(compute, loss))
    X = torch.stack([torch.ones(5, dtype=torch.float64), compute.log()], dim=1)          # (5, 2)
    coef = torch.linalg.lstsq(X, loss.log().unsqueeze(1)).solution.squeeze(1)              # (log a, −b)
    a_ref, b_ref = float(coef[0].exp()), float(-coef[1])
    if math.isclose(b, -b_ref, rel_tol=1e-4):
        raise AssertionError("b has the wrong sign: the slope of log L against log C is −b, and b > 0")
    assert math.isclose(b, b_ref, rel_tol=1e-4), f"expected b = {b_ref:.5f}, got {b:.5f} (fit log L = log a − b log C)"
    assert math.isclose(a, a_ref, rel_tol=1e-3), f"expected a = {a_ref:.4f}, got {a:.4f} (a = exp(intercept))"
