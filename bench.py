"""Time one epoch of each side and set it against a compute floor measured on this same machine.

    python bench.py                                   # both sides, 4 epochs, CPU, augmentation on
    python bench.py --epochs 5 --repeats 2 --json bench.json
    python bench.py --device gpu --keras-backend jax  # on a GPU machine without TensorFlow

What it measures. Each side runs as its own subprocess (`python -m <side>_parity --quiet --out ...`, launched by parity/runner.py),
one after the other, never at once, so that neither competes with the other for the cores; TensorFlow and
torchvision must not share a process anyway, so this file imports neither. Each result's history gives
the wall time of every epoch (training plus the validation pass). Epoch 1 is reported on its own and left
out of the steady figure: it pays one-off costs (Keras's tf.function tracing, torch's DataLoader worker
start-up, first-touch allocations, cold caches) that later epochs do not. Steady = min / median over the
later epochs (of every repeat), at least three of them. The machine's load average is read before and
after: a busy machine (load well above zero before the run starts) makes every figure slower, and bench.py
says so.

The floor. The MLP's forward pass costs 2 * sum(fan_in * fan_out) FLOPs per sample (a 3x3 convolution,
with model.kind=cnn, 2 * 9 * channels in * filters per output pixel); training costs about
3x that (forward, plus the two backward GEMMs: gradient w.r.t. the input and w.r.t. the weights). Divided
by this machine's float32 GEMM rate (numpy, 2048^3, measured in the same run) it gives the time an epoch
could not beat on this CPU even with perfect GEMMs and free augmentation, data loading and optimizer;
"x floor" says how far each side is from it. The rate at the step's real GEMM shape (batch x 784 @
784 x hidden[0]) is printed too: small GEMMs run well below the large-matrix rate.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from parity.runner import add_keras_backend_option, run_side
from shared.results import SIDES, Result, read_result, write_json
from shared.spec import SpecError, load_spec


def gemm_gflops(m: int, k: int, n: int, calls: int) -> float:
    """Best-of-`calls` float32 matmul rate (m x k @ k x n) in GFLOP/s, after one warm-up call."""
    rng = np.random.default_rng(0)
    a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(calls):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * m * k * n / best / 1e9


def forward_flops(spec) -> tuple[int, str]:
    """One sample's forward FLOPs in its matrix products, a 3x3 convolution counted as the GEMM it
    is (9 x channels in, per output pixel and filter), and the layers in words."""
    flops, words = 0, []
    height, width, channels = spec.data.height, spec.data.width, spec.data.channels
    for index, (block_height, block_width, filters) in enumerate(spec.block_shapes()):
        # the first block convolves at full size, then pools; the later ones stride by 2
        out_height, out_width = (height, width) if index == 0 else (block_height, block_width)
        flops += 2 * out_height * out_width * filters * 9 * channels
        words.append(f"3x3 conv {channels} -> {filters} at {out_height}x{out_width}")
        height, width, channels = block_height, block_width, filters
    dims = [spec.flat_dim, *spec.model.hidden, spec.data.num_classes]
    flops += 2 * sum(i * o for i, o in zip(dims, dims[1:]))
    return flops, ", ".join([*words, " -> ".join(map(str, dims))])


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_bench_side(side: str, args, out: Path) -> Result:
    options = ["--epochs", str(args.epochs), "--device", args.device, "--quiet", "--out", str(out)]
    options += [item for kv in args.overrides for item in ("--set", kv)]
    done = run_side(side, options)
    result = read_result(out) if out.exists() else None
    if done.returncode != 0 or result is None or not result.ok:
        sys.exit(
            f"bench.py: the {side} side failed ({done.describe_exit()}): {' '.join(done.command)}\n"
            f"--- last lines of its output ---\n{done.output_tail}"
        )
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench.py", description=__doc__.split("\n")[0])
    p.add_argument(
        "--epochs", type=int, default=4, help="epochs per run (>= 4: three steady; default 4)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="spec override passed to both sides, e.g. --set data.train_subset=3000",
    )
    p.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    p.add_argument(
        "--repeats", type=int, default=1, help="runs per side (steady epochs are pooled)"
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "gpu"),
        default="cpu",
        help="passed to each side (default cpu: the floor is a CPU floor)",
    )
    add_keras_backend_option(p)
    p.add_argument("--json", help="also save the figures to this JSON file")
    args = p.parse_args(argv)
    if args.epochs < 4:
        p.error(
            "--epochs must be at least 4: epoch 1 is left out, and a median needs 3 steady epochs"
        )
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    try:
        spec = load_spec([*args.overrides, f"train.epochs={args.epochs}"])
    except SpecError as err:
        p.error(str(err))

    rate = gemm_gflops(2048, 2048, 2048, 5)
    b, h0 = spec.train.batch_size, (spec.model.hidden or (spec.data.num_classes,))[0]
    step_rate = gemm_gflops(b, spec.flat_dim, h0, 200)
    fwd, layers = forward_flops(spec)
    images = min(spec.data.train_subset or 60000, 60000 - spec.data.validation_size)
    floor = 3 * fwd * images / (rate * 1e9)

    os.environ["KERAS_BACKEND"] = args.keras_backend  # the Keras side's process reads it
    load_before = os.getloadavg()[0]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for side in args.sides:
            runs = [
                run_bench_side(side, args, Path(tmp) / f"{side}-{r}.json")
                for r in range(args.repeats)
            ]
            firsts = [r.history[0].seconds for r in runs]
            steady = [h.seconds for r in runs for h in r.history[1:]]
            med = statistics.median(steady)
            rows[side] = {
                "device": runs[-1].device,
                "first_epoch_s": statistics.median(firsts),
                "steady_min_s": min(steady),
                "steady_median_s": med,
                "samples_per_s": images / med,
                "x_floor": med / floor,
                "test_accuracy": statistics.mean(r.test.accuracy for r in runs),
                "versions": runs[-1].versions,
            }

    load_after = os.getloadavg()[0]
    command = (
        " ".join(["python", *sys.argv]) if argv is None else "python bench.py " + " ".join(argv)
    )
    print(
        f"\n{'side':<6} {'device':<28} {'epoch 1 s':>9} {'steady s (min / med)':>21} "
        f"{'samples/s':>10} {'x floor':>8} {'test acc':>8}"
    )
    for side, r in rows.items():
        print(
            f"{side:<6} {r['device'][:28]:<28} {r['first_epoch_s']:>9.2f} "
            f"{r['steady_min_s']:>10.2f} / {r['steady_median_s']:<8.2f} {r['samples_per_s']:>10.0f} "
            f"{r['x_floor']:>8.1f} {r['test_accuracy']:>8.4f}"
        )
    if len(rows) == 2:
        (fast, rf), (slow, rs) = sorted(rows.items(), key=lambda kv: kv[1]["steady_median_s"])
        print(
            f"{slow} is {rs['steady_median_s'] / rf['steady_median_s']:.2f}x slower than {fast} "
            f"(steady median epoch)"
        )
    print(
        f"\nGEMM float32 (numpy): {rate:.1f} GFLOP/s at 2048x2048 @ 2048x2048; "
        f"{step_rate:.1f} GFLOP/s at the step's {b}x{spec.flat_dim} @ {spec.flat_dim}x{h0}"
    )
    print(
        f"floor: 3 x {fwd / 1e6:.3f} MFLOP/sample forward ({layers}) x {images} "
        f"images / {rate:.1f} GFLOP/s = {floor * 1e3:.1f} ms per epoch (training GEMMs only)"
    )
    print(
        f"epochs {args.epochs} x repeats {args.repeats}; steady = epochs 2..{args.epochs}; "
        f"augmentation {'on' if spec.augment.enabled else 'off'}; batch {b}; "
        f"validation {spec.data.validation_size} images per epoch (in the epoch time, not in the floor)"
    )
    print(f"machine: {os.cpu_count()} logical CPUs, {cpu_name()}, {platform.platform()}")
    versions = {k: v for r in rows.values() for k, v in r["versions"].items()}
    print(
        "versions: "
        + ", ".join(f"{k} {v}" for k, v in {**versions, "numpy (bench)": np.__version__}.items())
    )
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after")
    if load_before > 0.5:  # another process was using a core when the timing started
        print(
            f"WARNING: the machine was busy (load {load_before:.2f} before the run on "
            f"{os.cpu_count()} CPUs): these figures are slower than an idle machine's; run again idle"
        )
    print(f"command: {command}")
    if args.json:
        doc = {
            "command": command,
            "machine": {
                "cpu_count": os.cpu_count(),
                "cpu": cpu_name(),
                "platform": platform.platform(),
            },
            "gemm_gflops_2048": rate,
            "gemm_gflops_step": step_rate,
            "forward_flops_per_sample": fwd,
            "training_images": images,
            "floor_epoch_s": floor,
            "epochs": args.epochs,
            "repeats": args.repeats,
            "overrides": args.overrides,
            "keras_backend": args.keras_backend,
            "load_average": {"before": load_before, "after": load_after},
            "sides": rows,
        }
        write_json(args.json, doc)
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
