"""tools/book.py's notebook transforms, on notebooks the test builds (no execution, no Sphinx)."""

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import book  # noqa: E402

VIEW = "application/vnd.jupyter.widget-view+json"


def _notebook(outputs, models):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("w")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    nb.cells = [cell]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": models, "version_major": 2}}
    return nb


def test_a_widget_view_becomes_the_outputs_its_output_widget_held():
    png = {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}, "metadata": {}}
    models = {"box": {"state": {"_model_name": "VBoxModel", "children": ["IPY_MODEL_slider", "IPY_MODEL_out"]}},
              "slider": {"state": {"_model_name": "IntSliderModel", "value": 8}},
              "out": {"state": {"_model_name": "OutputModel", "outputs": [png]}}}
    view = {"output_type": "display_data", "data": {VIEW: {"model_id": "box"}, "text/plain": "VBox(...)"},
            "metadata": {}}
    nb = _notebook([view], models)
    assert book.snapshot_widgets(nb) == 1
    kinds = [o.get("data", {}).keys() or o["output_type"] for o in nb.cells[0].outputs]
    assert "widget snapshot" in nb.cells[0].outputs[0]["text"]
    assert "image/png" in kinds[1]
    assert "widgets" not in nb.metadata


def test_a_progress_bar_becomes_its_text():
    models = {"bar": {"state": {"_model_name": "HBoxModel", "children": ["IPY_MODEL_a", "IPY_MODEL_b", "IPY_MODEL_c"]}},
              "a": {"state": {"_model_name": "HTMLModel", "value": "training:"}},
              "b": {"state": {"_model_name": "FloatProgressModel", "value": 30, "min": 0, "max": 60}},
              "c": {"state": {"_model_name": "HTMLModel", "value": "30/60 [00:01&lt;00:01]"}}}
    view = {"output_type": "execute_result", "execution_count": 1, "metadata": {},
            "data": {VIEW: {"model_id": "bar"}, "text/plain": "HBox(...)"}}
    nb = _notebook([view], models)
    book.snapshot_widgets(nb)
    assert nb.cells[0].outputs[0]["text"] == "training: |█████     | 30/60 [00:01<00:01]\n"


def test_inline_display_math_gets_lines_of_its_own():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("of one point is\n$$p(x) = \\int p(x|z)\\,dz \\tag{4.1}$$\nWhen it")]
    book.display_math_as_blocks(nb)
    assert nb.cells[0].source == "of one point is\n\n$$p(x) = \\int p(x|z)\\,dz \\tag{4.1}$$\n\nWhen it"


def test_an_executed_copy_is_adopted_with_its_errors_and_a_missing_one_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(book, "SRC", tmp_path / "src")
    executed = tmp_path / "kept"
    executed.mkdir()
    view = {"output_type": "display_data", "data": {VIEW: {"model_id": "gone"}, "text/plain": "VBox(...)"},
            "metadata": {}}
    nb = _notebook([view], {})
    nb.metadata.pop("widgets")                       # kept by a run that did not store widget state
    failing = nbformat.v4.new_code_cell("1/0")
    failing.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                              traceback=[])]
    nb.cells.append(failing)
    nbformat.write(nb, executed / "03_x.ipynb")
    run = book.adopt(Path("chapters/03_x.ipynb"), executed)
    assert run["error"] == "cell 1: ZeroDivisionError: division by zero"
    adopted = nbformat.read(tmp_path / "src" / "chapters" / "03_x.ipynb", as_version=4)
    assert "run the notebook to use it" in adopted.cells[0].outputs[0]["text"]
    missing = book.adopt(Path("chapters/04_y.ipynb"), executed)
    assert "no executed copy" in missing["error"] and "04_y.ipynb" in missing["error"]
