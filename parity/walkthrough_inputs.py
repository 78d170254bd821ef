"""What the walkthrough is made from: its prose (docs/walkthrough-data/pages.toml), the code it cuts
from the pipeline files, the bridging tags, and the committed measurements (docs/walkthrough-data/
stages.json, docs/ablations.json) told as sentences. parity/walkthrough.py renders the pages."""

from __future__ import annotations

import ast
import functools
import json
from dataclasses import dataclass, fields
from pathlib import Path

from parity.bridges import BRIDGES, ROOT, SLIPS, TAG, Bridge, Slip
from parity.mirror import ONE_SIDED

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

DOCS = ROOT / "docs"
MEASURED = DOCS / "walkthrough-data"
PROSE = MEASURED / "pages.toml"
EXERCISES = MEASURED / "exercises.json"  # the exercises' runs, measured: python -m parity.exercises
AS_SHIPPED = ""  # the run of `python compare.py --quick` itself, shown beside every exercise's


@dataclass(frozen=True)
class Exercise:
    """One "Try this": a question, the runs that answer it, the answer told in words."""

    question: str
    runs: tuple[str, ...]  # each the arguments added to `python compare.py --quick`
    answer: str
    curves: bool = False  # also show each epoch's validation loss


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    stage: str  # the registry's stage name: the cards of this page
    topics: str
    concept: str  # the idea first, in the project's words
    text: str  # how the two frameworks do it: the introduction to the code
    code: tuple[tuple[str | None, str | None], ...]  # ("file:Name" keras, "file:Name" torch)
    shapes: tuple[str, ...]  # words that select the measured stages shown
    exercise: tuple[Exercise, ...]  # its [[page.exercise]] tables, at least one
    image: str | None = None  # a picture in docs/walkthrough-data
    alt: str | None = None


PAGE_KEYS = {f.name for f in fields(Page)}
EXERCISE_KEYS = {f.name for f in fields(Exercise)}
CODE_ROWS = (
    {"keras"},
    {"torch"},
    {"keras", "torch"},
    {"shared"},
)  # a side left out: no counterpart


class ProseError(ValueError):
    """A page of the prose file that the generator cannot read; the message names the page and key."""


def _page(raw: dict, where: str) -> Page:
    required = {f.name for f in fields(Page) if f.default is not None}
    if unknown := set(raw) - PAGE_KEYS:
        raise ProseError(f"{where}: unknown key {sorted(unknown)[0]}; keys are {sorted(PAGE_KEYS)}")
    if missing := required - set(raw):
        raise ProseError(f"{where}: {sorted(missing)[0]} is missing")
    code = []
    for row in raw["code"]:
        if set(row) not in CODE_ROWS:
            raise ProseError(
                f"{where}: a [[page.code]] row names keras and/or torch, or shared alone, not {row}"
            )
        code.append(
            (row["shared"], None) if "shared" in row else (row.get("keras"), row.get("torch"))
        )
    exercises = []
    for n, row in enumerate(raw["exercise"], 1):
        if set(row) - EXERCISE_KEYS or {"question", "runs", "answer"} - set(row):
            raise ProseError(
                f"{where}: [[page.exercise]] {n} has keys {sorted(row)}; it needs question, runs "
                f"and answer (and may have curves)"
            )
        exercises.append(Exercise(**{**row, "runs": tuple(row["runs"])}))
    if not exercises:
        raise ProseError(f"{where}: a page needs at least one [[page.exercise]]")
    return Page(
        **{
            **raw,
            "code": tuple(code),
            "shapes": tuple(raw["shapes"]),
            "exercise": tuple(exercises),
        }
    )


def load_prose(path: Path = PROSE) -> tuple[tuple[Page, ...], dict, dict[str, str]]:
    """(the pages, the index's text, why the sweep leaves some ablations unseen) from the prose file;
    a code row ("shared/file.py:Name", None) is one definition in shared/ that both sides call."""
    prose = tomllib.loads(path.read_text())
    pages = tuple(
        _page(raw, f"{path.name}, [[page]] {raw.get('slug', n)}")
        for n, raw in enumerate(prose["page"], 1)
    )
    return pages, prose["index"], prose["unseen"]


PAGES, INDEX, UNSEEN = load_prose()


def find(ref: str) -> tuple[str, int, int, list[str]]:
    """'file:Name' -> (file, first line, last line, the lines) of that top-level definition."""
    file, name = ref.split(":")
    lines = (ROOT / file).read_text().splitlines()
    for node in ast.parse("\n".join(lines)).body:
        if getattr(node, "name", None) == name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            return file, first, node.end_lineno, lines[first - 1 : node.end_lineno]
    raise LookupError(f"{ref}: no top-level definition {name} in {file}")


def bridging_lines(lines: list[str], first: int) -> list[tuple[int, list[str]]]:
    return [(first + i, TAG.findall(line)) for i, line in enumerate(lines) if TAG.search(line)]


