"""The instrumented side, `python -m keras_parity.side` and `python -m torch_parity.side`: the side's
own pipeline (keras_impl/, torch_impl/), built as `python -m {side}_impl.train` builds it, with the
parity instruments attached to the built objects from outside. compare.py launches these.

One run: the float64 lockstep probe first (with --probe), then the pipeline is built, any ablation
applied to the built objects, described for the audit (with --audit), given the shared initial
weights and sample order (aligned, lockstep), given the shared draws and recorded step by step
(lockstep), trained and evaluated. Each framework's instruments supply the steps as a `Side`.
"""

from __future__ import annotations

import argparse
from typing import Protocol

from shared import cli
from shared.exit_codes import EXIT_PASS
from shared.results import Result, new_result, write_json
from shared.spec import MODES, Spec, spec_from_dict
from shared.splits import Splits, first_images

PROBE_EVAL = 1000  # validation and test images the probe evaluates: evaluation is in it, in seconds


class Side(Protocol):
    """One framework's instruments, around its pipeline."""

    framework: str

    def start(self, args: argparse.Namespace, spec: Spec) -> str: ...  # the device, described

    def new_result(self, spec: Spec, mode: str, align_seed: int) -> Result: ...

    def build(self, spec: Spec, splits: Splits): ...  # the pipeline's own build_pipeline

    def ablate(self, pipeline, spec: Spec) -> None: ...

    def describe(self, pipeline, spec: Spec, device: str) -> dict: ...

    def align(self, pipeline, spec: Spec, splits: Splits, seed: int) -> None: ...

    def lockstep(self, pipeline, spec: Spec, splits: Splits, seed: int): ...

    def run(self, pipeline, spec, splits, result: Result, quiet: bool, stopwatch) -> None: ...

    def save(self, pipeline, path: str) -> None: ...


def instrument_parser(prog: str) -> argparse.ArgumentParser:
    parser = cli.side_parser(prog)
    parser.description = "Train the MNIST MLP of shared/spec.toml with the parity instruments."
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="independent",
        help="aligned: initial weights and sample order from shared/align.py; lockstep: also "
        "every augmentation and dropout draw (shared/draws.py), every step recorded",
    )
    parser.add_argument(
        "--align-seed",
        type=int,
        help="seed of the shared weights and order in aligned mode (default: the run's seed)",
    )
    parser.add_argument(
        "--audit", metavar="PATH", help="write every setting the built pipeline uses to PATH (JSON)"
    )
    parser.add_argument(
        "--probe",
        metavar="PATH",
        help="first run the spec's float64 lockstep probe ([probe] in spec.toml); write it to PATH",
    )
    parser.add_argument(
        "--audit-only",
        action="store_true",
        help="with --audit: describe the pipeline (after the probe, with --probe), train nothing",
    )
    return parser


class LockstepRefused(ValueError):
    """A lockstep run this spec's pipeline cannot honour; the message names what, why and the fix."""


def lockstep_spec(spec: Spec, mode: str) -> Spec:
    """The spec a lockstep run can honour, or LockstepRefused. The classic pipeline takes its
    augmentation draws in this process: its DataLoader workers (data.workers) are 0, "auto" included."""
    if mode != "lockstep":
        return spec
    if spec.ablate.augment_affine:
        raise LockstepRefused(
            "lockstep cannot share the augmentation of ablate.augment_affine: Keras's "
            "RandomRotation, RandomTranslation and RandomZoom draw their parameters inside and "
            "take none from outside (and RandomRotation fails in float64 on TensorFlow)"
        )
    if spec.data.pipeline != "classic" or spec.data.workers == 0:
        return spec
    if spec.data.workers != "auto":
        raise LockstepRefused(
            f"--mode lockstep with data.pipeline=classic needs data.workers=0, not "
            f"{spec.data.workers}: the shared augmentation draws are handed to one sample at a "
            "time in order, which worker processes cannot follow. Use --set data.workers=0 "
            "(or the batched pipeline)."
        )
    return spec_from_dict(spec.to_dict(), [("data.workers", 0)])


def run(side: Side, spec: Spec, splits: Splits, mode: str, align_seed: int, args, stopwatch):
    """Build, instrument, train and evaluate: (the Result, the pipeline); None after describing the
    pipeline for args.audit when args.audit_only."""
    result = side.new_result(spec, mode, align_seed)
    pipeline = side.build(spec, splits)
    side.ablate(pipeline, spec)
    stopwatch.lap("build")
    if args.audit:  # the pipeline as built, before aligned mode replaces weights and order
        write_json(args.audit, side.describe(pipeline, spec, result.device))
        stopwatch.lap("audit")
        if args.audit_only:
            return None
    lockstep = None
    if mode in ("aligned", "lockstep"):
        side.align(pipeline, spec, splits, align_seed)
    if mode == "lockstep":
        lockstep = side.lockstep(pipeline, spec, splits, align_seed)
    stopwatch.lap("setup")  # aligned mode's shared weights and order, lockstep's instruments
    side.run(pipeline, spec, splits, result, args.quiet, stopwatch)
    if lockstep is not None:
        result.steps, result.structure = lockstep.records, lockstep.structure()
    return result, pipeline


def write_probe(side: Side, spec: Spec, splits: Splits, args, stopwatch: cli.Stopwatch) -> None:
    """Run the float64 lockstep probe of `spec` and write it to args.probe: its [probe] overrides, the
    first training images only and the first PROBE_EVAL validation and test images, no progress.
    When the pipeline cannot run it, a `refused` result says why: the run itself goes on, and
    compare.py fails the probe's check with that message."""
    try:
        probe_spec = lockstep_spec(spec.probe_spec(), "lockstep")
        probe_splits = first_images(splits, probe_spec.data.train_subset, PROBE_EVAL)
        quiet = argparse.Namespace(**{**vars(args), "quiet": True, "audit": None})
        probe, _ = run(
            side, probe_spec, probe_splits, "lockstep", args.align_seed, quiet, cli.Stopwatch()
        )
    except LockstepRefused as err:
        probe = new_result(side.framework, spec.to_dict(), "lockstep", spec.train.seed, {}, "-")
        probe.status, probe.message = "refused", str(err)
    write_json(args.probe, probe)
    stopwatch.lap("probe")


def main(side: Side, argv=None) -> int:
    stopwatch = cli.Stopwatch()
    args = instrument_parser(f"python -m {side.framework}_parity.side").parse_args(argv)
    if args.audit_only and not args.audit:
        cli.fail_usage("--audit-only needs --audit PATH: where to write the description")
    spec, splits = cli.load_inputs(args)
    if args.align_seed is None:
        args.align_seed = spec.train.seed
    stopwatch.lap("data")
    try:
        spec = lockstep_spec(spec, args.mode)
    except LockstepRefused as err:
        cli.fail_usage(str(err))
    device = side.start(args, spec)
    print(f"{side.framework}: training on {device} ({args.mode} mode)", flush=True)
    if args.probe:  # the float64 lockstep probe, before the run itself
        write_probe(side, spec, splits, args, stopwatch)
    outcome = run(side, spec, splits, args.mode, args.align_seed, args, stopwatch)
    if outcome is None:
        return EXIT_PASS
    result, pipeline = outcome
    return cli.finish(result, args, lambda path: side.save(pipeline, path))
