"""Chapter 10's denoising scrubber in a real JupyterLab + headless Chromium: it renders, and the step slider
(keyboard) and the guidance readout (typing) each change what the kernel draws into the widget's own output.

Reuses the launch and shutdown helpers of ``tests/test_browser.py``. The notebook is a small one written for
the test (a tiny untrained U-Net), so that the test drives the widget, not chapter 10's training.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import test_browser as tb  # noqa: E402  (tests/ is on sys.path: pytest prepends it)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

CELL = """\
import torch
from aigc_course.models.diffusion import cosine_schedule
from aigc_course.models.unet import UNet, UNetConfig
from aigc_course.widgets.denoise_scrubber import DenoiseScrubber

torch.manual_seed(0)
net = UNet(UNetConfig.tiny(num_classes=10)).eval()
torch.nn.init.normal_(net.out[-1].weight, std=0.05)
scrubber = DenoiseScrubber(net, cosine_schedule(40), (1, 8, 8), steps=4, num_classes=10)
print("scrubber ready")
scrubber.widget"""


def _notebook(folder: Path) -> Path:
    path = folder / "10_scrubber.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _drive(page, port: int, name: str, widget_timeout_ms: int) -> str:
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    page.goto(f"http://127.0.0.1:{port}/lab/tree/{name}?token={tb.TOKEN}")
    expect(page.locator(".jp-StatusBar-Widget").filter(has_text="| Idle").first).to_be_visible()
    expect(page.locator(".jp-StatusBar-Widget").filter(has_text="No Kernel")).to_have_count(0)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    expect(page.get_by_text("scrubber ready").first).to_be_visible(timeout=120_000)
    widget = page.locator(".widget-vbox").filter(has=page.locator(".widget-output")).first
    expect(widget).to_be_visible(timeout=widget_timeout_ms)       # the rendered view, not the text fallback
    output = widget.locator(".widget-output")
    expect(output).to_contain_text("t = 40 (seed 0, label 0, w = 1)")
    step = widget.locator(".widget-slider").filter(has_text="step")
    step.locator(".noUi-handle").focus()
    for _ in range(4):
        page.keyboard.press("ArrowRight")                         # T -> 0, one kernel round trip per key
    expect(output).to_contain_text("t = 0 (seed 0, label 0, w = 1)")
    readout = widget.locator(".widget-slider").filter(has_text="guidance").locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    expect(output).to_contain_text("t = 0 (seed 0, label 0, w = 3)")
    expect(output.locator("img")).to_be_visible()
    return output.inner_text()


def _run(tmp_path: Path, monkeypatch, widgets_enabled: bool, widget_timeout_ms: int = 30_000) -> str:
    from playwright.sync_api import sync_playwright

    chromium = tb._chromium()
    source = tmp_path / "source"
    source.mkdir()
    monkeypatch.setattr(tb, "CHAPTER", _notebook(source))        # _start_lab copies tb.CHAPTER
    lab = tb._start_lab(tmp_path, widgets_enabled)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=tb.CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                return _drive(page, lab[1], tb.CHAPTER.name, widget_timeout_ms)
            except Exception:
                tb.ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(tb.ARTIFACTS / f"ch10-{'ok' if widgets_enabled else 'neg'}-failure.png"),
                                full_page=True)
                raise
            finally:
                browser.close()
    finally:
        survivors = tb._stop_lab(*lab)
        assert not survivors, f"kernel processes survived the server's shutdown: {survivors}"


def test_denoise_scrubber_in_jupyterlab(tmp_path, monkeypatch):
    text = _run(tmp_path, monkeypatch, widgets_enabled=True)
    assert "w = 3" in text


def test_negative_control_without_widget_frontend_fails(tmp_path, monkeypatch):
    from playwright.sync_api import Error as PlaywrightError

    with pytest.raises((AssertionError, PlaywrightError, TimeoutError)):
        _run(tmp_path, monkeypatch, widgets_enabled=False, widget_timeout_ms=8_000)