def one_sided_reason(ref: str) -> str | None:
    file, name = ref.split(":")
    parts = Path(file).parts
    if parts[0] not in ("keras_impl", "torch_impl"):
        return None
    return ONE_SIDED.get((parts[0].split("_")[0], Path(file).stem, name))


def tag_locations() -> dict[str, list[str]]:
    """{bridge id: ["file:line", ...]} of every tagged bridging line."""
    found: dict[str, list[str]] = {}
    for path in sorted([*ROOT.glob("keras_impl/*.py"), *ROOT.glob("torch_impl/*.py")]):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for tag in TAG.findall(line):
                found.setdefault(tag, []).append(f"{path.relative_to(ROOT)}:{number}")
    return found


@functools.cache
def load_exercise_runs(path: Path = EXERCISES) -> dict:
    """The exercises' measured runs ({} before the first sweep), read once for every page."""
    return json.loads(path.read_text()) if path.exists() else {}


def load_measurements() -> tuple[dict, dict]:
    stages = json.loads((MEASURED / "stages.json").read_text())
    ablations = json.loads((DOCS / "ablations.json").read_text())
    return stages, ablations


def entries_for(stage: str) -> list[Bridge | Slip]:
    return [e for e in (*BRIDGES, *SLIPS) if e.stage == stage]


def largest(values: list[float]) -> float:
    return max((abs(v) for v in values), default=0.0)


def measured_cost(entry_id: str, ablations: dict) -> list[str]:
    """What the ablation sweep measured for one entry, as sentences."""
    quick = ablations.get("quick", {})
    result = quick.get("ablations", {}).get(entry_id)
    if result is None:
        return ["not measured yet: run `python -m parity.ablations`"]
    # an entry measured in another mode than aligned carries the untouched run of that mode
    baseline = result.get("baseline_curves") or quick["baseline"].get("curves", {})
    lines = [f"`{result['command']}` exits {result['exit']}"]
    if probe := result.get("probe"):
        lines.append(f"the lockstep probe: {probe_finding(probe)}")
    if "curves" in result:
        parts = [
            f"{key.replace('_', ' ')} {largest(result['curves'][key]):.4f} "
            f"(untouched {largest(baseline.get(key, [])):.4f})"
            for key in ("train_loss", "val_loss", "val_accuracy")
        ]
        lines.append("largest per-epoch Keras - PyTorch difference: " + ", ".join(parts))
    else:
        lines.append("no curves: " + result.get("error", "a side did not finish")[-200:])
    lines.append(f"checks that fail: {failed_checks(result)}")
    asked = result.get("audit", {}).get("asked", [])
    if asked:
        lines.append(
            f"the audit marks {', '.join(asked)} as asked; the same change made in code, without "
            "`--ablate`, differs there and fails the verdict"
        )
    full = ablations.get("full", {}).get("ablations", {}).get(entry_id)
    if full:
        lines.append(
            f"in the default configuration (`{full['command']}`, 10 epochs), checks that fail: "
            f"{failed_checks(full)}"
        )
    return lines


def probe_finding(probe: dict) -> str:
    """The probe's first finding, without the raw fingerprints."""
    if probe["passed"]:
        return "agrees at every step"
    first = probe["detail"].split("; ")[0].replace("first beyond tolerance: ", "")
    return first.split(" (keras ")[0]


def failed_checks(result: dict) -> str:
    names = [name.split(" (")[0] for name in result.get("failed_checks", [])]
    return ", ".join(names) or "none"


def sweep_findings(quick: dict) -> list[str]:
    """Which ablations the epoch-level checks see, which only the probe or the audit see."""
    results = quick.get("ablations", {})

    def failing(name, prefix):
        return any(c.startswith(prefix) for c in results[name].get("failed_checks", []))

    curves = ("training loss", "validation", "test accuracy", "keras test", "torch test")
    by_curves = [n for n in results if any(failing(n, p) for p in curves)]
    refused = [
        n for n in results if "could not run" in (results[n].get("probe") or {}).get("detail", "")
    ]
    by_probe = [n for n in results if failing(n, "lockstep probe") and n not in by_curves + refused]
    unseen = [n for n in results if results[n].get("exit") == 0]

    def named(names):
        return ", ".join(f"`{n}`" for n in names) or "none"

    lines = [
        f"- the epoch-level checks (curves, test accuracy) catch {len(by_curves)} of "
        f"{len(results)}: {named(by_curves)};",
        f"- the lockstep probe alone catches {len(by_probe)} more, each located at its first step "
        f"and stage: {named(by_probe)};",
    ]
    if refused:
        lines.append(
            f"- the probe cannot share the draws of {named(refused)} and fails, saying why;"
        )
    reasons = [f"`{n}` ({UNSEEN.get(n, 'see its card')})" for n in unseen]
    lines.append(f"- no check fails for {', '.join(reasons) or 'none'}.")
    return lines
