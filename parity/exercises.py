"""The exercises' sweep: every run that a walkthrough page's "Try this" asks a learner to make, made
once by `compare.py --quick` and recorded, so that each page can fold the measured answer under its
question.

    python -m parity.exercises             # every run: docs/walkthrough-data/exercises.json
    python -m parity.exercises --only "--set train.lr=1e-2"

The runs are the `runs` of each `[[page.exercise]]` in docs/walkthrough-data/pages.toml (each the
arguments added to `python compare.py --quick`), and the quick configuration as it ships. The file
records, per run, each side's test scores and per-epoch curves and the verdict, with the commit,
date and machine, like docs/ablations.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

from parity.ablations import machine, provenance_run, summarise
from parity.walkthrough_inputs import AS_SHIPPED, EXERCISES, load_prose
from shared.results import write_json


def exercise_runs() -> list[str]:
    """Every run the pages ask for, in page order, the quick configuration as shipped first."""
    runs = [AS_SHIPPED]
    for page in load_prose()[0]:
        for exercise in page.exercise:
            runs += [run for run in exercise.runs if run not in runs]
    return runs


def measure(arguments: str, workdir: Path) -> dict:
    entry, results = summarise(["compare.py", "--quick", *shlex.split(arguments)], workdir / "run")
    for side, result in results.items():
        if result is None:
            continue
        entry[side] = {
            "test_accuracy": result.test.accuracy,
            "test_loss": result.test.loss,
            "epochs": [
                {key: getattr(row, key) for key in ("train_loss", "val_loss", "val_accuracy")}
                for row in result.history
            ],
        }
    entry.pop("audit", None)
    return entry


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m parity.exercises", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--only", nargs="+", metavar="RUN", help="these runs only (as pages.toml)")
    parser.add_argument("--out", default=str(EXERCISES))
    args = parser.parse_args(argv)
    path = Path(args.out)
    runs = exercise_runs()
    if unknown := set(args.only or []) - set(runs):
        parser.error(f"no exercise asks for {sorted(unknown)[0]!r}; the runs: {runs}")
    doc = json.loads(path.read_text()) if path.exists() and args.only else {"runs": {}}
    for arguments in args.only or runs:
        print(f"python compare.py --quick {arguments}".rstrip(), "...", end=" ", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            doc["runs"][arguments] = measure(arguments, Path(tmp))
        print(doc["runs"][arguments].get("verdict", "no verdict")[:90], flush=True)
    doc["runs"] = {run: doc["runs"][run] for run in runs if run in doc["runs"]}
    command = " ".join(["python -m parity.exercises", *map(shlex.quote, argv or sys.argv[1:])])
    earlier = doc.get("provenance", {}).get("runs", []) if args.only else []
    doc["provenance"] = {"runs": [*earlier, provenance_run(command, path)], "machine": machine()}
    write_json(path, doc)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
