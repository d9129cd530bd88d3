"""What one learner's run of a chapter costs: peak memory (RSS) and CPU time of its kernel.

An instructor sizes the per-user limits of a JupyterHub from these figures (see workshop/README.md)::

    flock /tmp/aigc-heavy.lock env AIGC_MODE=full OMP_NUM_THREADS=2 \
        python tools/measure_learner.py chapters/09_evaluation_and_cost.ipynb --json out.json

The notebook is executed with nbclient, as a learner's "Restart and run all" would; a thread samples the
kernel's process tree (kernel plus anything it starts) every ``--interval`` seconds with psutil. The CPU time is
the kernel's own user + system time, read just before the kernel is shut down.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

from aigc_course.config import run_mode


class TreeSampler(threading.Thread):
    """Samples the summed RSS and the CPU time of this process's descendants (the kernel and its children)."""

    def __init__(self, interval: float):
        super().__init__(daemon=True)
        self.interval, self.peak_rss, self.cpu = interval, 0, {}
        self._halt = threading.Event()

    def sample(self) -> None:
        rss = 0
        for proc in psutil.Process().children(recursive=True):
            try:
                rss += proc.memory_info().rss
                t = proc.cpu_times()
                self.cpu[proc.pid] = max(self.cpu.get(proc.pid, 0.0), t.user + t.system)
            except psutil.Error:
                continue
        self.peak_rss = max(self.peak_rss, rss)

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join()


def measure(notebook: Path, interval: float = 0.5, timeout: int = 7200) -> dict:
    """Execute ``notebook`` in its own folder and return peak RSS (MiB), CPU seconds and wall seconds."""
    if not notebook.is_file():
        raise FileNotFoundError(f"no notebook at {notebook}")
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}})
    sampler = TreeSampler(interval)
    t0 = time.perf_counter()
    with client.setup_kernel():
        sampler.start()
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        sampler.sample()          # the last reading, while the kernel is still alive
        sampler.stop()
    wall = time.perf_counter() - t0
    return {"notebook": str(notebook), "mode": run_mode(),
            "omp_threads": os.environ.get("OMP_NUM_THREADS"), "peak_rss_mib": round(sampler.peak_rss / 2**20, 1),
            "cpu_seconds": round(sum(sampler.cpu.values()), 1), "wall_seconds": round(wall, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = measure(args.notebook, args.interval)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
