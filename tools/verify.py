"""`make verify`: run every chapter and solution notebook in full (or workshop) mode and tabulate its claims.

Each notebook is executed top to bottom with nbclient in a fresh kernel, with ``AIGC_MODE`` set (``AIGC_FAST``
removed) and ``AIGC_CLAIMS_FILE`` pointing at a file of its own, so that every
:func:`aigc_course.claims.claim` the notebook makes is recorded: measured against stated, with its band.
Errors do not stop a notebook (later claims are still measured); they are reported instead.

The result is one Markdown table — chapter, claim, stated, band, measured, holds — followed by the minutes
each notebook took (with its three slowest cells) and the load average, printed and written to
``verify-report.md``. The exit status is 1 when any claim fails or any cell raises, else 0.

    python tools/verify.py                       # full mode, chapters/ and solutions/
    python tools/verify.py --mode workshop chapters/03_gan_images.ipynb
    python tools/verify.py --jobs 2              # two notebooks at a time, one thread each (a 2-core machine)

With ``--jobs N`` the notebooks run N at a time, each kernel with ``OMP_NUM_THREADS = cores // N``, longest first
by the minutes of the previous report (so the longest chapter does not start last); the table keeps the order given.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ("full", "workshop")
CELL_TIMEOUT_S = {"full": 3000, "workshop": 600}   # a workshop chapter takes <= 3 min: a 10-min cell has hung
POLL_SLICE_S = 0.5                                 # the longest a reply can sit unread (see poll_in_slices)


@dataclass
class NotebookRun:
    path: Path
    seconds: float = 0.0
    cpu_seconds: float = 0.0                            # the kernel's user + system time (load-independent)
    claims: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)     # "cell N: ExcType: message"
    slowest: list[tuple[float, int]] = field(default_factory=list)   # (seconds, cell index), slowest first
    retried: str = ""                                   # why the notebook was run a second time, if it was

    @property
    def ok(self) -> bool:
        return not self.errors and all(c["holds"] is not False for c in self.claims)


def cell_errors(notebook) -> list[str]:
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"cell {index}: {output.get('ename')}: {str(output.get('evalue'))[:200]}")
    return found


def _cell_seconds(notebook, top: int = 3) -> list[tuple[float, int]]:
    """The ``top`` slowest code cells as (seconds, index), from the timing nbclient records in each cell."""
    from datetime import datetime

    found = []
    for index, cell in enumerate(notebook.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            begin, end = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            found.append(((end - begin).total_seconds(), index))
    return sorted(found, reverse=True)[:top]


def poll_in_slices(channel, slice_s: float = POLL_SLICE_S) -> None:
    """Make ``channel.get_msg(timeout=T)`` wait in slices of ``slice_s`` seconds instead of one wait of T.

    nbclient waits for a cell's reply with one ``get_msg(timeout=<cell timeout>)``, an asyncio poll of the zmq
    socket. That poll is woken by the socket's edge-triggered file descriptor; now and then (after ipywidgets
    cells, here) the wake-up is missed, the reply sits unread, and the wait ends only at its timeout, when the
    socket is polled once more: 599 s lost in a 139-s workshop run of chapter 12. Polling in short slices bounds
    that loss by ``slice_s`` and changes nothing else: a message is returned as soon as a slice sees it, and
    ``queue.Empty`` is raised when the whole timeout has passed, as before.
    """
    from queue import Empty

    wait_once = channel.get_msg

    async def get_msg(timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await wait_once(timeout=slice_s if left is None else min(slice_s, left))
            except Empty:
                if left is not None and left <= slice_s:
                    raise

    channel.get_msg = get_msg


def client_class():
    from nbclient import NotebookClient

    class SlicedPollClient(NotebookClient):
        """nbclient's client with both reply channels polled in slices (:func:`poll_in_slices`)."""

        async def async_start_new_kernel_client(self):
            client = await super().async_start_new_kernel_client()
            poll_in_slices(client.shell_channel)
            poll_in_slices(client.iopub_channel)
            return client

    return SlicedPollClient


