"""Build the course as a static HTML book: ``python tools/book.py [--full] [--jobs N]`` (``make book``).

1. Execute every chapter and solution notebook (nbclient, widget state stored) into ``build/book/src`` — in FAST
   mode by default (what CI checks), in full mode with ``--full`` (the published edition). ``--executed DIR``
   executes nothing and takes the notebooks a full run already executed (``make verify KEEP=DIR`` writes them):
   the published edition without running the course twice.
2. Replace each widget's live view by a snapshot: the outputs its Output widgets held when the cell finished
   (the figure and text the widget showed at its initial values), since a static page has no kernel.
3. Write the front page (the README's course map) and the table of contents (chapters, then solutions).
4. Run Sphinx with MyST-NB (outputs as executed, never re-run), the book theme and MathJax served from the book
   itself (no CDN: the book reads offline). The HTML lands in ``build/book/html``.

Cell errors stop the build and name the notebook and cell. A summary, with the time each notebook took, is
written to ``build/book/report.json`` (``tests/test_book.py`` reads it).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "book"
SRC, HTML = BUILD / "src", BUILD / "html"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PARTS = (("chapters", "Chapters"), ("solutions", "Worked solutions"))


def notebooks() -> list[Path]:
    """Every chapter and solution notebook, in course order."""
    return [p for folder, _ in PARTS for p in sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb"))]


def execute(path: Path, mode: str, timeout: int) -> dict:
    """Run one notebook top to bottom in its own folder; write it, outputs included, under ``SRC``."""
    from nbclient.exceptions import CellExecutionError
    from verify import client_class, kernel_env  # tools/verify.py: sliced polling; mode, threads, no MPLBACKEND

    nb = nbformat.read(path, as_version=4)
    client = client_class()(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.time()
    error = None
    try:
        client.execute(env=kernel_env(mode, threads=1))
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1][:400]
    return publish(nb, path, round(time.time() - start, 1), error)


def publish(nb, path: Path, seconds: float, error: str | None) -> dict:
    """Snapshot the widgets, put display math on lines of its own, write the page source under ``SRC``."""
    snapshot_widgets(nb)
    display_math_as_blocks(nb)
    target = SRC / path.parent.name / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return {"notebook": f"{path.parent.name}/{path.name}", "seconds": seconds, "error": error}


def adopt(path: Path, executed: Path) -> dict:
    """Take ``path``'s already-executed copy from the folder ``executed`` (same file name) instead of running it."""
    source = executed / path.name
    if not source.exists():
        return {"notebook": f"{path.parent.name}/{path.name}", "seconds": 0.0,
                "error": f"no executed copy {source} (run `make verify KEEP={executed}` first)"}
    from verify import cell_errors  # tools/verify.py: the same reading of a kept notebook's errors

    nb = nbformat.read(source, as_version=4)
    errors = cell_errors(nb)
    return publish(nb, path, 0.0, errors[0] if errors else None)


def _walk(model_id: str, models: dict, seen: set) -> list[dict]:
    """The states of a widget and of everything inside it, depth first."""
    if model_id in seen or model_id not in models:
        return []
    seen.add(model_id)
    state = models[model_id].get("state", {})
    found = [state]
    for child in state.get("children", []):
        if isinstance(child, str):
            found += _walk(child.removeprefix("IPY_MODEL_"), models, seen)
    return found


def _as_text(state: dict) -> str:
    """What a text-like widget shows: a label's or HTML's text, a progress bar drawn in characters."""
    name = state.get("_model_name", "")
    if name in ("FloatProgressModel", "IntProgressModel"):
        span = (state.get("max") or 1) - (state.get("min") or 0)
        filled = round(10 * ((state.get("value") or 0) - (state.get("min") or 0)) / span) if span else 10
        return "|" + "█" * filled + " " * (10 - filled) + "|"
    if name in ("HTMLModel", "LabelModel"):
        return html.unescape(re.sub(r"<[^>]+>", "", str(state.get("value", "")))).strip()
    return ""


def _snapshot(view: dict, models: dict) -> list:
    """The static outputs standing for one widget view: its Output widgets' outputs, else its text."""
    states = _walk(view["model_id"], models, set())
    held = [o for s in states if s.get("_model_name") == "OutputModel" for o in s.get("outputs", [])]
    if held:
        note = nbformat.v4.new_output("stream", name="stdout",
                                      text="[widget snapshot at its initial values: run the notebook to move "
                                           "its controls]\n")
        return [note] + [nbformat.from_dict(o) for o in held]
    text = " ".join(t for t in map(_as_text, states) if t)
    if not states:          # executed without its widget state (nbclient's store_widget_state off)
        text = "[an interactive widget: run the notebook to use it]"
    return [nbformat.v4.new_output("stream", name="stdout", text=text + "\n")] if text else []


