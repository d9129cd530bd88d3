"""What a learner sees: JupyterLab in a real (headless) Chromium runs every chapter that has a widget and
drives every control of every widget, checking that each one changes what the widget shows.

One JupyterLab server serves all chapters (started once per test session); each chapter is opened, run top
to bottom (FAST mode), its widgets are found in their cells, and every control is moved the way a person
does it — keyboard on a slider handle, a new choice in a dropdown, typing into a text box and pressing
Enter, clicking a button — and each change must come back from the kernel as a different widget output
(a browser → kernel → browser round trip). A negative control with the widget front-end disabled must fail.

To add a chapter: add its notebook's stem and one :class:`Widget` per displayed widget to ``CHAPTERS``.
``test_every_displayed_widget_is_listed`` fails when a chapter displays a widget that is not listed.

Needs Debian's ``chromium`` and the ``playwright`` Python package (no browser download: we launch the system
Chromium). Without them the test is skipped with a message, unless ``AIGC_REQUIRE_BROWSER=1`` (set by CI),
which turns a missing browser into a failure. Screenshots of failures go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
TOKEN = "aigc-browser-test"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]
RUN_TIMEOUT_S = 480          # one chapter, FAST mode, run top to bottom on a busy 2-core machine
CHANGE_TIMEOUT_S = 90        # one control change: browser -> kernel -> browser


@dataclass(frozen=True)
class Widget:
    """A widget a chapter displays: found in the code cell whose source contains ``cell``; it must show at
    least ``controls`` controls, and every one of them is driven."""

    cell: str
    controls: int


CHAPTERS: dict[str, list[Widget]] = {
    "00_setup_and_tour": [Widget("toy_explorer()", 4)],
    "02_gan_math": [Widget("trainer.widget", 6)],
    "03_gan_images": [Widget("walk.widget", 5)],
    "05_vae_images": [Widget("explorer.widget", 8), Widget("interpolator.widget", 4)],
    "06_attention": [Widget("viewer.widget", 3)],
    "08_text_generation": [Widget("playground.widget", 6)],
    "09_evaluation_and_cost": [Widget("calculator = widgets.interactive(", 4)],
    "10_diffusion_and_flow": [Widget("scrubber.widget", 3)],
    "11_pretrain_finetune": [Widget("explorer = finetune_compare(", 1)],
    "12_text_and_images": [Widget("explorer.widget", 3)],
    "13_music_and_video": [Widget("player.widget", 2)],
}

# What a widget shows, minus its own controls (a slider's readout changes with the slider itself; that proves
# nothing about the kernel): the HTML of its output areas and labels, images included.
SIGNATURE_JS = """root => {
  const copy = root.cloneNode(true);
  copy.querySelectorAll('.widget-slider, .widget-dropdown, .widget-text, .widget-toggle-buttons, button,'
                        + ' .widget-readout, .widget-inline-hbox > label').forEach(e => e.remove());
  return copy.innerHTML;
}"""
# ----------------------------------------------------------------------------------------------- the server


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    if path is None:
        problem = "Debian's chromium is not installed (sudo apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is missing (pip install playwright; no browser download needed)"
    if problem:
        if os.environ.get("AIGC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required (AIGC_REQUIRE_BROWSER=1) but {problem}")
        pytest.skip(f"browser test skipped: {problem}; install it to see the course as a learner does")
    return path


def _write_settings(home: Path, widgets_enabled: bool) -> None:
    user = home / "config" / "lab" / "user-settings" / "@jupyterlab"
    (user / "apputils-extension").mkdir(parents=True)
    (user / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    (user / "notebook-extension").mkdir(parents=True)            # render every cell, not only the visible ones
    (user / "notebook-extension" / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    if not widgets_enabled:   # the negative control: JupyterLab without the widget front-end
        labconfig = home / "config" / "labconfig"
        labconfig.mkdir(parents=True)
        (labconfig / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {"@jupyter-widgets/jupyterlab-manager": True}}))


def _kernel_pids(runtime: Path) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "ipykernel" in line and str(runtime) in line]


def _api(port: int, path: str, method: str = "GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}?token={TOKEN}", method=method)
    with urllib.request.urlopen(req, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def _wait_for_server(runtime: Path, proc: subprocess.Popen, deadline: float) -> int:
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early with code {proc.returncode}")
        for info in runtime.glob("jpserver-*.json"):
            try:                        # the server creates the file, then writes it: under load we can read it between
                port = json.loads(info.read_text())["port"]
            except (json.JSONDecodeError, KeyError):
                continue
            try:
                _api(port, "/api/status")
                return port
            except OSError:
                pass
        time.sleep(0.3)
    raise TimeoutError("JupyterLab did not answer /api/status within 90 s")


class Lab:
    """A private JupyterLab server over copies of the chapters, and a page of the shared Chromium on it."""

    def __init__(self, tmp: Path, widgets_enabled: bool, browser):
        home = tmp / "jupyter"
        _write_settings(home, widgets_enabled)
        self.runtime = home / "runtime"
        self.runtime.mkdir()
        course = tmp / "course"
        course.mkdir()
        for notebook in (ROOT / "chapters").glob("*.ipynb"):   # copies: autosave must never touch the repository
            shutil.copy(notebook, course / notebook.name)
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
               "JUPYTER_RUNTIME_DIR": str(self.runtime), "IPYTHONDIR": str(home / "ipython"), "AIGC_FAST": "1"}
        env.pop("MPLBACKEND", None)
        env.pop("AIGC_MODE", None)
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", "--port=0",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={course}",
               "--LabApp.news_url=None", "--allow-root"]
        self.log = open(tmp / "lab.log", "w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.port = _wait_for_server(self.runtime, self.proc, time.time() + 90)
            self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        except BaseException:
            self.page = None
            self.close()
            raise

    def shutdown_kernels(self) -> None:
        for session in _api(self.port, "/api/sessions") or []:
            _api(self.port, f"/api/sessions/{session['id']}", method="DELETE")

    def close(self) -> list[int]:
        try:
            if self.page is not None:
                self.page.close()
        finally:
            try:
                _api(self.port, "/api/shutdown", method="POST")
                self.proc.wait(timeout=30)
            except Exception:
                os.killpg(self.proc.pid, signal.SIGKILL)
            finally:
                self.log.close()
        time.sleep(0.5)
        survivors = _kernel_pids(self.runtime)
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)
        return survivors


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the whole module (Playwright's sync API allows one instance at a time)."""
    path = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, chromium):
    started = time.time()
    server = Lab(tmp_path_factory.mktemp("lab"), widgets_enabled=True, browser=chromium)
    yield server
    survivors = server.close()
    print(f"\nbrowser test: one JupyterLab server for {len(CHAPTERS)} chapters, {time.time() - started:.0f} s")
    assert not survivors, f"kernel processes survived the server's shutdown: {survivors}"


