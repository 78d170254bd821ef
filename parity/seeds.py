"""The multi-seed machinery that `compare.py --seeds K` (parity/seeds_command.py) and
parity/calibrate.py share: K seeds per side trained into a directory, each finished run kept.

Run k of K uses seed + k for everything it draws (in aligned mode the shared weights and order too).
Each run is written by its side, atomically, to DIR/seeds/{side}-seed{N}.json as it finishes, so an
interrupted comparison resumes where it stopped. Their judging, report and plots:
parity/seeds_report.py and parity/seeds_plot.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from parity.runner import SideRun, run_sides
from shared.exit_codes import EXIT_USAGE
from shared.results import SIDES, Result, read_result

RUNS = "seeds"  # DIR/seeds/{side}-seed{N}.json


class SideCrashed(RuntimeError):
    def __init__(self, side: str, seed: int, run: SideRun, why: str):
        super().__init__(f"the {side} side crashed at seed {seed} ({why})")
        self.side, self.seed, self.run = side, seed, run


class SideRefused(RuntimeError):
    """A side exited with the usage status before writing anything: its arguments are wrong."""


def run_path(directory: Path, side: str, seed: int) -> Path:
    return Path(directory) / f"{side}-seed{seed}.json"


def normal_json(value: Any) -> Any:
    """As JSON would give it back (tuples become lists), so that saved and live values compare."""
    return json.loads(json.dumps(value))


def load_run(
    path: Path, side: str, seed: int, expected: dict[str, Any] | None = None
) -> Result | str:
    """The finished run at `path`, or why it cannot be used (unreadable, or another run's file)."""
    try:
        result = read_result(path)
    except (OSError, ValueError) as err:  # a JSONDecodeError is a ValueError
        return f"unreadable: {err}"
    if result.framework != side or result.seed != seed:
        return f"holds {result.framework} seed {result.seed}, not {side} seed {seed}"
    for key, value in (expected or {}).items():
        if training_part(key, getattr(result, key)) != training_part(key, value):
            return f"its {key} is not this run's"
    return result


def training_part(key: str, value: Any) -> Any:
    """What of a Result field decides the training: of the spec, all but the verdict's margins
    ([parity], and the [quick] table, whose training values are already in the other sections)."""
    value = normal_json(value)
    if key == "spec":
        return {name: part for name, part in value.items() if name not in ("parity", "quick")}
    return value


def collect(
    directory: Path,
    seeds: list[int],
    options: Callable[[str, int, Path], list[str]],
    expected: Callable[[str, int], dict[str, Any]] | None = None,
    sides: tuple[str, ...] = SIDES,
    log: Callable[[str], None] = print,
    at_once: bool = True,
) -> dict[str, list[Result]]:
    """Run every side once per seed (a seed's sides at the same time, unless not `at_once`), keeping
    each finished run in `directory`/{side}-seed{N}.json; a run already there is read back instead of
    trained again.

    `options(side, seed, out)` gives the side's command-line options (it must write its result to
    `out`); `expected(side, seed)` the Result fields a kept run must have (mode, align_seed, spec).
    A kept file that is unreadable or belongs to another run is reported by name, set aside as
    *.damaged, and trained again. Raises SideCrashed or SideRefused."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, Result]] = {side: {} for side in sides}
    todo = []
    for seed in seeds:
        for side in sides:
            path = run_path(directory, side, seed)
            if not path.exists():
                todo.append((side, seed))
                continue
            loaded = load_run(path, side, seed, expected(side, seed) if expected else None)
            if isinstance(loaded, Result):
                results[side][seed] = loaded
                continue
            path.replace(path.with_name(path.name + ".damaged"))
            what = "damaged run file" if loaded.startswith("unreadable") else "foreign run file"
            log(f"{what} {path}: {loaded}; training it again (set aside as *.damaged)")
            todo.append((side, seed))
    kept = sum(map(len, results.values()))
    if kept:
        log(f"{kept} finished run(s) kept from {directory}; {len(todo)} to train")

    by_seed: dict[int, list[str]] = {}
    for side, seed in todo:
        by_seed.setdefault(seed, []).append(side)
    durations: list[float] = []
    for n, (seed, seed_sides) in enumerate(by_seed.items()):
        left = (
            f"about {np.mean(durations) * (len(by_seed) - n):.0f} s left"
            if durations
            else "time left known after the first seed"
        )
        log(
            f"seed {seeds.index(seed) + 1} of {len(seeds)} (seed {seed}): training "
            f"{' and '.join(seed_sides)} [{n + 1} of {len(by_seed)}]; {left}"
        )
        paths = {side: run_path(directory, side, seed) for side in seed_sides}
        start = time.monotonic()
        runs = run_sides(
            {side: options(side, seed, path) for side, path in paths.items()}, at_once=at_once
        )
        durations.append(time.monotonic() - start)
        for side, run in runs.items():
            if run.returncode == EXIT_USAGE and not paths[side].exists():
                raise SideRefused(f"the {side} side refused its arguments:\n{run.output_tail}")
        for side, run in runs.items():
            if run.returncode not in (0, 1):
                raise SideCrashed(side, seed, run, run.describe_exit())
            loaded = load_run(paths[side], side, seed)
            if not isinstance(loaded, Result):
                raise SideCrashed(side, seed, run, f"its result {paths[side]} is {loaded}")
            results[side][seed] = loaded
            score = (
                f"test accuracy {loaded.test.accuracy:.4f}, test loss {loaded.test.loss:.4f}"
                if loaded.ok
                else f"STOPPED: {loaded.message}"
            )
            log(f"  {side} seed {seed}: {score}")
        log(f"  seed {seed}: {durations[-1]:.1f} s")
    return {side: [results[side][seed] for seed in seeds] for side in sides}
