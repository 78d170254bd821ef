"""A comparison's run directory: made new for each run (never an earlier run's), emptied when the run
could not be made, and marked when Ctrl-C stopped it, so that no reader takes it for a finished run.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from shared.exit_codes import EXIT_INTERRUPTED
from shared.results import write_json

INTERRUPTED = "interrupted.json"  # in an interrupted run's directory: what was running, and when


def new_run_dir(out: str | None) -> Path:
    """`out`, which must be new or empty, or runs/<timestamp>/ (made)."""
    if out:
        path = Path(out)
        if path.exists() and any(path.iterdir()):
            raise FileExistsError(
                f"--out {out} already holds files: choose a new directory "
                f"(compare.py never overwrites an earlier run)"
            )
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path("runs") / stamp
        n = 1
        while path.exists():
            n += 1
            path = Path("runs") / f"{stamp}-{n}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def discard_run_dir(path: Path, made: bool) -> None:
    """Remove what a run that could not be made wrote (and its directory, where compare.py made it)."""
    if made:
        shutil.rmtree(path)
        return
    for written in path.iterdir():
        if written.is_dir():
            shutil.rmtree(written)
        else:
            written.unlink()


def mark_interrupted(path: Path, during: str, command: str, resume: str | None = None) -> None:
    write_json(
        path / INTERRUPTED,
        {
            "interrupted": True,
            "during": during,
            "command": command,
            "resume": resume,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )


def clear_interrupted(path: Path) -> None:
    """A resumed run is running again: no longer marked as interrupted."""
    (path / INTERRUPTED).unlink(missing_ok=True)


def interrupted(path: Path | None, during: str, command: str, resume: str | None = None) -> int:
    """After Ctrl-C (the sides already stopped): mark the run directory, say in one line what was
    interrupted and where the partial run is; the exit status."""
    if path is None or not path.exists():
        where = "nothing was written"
    else:
        mark_interrupted(path, during, command, resume)
        where = f"the partial run is in {path}/ (marked by {INTERRUPTED})"
    follow = f"; continue with: {resume}" if resume else ""
    print(f"\ninterrupted (Ctrl-C) during {during}; {where}{follow}", file=sys.stderr)
    return EXIT_INTERRUPTED
