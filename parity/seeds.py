"""Statistical parity across seeds: `compare.py --seeds K` and `--resume DIR`, and the multi-seed
machinery that parity/calibrate.py shares.

    python compare.py --seeds 5 --quick          # independent mode unless --mode says otherwise
    python compare.py --resume runs/20250101-120000   # an interrupted run: only missing seeds train

Run k of K uses seed + k for everything it draws (in aligned mode the shared weights and order too).
Each run is written by its side, atomically, to DIR/seeds/{side}-seed{N}.json as it finishes, so an
interrupted comparison resumes where it stopped; DIR/seeds.json keeps the arguments. At the end the
final test accuracy and test loss are judged by two one-sided tests (parity/stats.py) against the
spec's equivalence margins, and DIR/report.md, DIR/parity.json and DIR/curves.png are written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from parity import audit, lockstep
from parity.checks import Check
from parity.report import checks_table, lockstep_sections
from parity.runner import SideRun, run_sides
from parity.stats import CONFIDENCE, Equivalence, tost
from shared.cli import spec_overrides
from shared.mnist import DataError, load_mnist
from shared.results import (
    EPOCH_COLUMNS,
    SIDE_LABELS,
    SIDES,
    Result,
    read_result,
    write_atomically,
    write_json,
)
from shared.spec import load_spec

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_CRASH = 0, 1, 2, 3  # PARITY_DESIGN.md section 5
SAVED = "seeds.json"  # the arguments of a --seeds run, for --resume
RUNS = "seeds"  # DIR/seeds/{side}-seed{N}.json
BAND_KEYS = [key for key, _ in EPOCH_COLUMNS]
NOT_SAVED = ("resume", "out", "one_at_a_time")  # compare.py options that change nothing computed


# -- the machinery: K seeds per side into a directory, finished runs kept ----------------------


class SideCrashed(RuntimeError):
    def __init__(self, side: str, seed: int, run: SideRun, why: str):
        super().__init__(f"the {side} side crashed at seed {seed} ({why})")
        self.side, self.seed, self.run = side, seed, run


class SideRefused(RuntimeError):
    """A side exited with the usage status before writing anything: its arguments are wrong."""


def run_path(directory: Path, side: str, seed: int) -> Path:
    return Path(directory) / f"{side}-seed{seed}.json"


def _normal(value: Any) -> Any:
    """As JSON would give it back (tuples become lists), so that saved and live values compare."""
    return json.loads(json.dumps(value))


def load_run(
    path: Path, side: str, seed: int, expected: dict[str, Any] | None = None
) -> Result | str:
    """The finished run at `path`, or why it cannot be used (unreadable, or another run's file)."""
    try:
        result = read_result(path)
    except (OSError, ValueError) as err:  # a JSONDecodeError is a ValueError
        return f"unreadable: {err}"
    if result.framework != side or result.seed != seed:
        return f"holds {result.framework} seed {result.seed}, not {side} seed {seed}"
    for key, value in (expected or {}).items():
        if _trained(key, getattr(result, key)) != _trained(key, value):
            return f"its {key} is not this run's"
    return result


def _trained(key: str, value: Any) -> Any:
    """What of a Result field decides the training: of the spec, all but the verdict's margins
    ([parity], and the [quick] table, whose training values are already in the other sections)."""
    value = _normal(value)
    if key == "spec":
        return {name: part for name, part in value.items() if name not in ("parity", "quick")}
    return value


def collect(
    directory: Path,
    seeds: list[int],
    options: Callable[[str, int, Path], list[str]],
    expected: Callable[[str, int], dict[str, Any]] | None = None,
    sides: tuple[str, ...] = SIDES,
    log: Callable[[str], None] = print,
    at_once: bool = True,
) -> dict[str, list[Result]]:
    """Run every side once per seed (a seed's sides at the same time, unless not `at_once`), keeping
    each finished run in `directory`/{side}-seed{N}.json; a run already there is read back instead of
    trained again.

    `options(side, seed, out)` gives the side's command-line options (it must write its result to
    `out`); `expected(side, seed)` the Result fields a kept run must have (mode, align_seed, spec).
    A kept file that is unreadable or belongs to another run is reported by name, set aside as
    *.damaged, and trained again. Raises SideCrashed or SideRefused."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, Result]] = {side: {} for side in sides}
    todo = []
    for seed in seeds:
        for side in sides:
            path = run_path(directory, side, seed)
            if not path.exists():
                todo.append((side, seed))
                continue
            loaded = load_run(path, side, seed, expected(side, seed) if expected else None)
            if isinstance(loaded, Result):
                results[side][seed] = loaded
                continue
            path.replace(path.with_name(path.name + ".damaged"))
            what = "damaged run file" if loaded.startswith("unreadable") else "foreign run file"
            log(f"{what} {path}: {loaded}; training it again (set aside as *.damaged)")
            todo.append((side, seed))
    kept = sum(map(len, results.values()))
    if kept:
        log(f"{kept} finished run(s) kept from {directory}; {len(todo)} to train")

    by_seed: dict[int, list[str]] = {}
    for side, seed in todo:
        by_seed.setdefault(seed, []).append(side)
    durations: list[float] = []
    for n, (seed, seed_sides) in enumerate(by_seed.items()):
        left = (
            f"about {np.mean(durations) * (len(by_seed) - n):.0f} s left"
            if durations
            else "time left known after the first seed"
        )
        log(
            f"seed {seeds.index(seed) + 1} of {len(seeds)} (seed {seed}): training "
            f"{' and '.join(seed_sides)} [{n + 1} of {len(by_seed)}]; {left}"
        )
        paths = {side: run_path(directory, side, seed) for side in seed_sides}
        start = time.monotonic()
        runs = run_sides(
            {side: options(side, seed, path) for side, path in paths.items()}, at_once=at_once
        )
        durations.append(time.monotonic() - start)
        for side, run in runs.items():
            if run.returncode == EXIT_USAGE and not paths[side].exists():
                raise SideRefused(f"the {side} side refused its arguments:\n{run.output_tail}")
        for side, run in runs.items():
            if run.returncode not in (0, 1):
                raise SideCrashed(side, seed, run, run.describe_exit())
            loaded = load_run(paths[side], side, seed)
            if not isinstance(loaded, Result):
                raise SideCrashed(side, seed, run, f"its result {paths[side]} is {loaded}")
            results[side][seed] = loaded
            score = (
                f"test accuracy {loaded.test.accuracy:.4f}, test loss {loaded.test.loss:.4f}"
                if loaded.ok
                else f"STOPPED: {loaded.message}"
            )
            log(f"  {side} seed {seed}: {score}")
        log(f"  seed {seed}: {durations[-1]:.1f} s")
    return {side: [results[side][seed] for seed in seeds] for side in sides}


# -- per-epoch bands ---------------------------------------------------------------------------


def bands(results: list[Result]) -> dict[str, dict[str, list[float]]]:
    """Per epoch, the mean and the sample standard deviation of every curve over the runs."""
    finished = [r for r in results if r.ok]
    epochs = min((len(r.history) for r in finished), default=0)
    out = {}
    for key in [*BAND_KEYS, "seconds"]:
        values = np.array([[getattr(h, key) for h in r.history[:epochs]] for r in finished])
        out[key] = {
            "mean": values.mean(axis=0).tolist() if len(finished) else [],
            "sd": values.std(axis=0, ddof=1).tolist() if len(finished) > 1 else [0.0] * epochs,
        }
    return out


def band_table(by_side: dict[str, dict], markdown: bool = False) -> str:
    """A row per epoch per side: mean +- sd of each curve over the seeds."""
    pm = " ± " if markdown else " +- "
    header = ["epoch", "side", *(title for _, title in EPOCH_COLUMNS), "sec"]
    rows = []
    epochs = max((len(b["train_loss"]["mean"]) for b in by_side.values()), default=0)
    for i in range(epochs):
        for n, (side, b) in enumerate(by_side.items()):
            if i >= len(b["train_loss"]["mean"]):
                continue
            cells = [f"{b[key]['mean'][i]:.4f}{pm}{b[key]['sd'][i]:.4f}" for key in BAND_KEYS]
            rows.append(
                [str(i + 1) if n == 0 else "", side, *cells, f"{b['seconds']['mean'][i]:.1f}"]
            )
    if markdown:
        return "\n".join(
            "| " + " | ".join(r) + " |" for r in [header, ["---"] * len(header), *rows]
        )
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in [header, *rows])


# -- the verdict -------------------------------------------------------------------------------


def judge(results: dict[str, list[Result]], spec) -> tuple[list[Check], list[Equivalence]]:
    """Every run finished, each side's mean test accuracy reaches the floor, and the final test
    accuracy and loss are equivalent within the spec's margins (TOST)."""
    checks = []
    for side, runs in results.items():
        stopped = [f"seed {r.seed}: {r.message}" for r in runs if not r.ok]
        checks.append(
            Check(
                f"every {side} run trained to the end",
                None,
                0.0,
                not stopped,
                "; ".join(stopped) or f"{len(runs)} runs",
            )
        )
    finished = {side: [r for r in runs if r.ok] for side, runs in results.items()}
    if any(len(runs) < 2 for runs in finished.values()):
        return checks, []
    floor = spec.parity.min_test_accuracy
    for side, runs in finished.items():
        mean = float(np.mean([r.test.accuracy for r in runs]))
        checks.append(
            Check(
                f"{side} mean test accuracy >= minimum",
                mean,
                floor,
                mean >= floor,
                f"{mean:.4f} vs required {floor:.4f}",
                at_least=True,
            )
        )
    keras, torch = finished["keras"], finished["torch"]
    p = spec.parity
    equivalences = [
        tost(
            [r.test.accuracy for r in keras],
            [r.test.accuracy for r in torch],
            p.equivalence_accuracy,
            "test accuracy",
            points=True,
        ),
        tost(
            [r.test.loss for r in keras],
            [r.test.loss for r in torch],
            p.equivalence_loss,
            "test loss",
        ),
    ]
    return checks, equivalences


def _margin(e: Equivalence) -> str:
    points = e.metric.endswith("accuracy")
    return f"+-{e.margin * 100:.2f} points" if points else f"+-{e.margin:.4f}"


def verdict_line(
    checks: list[Check], equivalences: list[Equivalence], k: int, mode: str
) -> tuple[bool, str]:
    passed = all(c.passed for c in checks) and bool(equivalences)
    passed = passed and all(e.passed for e in equivalences)
    where = f"{k} seeds per side, {mode} mode"
    if passed:
        within = " and ".join(f"{e.metric} within {_margin(e)}" for e in equivalences)
        return True, f"SEEDS PASS: equivalent with {CONFIDENCE:.0%} confidence: {within} ({where})"
    problems = [f"{c.name}: {c.detail}" for c in checks if not c.passed]
    for e in equivalences:
        if not e.passed:
            scale, unit = (100, " points") if e.metric.endswith("accuracy") else (1, "")
            problems.append(
                f"{e.metric} {e.outcome.upper()} (difference {e.difference * scale:+.4g}{unit}, "
                f"{CONFIDENCE:.0%} CI [{e.ci_low * scale:+.4g}, {e.ci_high * scale:+.4g}]{unit}, "
                f"margin {_margin(e)})"
            )
    if not equivalences:
        problems.append("no equivalence test: fewer than two finished runs on a side")
    return False, f"SEEDS FAIL ({where}): " + "; ".join(problems)


# -- the report --------------------------------------------------------------------------------


def equivalence_table(equivalences: list[Equivalence]) -> str:
    lines = [
        f"| | keras mean ± sd | torch mean ± sd | K-T | {CONFIDENCE:.0%} CI | margin | df | "
        "TOST p | outcome |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in equivalences:
        lines.append(
            f"| {e.metric} | {e.mean_keras:.4f} ± {e.sd_keras:.4f} | {e.mean_torch:.4f} ± "
            f"{e.sd_torch:.4f} | {e.difference:+.4f} | [{e.ci_low:+.4f}, {e.ci_high:+.4f}] | "
            f"±{e.margin:g} | {e.df:.1f} | {e.p_value:.3g} | **{e.outcome}** |"
        )
    return "\n".join(lines)


def runs_table(results: dict[str, list[Result]]) -> str:
    lines = [
        "| seed | keras test acc | torch test acc | keras test loss | torch test loss | seconds (K, T) |",
        "|---|---|---|---|---|---|",
    ]
    for keras, torch in zip(results["keras"], results["torch"]):

        def cell(r, key):
            return f"{getattr(r.test, key):.4f}" if r.ok else r.status

        lines.append(
            f"| {keras.seed} | {cell(keras, 'accuracy')} | {cell(torch, 'accuracy')} | "
            f"{cell(keras, 'loss')} | {cell(torch, 'loss')} | "
            f"{keras.total_seconds:.1f}, {torch.total_seconds:.1f} |"
        )
    return "\n".join(lines)


def plot_bands(
    path: Path,
    by_side: dict[str, dict],
    results: dict[str, list[Result]],
    equivalences: list[Equivalence],
    title: str,
) -> None:
    """Top: every curve's mean +- one sd per epoch, both sides. Middle: each seed's final test
    scores. Bottom: the difference's 90% interval against the equivalence margin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    colors = {"keras": "tab:red", "torch": "tab:blue"}
    fig, axes = plt.subplots(3, 2, figsize=(12, 11), height_ratios=[3, 1.4, 1.2])
    for col, (metric, name) in enumerate((("loss", "Loss"), ("accuracy", "Accuracy"))):
        ax = axes[0, col]
        for side, b in by_side.items():
            epochs = np.arange(1, len(b["train_loss"]["mean"]) + 1)
            for split, style, label in (("train", "--", "train"), ("val", "-", "validation")):
                mean = np.array(b[f"{split}_{metric}"]["mean"])
                sd = np.array(b[f"{split}_{metric}"]["sd"])
                ax.plot(epochs, mean, style, marker="o", color=colors[side])
                ax.fill_between(epochs, mean - sd, mean + sd, color=colors[side], alpha=0.18)
                ax.plot([], [], style, color=colors[side], label=f"{SIDE_LABELS[side]} {label}")
        ax.set_title(f"{name} per epoch: mean ± 1 sd over the seeds")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")

    for col, key in enumerate(("accuracy", "loss")):
        scale, unit = (100, " (percentage points)") if key == "accuracy" else (1, "")
        ax = axes[1, col]
        for row, side in enumerate(("torch", "keras")):
            values = [getattr(r.test, key) * scale for r in results[side] if r.ok]
            ax.plot(values, [row] * len(values), "o", color=colors[side], alpha=0.6)
            if len(values) > 1:
                ax.errorbar(
                    np.mean(values),
                    row,
                    xerr=np.std(values, ddof=1),
                    fmt="s",
                    color="black",
                    capsize=5,
                )
        ax.set_yticks([0, 1], [SIDE_LABELS["torch"], SIDE_LABELS["keras"]])
        ax.set_ylim(-0.6, 1.6)
        ax.set_title(
            f"final test {key}{' (%)' if key == 'accuracy' else ''} of each seed; "
            "black: mean ± 1 sd"
        )
        ax.grid(alpha=0.3)
        ax = axes[2, col]
        e = equivalences[col] if len(equivalences) > col else None
        if e is None:
            ax.text(0.5, 0.5, "no equivalence test", ha="center", transform=ax.transAxes)
            continue
        low, high, m = e.ci_low * scale, e.ci_high * scale, e.margin * scale
        ax.axvspan(-m, m, color="tab:green", alpha=0.2, label=f"margin ±{m:g}")
        ax.errorbar(
            e.difference * scale,
            0,
            xerr=[[e.difference * scale - low], [high - e.difference * scale]],
            fmt="D",
            color="black",
            capsize=6,
            label=f"{CONFIDENCE:.0%} confidence interval",
        )
        ax.axvline(0, color="gray", lw=0.8)
        reach = max(abs(low), abs(high), m) * 1.25
        ax.set_xlim(-reach, reach)
        ax.set_yticks([])
        ax.set_xlabel(f"Keras - PyTorch, difference of the mean test {key}{unit}")
        ax.set_title(f"test {key}: {e.outcome.upper()}")
        ax.legend(fontsize="small", loc="upper right")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(
    out_dir: Path,
    results: dict[str, list[Result]],
    spec,
    mode: str,
    commands: list[str],
    notes: list[str],
    audit_rows: list | None = None,
    probe: tuple[Check, lockstep.Comparison | None] | None = None,
) -> tuple[bool, str, list[Equivalence], dict]:
    """Judge the runs and write report.md, parity.json and curves.png; (passed, verdict, ...)."""
    seeds = [r.seed for r in results["keras"]]
    checks, equivalences = judge(results, spec)
    probe_check, probe = probe or (None, None)
    checks[:0] = [
        *([audit.audit_check(audit_rows)] if audit_rows else []),
        *([probe_check] if probe_check else []),
    ]
    passed, line = verdict_line(checks, equivalences, len(seeds), mode)
    by_side = {side: bands(runs) for side, runs in results.items()}
    write_json(
        out_dir / "parity.json",
        {
            "mode": mode,
            "seeds": seeds,
            "passed": passed,
            "verdict": line,
            "confidence": CONFIDENCE,
            "equivalence": [e.to_dict() for e in equivalences],
            "checks": [c.to_dict() for c in checks],
            "audit": [r.to_dict() for r in audit_rows or []],
            "curves": by_side,
            "runs": {
                side: [
                    {
                        "seed": r.seed,
                        "status": r.status,
                        "test_accuracy": r.test.accuracy if r.test else None,
                        "test_loss": r.test.loss if r.test else None,
                        "total_seconds": r.total_seconds,
                        "file": f"{RUNS}/{side}-seed{r.seed}.json",
                    }
                    for r in runs
                ]
                for side, runs in results.items()
            },
        },
    )
    versions = "; ".join(
        f"{side}: " + ", ".join(f"{k} {v}" for k, v in sorted(runs[0].versions.items()))
        for side, runs in results.items()
        if runs
    )
    text = "\n\n".join(
        [
            f"# mnist-parity across seeds: Keras vs PyTorch ({mode} mode, {len(seeds)} seeds per side)",
            f"**{line}**",
            *(f"> {note}" for note in notes),
            *(
                ["## Audit: the settings each side uses", audit.audit_table(audit_rows, True)]
                if audit_rows
                else []
            ),
            *lockstep_sections({"probe": probe} if probe else {}),
            "## Equivalence of the final test scores (two one-sided tests, Welch's t)",
            *(f"- **{e.metric}**: {e.sentence}" for e in equivalences),
            equivalence_table(equivalences) if equivalences else "-",
            f"Seeds {seeds[0]}..{seeds[-1]}; K-T = mean Keras - mean PyTorch; the "
            f"{CONFIDENCE:.0%} interval is Welch's; equivalent = the whole interval inside the "
            "margin, shown different = the whole interval beyond it.",
            "## Per epoch: mean ± sd over the seeds",
            band_table(by_side, markdown=True),
            "## Every run",
            runs_table(results),
            "## Other checks",
            checks_table(checks),
            "## Versions",
            versions or "-",
            "## Reproduce",
            "```\n" + "\n".join(commands) + "\n```",
        ]
    )
    write_atomically(out_dir / "report.md", (text + "\n").encode())
    plot_bands(
        out_dir / "curves.png",
        by_side,
        results,
        equivalences,
        f"mnist-parity: Keras vs PyTorch over {len(seeds)} seeds, {mode} mode",
    )
    lockstep.plot_steps(out_dir / "lockstep.png", {"probe": probe})
    return passed, line, equivalences, by_side


# -- compare.py --seeds / --resume -------------------------------------------------------------


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
        if dest in NOT_SAVED or _normal(value) == _normal(defaults.get(dest)):
            continue  # not given on this command line
        before = saved.get(dest, _normal(defaults.get(dest)))
        if _normal(value) != before:
            raise ValueError(
                f"--resume {args.resume}: {_flag(dest)} differs from the saved run "
                f"({json.dumps(before)} there, {json.dumps(_normal(value))} now); resume with "
                f"`--resume {args.resume}` alone, or start a new comparison with --out"
            )
    given = {"resume": args.resume, "out": None, "one_at_a_time": args.one_at_a_time}
    merged = {**defaults, **saved, **given}
    return argparse.Namespace(**merged), doc


def run_command(
    args: argparse.Namespace,
    argv: list[str] | None,
    defaults: dict[str, Any],
    side_options: Callable[[argparse.Namespace, list[str], Path], list[str]],
    new_run_dir: Callable[[str | None], Path],
) -> int:
    """compare.py --seeds K / --resume DIR, to its exit status."""
    command = " ".join(["python", "compare.py", *(sys.argv[1:] if argv is None else argv)])
    commands = [command]
    try:
        saved_doc = None
        if args.resume:
            args, saved_doc = resume_arguments(args, defaults)
            commands = [saved_doc.get("command", "?"), f"# resumed: {command}"]
        if args.seeds is None or args.seeds < 2:
            raise ValueError(
                f"--seeds needs at least 2 runs per side for a spread, not {args.seeds}"
            )
        args.mode = args.mode or "independent"
        spec = load_spec(spec_overrides(args), quick=args.quick)
        sets = dict(zip(SIDES, (args.keras_set, args.torch_set)))
        for side_sets in sets.values():
            load_spec([*spec_overrides(args), *side_sets], quick=args.quick)
        if saved_doc is not None and _trained("spec", spec.to_dict()) != _trained(
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
    start = time.monotonic()
    try:
        results = collect(
            out_dir / RUNS,
            seeds,
            options,
            expected,
            log=lambda s: print(s, flush=True),
            at_once=not args.one_at_a_time,
        )
    except SideRefused as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: finished runs are kept; continue with "
            f"python compare.py --resume {out_dir}",
            file=sys.stderr,
        )
        return 130  # the shell's status for Ctrl-C
    except SideCrashed as err:
        print(
            f"\n!!! {err}; the end of its output:\n{err.run.output_tail}\n"
            f"finished runs are kept: continue with python compare.py --resume {out_dir}",
            file=sys.stderr,
        )
        return EXIT_CRASH

    notes = [f"one-sided overrides: {side} {' '.join(s)}" for side, s in sets.items() if s]
    # the audit of the first seed's pipelines: every run describes its own before it trains
    paths = {side: out_dir / RUNS / f"{side}-seed{seeds[0]}-audit.json" for side in SIDES}
    descriptions = audit.read_descriptions(paths)
    audit_rows = None
    if descriptions:
        asked = {side: audit.asked_keys(side_sets) for side, side_sets in sets.items()}
        audit_rows = audit.classify(descriptions["keras"], descriptions["torch"], asked)
        print(audit.summary_line(audit_rows))
    paths = {side: out_dir / RUNS / f"{side}-seed{seeds[0]}-probe.json" for side in SIDES}
    probe = lockstep.read_probe(paths, spec)
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
