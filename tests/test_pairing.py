"""Every notebook is an .ipynb + .py pair holding the same cells, committed without outputs."""

import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import notebooks  # noqa: E402

PAIRS = notebooks.notebook_paths()


@pytest.mark.parametrize("ipynb", PAIRS, ids=[str(p.relative_to(notebooks.ROOT)) for p in PAIRS])
def test_pair_agrees(ipynb):
    problems = notebooks.pair_problems(ipynb)
    assert not problems, "\n".join(problems)


def test_course_has_chapter_00():
    assert notebooks.ROOT / "chapters" / "00_setup_and_tour.ipynb" in PAIRS


def _write_pair(tmp_path, py_source, ipynb_source):
    (tmp_path / "chapters").mkdir()
    py = tmp_path / "chapters" / "x.py"
    py.write_text(py_source)
    nb = jupytext.reads(ipynb_source, fmt="py:percent")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "chapters" / "x.ipynb")
    return tmp_path / "chapters" / "x.ipynb"


def test_check_names_the_first_differing_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    ipynb = _write_pair(tmp_path, "# %%\na = 1\n\n# %%\nb = 2\n", "# %%\na = 1\n\n# %%\nb = 3\n")
    assert notebooks.pair_problems(ipynb) == [
        "chapters/x.ipynb: cell 1 differs from x.py ('b = 3'); run `make sync`"]


def test_check_catches_outputs_and_missing_twin(tmp_path, monkeypatch):
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    ipynb = _write_pair(tmp_path, "# %%\na = 1\n", "# %%\na = 1\n")
    nb = nbformat.read(ipynb, as_version=4)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="1")]
    nbformat.write(nb, ipynb)
    assert "committed with outputs" in notebooks.pair_problems(ipynb)[0]
    ipynb.with_suffix(".py").unlink()
    assert "the pair is incomplete (.ipynb only)" in notebooks.pair_problems(ipynb)[0]
