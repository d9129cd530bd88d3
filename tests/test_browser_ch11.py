"""Chapter 11 as a learner sees it: JupyterLab in headless Chromium runs the chapter (FAST mode) and the
docstring box of the fine-tuned-classifier comparison is driven by typing.

Reuses the helpers of ``test_browser.py`` (server start and stop, settings, Chromium flags), pointed at this
chapter. Skipped without Chromium and playwright unless ``AIGC_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import json

import pytest
import test_browser as tb

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

CHAPTER = tb.ROOT / "chapters" / "11_pretrain_finetune.ipynb"


def _settings_without_windowing(write_settings):
    """tb._write_settings, plus JupyterLab's notebook windowing off: this chapter is long, and with windowing a
    cell scrolled out of view is taken out of the page, its widget with it."""
    def write(home, widgets_enabled):
        write_settings(home, widgets_enabled)
        folder = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    return write


def _type_into(page, box, text: str) -> None:
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text) if text else page.keyboard.press("Backspace")
    page.keyboard.press("Enter")                     # continuous_update=False: Enter sends the value


def _run_chapter_and_type(page, port: int, widget_timeout_ms: int) -> str:
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    page.goto(f"http://127.0.0.1:{port}/lab/tree/{CHAPTER.name}?token={tb.TOKEN}")
    expect(page.locator(".jp-StatusBar-Widget").filter(has_text="| Idle").first).to_be_visible()
    expect(page.locator(".jp-StatusBar-Widget").filter(has_text="No Kernel")).to_have_count(0)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    # Section 9 prints this after the widget cells: once it is there, the widget has been built.
    expect(page.get_by_text("torch.nn: False").first).to_be_visible(timeout=300_000)   # an output, not source
    widget = page.locator(".widget-interact").filter(has=page.locator("input[type=text]"))
    expect(widget).to_be_visible(timeout=widget_timeout_ms)        # the rendered view, not the text fallback
    widget.scroll_into_view_if_needed()
    output = widget.locator(".widget-output")
    expect(output).to_contain_text("full fine-tuning:", timeout=240_000)
    box = widget.locator("input[type=text]")
    _type_into(page, box, "")
    expect(output).to_contain_text("text is empty")                 # browser -> kernel -> browser
    _type_into(page, box, "Return the number of seconds since the epoch.")
    expect(output).to_contain_text("LoRA:")
    expect(output).not_to_contain_text("text is empty")
    expect(output.locator("img")).to_be_visible()                   # the bar charts, inside the widget
    return output.inner_text()


def _browser_run(tmp_path, monkeypatch, widgets_enabled: bool, name: str, widget_timeout_ms: int = 30_000) -> str:
    from playwright.sync_api import sync_playwright

    monkeypatch.setattr(tb, "CHAPTER", CHAPTER)                     # _start_lab copies tb.CHAPTER
    monkeypatch.setattr(tb, "_write_settings", _settings_without_windowing(tb._write_settings))
    chromium = tb._chromium()
    lab = tb._start_lab(tmp_path, widgets_enabled)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=tb.CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                text = _run_chapter_and_type(page, lab[1], widget_timeout_ms)
                tb.ARTIFACTS.mkdir(exist_ok=True)
                page.locator(".widget-interact").last.screenshot(path=str(tb.ARTIFACTS / f"{name}-widget.png"))
                return text
            except Exception:
                tb.ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(tb.ARTIFACTS / f"{name}-failure.png"), full_page=True)
                raise
            finally:
                browser.close()
    finally:
        survivors = tb._stop_lab(*lab)
        assert not survivors, f"kernel processes survived the server's shutdown: {survivors}"


def test_chapter_11_widget_in_jupyterlab(tmp_path, monkeypatch):
    text = _browser_run(tmp_path, monkeypatch, widgets_enabled=True, name="chapter11")
    assert "full fine-tuning:" in text and "LoRA:" in text and "text is empty" not in text


def test_chapter_11_negative_control_without_widget_frontend_fails(tmp_path, monkeypatch):
    """With the widget extension disabled the same test must not pass."""
    from playwright.sync_api import Error as PlaywrightError

    with pytest.raises((AssertionError, PlaywrightError, TimeoutError)):
        _browser_run(tmp_path, monkeypatch, widgets_enabled=False, name="ch11-negative-control",
                     widget_timeout_ms=8_000)
