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
    assert notebooks.pair_problems(ipynb)[0] == "chapters/x.ipynb: cell 1 differs from x.py ('b = 3'); run `make sync`"


def test_check_catches_outputs_and_missing_twin(tmp_path, monkeypatch):
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    ipynb = _write_pair(tmp_path, "# %%\na = 1\n", "# %%\na = 1\n")
    nb = nbformat.read(ipynb, as_version=4)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="1")]
    nbformat.write(nb, ipynb)
    assert "committed with outputs" in notebooks.pair_problems(ipynb)[0]
    ipynb.with_suffix(".py").unlink()
    assert "the pair is incomplete (.ipynb only)" in notebooks.pair_problems(ipynb)[0]


def _run_colab_cell(monkeypatch, on_colab: bool) -> list:
    import subprocess
    import types

    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(notebooks.colab_cell_source(), {})
    return calls


def test_colab_cell_does_nothing_outside_colab(monkeypatch):
    assert _run_colab_cell(monkeypatch, on_colab=False) == []


def test_colab_cell_installs_the_course_on_colab(monkeypatch):
    calls = _run_colab_cell(monkeypatch, on_colab=True)
    assert len(calls) == 1
    command = calls[0][0][0]
    assert command[1:4] == ["-m", "pip", "install"]
    assert command[-1] == f"aigc-course @ git+{notebooks.repository_url()}"
    assert calls[0][1] == {"check": True}


def test_a_notebook_without_the_colab_cell_is_named(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell("print(1)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "chapters").mkdir()
    path = tmp_path / "chapters" / "x.ipynb"
    nbformat.write(nb, path)
    jupytext.write(nb, path.with_suffix(".py"), fmt="py:percent")
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    assert any("Colab set-up cell is missing" in p for p in notebooks.pair_problems(path))
    notebooks.with_colab_cell(nb)
    nbformat.write(nb, path)
    jupytext.write(nb, path.with_suffix(".py"), fmt="py:percent")
    assert notebooks.pair_problems(path) == []
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"] and "google.colab" in nb.cells[1].source
