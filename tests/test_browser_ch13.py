"""Chapter 13 in JupyterLab and headless Chromium: Run All, then play the chorale player like a learner.

Reuses the JupyterLab/Chromium helpers of ``tests/test_browser.py`` (same skip/require rules); only the
notebook and the widget checks differ.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import test_browser as lab  # tests/ is on sys.path: pytest puts a test file's folder there

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

CHAPTER13 = lab.ROOT / "chapters" / "13_music_and_video.ipynb"


def _drive_player(page, port: int) -> str:
    """Run all cells of chapter 13, move the temperature slider by keyboard; return the player's output."""
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    page.goto(f"http://127.0.0.1:{port}/lab/tree/{CHAPTER13.name}?token={lab.TOKEN}")
    expect(page.locator(".jp-StatusBar-Widget").filter(has_text="| Idle").first).to_be_visible()
    expect(page.locator(".jp-StatusBar-Widget").filter(has_text="No Kernel")).to_have_count(0)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    player = page.locator(".chorale-player")
    expect(player).to_be_visible(timeout=300_000)                 # the rendered view, not the text fallback
    output = player.locator(".widget-output")
    expect(output).to_contain_text("τ=1.00, top-p=0.95")
    expect(output.locator("audio")).to_have_count(1)
    slider = player.locator(".widget-slider").filter(has_text="temperature")
    slider.locator(".noUi-handle").focus()
    for _ in range(2):
        page.keyboard.press("ArrowRight")                         # 1.00 -> 1.10, a kernel round trip each
    expect(output).to_contain_text("τ=1.10, top-p=0.95")
    expect(output.locator("img")).to_be_visible()                 # the new piano roll, inside the widget
    expect(output.locator("audio")).to_have_count(1)              # and a new player for it
    return output.inner_text()


def test_chapter_13_chorale_player_in_jupyterlab(tmp_path: Path, monkeypatch):
    from playwright.sync_api import sync_playwright

    chromium = lab._chromium()
    monkeypatch.setattr(lab, "CHAPTER", CHAPTER13)                # _start_lab copies lab.CHAPTER
    server = lab._start_lab(tmp_path, widgets_enabled=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=lab.CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                text = _drive_player(page, server[1])
                lab.ARTIFACTS.mkdir(exist_ok=True)
                page.locator(".chorale-player").screenshot(path=str(lab.ARTIFACTS / "chapter13-player.png"))
            except Exception:
                lab.ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(lab.ARTIFACTS / "chapter13-failure.png"), full_page=True)
                raise
            finally:
                browser.close()
    finally:
        survivors = lab._stop_lab(*server)
    assert not survivors, f"kernel processes survived the server's shutdown: {survivors}"
    assert "τ=1.10" in text and "notes" in text
