"""The notebooks of docs/notebooks/: each committed .ipynb holds the cells of its .py source, with
the outputs of a run; each runs top to bottom in a kernel process of its own (tools/notebooks.py)."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("notebooks", ROOT / "tools" / "notebooks.py")
notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(notebooks)


@pytest.mark.parametrize("name", notebooks.NAMES)
def test_the_committed_notebook_has_the_cells_of_its_source(name):
    path = notebooks.notebook_path(name)
    assert path.exists(), f"{path.relative_to(ROOT)} is missing; run {notebooks.FIX} and commit it"
    committed = nbformat.read(path, as_version=4)
    source = notebooks.read_source(name)
    assert notebooks.cells(committed) == notebooks.cells(source), (
        f"{path.relative_to(ROOT)} is stale: its cells differ from {name}.py; "
        f"run {notebooks.FIX} {name} and commit the notebook"
    )


@pytest.mark.parametrize("name", notebooks.NAMES)
def test_the_committed_notebook_was_run_without_error(name):
    path = notebooks.notebook_path(name)
    code = [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
    fix = f"run {notebooks.FIX} {name} and commit the notebook"
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), (
        f"{path.relative_to(ROOT)}: not run top to bottom; {fix}"
    )
    outputs = [output for cell in code for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"], f"{path.name}: an error; {fix}"
    text = nbformat.writes(nbformat.v4.new_notebook(cells=code))
    assert str(ROOT) not in text, f"{path.name}: an output names this checkout's path"


@pytest.mark.slow
@pytest.mark.parametrize("name", notebooks.NAMES)
def test_the_notebook_runs_top_to_bottom_in_its_own_kernel(name):
    # nbclient starts a fresh kernel process for each notebook and raises CellExecutionError, with
    # the cell and its traceback, when one fails
    notebook = notebooks.execute(notebooks.read_source(name))
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
