"""Chapter 00's explorer: reshape a 2-D mixture (ring or grid of Gaussians) and see its samples and density.

:func:`describe_toy` is the pure function (tested on its own); :func:`toy_explorer` only wires sliders to it.
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from aigc_course.data import mode_coverage, toy_distribution
from aigc_course.viz import new_figure, plot_density_2d, plot_samples_2d


def _make(name: str, modes: int, scale: float, std: float):
    if name == "ring":
        return toy_distribution("ring", n_modes=modes, radius=scale, std=std)
    if name == "grid":
        return toy_distribution("grid", side=modes, spacing=scale, std=std)
    raise ValueError(f"the explorer shows 'ring' or 'grid', got {name!r}")


def describe_toy(name: str = "ring", modes: int = 8, scale: float = 2.0, std: float = 0.05,
                 n_samples: int = 500, seed: int = 0) -> tuple[Figure, str]:
    """Sample the mixture, draw samples beside the exact density, and summarise what was drawn."""
    dist = _make(name, modes, scale, std)
    samples = dist.sample(n_samples, generator=torch.Generator().manual_seed(seed))     # (n, 2)
    cover = mode_coverage(samples, dist)
    mean_log_p = dist.log_prob(samples).mean().item()
    lim = float(samples.abs().max()) * 1.1 + 3 * std
    fig = new_figure(8.4, 4.0)
    left, right = fig.subplots(1, 2)
    plot_samples_2d(samples, modes=dist.modes, lim=lim, title=f"{n_samples} samples", ax=left)
    plot_density_2d(dist.log_prob, lim=lim, title="exact density p(x)", ax=right)
    summary = (f"{name}: {len(dist.modes)} modes, scale {scale:.2f}, std {std:.3f} | "
               f"modes hit by samples: {cover['modes_covered']}/{cover['n_modes']} | "
               f"mean log p(x) of the samples: {mean_log_p:.2f} nats")
    return fig, summary


def toy_explorer(n_samples: int = 500):
    """Sliders for the mixture's shape; the figure and summary redraw on every change."""
    import ipywidgets as widgets
    from IPython.display import display

    def show(name: str, modes: int, scale: float, std: float) -> str:
        fig, summary = describe_toy(name, modes, scale, std, n_samples=n_samples)
        print(summary)
        display(fig)
        return summary

    return widgets.interactive(
        show,
        name=widgets.Dropdown(options=["ring", "grid"], value="ring", description="shape"),
        modes=widgets.IntSlider(value=8, min=1, max=12, description="modes"),
        scale=widgets.FloatSlider(value=2.0, min=0.5, max=4.0, step=0.1, description="scale"),
        std=widgets.FloatLogSlider(value=0.05, base=10, min=-2.5, max=0, step=0.1, description="std"),
    )
