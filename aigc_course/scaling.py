"""Scaling laws (chapter 09): fit L(C) = a · C^(−b) [+ c] to (compute, loss) points, with uncertainty.

Kaplan et al. (2020) and Hoffmann et al. (2022) found that the loss of language models falls as a power of
training compute C (FLOPs), down to an irreducible floor c (the entropy of the text):

    L(C) = a · C^(−b) + c          (chapter 09, eq. 9.4)

Without c, log L = log a − b · log C is a straight line in log-log axes: a linear least-squares fit. With c,
the fit is non-linear (scipy's ``curve_fit`` in log space). A handful of points leaves the parameters
uncertain, and an extrapolation far beyond the largest run multiplies that uncertainty; two ways to say how
much are offered:

- :meth:`PowerLawFit.interval`: the fit's covariance pushed through the prediction (delta method) with a
  Student-t quantile for the few degrees of freedom left;
- :func:`bootstrap_power_law`: refit on resampled residuals many times; percentiles of the predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def power_law(compute, a: float, b: float, c: float = 0.0) -> np.ndarray:
    """L(C) = a · C^(−b) + c   (eq. 9.4)."""
    return a * np.asarray(compute, dtype=float) ** (-b) + c


def _check_points(compute, loss, irreducible: bool) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(compute, dtype=float).ravel(), np.asarray(loss, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"compute and loss must have the same length, got {x.size} and {y.size}")
    need = 4 if irreducible else 3
    if x.size < need:
        raise ValueError(f"fitting {'a, b and c' if irreducible else 'a and b'} needs at least {need} points "
                         f"(one more than parameters, to estimate the noise), got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise ValueError("compute and loss must be finite and positive (the fit works with their logarithms)")
    return x, y


def _log_model(log_c: np.ndarray, log_a: float, b: float, c: float = 0.0) -> np.ndarray:
    return np.log(np.exp(log_a - b * log_c) + c)                       # log(a C^-b + c)


@dataclass
class PowerLawFit:
    """The fitted law and what the fit knows about its own uncertainty."""

    a: float
    b: float
    c: float                    # the irreducible loss (0 when not fitted)
    cov: np.ndarray             # covariance of (log a, b[, c]) from the fit
    residual_std: float         # std of the residuals in log L (the scatter around the law)
    dof: int                    # degrees of freedom left: points − parameters
    irreducible: bool

    @property
    def params(self) -> np.ndarray:
        base = [np.log(self.a), self.b]
        return np.array(base + [self.c] if self.irreducible else base)

    def predict(self, compute) -> np.ndarray:
        return power_law(compute, self.a, self.b, self.c)

    def interval(self, compute, level: float = 0.9, new_run: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """A ``level`` interval for L at ``compute`` (delta method in log space, Student-t quantile).

        ``new_run=True`` adds the scatter of one more run around the law (a prediction interval);
        False gives the interval for the law itself.
        """
        from scipy import stats

        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        log_c = np.log(np.atleast_1d(np.asarray(compute, dtype=float)))
        grads = np.stack([_numeric_grad(self.params, lc) for lc in log_c])        # (M, P)
        var = np.einsum("mp,pq,mq->m", grads, self.cov, grads)                     # (M,)
        if new_run:
            var = var + self.residual_std**2
        t = stats.t.ppf(0.5 + level / 2, df=max(self.dof, 1))
        centre = np.log(self.predict(np.exp(log_c)))
        half = t * np.sqrt(np.maximum(var, 0.0))
        return np.exp(centre - half), np.exp(centre + half)

    def __str__(self) -> str:
        sd = np.sqrt(np.diag(self.cov))
        sign = "−" if self.b >= 0 else "+"                         # C^(−b): a negative b shows as C^(+|b|)
        text = f"L(C) = {self.a:.4g} · C^({sign}{abs(self.b):.4f} ± {sd[1]:.4f})"
        return text + (f" + {self.c:.4g} ± {sd[2]:.2g}" if self.irreducible else "")


def _numeric_grad(params: np.ndarray, log_c: float, eps: float = 1e-6) -> np.ndarray:
    """d log L / d params at one log C, by central differences."""
    grad = np.zeros_like(params)
    for i in range(len(params)):
        up, down = params.copy(), params.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (_log_model(log_c, *up) - _log_model(log_c, *down)) / (2 * eps)
    return grad


def fit_power_law(compute, loss, irreducible: bool = False) -> PowerLawFit:
    """Least-squares fit of log L = log(a C^(−b) [+ c]) to the points; returns a :class:`PowerLawFit`.

    Fitting in log space weighs each point by its *relative* error, which is how loss curves scatter.
    """
    from scipy.optimize import curve_fit

    x, y = _check_points(compute, loss, irreducible)
    log_x, log_y = np.log(x), np.log(y)
    slope, intercept = np.polyfit(log_x, log_y, 1)                   # the straight-line fit: a start
    if irreducible:
        p0 = [intercept, max(-slope, 1e-3), 0.5 * y.min()]
        bounds = ([-np.inf, 0.0, 0.0], [np.inf, 10.0, y.min()])
        params, cov = curve_fit(_log_model, log_x, log_y, p0=p0, bounds=bounds, maxfev=20000)
    else:
        params, cov = curve_fit(lambda lc, la, b: _log_model(lc, la, b), log_x, log_y, p0=[intercept, -slope])
    residuals = log_y - _log_model(log_x, *params)
    dof = x.size - len(params)
    cov = np.where(np.isfinite(cov), cov, np.inf)
    return PowerLawFit(a=float(np.exp(params[0])), b=float(params[1]),
                       c=float(params[2]) if irreducible else 0.0, cov=cov,
                       residual_std=float(np.sqrt(residuals @ residuals / dof)), dof=dof, irreducible=irreducible)


def bootstrap_power_law(compute, loss, irreducible: bool = False, n_boot: int = 500,
                        seed: int = 0) -> np.ndarray:
    """Residual bootstrap: refit ``n_boot`` times on (C, fitted · exp(resampled residual)); returns the
    parameters (n_boot, 3) as columns a, b, c (c = 0 when not fitted)."""
    if n_boot < 2:
        raise ValueError(f"n_boot must be at least 2, got {n_boot}")
    x, y = _check_points(compute, loss, irreducible)
    fit = fit_power_law(x, y, irreducible)
    log_fitted = np.log(fit.predict(x))
    residuals = np.log(y) - log_fitted
    residuals = residuals * np.sqrt(x.size / max(fit.dof, 1))        # inflate: fitted residuals are too small
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, 3))
    for i in range(n_boot):
        fake = np.exp(log_fitted + rng.choice(residuals, size=x.size, replace=True))
        try:
            f = fit_power_law(x, fake, irreducible)
            out[i] = (f.a, f.b, f.c)
        except RuntimeError:                                          # curve_fit gave up: drop this resample
            out[i] = np.nan
    return out[~np.isnan(out).any(axis=1)]


def extrapolate(compute, loss, at, irreducible: bool = False, level: float = 0.9, n_boot: int = 500,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Predict the loss at compute ``at`` with two intervals: the fit's (delta method) and a bootstrap's.

    Returns arrays over ``at``: ``prediction``, ``low``/``high`` (delta method, a new run) and
    ``boot_low``/``boot_high`` (bootstrap percentiles of the law), plus the ``fit`` itself.
    """
    at = np.atleast_1d(np.asarray(at, dtype=float))
    fit = fit_power_law(compute, loss, irreducible)
    low, high = fit.interval(at, level)
    boots = bootstrap_power_law(compute, loss, irreducible, n_boot, seed)
    preds = power_law(at[None, :], boots[:, :1], boots[:, 1:2], boots[:, 2:3])          # (n_boot, M)
    tail = 100 * (1 - level) / 2
    return {"at": at, "prediction": fit.predict(at), "low": low, "high": high,
            "boot_low": np.percentile(preds, tail, axis=0), "boot_high": np.percentile(preds, 100 - tail, axis=0),
            "fit": fit}
