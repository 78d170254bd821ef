"""compare.py --audit and --probe-only: each side, in its own process, describes its pipeline (for
--probe-only after running the float64 lockstep probe) and trains nothing. Exit 0 when no setting
differs (and the probe agrees at every step), 1 otherwise; 2 and 3 as a full run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from parity import runner, settings_audit, step_comparison
from parity.checks import Check
from parity.compare_options import side_options
from parity.report import checks_table, lockstep_sections
from parity.step_comparison import Comparison
from shared.exit_codes import EXIT_CRASH, EXIT_FAIL, EXIT_PASS, EXIT_USAGE
from shared.results import SIDES, write_atomically, write_json
from shared.spec import Spec


def describe_sides(
    args: argparse.Namespace, sets: dict[str, list[str]], out_dir: Path
) -> list[settings_audit.AuditRow] | int:
    """Run both sides with --audit-only (and --probe when args.probe): the audit's rows, or the
    exit status when a side refused (2) or crashed (3)."""
    runs = runner.run_sides(
        {
            side: [*side_options(args, sets[side], out_dir / f"{side}.json"), "--audit-only"]
            for side in SIDES
        },
        at_once=not args.one_at_a_time,
    )
    what = "run the probe and describe its pipeline" if args.probe else "describe its pipeline"
    for side, run in runs.items():
        if run.returncode != 0:
            print(f"error: the {side} side could not {what} ({run.describe_exit()}):")
            print(run.output_tail, file=sys.stderr)
            return EXIT_USAGE if run.returncode == EXIT_USAGE else EXIT_CRASH
    return settings_audit.compare_files(
        {side: out_dir / f"{side}-audit.json" for side in SIDES}, sets
    )


def audit_only(
    args: argparse.Namespace, sets: dict[str, list[str]], out_dir: Path, command: str
) -> int:
    """compare.py --audit: the two columns side by side in audit.json and report.md."""
    rows = describe_sides(args, sets, out_dir)
    if isinstance(rows, int):
        return rows
    line = settings_audit.summary_line(rows)
    write_json(
        out_dir / "audit.json",
        {
            "passed": settings_audit.passed(rows),
            "summary": line,
            "rows": [r.to_dict() for r in rows],
        },
    )
    text = f"# mnist-parity audit\n\n**{line}**\n\n{settings_audit.audit_table(rows, markdown=True)}\n\n"
    write_atomically(out_dir / "report.md", (text + f"```\n{command}\n```\n").encode())
    print(f"{settings_audit.audit_table(rows)}\n\n{line}\nreport: {out_dir / 'report.md'}")
    return EXIT_PASS if settings_audit.passed(rows) else EXIT_FAIL


def probe_only(
    args: argparse.Namespace, sets: dict[str, list[str]], spec: Spec, out_dir: Path, command: str
) -> int:
    """compare.py --probe-only: the audit and the float64 lockstep probe, judged together, in
    parity.json, report.md and lockstep.png."""
    rows = describe_sides(args, sets, out_dir)
    if isinstance(rows, int):
        return rows
    paths = {side: out_dir / f"{side}-probe.json" for side in SIDES}
    probe_check, probe = step_comparison.read_probe(paths, spec)
    checks = [settings_audit.audit_check(rows), probe_check]
    passed = all(c.passed for c in checks)
    line = probe_verdict(checks, probe)
    write_json(
        out_dir / "parity.json",
        {
            "mode": "probe-only",
            "passed": passed,
            "verdict": line,
            "checks": [c.to_dict() for c in checks],
            "audit": [r.to_dict() for r in rows],
            "probe": probe_summary(probe),
        },
    )
    notes = [
        f"one-sided overrides: {side} {' '.join(one_sided)}"
        for side, one_sided in sets.items()
        if one_sided
    ]
    text = "\n\n".join(
        [
            "# mnist-parity: Keras vs PyTorch, the audit and the float64 lockstep probe "
            "(no training)",
            f"**{line}**",
            *(f"> {note}" for note in notes),
            "## Audit: the settings each side uses",
            settings_audit.audit_table(rows, markdown=True),
            *lockstep_sections({"probe": probe} if probe else {}),
            "## Checks",
            checks_table(checks),
            "## Reproduce",
            f"```\n{command}\n```",
        ]
    )
    write_atomically(out_dir / "report.md", (text + "\n").encode())
    step_comparison.plot_steps(out_dir / "lockstep.png", {"probe": probe})
    print(f"\n{settings_audit.summary_line(rows)}")
    for r in rows:
        if r.status == "differs":
            print(f"  differs: {r.group}: {r.label}: keras {r.keras}, torch {r.torch}")
    for c in checks:
        print(f"{'pass' if c.passed else 'FAIL'}  {c.name}: {c.detail}")
    for note in notes:
        print(f"note: {note}")
    print(f"{line}\nreport: {out_dir / 'report.md'}")
    return EXIT_PASS if passed else EXIT_FAIL


def probe_verdict(checks: list[Check], probe: Comparison | None) -> str:
    failed = [c for c in checks if not c.passed]
    if failed:
        return "PROBE FAIL: " + "; ".join(f"{c.name}: {c.detail}" for c in failed)
    return (
        f"PROBE PASS: no setting differs and the float64 lockstep probe agrees at every step "
        f"({probe.steps} steps, largest relative difference {probe.worst:.1g}); nothing trained"
    )


def probe_summary(probe: Comparison | None) -> dict | None:
    """The probe's comparison for parity.json: where the sides first differ (None: nowhere), and
    the largest relative difference of each quantity."""
    if probe is None:
        return None
    first = probe.first
    return {
        "dtype": probe.dtype,
        "tolerance": probe.tolerance,
        "steps": probe.steps,
        "largest": probe.largest,
        "first_difference": first.describe() if first else None,
        "notes": probe.notes,
    }
