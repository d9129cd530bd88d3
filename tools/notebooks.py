"""Keep notebook pairs tidy: ``python tools/notebooks.py sync [PATH ...]`` re-pairs every chapter and solution
(or only the given ones, by .py or .ipynb path): .py percent twin <-> .ipynb, newest wins; it sets the python3
kernel, strips outputs from the .ipynb files and puts the Colab set-up cell first among the code cells.

``python tools/notebooks.py check`` prints every pair that disagrees (exit 1 if any) - the same check
``tests/test_pairing.py`` runs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
FOLDERS = ("chapters", "solutions")
COLAB_TAG = "colab-setup"


def repository_url() -> str:
    """The course's public repository, from pyproject.toml's [project.urls] (one place to change it)."""
    text = PYPROJECT.read_text(encoding="utf-8")
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', text, re.M)
    if match is None:
        raise RuntimeError("pyproject.toml needs [project.urls] Repository = \"https://github.com/...\"")
    return match.group(1).rstrip("/")


def colab_cell_source() -> str:
    """The first code cell of every notebook: installs the course on Colab, does nothing anywhere else."""
    return (
        "# On Google Colab this installs the course (about 2 minutes); anywhere else it does nothing.\n"
        "import sys\n"
        "\n"
        "if \"google.colab\" in sys.modules:\n"
        "    import subprocess\n"
        "\n"
        f"    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", "
        f"\"aigc-course @ git+{repository_url()}\"], check=True)")


def with_colab_cell(nb) -> None:
    """Put the Colab cell first among the code cells (after the title cell), replacing an older copy."""
    nb.cells = [c for c in nb.cells if COLAB_TAG not in c.metadata.get("tags", [])]
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    cell = nbformat.v4.new_code_cell(colab_cell_source(), metadata={"tags": [COLAB_TAG]})
    nb.cells.insert(first_code, cell)


def notebook_paths() -> list[Path]:
    """Every notebook of the course, by its .ipynb path (also those that exist only as .py so far)."""
    paths = {p.with_suffix(".ipynb") for folder in FOLDERS for p in (ROOT / folder).glob("*.py")}
    paths |= {p for folder in FOLDERS for p in (ROOT / folder).glob("*.ipynb")}
    return sorted(paths)


def cells(nb) -> list[tuple[str, str, tuple]]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def pair_problems(ipynb: Path) -> list[str]:
    """What is wrong with one pair, as sentences naming the file and the first differing cell."""
    py = ipynb.with_suffix(".py")
    rel = ipynb.relative_to(ROOT)
    if not ipynb.exists() or not py.exists():
        return [f"{rel}: the pair is incomplete ({'.ipynb' if ipynb.exists() else '.py'} only); run `make sync`"]
    nb_i, nb_p = jupytext.read(ipynb), jupytext.read(py)
    problems = []
    a, b = cells(nb_i), cells(nb_p)
    for i, (ca, cb) in enumerate(zip(a, b)):
        if ca != cb:
            first = (ca[1] or cb[1]).splitlines()[0][:60] if (ca[1] or cb[1]) else ""
            problems.append(f"{rel}: cell {i} differs from {py.name} ({first!r}); run `make sync`")
            break
    if len(a) != len(b) and not problems:
        problems.append(f"{rel}: {len(a)} cells but {py.name} has {len(b)}; run `make sync`")
    raw = nbformat.read(ipynb, as_version=4)
    if any(c.get("outputs") or c.get("execution_count") for c in raw.cells if c.cell_type == "code"):
        problems.append(f"{rel}: committed with outputs or execution counts; run `make sync` to strip them")
    colab = [c for c in raw.cells if COLAB_TAG in c.metadata.get("tags", [])]
    if len(colab) != 1 or colab[0].source != colab_cell_source() or \
            raw.cells.index(colab[0]) != next(i for i, c in enumerate(raw.cells) if c.cell_type == "code"):
        problems.append(f"{rel}: the Colab set-up cell is missing, changed or not the first code cell; run `make sync`")
    if raw.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append(f"{rel}: no python3 kernelspec (JupyterLab would ask for a kernel); run `make sync`")
    return problems


def sync(only: list[str] | None = None) -> None:
    chosen = {Path(p).resolve().with_suffix(".ipynb") for p in only} if only else None
    for ipynb in notebook_paths():
        if chosen is not None and ipynb not in chosen:
            continue
        py = ipynb.with_suffix(".py")
        newest = max((p for p in (ipynb, py) if p.exists()), key=lambda p: p.stat().st_mtime)
        nb = jupytext.read(newest)
        with_colab_cell(nb)
        nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        jupytext.write(nb, ipynb)
        jupytext.write(nb, py, fmt="py:percent")
        print(f"synced {ipynb.relative_to(ROOT)} (from {newest.suffix})")


def main(argv: list[str]) -> int:
    if argv[1:2] == ["sync"]:
        sync(argv[2:])
        return 0
    if argv[1:] == ["check"]:
        problems = [p for nb in notebook_paths() for p in pair_problems(nb)]
        print("\n".join(problems) or "every pair agrees")
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
