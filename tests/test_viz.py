import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from aigc_course.train import History
from aigc_course.viz import ema, image_grid, plot_density_2d, plot_history, plot_samples_2d


def test_image_grid_places_every_image():
    images = torch.zeros(6, 1, 4, 4)
    images[5] = 1.0                                     # the last image is white, the rest black
    fig = image_grid(images, nrow=2, title="six")
    assert isinstance(fig, Figure)
    shown = fig.axes[0].images[0].get_array()           # (2*(4+1)+1, 3*(4+1)+1) with 1-pixel white padding
    assert shown.shape == (11, 16)
    assert shown[1:5, 1:5].max() == 0 and shown[6:10, 11:15].min() == 1   # first black, last (row 2, col 3) white
    assert fig.axes[0].get_title() == "six"


def test_image_grid_rescales_value_range_and_accepts_rgb():
    images = torch.full((2, 3, 5, 5), -1.0)
    fig = image_grid(images, value_range=(-1, 1))
    assert fig.axes[0].images[0].get_array()[1:6, 1:6].max() == 0


def test_image_grid_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) with C in \(1, 3\), got shape \(2, 2, 5, 5\)"):
        image_grid(torch.zeros(2, 2, 5, 5))


def test_plot_history_draws_train_and_eval_curves():
    h = History()
    for s in range(1, 11):
        h.record(s, {"loss": 1.0 / s})
    h.record(10, {"loss": 0.2}, evaluation=True)
    fig = plot_history(h)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert "loss (train)" in labels and "loss (eval)" in labels


def test_ema_is_bias_corrected_and_skips_nan():
    out = ema(np.array([2.0, np.nan, 2.0]), 0.9)
    assert out[0] == pytest.approx(2.0) and out[2] == pytest.approx(2.0)
    with pytest.raises(ValueError, match=r"smooth must be in \[0, 1\)"):
        ema(np.ones(3), 1.0)


def test_samples_and_density_plots():
    fig = plot_samples_2d(torch.randn(50, 2), reference=torch.randn(50, 2), modes=torch.zeros(1, 2), lim=3)
    assert len(fig.axes[0].collections) == 3 and fig.axes[0].get_xlim() == (-3, 3)
    fig = plot_density_2d(lambda x: -0.5 * (x ** 2).sum(1), lim=2, resolution=21)
    img = fig.axes[0].images[0].get_array()
    assert img.shape == (21, 21) and img[10, 10] == pytest.approx(1.0) and img[0, 0] < img[10, 10]


def test_figures_display_as_png_in_ipython():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    from aigc_course import viz

    viz._register_notebook_display.cache_clear()
    fig = viz.new_figure(2, 2)
    data, _ = shell.display_formatter.format(fig)
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"


def _font_sizes(fig):
    """Every text the figure draws (titles, labels, ticks, legends, annotations), in points."""
    from matplotlib.text import Text

    return [t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]


def test_every_viz_label_is_at_least_8_points():
    from aigc_course.viz import MIN_FONT_PT, plot_attention

    h = History()
    for s in range(1, 6):
        h.record(s, {"loss": 1.0 / s})
    weights = torch.softmax(torch.randn(90, 90), dim=-1)
    figures = [image_grid(torch.rand(8, 1, 8, 8), labels=list("01234567"), title="t"), plot_history(h),
               plot_samples_2d(torch.randn(20, 2), reference=torch.randn(20, 2), modes=torch.zeros(1, 2)),
               plot_attention(weights, list("abcdefghij" * 9), title="long"),
               plot_attention(weights[:5, :5] / weights[:5, :5].sum(1, keepdim=True), list("abcde"))]
    sizes = [size for fig in figures for size in _font_sizes(fig)]
    assert MIN_FONT_PT == 8 and sizes and min(sizes) >= 8, sorted(sizes)[:5]
    long_map = figures[3].axes[0]
    assert 0 < len(long_map.get_xticks()) <= 40          # 90 tokens: every 3rd labelled, so 8 pt labels fit
