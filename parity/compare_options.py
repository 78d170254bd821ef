"""compare.py's command line, and the command line each side gets from it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from parity.bridges import ABLATIONS
from parity.runner import add_keras_backend_option
from shared.cli import add_spec_options, spec_overrides
from shared.spec import MODES

DESCRIPTION = (
    "Train the Keras and the PyTorch pipelines on one spec and check that their curves line up."
)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compare.py", description=DESCRIPTION)
    add_spec_options(parser)
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=None,  # aligned; with --seeds, independent
        help="aligned (the default of a single run): same initial weights and sample order on both "
        "sides; independent (the default with --seeds): nothing shared but the spec and the seed; "
        "lockstep: aligned plus every augmentation and dropout draw, every step compared",
    )
    for side, name in (("keras", "Keras"), ("torch", "PyTorch")):
        parser.add_argument(
            f"--{side}-set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"override a spec value on the {name} side only",
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
    add_keras_backend_option(parser)
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
        "--probe-only",
        action="store_true",
        help="the audit and the float64 lockstep probe (each side in its own process), no "
        "training: seconds; exit 0 when no setting differs and the probe agrees at every step, "
        "1 otherwise (the first difference located)",
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
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """compare.py's arguments, each --ablate ID added to its side's one-sided overrides."""
    command = parser()
    args = command.parse_args(argv)
    if args.probe_only and (args.audit or args.seeds is not None or args.resume):
        command.error("--probe-only runs alone: not with --audit, --seeds or --resume")
    args.probe = True  # every run probes; the seeds' runs after the first do not
    for name in args.ablate:  # one-sided overrides of the [ablate] switches
        entry = ABLATIONS[name]
        side_sets = args.keras_set if entry.side == "keras" else args.torch_set
        if f"ablate.{entry.switch}=true" not in side_sets:
            side_sets.append(f"ablate.{entry.switch}=true")
    return args


def defaults() -> dict:
    """Every option's value when not given (for --resume, which tells given options by them)."""
    return vars(parser().parse_args([]))


def command_line(argv: list[str] | None) -> str:
    """The command as the user gave it, for a report's Reproduce section."""
    return " ".join(["python", "compare.py", *(sys.argv[1:] if argv is None else argv)])


def side_sets(args: argparse.Namespace) -> dict[str, list[str]]:
    """Each side's one-sided overrides (KEY=VALUE), by side."""
    return {"keras": args.keras_set, "torch": args.torch_set}


def side_options(args: argparse.Namespace, one_sided: list[str], out: Path) -> list[str]:
    """The command-line options of one side's run, writing its result to `out` and, beside it,
    its audit (OUT-audit.json) and, unless args.probe is false, its probe (OUT-probe.json)."""
    return [
        *("--mode", args.mode, "--out", str(out), "--device", args.device),
        # the same shared weights and order, whatever one side's seed
        *("--align-seed", str(args.align_seed)),
        *(["--quick"] if args.quick else []),
        *(["--data-dir", args.data_dir] if args.data_dir else []),
        *(["--download"] if args.download else []),
        *[f"--set={item}" for item in [*spec_overrides(args), *one_sided]],
        # every run describes its pipeline first, in its own process, for the audit
        *("--audit", str(audit_path(out))),
        # then runs the float64 lockstep probe (with --seeds: the first seed's runs only)
        *(("--probe", str(probe_path(out))) if args.probe else ()),
    ]


def audit_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}-audit.json")


def probe_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}-probe.json")