# --------------------------------------------------------------------------------------------- the learner


def open_and_run(page, port: int, notebook: str) -> None:
    """Open a chapter (a fresh workspace), wait for its kernel, Run All, wait until every code cell ran."""
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    page.goto(f"http://127.0.0.1:{port}/lab/tree/{notebook}.ipynb?reset&token={TOKEN}")
    expect(page.locator(".jp-StatusBar-Widget").filter(has_text="| Idle").first).to_be_visible()
    expect(page.locator(".jp-StatusBar-Widget").filter(has_text="No Kernel")).to_have_count(0)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
    deadline = time.time() + RUN_TIMEOUT_S
    while time.time() < deadline:
        texts = prompts.all_inner_texts()
        if texts and all(re.fullmatch(r"\[\d+\]:", t.strip()) for t in texts):
            return
        time.sleep(1)
    unrun = [i for i, t in enumerate(prompts.all_inner_texts()) if not re.fullmatch(r"\[\d+\]:", t.strip())]
    raise AssertionError(f"{notebook}: code cells {unrun[:10]} did not run within {RUN_TIMEOUT_S} s "
                         f"(an error stops Run All)")


def widget_root(page, spec: Widget):
    """The rendered view of the widget in the cell that displays it (never its text fallback)."""
    from playwright.sync_api import expect

    cell = page.locator(".jp-CodeCell").filter(has=page.locator(".jp-InputArea", has_text=spec.cell))
    expect(cell).to_have_count(1)
    root = cell.locator(".jp-OutputArea-output .jupyter-widgets").first
    expect(root).to_be_visible(timeout=20_000)
    return root


