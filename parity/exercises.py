"""The exercises' sweep: every run that a walkthrough page's "Try this" asks a learner to make, made
once by `compare.py --quick` and recorded, so that each page can fold the measured answer under its
question.

    python -m parity.exercises             # every run: docs/walkthrough-data/exercises.json
    python -m parity.exercises --only "--set train.lr=1e-2"

The runs are the `runs` of each `[[page.exercise]]` in docs/walkthrough-data/pages.toml (each the
arguments added to `python compare.py --quick`), and the quick configuration as it ships. The file
records, per run, each side's test scores and per-epoch curves and the verdict, with the commit,
date and machine, like docs/ablations.json. `exercises_markdown` folds them into a page
(parity/walkthrough.py).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

from parity.ablations import machine, provenance_run, summarise
from parity.walkthrough_inputs import (
    AS_SHIPPED,
    EXERCISES,
    Page,
    ProseError,
    load_exercise_runs,
    load_prose,
)
from shared.results import SIDES, write_json


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


def exercises_markdown(page: Page) -> list[str]:
    """Try this: each exercise's question and commands, its measured answer folded under it."""
    measured = load_exercise_runs()
    runs = measured.get("runs", {})
    out = ["## Try this", ""]
    for n, exercise in enumerate(page.exercise, 1):
        missing = [run for run in (AS_SHIPPED, *exercise.runs) if run not in runs]
        if missing:
            raise ProseError(
                f"{page.slug}: exercise {n} asks for a run the sweep has not measured, "
                f"{missing[0]!r}: python -m parity.exercises --only '{missing[0]}'"
            )
        out += [f"{n}. {exercise.question}", "", "   ```bash"]
        out += [f"   python compare.py --quick {run}".rstrip() for run in exercise.runs]
        out += ["   ```", "", "   <details><summary>What the sweep measured</summary>", ""]
        out += [f"   {line}" if line else "" for line in answer_table(exercise, runs)]
        out += ["", *[f"   {line}" if line else "" for line in exercise.answer.split("\n")]]
        out += ["", "   </details>", ""]
    provenance = measured["provenance"]
    for run in provenance["runs"]:
        dirty = " with uncommitted changes" if run["uncommitted_changes"] else ""
        out.append(
            f"Measured by `{run['command']}` at commit `{run['commit'][:12]}`{dirty} on "
            f"{run['date']} ({provenance['machine']}); one seed each, `docs/walkthrough-data/"
            f"{EXERCISES.name}` holds every number."
        )
    return out + [""]


def answer_table(exercise, runs: dict) -> list[str]:
    """Each run's test scores on both sides beside the quick configuration as shipped, and with
    exercise.curves, each epoch's validation loss."""
    out = [
        "| run | Keras test accuracy | PyTorch test accuracy | Keras test loss | PyTorch test loss "
        "| compare.py |",
        "|---|---|---|---|---|---|",
    ]
    for arguments in (AS_SHIPPED, *exercise.runs):
        run = runs[arguments]
        label = f"`{arguments}`" if arguments else "as shipped"
        cells = [label]
        for key, form in (("test_accuracy", "{:.2%}"), ("test_loss", "{:.4f}")):
            cells += [form.format(run[side][key]) if side in run else "-" for side in SIDES]
        verdict = run.get("verdict", run.get("error", "no verdict"))
        cells.append(f"exit {run['exit']}: {verdict.split(':')[0]}")
        out.append("| " + " | ".join(cells) + " |")
    if exercise.curves:
        for arguments in exercise.runs:
            run = runs[arguments]
            out += ["", f"Loss per epoch, `{arguments}`:", ""]
            out += [
                "| epoch | Keras training | PyTorch training | Keras validation "
                "| PyTorch validation |",
                "|---|---|---|---|---|",
            ]
            epochs = zip(*(run[side]["epochs"] for side in SIDES))
            for n, rows in enumerate(epochs, 1):
                cells = [f"{r[key]:.4f}" for key in ("train_loss", "val_loss") for r in rows]
                out.append(f"| {n} | " + " | ".join(cells) + " |")
    return out


if __name__ == "__main__":
    sys.exit(main())
