"""Turn the chapters' exercises into nbgrader assignments, graded by the course's own checkers.

    python tools/nbgrader_export.py ~/course                  # every chapter with exercises
    python tools/nbgrader_export.py ~/course --chapters 04 07
    cd ~/course && nbgrader generate_assignment ch04 && nbgrader release_assignment ch04

For chapter NN it writes ``source/chNN/chNN_exercises.ipynb`` under the nbgrader course folder (and a starter
``nbgrader_config.py`` if there is none). Each exercise becomes three cells:

1. the exercise's statement (the Markdown cell before it in the chapter), read-only;
2. an answer cell (nbgrader ``solution``): the chapter's stub with the worked answer from ``solutions/`` between
   ``### BEGIN SOLUTION`` / ``### END SOLUTION``, so ``nbgrader generate_assignment`` releases the stub again
   (its hints kept, the body replaced by ``raise NotImplementedError()``);
3. a locked autograder cell worth one point: the course's checker called strictly,
   ``chNN.name(my_fn, strict=True)``, which raises on a wrong or unfinished answer.

Nothing is rewritten: the answer comes from the solutions notebook, the test from ``aigc_course.exercises``.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
CHECKER_CALL = re.compile(r"^(?P<module>ch\d\d)\.(?P<name>\w+)\((?P<answer>\w+)(, *strict=True)?\)\s*$")
CONFIG = '''c = get_config()
c.CourseDirectory.course_id = "aigc-course"
c.Exchange.root = "/srv/nbgrader/exchange"      # shared by instructor and learners (see workshop/README.md)
c.ClearSolutions.code_stub = {"python": "raise NotImplementedError()"}   # the hints above it stay
c.ExecutePreprocessor.timeout = 300               # seconds per cell when autograding
'''


@dataclass
class Exercise:
    statement: str        # the Markdown cell before the exercise
    stub: str             # the chapter's cell without the checker call
    answer: str           # the solutions notebook's cell without the checker call
    module: str           # "ch04"
    name: str             # "gaussian_kl"
    answer_name: str      # the learner's function or value the checker is given, e.g. "my_gaussian_kl"

    @property
    def test(self) -> str:
        return f"from aigc_course.exercises import {self.module}\n\n" \
               f"{self.module}.{self.name}({self.answer_name}, strict=True)"


def _split_call(source: str, where: str) -> tuple[str, re.Match]:
    lines = source.rstrip().splitlines()
    match = CHECKER_CALL.match(lines[-1]) if lines else None
    if match is None:
        raise ValueError(f"{where}: an exercise cell must end with its checker call, e.g. "
                         f"'ch04.gaussian_kl(my_gaussian_kl)'; it ends with {lines[-1] if lines else ''!r}")
    return "\n".join(lines[:-1]).rstrip(), match


def _exercise_cells(path: Path) -> list[tuple[str, str]]:
    """(statement, source) of every cell tagged ``exercise`` in the notebook at ``path``."""
    nb, found, statement = nbformat.read(path, as_version=4), [], ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            statement = cell.source
        elif "exercise" in cell.metadata.get("tags", []):
            found.append((statement, cell.source))
    return found


def exercises(chapter: Path) -> list[Exercise]:
    """The exercises of ``chapter`` (an .ipynb), each paired with its worked answer from ``solutions/``."""
    solutions = ROOT / "solutions" / f"{chapter.stem}_solutions.ipynb"
    if not solutions.is_file():
        raise FileNotFoundError(f"{chapter.name} has exercises but no worked solutions at {solutions}")
    stubs, answers = _exercise_cells(chapter), _exercise_cells(solutions)
    if len(stubs) != len(answers):
        raise ValueError(f"{chapter.name} has {len(stubs)} exercise cells but {solutions.name} has {len(answers)}")
    out = []
    for i, ((statement, stub_cell), (_, answer_cell)) in enumerate(zip(stubs, answers), 1):
        stub, call = _split_call(stub_cell, f"{chapter.name}, exercise {i}")
        answer, answer_call = _split_call(answer_cell, f"{solutions.name}, exercise {i}")
        if call.group("module", "name", "answer") != answer_call.group("module", "name", "answer"):
            raise ValueError(f"exercise {i} of {chapter.name} checks {call.group(0)!r} but its solution checks "
                             f"{answer_call.group(0)!r}")
        out.append(Exercise(statement, stub, answer, *call.group("module", "name", "answer")))
    return out


def solution_cell(stub: str, answer: str) -> str:
    """The answer with the lines where it differs from the stub fenced as nbgrader's solution region.

    Lines both share (imports, the ``def`` line) stay outside; the stub's own hints (comments) are kept in
    front of the region, so the released stub still says what to write.
    """
    s, a = stub.splitlines(), answer.splitlines()
    head = 0
    while head < min(len(s), len(a)) and s[head] == a[head]:
        head += 1
    tail = 0
    while tail < min(len(s), len(a)) - head and s[-1 - tail] == a[-1 - tail]:
        tail += 1
    middle_stub, middle_answer = s[head:len(s) - tail], a[head:len(a) - tail]
    body = [line for line in middle_answer if line.strip()] or ["pass"]
    indent = re.match(r"\s*", body[0]).group(0)
    hints = [line for line in middle_stub if line.strip().startswith("#")]
    return "\n".join(a[:head] + hints + [f"{indent}### BEGIN SOLUTION"] + middle_answer
                     + [f"{indent}### END SOLUTION"] + a[len(a) - tail:])


def _nbgrader(cell, grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
              points: int | None = None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if points is not None:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    return cell


def assignment(chapter: Path) -> nbformat.NotebookNode:
    """The nbgrader source notebook for ``chapter``: statement, answer cell and graded test per exercise."""
    number = chapter.name[:2]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    intro = (f"# Chapter {number}: exercises\n\nThe exercises of `chapters/{chapter.name}`. Fill in each answer "
             f"cell; each locked cell under it checks your answer with the course's checker (one point each). "
             f"Run the chapter first: the exercises use what it builds.")
    nb.cells.append(_nbgrader(nbformat.v4.new_markdown_cell(intro), "intro", locked=True))
    for ex in exercises(chapter):
        key = f"{ex.module}_{ex.name}"
        nb.cells.append(_nbgrader(nbformat.v4.new_markdown_cell(ex.statement), f"{key}_statement", locked=True))
        nb.cells.append(_nbgrader(nbformat.v4.new_code_cell(solution_cell(ex.stub, ex.answer)), f"{key}_answer",
                                  solution=True))
        nb.cells.append(_nbgrader(nbformat.v4.new_code_cell(ex.test), f"{key}_test", grade=True, locked=True,
                                  points=1))
    return nb


def chapters_with_exercises(numbers: list[str] | None = None) -> list[Path]:
    found = [p for p in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")) if _exercise_cells(p)]
    if numbers:
        unknown = sorted(set(numbers) - {p.name[:2] for p in found})
        if unknown:
            raise ValueError(f"no chapter with exercises numbered {unknown}; valid: {[p.name[:2] for p in found]}")
        found = [p for p in found if p.name[:2] in numbers]
    return found


def export(course: Path, numbers: list[str] | None = None) -> list[Path]:
    """Write ``course/source/chNN/chNN_exercises.ipynb`` for each chapter; the paths written."""
    course.mkdir(parents=True, exist_ok=True)
    if not (course / "nbgrader_config.py").exists():
        (course / "nbgrader_config.py").write_text(CONFIG)
    written = []
    for chapter in chapters_with_exercises(numbers):
        name = f"ch{chapter.name[:2]}"
        path = course / "source" / name / f"{name}_exercises.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(assignment(chapter), path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export the course's exercises as nbgrader assignments.")
    parser.add_argument("course", type=Path, help="the nbgrader course folder (created if missing)")
    parser.add_argument("--chapters", nargs="*", help="two-digit chapter numbers (default: all with exercises)")
    args = parser.parse_args(argv)
    for path in export(args.course, args.chapters):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