def _controls(root) -> list:
    found = []
    for selector in (".widget-slider", ".widget-dropdown", ".widget-text", ".widget-toggle-buttons",
                     "button.widget-button"):
        found += [(selector, c) for c in root.locator(selector).all()]
    # in the order a person sees them
    return sorted(found, key=lambda item: (item[1].bounding_box()["y"] // 20, item[1].bounding_box()["x"]))


def _type(page, box, text: str) -> None:
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def _act(page, kind: str, control):
    """Change one control as a person would; return what was done and how to put it back.

    Each control is tested from the widget's starting state (the change is undone afterwards), so that one
    control cannot make another irrelevant (top-k = 1 makes the seed of the sampler meaningless).
    """
    if kind == ".widget-slider":
        handle = control.locator(".noUi-handle").first
        now, top = (float(handle.get_attribute(a)) for a in ("aria-valuenow", "aria-valuemax"))
        key, back = ("ArrowLeft", "ArrowRight") if now >= top else ("ArrowRight", "ArrowLeft")
        handle.focus()
        page.keyboard.press(key)
        return f"slider {key}", lambda: (handle.focus(), page.keyboard.press(back))
    if kind == ".widget-dropdown":
        select = control.locator("select")
        options = select.locator("option").all()
        current = select.input_value()
        choice = next(i for i, o in enumerate(options) if o.get_attribute("value") != current)
        select.select_option(index=choice)
        return f"dropdown -> option {choice}", lambda: select.select_option(value=current)
    if kind == ".widget-text":
        box = control.locator("input")
        value = box.input_value()
        new = str(int(value) + 1) if re.fullmatch(r"-?\d+", value) else value + "a"
        top = box.get_attribute("max")
        if top is not None and new.lstrip("-").isdigit() and int(new) > int(top):
            new = str(int(value) - 1)
        _type(page, box, new)
        return f"typed {new!r}", lambda: _type(page, box, value)
    if kind == ".widget-toggle-buttons":
        active = control.locator("button.mod-active").first
        control.locator("button:not(.mod-active)").first.click()
        return "toggle", active.click
    control.click()
    return "click", None


def settle(page, root, quiet_s: float = 1.0) -> str:
    """Wait until the kernel is idle and the widget has stopped changing; return what it shows.

    Without this a change still arriving from the previous control (a button that trains in chunks redraws
    several times) would be taken for the effect of the next one."""
    deadline = time.time() + CHANGE_TIMEOUT_S
    idle = page.locator(".jp-StatusBar-Widget").filter(has_text="| Idle")
    last, since = root.evaluate(SIGNATURE_JS), time.time()
    while time.time() < deadline:
        time.sleep(0.25)
        now = root.evaluate(SIGNATURE_JS)
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet_s and idle.count() > 0:
            return now
    raise AssertionError(f"the widget kept changing (or the kernel stayed busy) for {CHANGE_TIMEOUT_S} s")


def drive_every_control(page, notebook: str, index: int, spec: Widget) -> int:
    root = widget_root(page, spec)
    controls = _controls(root)
    assert len(controls) >= spec.controls, (f"{notebook} widget {index}: {len(controls)} controls rendered, "
                                            f"expected at least {spec.controls}")
    for kind, control in controls:
        control.scroll_into_view_if_needed()
        before = settle(page, root)
        action, undo = _act(page, kind, control)
        deadline = time.time() + CHANGE_TIMEOUT_S
        while root.evaluate(SIGNATURE_JS) == before:
            if time.time() > deadline:
                raise AssertionError(f"{notebook} widget {index}: {kind} ({action}) did not change the widget's "
                                     f"output within {CHANGE_TIMEOUT_S} s")
            time.sleep(0.25)
        settle(page, root)
        after = root.inner_text()
        assert "Traceback" not in after and "Error" not in after.split("\n")[0], \
            f"{notebook} widget {index}: {kind} ({action}) produced an error:\n{after[:500]}"
        if undo is not None:
            undo()
    return len(controls)


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("notebook", list(CHAPTERS))
def test_every_widget_control_changes_its_output(lab, notebook):
    page = lab.page
    try:
        open_and_run(page, lab.port, notebook)
        driven = [drive_every_control(page, notebook, i, spec) for i, spec in enumerate(CHAPTERS[notebook])]
        if notebook == "00_setup_and_tour":
            typed_into_readout(page, widget_root(page, CHAPTERS[notebook][0]))
        widget_root(page, CHAPTERS[notebook][-1]).screenshot(path=str(_artifact(f"{notebook}-widget.png")))
    except Exception:
        _screenshot(page, f"{notebook}-failure")
        raise
    finally:
        lab.shutdown_kernels()
    assert all(driven)


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def typed_into_readout(page, root) -> None:
    """Chapter 00 also checks the figures themselves: typing 11 into the modes readout redraws 11 modes."""
    from playwright.sync_api import expect

    output = root.locator(".widget-output")
    root.locator(".widget-dropdown select").select_option(label="ring")     # back to the ring after the drive
    expect(output).to_contain_text("ring:")
    slider = root.locator(".widget-slider").filter(has_text="modes")
    slider.locator(".widget-readout").click()
    page.keyboard.press("Control+A")
    page.keyboard.type("11")
    page.keyboard.press("Enter")
    expect(output).to_contain_text("ring: 11 modes")
    expect(output).to_contain_text("11/11")
    expect(output.locator("img")).to_be_visible()     # the redrawn figure, inside the widget's output


# ------------------------------------------------------------------------------ the list, and the control


DISPLAYS = re.compile(r"^(\w+)\.widget\s*$|^(\w+)\s*=\s*(?:widgets\.)?interactive\(|^toy_explorer\(\)\s*$"
                      r"|^(\w+)\s*=\s*finetune_compare\(", re.M)


def test_every_displayed_widget_is_listed():
    """A chapter that displays a widget (``x.widget`` ending a cell, ``interactive(...)``, the chapter-00
    explorer) must be in CHAPTERS with one entry per widget, so the browser test drives it."""
    for py in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py")):
        shown = len(DISPLAYS.findall(py.read_text(encoding="utf-8")))
        listed = len(CHAPTERS.get(py.stem, []))
        assert shown == listed, f"{py.name} displays {shown} widget(s); the browser test lists {listed}"


def test_negative_control_without_widget_frontend_fails(tmp_path, chromium):
    """Chapter 00 with the widget extension disabled must not pass: the check looks at the rendered widget."""
    from playwright.sync_api import Error as PlaywrightError

    server = Lab(tmp_path, widgets_enabled=False, browser=chromium)
    try:
        with pytest.raises((AssertionError, PlaywrightError, TimeoutError)):
            open_and_run(server.page, server.port, "00_setup_and_tour")
            drive_every_control(server.page, "00_setup_and_tour", 0, CHAPTERS["00_setup_and_tour"][0])
    finally:
        survivors = server.close()
    assert not survivors, f"kernel processes survived the server's shutdown: {survivors}"
