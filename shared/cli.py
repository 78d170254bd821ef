"""The command line both `python -m keras_impl.train` and `python -m torch_impl.train` share."""

from __future__ import annotations

import _thread
import argparse
import os
import sys
import time
from pathlib import Path

from shared.exit_codes import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_PASS, EXIT_USAGE
from shared.mnist import DataError
from shared.results import Result, epoch_table, new_result, write_json
from shared.spec import MODES, Spec, SpecError, load_spec, spec_from_dict
from shared.splits import Splits, first_images, load_splits

PROBE_EVAL = 1000  # validation and test images the probe evaluates: evaluation is in it, in seconds


def process_age() -> float:
    """Seconds since this process started (Linux; 0.0 elsewhere): the imports' share of a run."""
    try:
        start_ticks = float(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


class Stopwatch:
    """Wall seconds of a run's phases: `imports` (the process's start to now), then each lap."""

    def __init__(self):
        self.phases = {"imports": process_age()}
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] = now - self.last
        self.last = now


class DeviceError(RuntimeError):
    """--device gpu where the framework sees no GPU."""


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    """The options that shape the spec: the same in both sides and in compare.py."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value, e.g. --set train.lr=3e-4 (repeatable)",
    )
    parser.add_argument("--epochs", type=int, help="shortcut for --set train.epochs=N")
    parser.add_argument("--seed", type=int, help="shortcut for --set train.seed=N")
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        help="shortcut for --set train.dtype=...: the dtype of weights, optimizer state and batches",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "gpu"),
        default="auto",
        help="auto: the GPU when the framework sees one, else the CPU",
    )
    parser.add_argument(
        "--data-dir",
        help="a directory with the four MNIST IDX files "
        "(default: $MNIST_PARITY_DATA, else the copy bundled in shared/data/mnist)",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="fetch MNIST from the canonical mirrors into the cache if it is missing",
    )


def side_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Train the MNIST MLP of shared/spec.toml."
    )
    add_spec_options(parser)
    parser.add_argument("--out", help="write the run's JSON result here")
    parser.add_argument(
        "--save-model", help="save the trained model in the framework's native format"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
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
    parser.add_argument("--quick", action="store_true", help="apply the spec's [quick] overrides")
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


def spec_overrides(args: argparse.Namespace) -> list[str]:
    extra = [f"train.epochs={args.epochs}"] if args.epochs is not None else []
    extra += [f"train.seed={args.seed}"] if args.seed is not None else []
    extra += [f"train.dtype={args.dtype}"] if args.dtype is not None else []
    return [*args.overrides, *extra]


def fail_usage(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def load_inputs(args: argparse.Namespace) -> tuple[Spec, Splits]:
    """The spec and the data, or exit 2 with a message that names the problem and the fix."""
    if args.audit_only and not args.audit:
        fail_usage("--audit-only needs --audit PATH: where to write the description")
    try:
        spec = load_spec(spec_overrides(args), quick=args.quick)
        if args.align_seed is None:
            args.align_seed = spec.train.seed
        return spec, load_splits(spec, args.data_dir, args.download)
    except (SpecError, DataError) as err:
        fail_usage(str(err))


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


def main_spec(spec: Spec, mode: str) -> Spec:
    """lockstep_spec for the run itself: exit 2 when it cannot be honoured."""
    try:
        return lockstep_spec(spec, mode)
    except LockstepRefused as err:
        fail_usage(str(err))


def probe_inputs(spec: Spec, splits: Splits, args: argparse.Namespace):
    """(spec, splits, args) of the float64 lockstep probe of a run of `spec`: its [probe] overrides,
    the first training images only and the first PROBE_EVAL validation and test images, no progress
    bars, nothing to describe. LockstepRefused when the pipeline cannot run it."""
    probe = lockstep_spec(spec.probe_spec(), "lockstep")
    quiet = argparse.Namespace(**{**vars(args), "quiet": True, "audit": None})
    return probe, first_images(splits, probe.data.train_subset, PROBE_EVAL), quiet


def write_probe(
    framework: str, spec: Spec, splits: Splits, args, device, run, stopwatch: Stopwatch
) -> None:
    """Run the float64 lockstep probe of `spec` with the side's own `run` and write it to args.probe.
    When the pipeline cannot run it, a `refused` result says why: the run itself goes on, and
    compare.py fails the probe's check with that message."""
    try:
        probe_spec, probe_splits, probe_args = probe_inputs(spec, splits, args)
        probe, _ = run(
            probe_spec, probe_splits, "lockstep", args.align_seed, device, probe_args, Stopwatch()
        )
    except LockstepRefused as err:
        probe = new_result(framework, spec.to_dict(), "lockstep", spec.train.seed, {}, "-")
        probe.status, probe.message = "refused", str(err)
    write_json(args.probe, probe)
    stopwatch.lap("probe")


def finish(result: Result, args: argparse.Namespace, save_model) -> int:
    """Validate and write the JSON result, save the model, print the summary; return the exit status."""
    result.validate()
    if args.out:
        write_json(args.out, result)
    if args.save_model and result.ok:
        Path(args.save_model).parent.mkdir(parents=True, exist_ok=True)
        save_model(args.save_model)
    print(summary(result, args))
    return EXIT_PASS if result.ok else EXIT_FAIL


def summary(result: Result, args: argparse.Namespace) -> str:
    lines = [f"\n{result.framework} on {result.device}, mode {result.mode}, seed {result.seed}"]
    lines.append(epoch_table({result.framework: result.history}))
    if result.ok:
        lines.append(
            f"test loss {result.test.loss:.4f}, test accuracy {result.test.accuracy:.4f}, "
            f"{result.total_seconds:.1f} s in all"
        )
    else:
        lines.append(f"STOPPED: {result.message}")
    for what, path in (("result", args.out), ("model", args.save_model)):
        if path and (what == "result" or result.ok):
            lines.append(f"{what} written to {path}")
    return "\n".join(lines)


def _interrupt_again(unraisable) -> None:
    """Python can only print an exception raised in a garbage-collection callback or a __del__, and
    Ctrl-C's KeyboardInterrupt lands there often (JAX, which Keras imports whenever it is installed,
    runs such a callback at every collection): raise it again in the main thread, to stop the run."""
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        _thread.interrupt_main()
    else:
        sys.__unraisablehook__(unraisable)


def run_main(framework: str, main) -> int:
    """A side's `main()`, to its exit status; Ctrl-C: one line and EXIT_INTERRUPTED, no traceback.
    Every file a run writes is written whole or not at all (shared/results.py), so an interrupted
    run leaves no half-written result."""
    sys.unraisablehook = _interrupt_again
    try:
        status = main()
    except KeyboardInterrupt:
        start = "\n" if sys.stdout.isatty() else ""  # not on the line of a progress bar
        print(f"{start}{framework}: interrupted (Ctrl-C) before the run finished", file=sys.stderr)
        return EXIT_INTERRUPTED
    # Every file is written and closed: leave without the interpreter's teardown of TensorFlow and
    # JAX, which takes about a second of the Keras side's exit on a CPU (measured) and does nothing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