def _children_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def kernel_env(mode: str, claims_file: Path | None = None, threads: int | None = None) -> dict[str, str]:
    """The kernel's environment: ours with ``AIGC_MODE`` set (and ``AIGC_FAST=1`` only in mode ``fast``), the
    claims file, the threads.

    ``MPLBACKEND`` is removed: the inline backend draws figures only when it is unset, and the kept notebooks
    are the published book's pages (``make book FROM=``; ``tools/book.py`` uses this environment too).
    """
    env = {k: v for k, v in os.environ.items() if k not in ("AIGC_FAST", "MPLBACKEND")}
    env["AIGC_MODE"] = mode
    if mode == "fast":
        env["AIGC_FAST"] = "1"
    if claims_file is not None:
        env["AIGC_CLAIMS_FILE"] = str(claims_file)
    if threads is not None:
        env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
    return env


def run_notebook(path: Path, mode: str, timeout: int | None = None, keep: Path | None = None,
                 threads: int | None = None) -> NotebookRun:
    """Execute one notebook in ``mode``; return its claims, errors and wall time.

    ``timeout`` bounds each cell (default ``CELL_TIMEOUT_S[mode]``): a cell that hangs is reported as a
    CellTimeoutError naming it, and the run goes on with the next notebook instead of holding the machine.
    ``threads`` sets the kernel's ``OMP_NUM_THREADS`` (default: inherited).
    """
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    run = NotebookRun(Path(path))
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        claims_file = Path(tmp) / "claims.jsonl"
        client = client_class()(notebook, timeout=timeout or CELL_TIMEOUT_S[mode], kernel_name="python3",
                                 allow_errors=True, store_widget_state=True,   # kept copies feed `make book FROM=`
                                 resources={"metadata": {"path": str(Path(path).parent)}})
        start, children = time.perf_counter(), _children_cpu_seconds()
        try:
            client.execute(env=kernel_env(mode, claims_file, threads))
        except (CellTimeoutError, DeadKernelError) as err:
            run.errors.append(f"{type(err).__name__}: {str(err).splitlines()[0][:200]}")
        except AssertionError as err:       # nbclient's clean-up after a dead kernel asserts it still has one
            if not isinstance(err.__context__, DeadKernelError):
                raise
            run.errors.append(f"DeadKernelError: {str(err.__context__).splitlines()[0][:200]}")
        finally:
            run.seconds = time.perf_counter() - start
            run.cpu_seconds = _children_cpu_seconds() - children      # the kernel has exited and been reaped
        if claims_file.exists():
            run.claims = [json.loads(line) for line in claims_file.read_text(encoding="utf-8").splitlines()]
    run.errors += cell_errors(notebook)
    run.slowest = _cell_seconds(notebook)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, keep / Path(path).name)
    return run


def run_with_retry(path: Path, mode: str, timeout: int | None = None, keep: Path | None = None,
                   threads: int | None = None) -> NotebookRun:
    """:func:`run_notebook`, run once more from a fresh kernel when a cell timed out.

    nbclient can deadlock, now and then, on the cell after an ipywidgets one (the kernel idles and the next
    cell never starts: jupyter/nbclient#312, jupyter/nbconvert#2029, both open). The timeout turns the hang into
    a CellTimeoutError; a second run, whose time is reported, tells a one-off hang from a cell that is too slow.
    """
    first = run_notebook(path, mode, timeout, keep, threads)
    if not any(error.startswith("CellTimeoutError") for error in first.errors):
        return first
    print(f"   {first.errors[0][:160]}; running it once more", flush=True)
    second = run_notebook(path, mode, timeout, keep, threads)
    second.retried = f"retried after: {first.errors[0][:120]}"
    return second


def _band(entry: dict, mode: str) -> str:
    from aigc_course.claims import band_text

    low, high = (entry["low"], entry["high"]) if mode == "full" else tuple(entry["workshop"] or (None, None))
    return band_text(low, high)


