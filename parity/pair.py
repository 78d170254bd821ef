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
from pathlib import Path

from parity.pair_ladder import judge, markdown, terminal_text
from parity.run_dirs import discard_run_dir, new_run_dir
from parity.runner import _side_env
from parity.startup_notices import StartupNotices
from shared.exit_codes import EXIT_CRASH, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_PASS, EXIT_USAGE
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


def pair(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    out = new_run_dir(args.out)
    common = [
        "--out",
        str(out),
        "--dtype",
        args.dtype,
        "--steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--seed",
        str(args.seed),
    ]
    keras_options = [
        "--builder",
        args.keras,
        *common,
        *(["--data", args.data] if args.data else []),
    ]
    # both at once: the PyTorch half imports while the Keras half runs, then waits for its files
    halves = {"keras": _start("keras_parity.pair_side", keras_options)}
    halves["torch"] = _start("torch_parity.pair_side", ["--builder", args.torch, *common])
    try:
        for side, process in halves.items():
            status, output = _finish(process)
            if status != EXIT_PASS:
                for other in halves.values():
                    other.kill()
                    other.wait()
                discard_run_dir(out, made=not args.out)  # nothing half-written is left
                if status == EXIT_USAGE:
                    message = output[output.rfind(f"{side}: ") :].strip()  # the half's own words
                    print(message, file=sys.stderr)
                    return EXIT_USAGE
                print(
                    f"the {side} half crashed (exit status {status}):\n{output[-3000:]}",
                    file=sys.stderr,
                )
                return EXIT_CRASH
    except KeyboardInterrupt:
        for process in halves.values():
            process.kill()
            process.wait()
        discard_run_dir(out, made=not args.out)
        print("\ninterrupted (Ctrl-C); nothing was kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    keras = json.loads((out / "keras.json").read_text())
    torch = json.loads((out / "torch.json").read_text())
    lockstep = load_spec().parity.lockstep
    tolerance = lockstep.float64 if args.dtype == "float64" else lockstep.float32
    judged = args.steps if args.dtype == "float64" else min(args.steps, lockstep.float32_steps)
    ladder = judge(keras, torch, tolerance, judged, args.dtype)
    header = [
        f"keras {args.keras} ({keras['framework']}) | torch {args.torch} ({torch['framework']})",
        f"{args.dtype}, {args.steps} training steps of {args.batch_size}; input: "
        f"{keras['input']['source']}, Keras {tuple(keras['input']['shape'])}, PyTorch "
        f"{tuple(torch['input']['shape'])}",
        "optimizer: "
        + ("the builders' own" if keras["given"]["optimizer"] else "the spec's Adam, bridged")
        + "; loss: "
        + ("the builders' own" if keras["given"]["loss"] else "the spec's cross-entropy"),
    ]
    text = terminal_text(ladder)
    print("\n".join(header) + "\n" + text)
    write_atomically(out / "report.md", markdown(ladder, header, torch.get("weights", [])).encode())
    summary = {
        "passed": ladder.passed,
        "dtype": args.dtype,
        "tolerance": tolerance,
        "rungs": [vars(rung) for rung in ladder.rungs],
        "audit": ladder.audit,
        "weights": torch.get("weights", []),
    }
    write_atomically(out / "report.json", json.dumps(summary, indent=1).encode())
    print(f"report: {out}/report.md ({time.perf_counter() - start:.1f} s)")
    return EXIT_PASS if ladder.passed else EXIT_FAIL


def main(argv=None) -> int:
    try:
        return pair(argv)
    except FileExistsError as err:
        print(err, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
