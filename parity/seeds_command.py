"""`compare.py --seeds K` and `--resume DIR`: K runs per side (parity/seeds.py), judged by equivalence
tests (parity/seeds_report.py).

    python compare.py --seeds 5 --quick          # independent mode unless --mode says otherwise
    python compare.py --resume runs/20250101-120000   # an interrupted run: only missing seeds train

DIR/seeds.json keeps the arguments, for --resume; DIR/seeds/ each finished run. Ctrl-C stops both
sides, marks DIR interrupted (parity/run_dirs.py) and prints the command that resumes it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from parity import settings_audit, step_comparison
from parity.compare_options import command_line, defaults, side_options, side_sets
from parity.run_dirs import clear_interrupted, interrupted, new_run_dir
from parity.seeds import (
    RUNS,
    SideCrashed,
    SideRefused,
    collect,
    normal_json,
    run_path,
    training_part,
)
from parity.seeds_report import band_table, write_outputs
from shared.cli import spec_overrides
from shared.exit_codes import EXIT_CRASH, EXIT_FAIL, EXIT_PASS, EXIT_USAGE
from shared.mnist import DataError, load_mnist
from shared.results import SIDES, write_json
from shared.spec import Spec, load_spec

SAVED = "seeds.json"  # the arguments of a --seeds run, for --resume
NOT_SAVED = ("resume", "out", "one_at_a_time")  # compare.py options that change nothing computed


def _flag(dest: str) -> str:
    return {"overrides": "--set"}.get(dest, "--" + dest.replace("_", "-"))


def resume_arguments(
    args: argparse.Namespace, defaults: dict[str, Any]
) -> tuple[argparse.Namespace, dict]:
    """The saved run's arguments (and its seeds.json) for --resume DIR. An option counts as given
    when it differs from its default; ValueError names a given option that differs from the saved
    run, or the missing seeds.json."""
    if args.out:
        raise ValueError("--resume continues in its own directory: leave out --out")
    path = Path(args.resume) / SAVED
    try:
        doc = json.loads(path.read_text())
        saved = doc["arguments"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"--resume {args.resume}: no readable {SAVED} there ({err})") from err
    for dest, value in vars(args).items():
        if dest in NOT_SAVED or normal_json(value) == normal_json(defaults.get(dest)):
            continue  # not given on this command line
        before = saved.get(dest, normal_json(defaults.get(dest)))
        if normal_json(value) != before:
            raise ValueError(
                f"--resume {args.resume}: {_flag(dest)} differs from the saved run "
                f"({json.dumps(before)} there, {json.dumps(normal_json(value))} now); resume with "
                f"`--resume {args.resume}` alone, or start a new comparison with --out"
            )
    given = {"resume": args.resume, "out": None, "one_at_a_time": args.one_at_a_time}
    merged = {**defaults, **saved, **given}
    return argparse.Namespace(**merged), doc


def run_command(args: argparse.Namespace, argv: list[str] | None) -> int:
    """compare.py --seeds K / --resume DIR, to its exit status."""
    command = command_line(argv)
    commands = [command]
    try:
        saved_doc = None
        if args.resume:
            args, saved_doc = resume_arguments(args, defaults())
            commands = [saved_doc.get("command", "?"), f"# resumed: {command}"]
            os.environ["KERAS_BACKEND"] = args.keras_backend  # the saved run's
        if args.seeds is None or args.seeds < 2:
            raise ValueError(
                f"--seeds needs at least 2 runs per side for a spread, not {args.seeds}"
            )
        args.mode = args.mode or "independent"
        spec = load_spec(spec_overrides(args), quick=args.quick)
        for one_sided in side_sets(args).values():
            load_spec([*spec_overrides(args), *one_sided], quick=args.quick)
        if saved_doc is not None and training_part("spec", spec.to_dict()) != training_part(
            "spec", saved_doc.get("spec", {})
        ):
            raise ValueError(
                f"--resume {args.resume}: the spec (shared/spec.toml) changed since this run "
                "began, so its finished runs no longer match; start a new comparison with --out"
            )
        load_mnist(args.data_dir, download=args.download)
        out_dir = Path(args.resume) if args.resume else new_run_dir(args.out)
    except (ValueError, OSError, DataError) as err:  # SpecError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE

    seeds = [spec.train.seed + k for k in range(args.seeds)]
    resume = f"python compare.py --resume {out_dir}"
    phase = "training"
    try:
        if saved_doc is None:
            write_json(
                out_dir / SAVED,
                {
                    "command": command,
                    "arguments": {k: v for k, v in vars(args).items() if k not in NOT_SAVED},
                    "seeds": seeds,
                    "spec": spec.to_dict(),
                },
            )
        clear_interrupted(out_dir)  # running again
        start = time.monotonic()
        try:
            results = train_seeds(args, spec, seeds, out_dir)
        except SideRefused as err:
            print(f"error: {err}", file=sys.stderr)
            return EXIT_USAGE
        except SideCrashed as err:
            print(
                f"\n!!! {err}; the end of its output:\n{err.run.output_tail}\n"
                f"finished runs are kept: continue with {resume}",
                file=sys.stderr,
            )
            return EXIT_CRASH
        phase = "the verdict and the report"
        return judge_seeds(args, spec, seeds, out_dir, results, commands, start)
    except KeyboardInterrupt:  # the sides are stopped already (parity/runner.py)
        if phase == "training":
            phase = seeds_during(out_dir, seeds)
        saved = (out_dir / SAVED).exists()
        return interrupted(out_dir, phase, command, resume if saved else None)


def seeds_during(out_dir: Path, seeds: list[int]) -> str:
    """The seed whose runs were training, from the finished runs' files."""
    for n, seed in enumerate(seeds):
        missing = [side for side in SIDES if not run_path(out_dir / RUNS, side, seed).exists()]
        if missing:
            return f"seed {n + 1} of {len(seeds)} (seed {seed}): training {' and '.join(missing)}"
    return "the end of the seeds' runs"


