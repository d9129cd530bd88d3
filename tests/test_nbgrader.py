"""tools/nbgrader_export.py, and a real nbgrader round trip: generate, release, fetch and submit as two
learners (one pastes the worked solutions, one submits the stubs), collect, autograde, read the grade book.

Needs ``nbgrader`` (the ``dev`` extra). Without it the round trip is skipped with a message, unless
``AIGC_REQUIRE_HUB=1`` (set by CI), which makes it a failure.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("nbgrader_export", ROOT / "tools" / "nbgrader_export.py")
export_tool = importlib.util.module_from_spec(spec)
sys.modules["nbgrader_export"] = export_tool      # dataclasses look their module up there
spec.loader.exec_module(export_tool)

ROUND_TRIP = ["00", "04"]          # quick checkers; every chapter's export is checked without running it


def _cells(nb, kind: str) -> list:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").endswith(kind)]


def test_every_exercise_becomes_an_answer_cell_and_a_graded_test(tmp_path):
    written = export_tool.export(tmp_path)
    chapters = export_tool.chapters_with_exercises()
    assert len(written) == len(chapters) >= 10
    for chapter, path in zip(chapters, written):
        nb, n = nbformat.read(path, as_version=4), len(export_tool._exercise_cells(chapter))
        answers, tests = _cells(nb, "_answer"), _cells(nb, "_test")
        assert len(answers) == len(tests) == n, path
        assert all(c.metadata.nbgrader["solution"] and "### BEGIN SOLUTION" in c.source for c in answers)
        assert all(c.metadata.nbgrader["locked"] and c.metadata.nbgrader["points"] == 1 and
                   "strict=True" in c.source for c in tests)
        ids = [c.metadata.nbgrader["grade_id"] for c in nb.cells]
        assert len(ids) == len(set(ids)), f"{path}: grade ids must be unique"
    assert (tmp_path / "nbgrader_config.py").is_file()


def test_the_solution_region_keeps_the_stubs_hints_and_shared_lines():
    stub = "import torch\n\ndef f(x):\n    # YOUR CODE: double it\n    raise NotImplementedError"
    answer = "import torch\n\ndef f(x):\n    y = 2 * x\n    return y"
    assert export_tool.solution_cell(stub, answer) == (
        "import torch\n\ndef f(x):\n    # YOUR CODE: double it\n    ### BEGIN SOLUTION\n    y = 2 * x\n"
        "    return y\n    ### END SOLUTION")


def test_bad_cells_and_chapters_are_named():
    with pytest.raises(ValueError, match="must end with its checker call"):
        export_tool._split_call("x = 1\nprint(x)", "chapter 99, exercise 1")
    with pytest.raises(ValueError, match="no chapter with exercises numbered"):
        export_tool.chapters_with_exercises(["42"])


# ------------------------------------------------------------------------------------- the round trip


def _require_nbgrader() -> None:
    if importlib.util.find_spec("nbgrader") is None:
        if os.environ.get("AIGC_REQUIRE_HUB") == "1":
            pytest.fail("nbgrader is not installed (AIGC_REQUIRE_HUB=1); pip install -e '.[dev]'")
        pytest.skip("nbgrader is not installed (pip install -e '.[dev]')")


def _nbgrader(tmp: Path, cwd: Path, *args: str, user: str = "instructor") -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp / "home" / user), "USER": user,
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",     # nbgrader calls `alembic`
           "AIGC_DATA_DIR": str(tmp / "data"), "OMP_NUM_THREADS": "1"}
    env.pop("AIGC_STRICT_EXERCISES", None)
    (tmp / "home" / user).mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--Exchange.root={tmp / 'exchange'}"]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def _paste_solutions(notebook: Path, chapter: Path) -> None:
    """What a learner who solved everything submits: each answer cell holds the worked solution."""
    nb, answers = nbformat.read(notebook, as_version=4), [e.answer for e in export_tool.exercises(chapter)]
    cells = _cells(nb, "_answer")
    assert len(cells) == len(answers)
    for cell, answer in zip(cells, answers):
        assert "raise NotImplementedError()" in cell.source and "BEGIN SOLUTION" not in cell.source
        cell.source = answer
    nbformat.write(nb, notebook)


@pytest.mark.slow
def test_nbgrader_gives_the_solutions_full_marks_and_the_stubs_zero(tmp_path):
    _require_nbgrader()
    course, exchange = tmp_path / "course", tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    export_tool.export(course, ROUND_TRIP)
    chapters = {f"ch{p.name[:2]}": p for p in export_tool.chapters_with_exercises(ROUND_TRIP)}
    for name in chapters:
        _nbgrader(tmp_path, course, "generate_assignment", name)
        released = (course / "release" / name / f"{name}_exercises.ipynb").read_text()
        assert "BEGIN SOLUTION" not in released and "NotImplementedError" in released
        _nbgrader(tmp_path, course, "release_assignment", name)
    for learner in ("solver", "stubber"):
        desk = tmp_path / "home" / learner
        for name, chapter in chapters.items():
            _nbgrader(tmp_path, desk, "fetch_assignment", name, "--course=aigc-course", user=learner)
            if learner == "solver":
                _paste_solutions(desk / name / f"{name}_exercises.ipynb", chapter)
            _nbgrader(tmp_path, desk, "submit", name, "--course=aigc-course", f"--student={learner}", user=learner)
    for name in chapters:
        _nbgrader(tmp_path, course, "collect", name)
        _nbgrader(tmp_path, course, "autograde", name)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "aigc-course") as gb:
        for name, chapter in chapters.items():
            points = len(export_tool.exercises(chapter))
            solved, stubbed = gb.find_submission(name, "solver"), gb.find_submission(name, "stubber")
            assert (solved.max_score, solved.score) == (points, points), name
            assert stubbed.score == 0, name
