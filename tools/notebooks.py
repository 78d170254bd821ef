"""The notebooks of docs/notebooks/: each .ipynb is made from its .py source (jupytext's percent
format) and executed, with its outputs, in a kernel process of its own.

    python tools/notebooks.py            # regenerate and execute every notebook
    python tools/notebooks.py keras      # only docs/notebooks/keras.ipynb
    python tools/notebooks.py --check    # exit 1 naming each notebook whose cells differ from its source

A kernel process of its own: importing TensorFlow before torchvision in one process segfaults, so
the two notebooks never share one. The kernel is jupyter's native python3, which runs this very
interpreter, in the repository root.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "docs" / "notebooks"
NAMES = ("keras", "pytorch")
KERNEL = "python3"
KERNELSPEC = {"name": KERNEL, "display_name": "Python 3 (ipykernel)", "language": "python"}
TIMEOUT = 300  # seconds a cell may run
FIX = "python tools/notebooks.py"

if str(ROOT) not in sys.path:  # run as a script: the project's modules come from this checkout
    sys.path.insert(0, str(ROOT))

from parity.startup_notices import is_notice  # noqa: E402


def source_path(name: str) -> Path:
    return NOTEBOOKS_DIR / f"{name}.py"


def notebook_path(name: str) -> Path:
    return NOTEBOOKS_DIR / f"{name}.ipynb"


def read_source(name: str) -> nbformat.NotebookNode:
    """The notebook that jupytext reads from docs/notebooks/NAME.py, without outputs."""
    notebook = jupytext.read(source_path(name), fmt="py:percent")
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    # stable cell ids: a regenerated notebook differs from the committed one only where it changed
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number:02d}"
    return notebook


def cells(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(cell type, source) of every cell: what a notebook must share with its source."""
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


def stale(name: str) -> str | None:
    """Why docs/notebooks/NAME.ipynb does not match its .py source, or None when it does."""
    path = notebook_path(name)
    if not path.exists():
        return f"{path.relative_to(ROOT)} is missing"
    committed, source = cells(nbformat.read(path, as_version=4)), cells(read_source(name))
    if committed == source:
        return None
    if len(committed) != len(source):
        return f"{path.relative_to(ROOT)} has {len(committed)} cells, its source {len(source)}"
    first = next(i for i, (a, b) in enumerate(zip(committed, source)) if a != b)
    return f"{path.relative_to(ROOT)}: cell {first + 1} differs from its source"


def execute(notebook: nbformat.NotebookNode, timeout: int = TIMEOUT) -> nbformat.NotebookNode:
    """Run every cell in order in a fresh python3 kernel (this interpreter) in the repository root;
    nbclient's CellExecutionError, with the cell's traceback, when one fails."""
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=timeout,
        record_timing=False,  # no timestamps in the committed cells
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute()
    return notebook


def drop_startup_notices(notebook: nbformat.NotebookNode) -> None:
    """TensorFlow's start-up notices, which no setting turns off, left out of the saved outputs, as
    compare.py leaves them out of a side's output (parity/startup_notices.py)."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stderr":
                lines = output.text.splitlines(keepends=True)
                output.text = "".join(
                    line for line in lines if not is_notice(line.rstrip("\r\n").encode())
                )
                if not output.text:
                    continue
            kept.append(output)
        cell.outputs = kept


def build(name: str) -> float:
    """Regenerate docs/notebooks/NAME.ipynb from its source, executed; the seconds it took."""
    start = time.perf_counter()
    notebook = execute(read_source(name))
    seconds = time.perf_counter() - start
    drop_startup_notices(notebook)
    nbformat.validate(notebook)
    nbformat.write(notebook, notebook_path(name))
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/notebooks.py",
        description="Regenerate docs/notebooks/*.ipynb from their .py sources and execute them.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="keras, pytorch (default: both)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing: exit 1 naming each notebook whose cells differ from its source",
    )
    args = parser.parse_args(argv)
    if unknown := [name for name in args.names if name not in NAMES]:
        parser.error(f"no notebook {unknown[0]!r}: the notebooks are {', '.join(NAMES)}")
    names = args.names or list(NAMES)
    if args.check:
        problems = {name: why for name in names if (why := stale(name))}
        for name, why in problems.items():
            print(f"stale: {why}; run {FIX} {name}", file=sys.stderr)
        return 1 if problems else 0
    for name in names:
        seconds = build(name)
        print(f"{notebook_path(name).relative_to(ROOT)}: executed in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