def train_seeds(args: argparse.Namespace, spec: Spec, seeds: list[int], out_dir: Path) -> dict:
    """Every seed's runs of both sides, those already in out_dir/seeds read back (parity/seeds.py)."""
    sets = side_sets(args)

    def run_args(seed: int) -> argparse.Namespace:
        # run k: seed + k for the framework's draws; in aligned mode the shared weights and order too
        # the probe runs with the first seed only: it checks the code, not the seed
        probe = seed == seeds[0]
        return argparse.Namespace(
            **{**vars(args), "seed": seed, "align_seed": seed, "probe": probe}
        )

    def options(side: str, seed: int, out: Path) -> list[str]:
        return [*side_options(run_args(seed), sets[side], out), "--quiet"]

    def expected(side: str, seed: int) -> dict[str, Any]:
        side_spec = load_spec([*spec_overrides(run_args(seed)), *sets[side]], quick=args.quick)
        return {"mode": args.mode, "align_seed": seed, "spec": side_spec.to_dict()}

    print(
        f"mnist-parity across seeds: Keras vs PyTorch, {args.mode} mode, {len(seeds)} seeds per "
        f"side ({seeds[0]}..{seeds[-1]}), {spec.train.epochs} epochs; results in {out_dir}/",
        flush=True,
    )
    return collect(
        out_dir / RUNS,
        seeds,
        options,
        expected,
        log=lambda s: print(s, flush=True),
        at_once=not args.one_at_a_time,
    )


def judge_seeds(args, spec, seeds, out_dir: Path, results, commands, start: float) -> int:
    """The verdict on the seeds' runs: printed, and written to out_dir; the exit status."""
    sets = side_sets(args)
    notes = [f"one-sided overrides: {side} {' '.join(s)}" for side, s in sets.items() if s]
    # the audit of the first seed's pipelines: every run describes its own before it trains
    paths = {side: out_dir / RUNS / f"{side}-seed{seeds[0]}-audit.json" for side in SIDES}
    audit_rows = settings_audit.compare_files(paths, sets) or None
    if audit_rows:
        print(settings_audit.summary_line(audit_rows))
    paths = {side: out_dir / RUNS / f"{side}-seed{seeds[0]}-probe.json" for side in SIDES}
    probe = step_comparison.read_probe(paths, spec)
    passed, line, equivalences, by_side = write_outputs(
        out_dir, results, spec, args.mode, commands, notes, audit_rows, probe
    )
    print(f"\n{band_table(by_side)}\n")
    for e in equivalences:
        print(f"{e.metric}: {e.sentence}")
    for note in notes:
        print(f"note: {note}")
    print(
        f"{line}\n{time.monotonic() - start:.0f} s; report: {out_dir / 'report.md'}  "
        f"curves: {out_dir / 'curves.png'}"
    )
    return EXIT_PASS if passed else EXIT_FAIL
