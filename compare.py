"""Train the Keras and the PyTorch pipelines on one spec and check that their curves line up.

    python compare.py                  # defaults: aligned mode, 10 epochs, both sides
    python compare.py --quick          # a smoke run, well under a minute
    python compare.py --torch-set train.lr=1e-2 --quick   # a one-sided change: the verdict must fail
    python compare.py --seeds 5 --quick   # 5 runs per side, equivalence by TOST (parity/seeds.py)
    python compare.py --mode lockstep --dtype float64   # every draw shared, every step compared
    python compare.py --quick --ablate adam-epsilon     # one bridge off on one side: what it costs

Every run starts with the audit of both pipelines and a float64 lockstep probe (a small subset, two
epochs, every step compared), then trains in the chosen mode.

Exit status: 0 every parity check passed; 1 a check failed; 2 a usage, spec or data error;
3 a side crashed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from parity import audit, lockstep, runner
from parity.bridges import ABLATIONS
from parity.checks import parity_checks, verdict
from parity.report import plot_curves, terminal_summary, write_report
from shared.cli import add_spec_options, spec_overrides
from shared.mnist import DataError, load_mnist
from shared.results import SIDES, read_result, write_atomically, write_json
from shared.spec import MODES, SpecError, load_spec

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_CRASH = 0, 1, 2, 3


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="compare.py", description=__doc__.split("\n")[0])
    add_spec_options(parser)
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=None,  # aligned; with --seeds, independent
        help="aligned (the default of a single run): same initial weights and sample order on both "
        "sides; independent (the default with --seeds): nothing shared but the spec and the seed; "
        "lockstep: aligned plus every augmentation and dropout draw, every step compared",
    )
    parser.add_argument(
        "--keras-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value on the Keras side only",
    )
    parser.add_argument(
        "--torch-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value on the PyTorch side only",
    )
    parser.add_argument(
        "--ablate",
        action="append",
        default=[],
        choices=sorted(ABLATIONS),
        metavar="ID",
        help="turn one bridged difference off (or make one porting slip) on the side that "
        "parity/bridges.py names, a one-sided change on purpose: " + ", ".join(sorted(ABLATIONS)),
    )
    parser.add_argument(
        "--quick", action="store_true", help="the spec's [quick] smoke configuration"
    )
    parser.add_argument(
        "--out", help="output directory (default: runs/<timestamp>/; never overwritten)"
    )
    runner.add_keras_backend_option(parser)
    parser.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="run the sides one after the other, each with the whole machine, for phase times "
        "undisturbed by the other side (default: both at once, the PyTorch side's output shown "
        "after the Keras side's)",
    )
    parser.add_argument(
        "--audit",
        action="store_true",
        help="list every setting both sides use, read from their live objects, side by side; "
        "train nothing; exit 0 when no setting differs, 1 otherwise",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        metavar="K",
        help="train each side K times (seeds seed..seed+K-1; independent mode unless --mode is "
        "given) and judge the final test scores by equivalence tests (TOST) against the spec's "
        "margins: equivalent (exit 0), shown different or inconclusive (exit 1)",
    )
    parser.add_argument(
        "--resume",
        metavar="DIR",
        help="finish an interrupted --seeds run in DIR with its saved arguments; finished seeds are "
        "not trained again, and different arguments are refused (exit 2)",
    )
    return parser.parse_args(argv)


def new_run_dir(out: str | None) -> Path:
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


def side_options(args: argparse.Namespace, side_sets: list[str], out: Path) -> list[str]:
    return [
        *("--mode", args.mode, "--out", str(out), "--device", args.device),
        # the same shared weights and order, whatever one side's seed
        *("--align-seed", str(args.align_seed)),
        *(["--quick"] if args.quick else []),
        *(["--data-dir", args.data_dir] if args.data_dir else []),
        *(["--download"] if args.download else []),
        *[f"--set={item}" for item in [*spec_overrides(args), *side_sets]],
        # every run describes its pipeline first, in its own process, for the audit
        *("--audit", str(out.with_name(f"{out.stem}-audit.json"))),
        # then runs the float64 lockstep probe (with --seeds: the first seed's runs only)
        *(("--probe", str(out.with_name(f"{out.stem}-probe.json"))) if args.probe else ()),
    ]


def audit_only(
    args: argparse.Namespace, sets: dict[str, list[str]], out_dir: Path, command: str
) -> int:
    """compare.py --audit: each side describes its pipeline and trains nothing."""
    audit_args = argparse.Namespace(**{**vars(args), "probe": False})
    runs = runner.run_sides(
        {
            side: [*side_options(audit_args, side_sets, out_dir / f"{side}.json"), "--audit-only"]
            for side, side_sets in sets.items()
        },
        at_once=not args.one_at_a_time,
    )
    for side, run in runs.items():
        if run.returncode != 0:
            print(
                f"error: the {side} side could not describe its pipeline ({run.describe_exit()}):"
            )
            print(run.output_tail, file=sys.stderr)
            return EXIT_USAGE if run.returncode == EXIT_USAGE else EXIT_CRASH
    descriptions = audit.read_descriptions({side: out_dir / f"{side}-audit.json" for side in SIDES})
    asked = {side: audit.asked_keys(side_sets) for side, side_sets in sets.items()}
    rows = audit.classify(descriptions["keras"], descriptions["torch"], asked)
    line = audit.summary_line(rows)
    write_json(
        out_dir / "audit.json",
        {"passed": audit.passed(rows), "summary": line, "rows": [r.to_dict() for r in rows]},
    )
    text = f"# mnist-parity audit\n\n**{line}**\n\n{audit.audit_table(rows, markdown=True)}\n\n"
    write_atomically(out_dir / "report.md", (text + f"```\n{command}\n```\n").encode())
    print(f"{audit.audit_table(rows)}\n\n{line}\nreport: {out_dir / 'report.md'}")
    return EXIT_PASS if audit.passed(rows) else EXIT_FAIL


def main(argv=None) -> int:
    args = parse_args(argv)
    args.probe = True
    for name in args.ablate:  # one-sided overrides of the [ablate] switches
        entry = ABLATIONS[name]
        side_sets = args.keras_set if entry.side == "keras" else args.torch_set
        if f"ablate.{entry.switch}=true" not in side_sets:
            side_sets.append(f"ablate.{entry.switch}=true")
    os.environ["KERAS_BACKEND"] = args.keras_backend  # read by the Keras side's process at import
    if args.seeds is not None or args.resume:
        # SciPy's statistics take a second to import: only --seeds needs them
        from parity import seeds

        return seeds.run_command(args, argv, vars(parse_args([])), side_options, new_run_dir)
    args.mode = args.mode or "aligned"
    try:
        spec = load_spec(spec_overrides(args), quick=args.quick)
        for side_sets in (args.keras_set, args.torch_set):
            load_spec([*spec_overrides(args), *side_sets], quick=args.quick)
        # fetched and verified once, before either side runs
        load_mnist(args.data_dir, download=args.download)
        out_dir = new_run_dir(args.out)
        args.align_seed = spec.train.seed
    except (SpecError, DataError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE

    command = (
        " ".join(["python", *sys.argv])
        if argv is None
        else " ".join(["python", "compare.py", *argv])
    )
    what = "the audit" if args.audit else f"{args.mode} mode, {spec.train.epochs} epochs"
    print(f"mnist-parity: Keras vs PyTorch, {what}; results in {out_dir}/")
    write_json(
        out_dir / "spec.json",
        {
            "spec": spec.to_dict(),
            "mode": args.mode,
            "command": command,
            "keras_set": args.keras_set,
            "torch_set": args.torch_set,
        },
    )
    sets = dict(zip(SIDES, (args.keras_set, args.torch_set)))
    if args.audit:
        return audit_only(args, sets, out_dir, command)
    results, crashed = dict.fromkeys(SIDES), []
    runs = runner.run_sides(
        {
            side: side_options(args, side_sets, out_dir / f"{side}.json")
            for side, side_sets in sets.items()
        },
        echo=True,
        at_once=not args.one_at_a_time,
    )
    for side, run in runs.items():
        path = out_dir / f"{side}.json"
        if run.returncode == EXIT_USAGE and not path.exists():
            discard_run_dir(out_dir, made=args.out is None)
            print(
                f"error: the {side} side refused its arguments (see above): nothing was trained "
                f"and nothing written to {out_dir}",
                file=sys.stderr,
            )
            return EXIT_USAGE
        try:
            if run.returncode not in (0, 1):
                raise RuntimeError(run.describe_exit())
            results[side] = read_result(path)
        except (RuntimeError, OSError, ValueError) as err:
            crashed.append(side)
            print(
                f"\n!!! the {side} side crashed ({err}); the end of its output:\n{run.output_tail}",
                file=sys.stderr,
            )
    keras, torch = results["keras"], results["torch"]
    descriptions = audit.read_descriptions({side: out_dir / f"{side}-audit.json" for side in SIDES})
    rows = []
    if descriptions:
        asked = {side: audit.asked_keys(side_sets) for side, side_sets in sets.items()}
        rows = audit.classify(descriptions["keras"], descriptions["torch"], asked)
    paths = {side: out_dir / f"{side}-probe.json" for side in SIDES}
    probe_check, probe = lockstep.read_probe(paths, spec)
    main_steps = None
    if args.mode == "lockstep" and keras and torch:
        main_steps = lockstep.compare_steps(keras, torch, spec)
    checks = [
        *([audit.audit_check(rows)] if rows else []),
        # a crashed side is named by its own check
        *([probe_check] if not crashed else []),
        *parity_checks(keras, torch, spec, args.mode),
        *([lockstep.lockstep_check(main_steps, "lockstep")] if main_steps else []),
    ]
    line = verdict(checks, args.mode)
    notes = [f"the {side} side crashed: no result" for side in crashed]
    if not args.one_at_a_time:
        notes.append(
            "the sides ran at the same time, sharing the machine: their phase times include it "
            "(compare.py --one-at-a-time, or bench.py, times each side alone)"
        )
    notes += [
        f"one-sided overrides: {side} {' '.join(sets)}"
        for side, sets in zip(SIDES, (args.keras_set, args.torch_set))
        if sets
    ]
    if keras and torch and keras.device != torch.device:
        notes.append(
            f"the sides ran on different devices (keras {keras.device}, torch {torch.device}): "
            "float32 arithmetic differs slightly between devices"
        )
    write_json(
        out_dir / "parity.json",
        {
            "mode": args.mode,
            "passed": all(c.passed for c in checks),
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
    lockstep.plot_steps(out_dir / "lockstep.png", comparisons)

    if rows:
        print(f"\n{audit.summary_line(rows)}")
        for r in rows:
            if r.status == "differs":
                print(f"  differs: {r.group}: {r.label}: keras {r.keras}, torch {r.torch}")
    print(f"\n{terminal_summary(keras, torch, checks)}\n")
    for note in notes:
        print(f"note: {note}")
    print(f"{line}\nreport: {out_dir / 'report.md'}  curves: {out_dir / 'curves.png'}")
    if crashed:
        return EXIT_CRASH
    return EXIT_PASS if all(c.passed for c in checks) else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
