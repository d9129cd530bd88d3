"""tools/verify.py (`make verify`) on small fake notebooks: claims tabulated, a failing claim or cell fails."""

import asyncio
import importlib.util
import os
import sys
import time
from pathlib import Path
from queue import Empty

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("verify", ROOT / "tools" / "verify.py")
verify = importlib.util.module_from_spec(spec)
sys.modules["verify"] = verify
spec.loader.exec_module(verify)


def fake_notebook(path: Path, *cells: str) -> Path:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(notebook, path)
    return path


@pytest.fixture
def clean_env(monkeypatch):
    for key in ("AIGC_FAST", "AIGC_MODE", "AIGC_CLAIMS_FILE"):
        monkeypatch.delenv(key, raising=False)


def test_claims_are_tabulated_and_a_failing_claim_fails_the_run(tmp_path, clean_env, capsys):
    good = fake_notebook(tmp_path / "01_good.ipynb",
                         "from aigc_course.claims import claim\nfrom aigc_course.config import run_mode",
                         "assert run_mode() == 'full'",
                         "claim('accuracy', 0.98, stated=0.986, low=0.97)")
    bad = fake_notebook(tmp_path / "02_bad.ipynb",
                        "from aigc_course.claims import claim",
                        "claim('loss', 2.5, stated=1.2, high=1.5)",
                        "claim('after the failure', 1.0, stated=1.0, low=0.5)")
    out = tmp_path / "report.md"
    status = verify.main([str(good), str(bad), "--out", str(out)])
    text = out.read_text()
    assert status == 1
    assert "| 01_good | accuracy | 0.986 | ≥ 0.97 | 0.98 | yes |" in text
    assert "| 02_bad | loss | 1.2 | ≤ 1.5 | 2.5 | **NO** |" in text
    assert "| 02_bad | after the failure |" in text          # a failing cell does not stop the notebook
    assert "Load average" in text and "minutes" in text and "CPU-min of the kernels" in text
    assert "| slowest cells |" in text and " s)" in text          # per-cell seconds, from nbclient's timing
    assert "ClaimFailed" in text                                # the failing cell is named
    assert "02_bad | loss" in capsys.readouterr().out            # the table is printed too


def test_workshop_mode_and_a_crashing_cell(tmp_path, clean_env):
    notebook = fake_notebook(tmp_path / "03_ws.ipynb",
                             "from aigc_course.claims import claim\nfrom aigc_course.config import budget",
                             "steps = budget(full=5000, fast=40, workshop=800)\nassert steps == 800",
                             "claim('accuracy', 0.93, stated=0.986, low=0.97, workshop=(0.9, None))")
    out = tmp_path / "report.md"
    assert verify.main([str(notebook), "--mode", "workshop", "--out", str(out)]) == 0
    assert "| 03_ws | accuracy | 0.986 | ≥ 0.9 | 0.93 | yes |" in out.read_text()

    broken = fake_notebook(tmp_path / "04_broken.ipynb", "1 / 0")
    assert verify.main([str(broken), "--out", str(out)]) == 1
    assert "ZeroDivisionError" in out.read_text()


def test_bad_arguments_are_named(tmp_path, clean_env):
    with pytest.raises(SystemExit):
        verify.main([str(tmp_path / "missing.ipynb")])
    with pytest.raises(ValueError, match="mode must be one of"):
        verify.run_notebook(tmp_path / "x.ipynb", "fast")


def test_a_hung_cell_is_named_and_the_next_notebook_still_runs(tmp_path, clean_env):
    hung = fake_notebook(tmp_path / "05_hung.ipynb", "import time", "time.sleep(60)  # never ends in time",
                         "print('not reached')")
    after = fake_notebook(tmp_path / "06_after.ipynb", "from aigc_course.claims import claim",
                          "claim('x', 1.0, stated=1.0, low=0.5)")
    out = tmp_path / "report.md"
    assert verify.main([str(hung), str(after), "--mode", "workshop", "--timeout", "2", "--out", str(out)]) == 1
    text = out.read_text()
    assert "CellTimeoutError" in text and "| 06_after | x |" in text
    assert "retried after: CellTimeoutError" in text            # run twice: a one-off hang would pass the 2nd time
    assert verify.CELL_TIMEOUT_S == {"full": 3000, "workshop": 600}


def test_two_at_a_time_keeps_the_order_and_each_kernel_gets_its_share_of_threads(tmp_path, clean_env):
    threads = max(1, (os.cpu_count() or 1) // 2)
    cells = ("import os\nfrom aigc_course.claims import claim",
             f"claim('threads', float(os.environ['OMP_NUM_THREADS']), stated={threads}, low={threads}, high={threads})")
    first = fake_notebook(tmp_path / "07_first.ipynb", *cells, "claim('only in first', 1.0, stated=1.0, low=0.5)")
    second = fake_notebook(tmp_path / "08_second.ipynb", *cells)
    out = tmp_path / "report.md"
    out.write_text("| x/08_second.ipynb | 9.0 | 0 |  | ok |\n")        # a previous report: 08 is the longer one
    assert verify.main([str(first), str(second), "--jobs", "2", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.index("| 07_first | threads") < text.index("| 08_second | threads")   # the order given
    assert "| 08_second | only in first" not in text                  # each kernel has its own claims file
    assert "2 notebook(s) at a time" in text and "min of wall time" in text
    assert set(verify.previous_minutes(out)) == {f"{tmp_path.name}/07_first.ipynb", f"{tmp_path.name}/08_second.ipynb"}
    with pytest.raises(SystemExit):
        verify.main([str(first), "--jobs", "0"])


class MissesWakeUps:
    """A channel whose wait, like a missed edge-triggered wake-up, only looks for a message when it times out."""

    def __init__(self, ready_after: float):
        self.ready_at = time.monotonic() + ready_after

    async def get_msg(self, timeout=None):
        await asyncio.sleep(timeout)
        if time.monotonic() >= self.ready_at:
            return {"msg": "reply"}
        raise Empty


def test_polling_in_slices_bounds_a_missed_wake_up():
    def timed(channel, timeout):
        start = time.monotonic()
        try:
            result = asyncio.run(channel.get_msg(timeout=timeout))
        except Empty:
            result = "empty"
        return result, time.monotonic() - start

    plain = MissesWakeUps(ready_after=0.1)
    assert timed(plain, 2.0) == ({"msg": "reply"}, pytest.approx(2.0, abs=0.3))      # the reply waited 2 s
    sliced = MissesWakeUps(ready_after=0.1)
    verify.poll_in_slices(sliced, slice_s=0.05)
    result, seconds = timed(sliced, 2.0)
    assert result == {"msg": "reply"} and seconds < 0.5                               # found within a slice
    never = MissesWakeUps(ready_after=60)
    verify.poll_in_slices(never, slice_s=0.05)
    assert timed(never, 0.3) == ("empty", pytest.approx(0.3, abs=0.15))               # the timeout still holds


def test_the_kernels_cpu_time_is_measured(tmp_path, clean_env):
    busy = fake_notebook(tmp_path / "09_busy.ipynb", "import time\nt = time.process_time()\n"
                         "while time.process_time() - t < 1.0:\n    pass")
    run = verify.run_notebook(busy, "workshop")
    assert run.ok and 1.0 <= run.cpu_seconds < run.seconds + 1.0