def report(runs: list[NotebookRun], mode: str, load_before: tuple, load_after: tuple, wall_minutes: float | None = None,
           jobs: int = 1) -> str:
    """The Markdown report: the claims table, then minutes per notebook and the load average."""
    from aigc_course.claims import stated_text

    holds_text = {True: "yes", False: "**NO**", None: "—"}
    lines = [f"# verify: every claim, {mode} mode", "",
             "| chapter | claim | stated | band | measured | holds |", "|---|---|---|---|---|---|"]
    for run in runs:
        for c in run.claims:
            unit = c.get("unit", "")
            lines.append(f"| {run.path.stem} | {c['name']} | {stated_text(c['stated'], unit)} | {_band(c, mode)} | "
                         f"{c['measured']:.4g}{unit} | {holds_text[c['holds']]} |")
    lines += ["", "| notebook | minutes | CPU minutes | claims | slowest cells | result |", "|---|---|---|---|---|---|"]
    for run in runs:
        failed = sum(c["holds"] is False for c in run.claims)
        result = "ok" if run.ok else "; ".join(run.errors[:3] + ([f"{failed} claim(s) fail"] if failed else []))
        result += f" ({run.retried})" if run.retried else ""
        slowest = ", ".join(f"{index} ({seconds:.0f} s)" for seconds, index in run.slowest)
        lines.append(f"| {run.path.parent.name}/{run.path.name} | {run.seconds / 60:.1f} | "
                     f"{run.cpu_seconds / 60:.1f} | {len(run.claims)} | {slowest} | {result} |")
    total, cpu = sum(r.seconds for r in runs) / 60, sum(r.cpu_seconds for r in runs) / 60
    wall = "" if wall_minutes is None else f" in {wall_minutes:.1f} min of wall time, {jobs} notebook(s) at a time"
    lines += ["", f"Total {total:.1f} min ({cpu:.1f} CPU-min of the kernels){wall}. "
              "Load average (1, 5, 15 min) before: "
              f"{', '.join(f'{v:.2f}' for v in load_before)}; after: {', '.join(f'{v:.2f}' for v in load_after)}; "
              f"{os.cpu_count()} CPUs.", ""]
    return "\n".join(lines)


def default_notebooks() -> list[Path]:
    return sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))


def previous_minutes(report: Path) -> dict[str, float]:
    """Minutes per notebook (``"chapters/03_gan_images.ipynb"``) from an earlier report, {} if there is none."""
    if not report.is_file():
        return {}
    rows = re.findall(r"^\| ([\w./-]+\.ipynb) \| ([0-9.]+) \|", report.read_text(encoding="utf-8"), re.MULTILINE)
    return {name: float(minutes) for name, minutes in rows}


def _announce(run: NotebookRun) -> None:
    print(f"   {run.path}: {run.seconds / 60:.1f} min, {len(run.claims)} claims, "
          f"{'ok' if run.ok else 'FAILED: ' + '; '.join(run.errors[:3])}", flush=True)


def run_all(notebooks: list[Path], mode: str, timeout: int | None, keep: Path | None, jobs: int,
            history: dict[str, float]) -> list[NotebookRun]:
    """Run the notebooks ``jobs`` at a time, longest first by ``history``; the result is in the order given."""
    if jobs == 1:
        runs = []
        for path in notebooks:
            print(f"== {path} ({mode} mode)", flush=True)
            runs.append(run_with_retry(path, mode, timeout, keep))
            _announce(runs[-1])
        return runs
    threads = max(1, (os.cpu_count() or 1) // jobs)
    key = lambda p: -history.get(f"{p.parent.name}/{p.name}", 0.0)      # noqa: E731 (unknown ones last)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = {}
        for path in sorted(notebooks, key=key):
            print(f"== {path} ({mode} mode, queued; {jobs} at a time, {threads} thread(s) each)", flush=True)
            futures[path] = pool.submit(run_with_retry, path, mode, timeout, keep, threads)
            futures[path].add_done_callback(lambda done: _announce(done.result()))
        return [futures[path].result() for path in notebooks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter and solution")
    parser.add_argument("--mode", default=os.environ.get("MODE", "full"), choices=MODES)
    parser.add_argument("--out", type=Path, default=ROOT / "verify-report.md")
    parser.add_argument("--timeout", type=int, default=None,
                        help=f"seconds per cell (default: {CELL_TIMEOUT_S['full']} in full mode, "
                             f"{CELL_TIMEOUT_S['workshop']} in workshop mode)")
    parser.add_argument("--keep", type=Path, default=None, help="write the executed notebooks to this folder")
    parser.add_argument("--jobs", type=int, default=1,
                        help="notebooks at a time, each with cores // jobs threads (default 1: one at a time)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be a whole number >= 1, got {args.jobs}")
    notebooks = [Path(p) for p in (args.notebooks or default_notebooks())]
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook(s): {', '.join(missing)}")
    load_before, start = os.getloadavg(), time.perf_counter()
    runs = run_all(notebooks, args.mode, args.timeout, args.keep, args.jobs, previous_minutes(args.out))
    text = report(runs, args.mode, load_before, os.getloadavg(), (time.perf_counter() - start) / 60, args.jobs)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {args.out}")
    return 0 if all(run.ok for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
