"""`mnist-parity pair` (or `python -m parity.pair`): point the audit and lockstep at any Keras model
and PyTorch module, and be told where they first differ (docs/pair.md).

    mnist-parity pair --keras my_models:build_keras --torch my_models:build_torch

Each builder takes no argument (the PyTorch one may take `keras_weights`: it is then handed the Keras
layers' arrays, loads them itself, and the tool checks what it loaded) and returns the model, or
(model, optimizer, loss); without them, the spec's Adam (bridged on the PyTorch side) and cross-entropy
from logits. Each half runs in its own process, both at once: the PyTorch half
waits for the Keras half's weights and batch. The ladder (parity/pair_ladder.py) judges what they
wrote.

Exit status: 0 every rung agrees and no audited setting differs; 1 a rung failed or a setting differs
(named); 2 a usage problem (a builder that cannot be imported, a layer the tool cannot pair); 3 a side
crashed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from parity.pair_ladder import Ladder, judge, markdown, terminal_text
from parity.run_dirs import discard_run_dir, new_run_dir
from parity.runner import _side_env
from parity.startup_notices import StartupNotices
from shared.exit_codes import EXIT_CRASH, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_PASS, EXIT_USAGE
from shared.pairing import PairUsageError
from shared.results import write_atomically
from shared.spec import load_spec


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="mnist-parity pair",
        description="Compare a Keras model and a PyTorch module rung by rung: structure, weights, "
        "forward, backward, training (docs/pair.md).",
    )
    parser.add_argument(
        "--keras",
        required=True,
        metavar="MODULE:FUNCTION",
        help="builds the Keras model (or model, optimizer, loss)",
    )
    parser.add_argument(
        "--torch",
        required=True,
        metavar="MODULE:FUNCTION",
        help="builds the PyTorch module (or module, optimizer, loss)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="float64 (default): agreement to rounding, 1e-10; float32: 1e-5 over the first steps",
    )
    parser.add_argument("--steps", type=int, default=20, help="training steps (default 20)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0, help="the shared dropout numbers' seed")
    parser.add_argument(
        "--data",
        metavar="NPZ",
        help="an .npz with x (Keras's layout: channels last) and y; default: the bundled MNIST",
    )
    parser.add_argument("--out", help="the report's directory (new or empty; default runs/<time>)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1:
        parser.error("--steps and --batch-size must be at least 1")
    return args


def _start(module: str, options: list[str]) -> subprocess.Popen:
    """One half, in its own process (TensorFlow and torchvision never share one)."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *options],
        env=_side_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=Path.cwd(),
    )


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    """The half's exit status and output, TensorFlow's start-up notices dropped."""
    output, _ = process.communicate()
    notices = StartupNotices()
    return process.returncode, (notices.feed(output) + notices.flush()).decode(errors="replace")


class HalfCrashed(RuntimeError):
    """A half ended with neither its results nor a usage error: exit 3."""


@dataclass
class PairRun:
    ladder: Ladder
    out: Path  # report.md, report.json, and what the halves wrote
    header: list[str]  # what was compared, on what input, with which optimizer and loss

    @property
    def passed(self) -> bool:
        return self.ladder.passed


def compare_pair(
    keras: str,
    torch: str,
    dtype: str = "float64",
    steps: int = 20,
    batch_size: int = 32,
    seed: int = 0,
    data: str | None = None,
    out: str | None = None,
) -> PairRun:
    """The Python API of `mnist-parity pair`: both halves run, the ladder judged, the report
    written to `out` (new or empty; default runs/<time>/). PairUsageError for a usage problem (its
    message names it), HalfCrashed for a half that crashed; nothing is left in `out` after either."""
    made = new_run_dir(out)
    common = [
        "--out",
        str(made),
        "--dtype",
        dtype,
        "--steps",
        str(steps),
        "--batch-size",
        str(batch_size),
        "--seed",
        str(seed),
    ]
    keras_options = ["--builder", keras, *common, *(["--data", data] if data else [])]
    # both at once: the PyTorch half imports while the Keras half runs, then waits for its files
    halves = {"keras": _start("keras_parity.pair_side", keras_options)}
    halves["torch"] = _start("torch_parity.pair_side", ["--builder", torch, *common])
    try:
        for side, process in halves.items():
            status, output = _finish(process)
            if status == EXIT_USAGE:
                raise PairUsageError(output[output.rfind(f"{side}: ") :].strip())
            if status != EXIT_PASS:
                raise HalfCrashed(
                    f"the {side} half crashed (exit status {status}):\n{output[-3000:]}"
                )
    except BaseException:  # a usage error, a crash, Ctrl-C: every half stopped, nothing kept
        for process in halves.values():
            process.kill()
            process.wait()
        discard_run_dir(made, made=not out)
        raise
    keras_record = json.loads((made / "keras.json").read_text())
    torch_record = json.loads((made / "torch.json").read_text())
    lockstep = load_spec().parity.lockstep
    tolerance = lockstep.float64 if dtype == "float64" else lockstep.float32
    judged = steps if dtype == "float64" else min(steps, lockstep.float32_steps)
    ladder = judge(keras_record, torch_record, tolerance, judged, dtype)
    given = keras_record["given"]
    header = [
        f"keras {keras} ({keras_record['framework']}) | torch {torch} "
        f"({torch_record['framework']})",
        f"{dtype}, {steps} training steps of {batch_size}; input: "
        f"{keras_record['input']['source']}, Keras {tuple(keras_record['input']['shape'])}, "
        f"PyTorch {tuple(torch_record['input']['shape'])}",
        "optimizer: "
        + ("the builders' own" if given["optimizer"] else "the spec's Adam, bridged")
        + "; loss: "
        + ("the builders' own" if given["loss"] else "the spec's cross-entropy"),
    ]
    weights = torch_record.get("weights", [])
    write_atomically(made / "report.md", markdown(ladder, header, weights).encode())
    summary = {
        "passed": ladder.passed,
        "dtype": dtype,
        "tolerance": tolerance,
        "rungs": [vars(rung) for rung in ladder.rungs],
        "audit": ladder.audit,
        "weights": weights,
    }
    write_atomically(made / "report.json", json.dumps(summary, indent=1).encode())
    return PairRun(ladder, made, header)


def pair(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    run = compare_pair(
        args.keras,
        args.torch,
        args.dtype,
        args.steps,
        args.batch_size,
        args.seed,
        args.data,
        args.out,
    )
    print("\n".join(run.header) + "\n" + terminal_text(run.ladder))
    print(f"report: {run.out}/report.md ({time.perf_counter() - start:.1f} s)")
    return EXIT_PASS if run.passed else EXIT_FAIL


def main(argv=None) -> int:
    try:
        return pair(argv)
    except (FileExistsError, PairUsageError) as err:
        print(err, file=sys.stderr)
        return EXIT_USAGE
    except HalfCrashed as err:
        print(err, file=sys.stderr)
        return EXIT_CRASH
    except KeyboardInterrupt:
        print("\ninterrupted (Ctrl-C); nothing was kept", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
