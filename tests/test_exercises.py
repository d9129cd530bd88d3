"""Every exercise cell, run on its own and strictly: unsolved in the chapter, passing in the solution.

An exercise is a code cell tagged ``exercise`` (see aigc_course/exercises/core.py). Both directions are
checked here without running whole notebooks; nbval runs the notebooks themselves.
"""

import os
import re
from pathlib import Path

import jupytext
import pytest

from aigc_course.exercises.core import CALLS, ExerciseNotSolved

ROOT = Path(__file__).resolve().parent.parent
CHECKER_CALL = re.compile(r"\b(ch\d\d\.\w+)\(")


def exercise_cells(folder: str) -> list[tuple[Path, int, str]]:
    found = []
    for py in sorted((ROOT / folder).glob("*.py")):
        for i, cell in enumerate(jupytext.read(py).cells):
            if cell.cell_type == "code" and "exercise" in cell.metadata.get("tags", ()):
                found.append((py, i, cell.source))
    return found


CHAPTER_CELLS = exercise_cells("chapters")
SOLUTION_CELLS = exercise_cells("solutions")


def _id(item):
    py, i, _ = item
    return f"{py.parent.name}/{py.name}[cell {i}]"


def run_cell(py: Path, source: str) -> list:
    """Execute one cell alone, strictly, in the notebook's folder; return the checks it made."""
    before = len(CALLS)
    cwd = os.getcwd()
    os.environ["AIGC_STRICT_EXERCISES"] = "1"
    os.chdir(py.parent)
    try:
        exec(compile(source, f"{py.name}:exercise", "exec"), {"__name__": "__exercise__"})
    finally:
        os.chdir(cwd)
        del os.environ["AIGC_STRICT_EXERCISES"]
    return CALLS[before:]


@pytest.mark.parametrize("item", CHAPTER_CELLS, ids=[_id(c) for c in CHAPTER_CELLS])
def test_chapter_stub_reports_unsolved(item):
    py, _, source = item
    with pytest.raises(ExerciseNotSolved):
        run_cell(py, source)


@pytest.mark.parametrize("item", SOLUTION_CELLS, ids=[_id(c) for c in SOLUTION_CELLS])
def test_solution_passes(item):
    py, _, source = item
    checks = run_cell(py, source)
    assert checks, "the cell calls no checker"
    assert all(c.passed for c in checks), [str(c) for c in checks]


def _checker_names(cells):
    names = {}
    for py, _, source in cells:
        names.setdefault(py.stem.removesuffix("_solutions"), set()).update(CHECKER_CALL.findall(source))
    return names


def test_every_chapter_exercise_has_a_solution():
    chapters, solutions = _checker_names(CHAPTER_CELLS), _checker_names(SOLUTION_CELLS)
    for chapter, names in chapters.items():
        missing = names - solutions.get(chapter, set())
        assert not missing, f"{chapter}: no worked solution for {sorted(missing)}"
