"""The command line both `python -m keras_impl.train` and `python -m torch_impl.train` share (and the
instrumented sides, `python -m {side}_parity.side`, extend: shared/instrumented_side.py)."""

from __future__ import annotations

import _thread
import argparse
import os
import sys
import time
from pathlib import Path

from shared.exit_codes import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_PASS, EXIT_USAGE
from shared.mnist import DataError
from shared.results import Result, epoch_table, write_json
from shared.spec import Spec, SpecError, load_spec
from shared.splits import Splits, load_splits


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
    parser.add_argument("--quick", action="store_true", help="apply the spec's [quick] overrides")
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
    try:
        spec = load_spec(spec_overrides(args), quick=args.quick)
        return spec, load_splits(spec, args.data_dir, args.download)
    except (SpecError, DataError) as err:
        fail_usage(str(err))


def versions(**modules) -> dict[str, str]:
    """{label: version} of the imported modules, as a result records them."""
    return {label: module.__version__ for label, module in modules.items()}


def or_usage_error(select_device, choice: str):
    """select_device(choice), or exit 2 with its DeviceError's message."""
    try:
        return select_device(choice)
    except DeviceError as err:
        fail_usage(str(err))


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