def display_math_as_blocks(nb) -> None:
    """Give every ``$$ ... $$`` of a Markdown cell lines of its own.

    JupyterLab renders display math in the middle of a paragraph; MyST only parses it as a block, so a formula
    written inline ("... of one data point is $$p(x) = ...$$ When ...") would reach the page as raw TeX.
    """
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "$$" in cell.source:
            cell.source = re.sub(r"[ \t]*\n?[ \t]*\$\$(.+?)\$\$[ \t]*\n?",
                                 lambda m: "\n\n$$" + m.group(1).strip() + "$$\n\n", cell.source, flags=re.S)


def snapshot_widgets(nb) -> int:
    """Swap each widget view for the outputs its Output widgets held; return how many views were swapped."""
    models = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    swapped = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        new_outputs = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                new_outputs.append(output)
                continue
            new_outputs += _snapshot(view, models)
            swapped += 1
        cell.outputs = new_outputs
    nb.metadata.pop("widgets", None)
    return swapped


def course_map() -> str:
    """The README's course map section, with the names of the chapters built linked to their pages."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Course map\n(.*?)(?=^## )", readme, re.S | re.M)
    if match is None:
        raise RuntimeError("README.md has no '## Course map' section for the book's front page")
    section = match.group(1)
    for path in sorted((SRC / "chapters").glob("[0-9][0-9]_*.ipynb")):
        section = section.replace(f"`{path.stem}`", f"[{path.stem}](chapters/{path.stem}.ipynb)")
    return section


def write_sources() -> None:
    """Front page with the course map, then one toctree per part."""
    shutil.copy(ROOT / "book" / "conf.py", SRC / "conf.py")
    lines = ["# Generative AI, built and trained for real", "",
             "Every chapter below was executed to produce this book: the outputs, figures and widget snapshots are",
             "what the code printed. Run the notebooks yourself (`make lab`) to move the widgets and train longer.",
             "", "## Course map", course_map()]
    for folder, caption in PARTS:
        pages = sorted(p.stem for p in (SRC / folder).glob("*.ipynb"))
        lines += ["```{toctree}", f":caption: {caption}", ":maxdepth: 1", ""]
        lines += [f"{folder}/{page}" for page in pages] + ["```", ""]
    (SRC / "index.md").write_text("\n".join(lines), encoding="utf-8")


def build(mode: str, jobs: int, timeout: int, only: str | None = None, executed: Path | None = None) -> int:
    shutil.rmtree(BUILD, ignore_errors=True)
    SRC.mkdir(parents=True)
    start = time.time()
    paths = [p for p in notebooks() if only is None or p.match(only)]
    if not paths:
        raise SystemExit(f"--only {only!r} matches no notebook of chapters/ or solutions/")
    if executed is not None:
        print(f"== {len(paths)} notebooks as executed in {executed}")
        runs = [adopt(p, executed) for p in paths]
    else:
        print(f"== executing {len(paths)} notebooks in {mode} mode on {jobs} processes")
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            runs = list(pool.map(execute, paths, [mode] * len(paths), [timeout] * len(paths)))
    for run in runs:
        print(f"  {run['notebook']:<55} {run['seconds']:7.1f} s  {'ERROR: ' + run['error'] if run['error'] else ''}")
    write_sources()
    print("== sphinx")
    sphinx = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(SRC), str(HTML)],
                            capture_output=True, text=True)
    warnings = [line for line in sphinx.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    print(sphinx.stderr[-4000:])
    report = {"mode": mode, "seconds": round(time.time() - start, 1), "notebooks": runs,
              "sphinx_returncode": sphinx.returncode, "sphinx_warnings": warnings}
    (BUILD / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    failed = [r for r in runs if r["error"]]
    print(f"== book: {HTML / 'index.html'} ({report['seconds']:.0f} s, {len(failed)} notebook(s) with errors, "
          f"{len(warnings)} Sphinx warning(s))")
    return 1 if failed or sphinx.returncode else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="execute in full mode (the published edition)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    parser.add_argument("--timeout", type=int, default=3000, help="seconds one cell may take (default 3000)")
    parser.add_argument("--executed", type=Path, default=None,
                        help="use the executed notebooks in this folder (make verify KEEP=...), run nothing")
    parser.add_argument("--only", help="a glob: build only the matching notebooks (e.g. '*/04_*'), for drafts")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.executed is not None and not args.executed.is_dir():
        parser.error(f"--executed must be a folder of executed notebooks, got {str(args.executed)!r}")
    mode = "full" if args.full or args.executed is not None else "fast"
    return build(mode, args.jobs, args.timeout, args.only, args.executed)


if __name__ == "__main__":
    sys.exit(main())
