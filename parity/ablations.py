"""The ablation sweep: every bridge turned off, and every porting slip made, one at a time on one
side, each measured by a full compare.py run; the walkthrough's cards read the result.

    python -m parity.ablations                 # quick configuration, one seed: docs/ablations.json
    python -m parity.ablations --full          # the default configuration (10 epochs)
    python -m parity.ablations --only adam-epsilon normalize-std

Per ablation: how far the curves part per epoch (Keras - PyTorch, and the same for the untouched
baseline), the lockstep probe's first differing step and stage, and which checks of the verdict
failed. The file records its commit, versions, machine and commands, like the calibration.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parity.bridges import ABLATIONS, BRIDGES, Slip
from parity.runner import ROOT
from shared.results import SIDES, read_result, write_json

OUT = ROOT / "docs" / "ablations.json"
CURVES = ("train_loss", "val_loss", "val_accuracy")


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def relative(path: Path) -> str:
    """`path` as git names it from the repository root (itself, when outside it)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def kind(entry) -> str:
    if isinstance(entry, Slip):
        return "control" if entry.control else "slip"
    return "bridge"


def measure(
    name: str | None, full: bool, workdir: Path, mode: str = "aligned", settings: tuple = ()
) -> dict:
    """One compare.py run with `--ablate name` (None: the untouched baseline), summarised."""
    out = workdir / "-".join([name or "baseline", mode, *settings])
    command = [
        "compare.py",
        *([] if full else ["--quick"]),
        *([] if mode == "aligned" else ["--mode", mode]),
        *(f"--set={setting}" for setting in settings),
        *(["--ablate", name] if name else []),
    ]
    entry, results = summarise(command, out)
    keras, torch = results["keras"], results["torch"]
    if keras and torch:
        entry["curves"] = {
            key: [
                round(getattr(k, key) - getattr(t, key), 5)
                for k, t in zip(keras.history, torch.history)
            ]
            for key in CURVES
        }
        entry["test_accuracy"] = {"keras": keras.test.accuracy, "torch": torch.test.accuracy}
        entry["versions"] = {side: r.versions for side, r in results.items()}
    return entry


def summarise(command: list[str], out: Path) -> tuple[dict, dict]:
    """Run `python COMMAND --out OUT` (compare.py and its arguments): its exit status, verdict,
    failed checks, probe and audit findings, and each side's finished Result (None if none)."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, *command, "--out", str(out)], cwd=ROOT, capture_output=True, text=True
    )
    entry = {"command": " ".join(["python", *command]), "exit": done.returncode}
    entry["seconds"] = round(time.monotonic() - start, 1)
    results = dict.fromkeys(SIDES)
    parity_file = out / "parity.json"
    if not parity_file.exists():
        entry["error"] = (done.stdout + done.stderr)[-1500:]
        return entry, results
    parity = json.loads(parity_file.read_text())
    entry["verdict"] = parity["verdict"]
    entry["failed_checks"] = [c["name"] for c in parity["checks"] if not c["passed"]]
    probe = next((c for c in parity["checks"] if c["name"].startswith("lockstep probe")), None)
    entry["probe"] = probe and {
        "passed": probe["passed"],
        "largest": probe["measured"],
        "detail": probe["detail"],
    }
    entry["audit"] = {
        status: [r["label"] for r in parity["audit"] if r["status"] == status]
        for status in ("asked", "differs")
    }
    for side in SIDES:
        try:
            result = read_result(out / f"{side}.json")
        except (OSError, ValueError):
            continue
        results[side] = result if result.ok else None
    return entry, results


def provenance_run(command: str, written: Path) -> dict:
    """Where a sweep's numbers come from: its command, commit (and whether the code had uncommitted
    changes, the file it writes aside) and date."""
    return {
        "command": command,
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(
            git(
                "status", "--porcelain", "--untracked-files=no", "--", ".", f":!{relative(written)}"
            )
        ),
        "date": time.strftime("%Y-%m-%d"),
    }


def machine() -> str:
    return f"{platform.machine()}, {platform.system()}, {os.cpu_count()} CPUs"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m parity.ablations", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--full", action="store_true", help="the default configuration, not --quick"
    )
    parser.add_argument("--only", nargs="+", choices=sorted(ABLATIONS), help="these ablations only")
    parser.add_argument("--out", default=str(OUT), help=f"default: {OUT.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    config = "full" if args.full else "quick"
    path = Path(args.out)
    doc = json.loads(path.read_text()) if path.exists() else {}
    names = args.only or list(ABLATIONS)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print(f"ablation sweep ({config}): baseline and {len(names)} ablations", flush=True)
        section = doc.get(config, {}) if args.only else {}
        section["baseline"] = measure(None, args.full, workdir)
        ablations = section.setdefault("ablations", {})
        baselines = {}
        for name in names:
            entry = ABLATIONS[name]
            print(f"  {name} ({entry.side})...", end=" ", flush=True)
            ablations[name] = {"side": entry.side, "kind": kind(entry), "mode": entry.mode}
            if entry.settings:
                ablations[name]["settings"] = list(entry.settings)
            ablations[name].update(measure(name, args.full, workdir, entry.mode, entry.settings))
            if entry.mode != "aligned" or entry.settings:  # the untouched project so, beside it
                key = (entry.mode, entry.settings)
                if key not in baselines:
                    baselines[key] = measure(None, args.full, workdir, *key)
                ablations[name]["baseline_curves"] = baselines[key].get("curves")
            print(ablations[name].get("verdict", "no verdict")[:100], flush=True)
        section["ablations"] = {n: ablations[n] for n in ABLATIONS if n in ablations}
    command = " ".join(["python -m parity.ablations", *(argv or sys.argv[1:])])
    run = {**provenance_run(command, path), "ablations": names}
    earlier = section.get("provenance", {}).get("runs", []) if args.only else []
    section["provenance"] = {
        "runs": [*earlier, run],
        "machine": machine(),
        "bridges": [b.id for b in BRIDGES],
        "versions": section["baseline"].pop("versions", {}),
    }
    for entry in section["ablations"].values():
        entry.pop("versions", None)
    doc[config] = section
    write_json(path, doc)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
