"""What `python compare.py` does: check the spec and the data, make the run directory, run both sides
(each in its own process: the audit, the float64 lockstep probe, then training), judge, report, and
return the exit status (shared/exit_codes.py). --audit and --probe-only train nothing
(parity/audit_and_probe.py); --seeds and --resume are parity/seeds_command.py's.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

from parity import runner, settings_audit, step_comparison
from parity.audit_and_probe import audit_only, probe_only
from parity.checks import parity_checks, uncalibrated, unjudged, verdict
from parity.compare_options import (
    command_line,
    parse_args,
    probe_path,
    side_options,
    side_sets,
)
from parity.report import plot_curves, terminal_summary, write_report
from parity.run_dirs import discard_run_dir, interrupted, new_run_dir
from parity.tolerances import CalibrationError, calibration_name, tolerances
from shared.cli import spec_overrides
from shared.exit_codes import EXIT_CRASH, EXIT_FAIL, EXIT_PASS, EXIT_USAGE
from shared.mnist import DataError, load_mnist
from shared.results import SIDES, read_result, write_json
from shared.spec import SpecError, load_spec


class Progress:
    """Where a run is, for the one line Ctrl-C prints: its directory once made, and its phase."""

    def __init__(self, args: argparse.Namespace):
        self.args, self.out_dir, self.phase = args, None, "the check of the spec and the data"

    def during(self) -> str:
        if self.phase != "sides" or self.out_dir is None:
            return self.phase
        doing = []
        for side in SIDES:
            out = self.out_dir / f"{side}.json"
            if self.args.probe and not probe_path(out).exists():
                doing.append(f"the {side} side's probe")
            elif not (self.args.audit or self.args.probe_only or out.exists()):
                doing.append(f"the {side} side's training")
            elif self.args.audit or self.args.probe_only:
                doing.append(f"the {side} side's audit")
            if doing and self.args.one_at_a_time:
                break  # the sides after it had not started
        return " and ".join(doing) or "the end of the sides' runs"


def compare(argv: list[str] | None = None) -> int:
    """compare.py, to its exit status."""
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.keras_backend  # read by the Keras side's process at import
    if args.seeds is not None or args.resume:
        # SciPy's statistics take a second to import: only --seeds needs them
        from parity import seeds_command

        return seeds_command.run_command(args, argv)
    progress = Progress(args)
    try:
        return run(args, argv, progress)
    except KeyboardInterrupt:  # the sides are stopped already (parity/runner.py)
        return interrupted(progress.out_dir, progress.during(), command_line(argv))


def run(args: argparse.Namespace, argv: list[str] | None, progress: Progress) -> int:
    args.mode = args.mode or "aligned"
    args.probe = not args.audit
    try:
        spec = load_spec(spec_overrides(args), quick=args.quick)
        for one_sided in side_sets(args).values():
            load_spec([*spec_overrides(args), *one_sided], quick=args.quick)
        # fetched and verified once, before either side runs
        load_mnist(args.data_dir, download=args.download)
        tolerances(
            spec, args.mode
        )  # the calibration that will judge the curves, read before training
        out_dir = progress.out_dir = new_run_dir(args.out)
        args.align_seed = spec.train.seed
    except (SpecError, DataError, CalibrationError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE

    command = command_line(argv)
    what = f"{args.mode} mode, {spec.train.epochs} epochs"
    if args.audit or args.probe_only:
        what = "the audit" + (" and the float64 lockstep probe, no training" if args.probe else "")
    print(f"mnist-parity: Keras vs PyTorch, {what}; results in {out_dir}/", flush=True)
    sets = side_sets(args)
    write_json(
        out_dir / "spec.json",
        {"spec": spec.to_dict(), "mode": args.mode, "command": command, **_named(sets)},
    )
    progress.phase = "sides"
    if args.audit:
        return audit_only(args, sets, out_dir, command)
    if args.probe_only:
        return probe_only(args, sets, spec, out_dir, command)
    # the plots' library, imported while the sides train (about half a second of the run's end)
    threading.Thread(target=_import_plotting, daemon=True).start()
    runs = runner.run_sides(
        {side: side_options(args, sets[side], out_dir / f"{side}.json") for side in SIDES},
        echo=True,
        at_once=not args.one_at_a_time,
    )
    progress.phase = "the verdict and the report"
    results, crashed = dict.fromkeys(SIDES), []
    for side, side_run in runs.items():
        path = out_dir / f"{side}.json"
        if side_run.returncode == EXIT_USAGE and not path.exists():
            discard_run_dir(out_dir, made=args.out is None)
            progress.out_dir = None
            print(
                f"error: the {side} side refused its arguments (see above): nothing was trained "
                f"and nothing written to {out_dir}",
                file=sys.stderr,
            )
            return EXIT_USAGE
        try:
            if side_run.returncode not in (0, 1):
                raise RuntimeError(side_run.describe_exit())
            results[side] = read_result(path)
        except (RuntimeError, OSError, ValueError) as err:
            crashed.append(side)
            print(
                f"\n!!! the {side} side crashed ({err}); the end of its output:\n"
                f"{side_run.output_tail}",
                file=sys.stderr,
            )
    return judge(args, spec, sets, out_dir, command, results, crashed)


def _import_plotting() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401


def _named(sets: dict[str, list[str]]) -> dict[str, list[str]]:
    return {f"{side}_set": one_sided for side, one_sided in sets.items()}


def judge(args, spec, sets, out_dir: Path, command: str, results: dict, crashed: list[str]) -> int:
    """The verdict on both sides' files in `out_dir`: printed, and in parity.json, report.md,
    curves.png and lockstep.png; the exit status."""
    keras, torch = results["keras"], results["torch"]
    paths = {side: out_dir / f"{side}-audit.json" for side in SIDES}
    rows = settings_audit.compare_files(paths, sets)
    paths = {side: out_dir / f"{side}-probe.json" for side in SIDES}
    probe_check, probe = step_comparison.read_probe(paths, spec)
    main_steps = None
    if args.mode == "lockstep" and keras and torch:
        main_steps = step_comparison.compare_steps(keras, torch, spec)
    checks = [
        *([settings_audit.audit_check(rows)] if rows else []),
        # a crashed side is named by its own check
        *([probe_check] if not crashed else []),
        *parity_checks(keras, torch, spec, args.mode),
    ]
    if differing := uncalibrated(spec):
        checks = unjudged(checks, differing, calibration_name(spec))
    if main_steps:
        checks.append(step_comparison.lockstep_check(main_steps, "lockstep"))
    line = verdict(checks, args.mode)
    notes = [f"the {side} side crashed: no result" for side in crashed]
    if not args.one_at_a_time:
        notes.append(
            "the sides ran at the same time, sharing the machine: their phase times include it "
            "(compare.py --one-at-a-time, or bench.py, times each side alone)"
        )
    notes += [
        f"one-sided overrides: {side} {' '.join(one_sided)}"
        for side, one_sided in sets.items()
        if one_sided
    ]
    if keras and torch and keras.device != torch.device:
        notes.append(
            f"the sides ran on different devices (keras {keras.device}, torch {torch.device}): "
            "float32 arithmetic differs slightly between devices"
        )
    passed = all(c.passed for c in checks)
    write_json(
        out_dir / "parity.json",
        {
            "mode": args.mode,
            "passed": passed,
            "verdict": line,
            "checks": [c.to_dict() for c in checks],
            "audit": [r.to_dict() for r in rows],
        },
    )
    comparisons = {"probe": probe, "lockstep": main_steps}
    write_report(
        out_dir / "report.md",
        keras,
        torch,
        checks,
        line,
        args.mode,
        command,
        notes,
        rows,
        {what: c for what, c in comparisons.items() if c},
    )
    plot_curves(out_dir / "curves.png", keras, torch, spec, args.mode)
    step_comparison.plot_steps(out_dir / "lockstep.png", comparisons)

    if rows:
        print(f"\n{settings_audit.summary_line(rows)}")
        for r in rows:
            if r.status == "differs":
                print(f"  differs: {r.group}: {r.label}: keras {r.keras}, torch {r.torch}")
    print(f"\n{terminal_summary(keras, torch, checks)}\n")
    for note in notes:
        print(f"note: {note}")
    print(f"{line}\nreport: {out_dir / 'report.md'}  curves: {out_dir / 'curves.png'}")
    if crashed:
        return EXIT_CRASH
    return EXIT_PASS if passed else EXIT_FAIL
