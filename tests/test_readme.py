"""README.md for a learner: short, no prose line too long, every relative link (README's and the docs
pages') resolving, and every command its code blocks show running as written. Fast: no training."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from parity.compare_options import parse_args as compare_args
from parity.compare_options import side_sets
from parity.pair import parse_args as pair_args
from shared.cli import side_parser, spec_overrides
from shared.spec import load_spec

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_LINES = 150
MAX_WIDTH = 120

# Each command README.md shows -> the test of the suite that runs it. A test may add its own --out,
# --seed or a smaller subset (e.g. `--seeds 3`, `--torch-set train.lr=0.05`): what it runs is the
# command's path through compare.py or the side. The default `python compare.py` (10 epochs) is run by
# no test: it maps to the quick run, the same path on fewer images, and its arguments are parsed here
# with compare.py's own parser and the spec loaded from them (parse_args only, not `--help`: cheap, and
# it checks the exact words shown).
RUN_BY = {
    "python compare.py": "tests/test_compare.py::test_quick_run_passes_and_writes_every_artefact",
    "python compare.py --quick": "tests/test_compare.py::test_quick_run_passes_and_writes_every_artefact",
    "python compare.py --quick --out /tmp/sample-run": (
        "tests/test_compare.py::test_quick_run_passes_and_writes_every_artefact"
    ),
    "python compare.py --audit": (
        "tests/test_audit.py::test_compare_audit_prints_both_columns_and_exits_0_untouched"
    ),
    "python compare.py --probe-only": (
        "tests/test_compare.py::test_probe_only_passes_untouched_and_trains_nothing"
    ),
    "python compare.py --quick --seeds 5": (
        "tests/test_seeds.py::test_the_untouched_project_is_equivalent"
    ),
    "python compare.py --set train.lr=3e-4": "tests/test_spec.py::test_overrides_are_typed",
    "python compare.py --quick --torch-set train.lr=1e-2": (
        "tests/test_compare.py::test_a_one_sided_change_is_flagged"
    ),
    "python compare.py --quick --set model.kind=cnn": (
        "tests/test_cnn.py::test_the_cnn_agrees_at_every_step_in_float64"
    ),
    "python compare.py --quick --ablate adam-epsilon": (
        "tests/test_walkthrough.py::test_an_ablation_is_asked_in_the_audit"
    ),
    "mnist-parity pair --keras examples.pairs.project:keras_mlp --torch examples.pairs.project:torch_mlp": (
        "tests/test_pair.py::test_the_command_on_the_mlp_pair_passes_and_writes_its_report"
    ),
    "python -m keras_impl.train --out keras.json": (
        "tests/test_train.py::test_one_epoch_on_a_subset_is_sane_and_round_trips"
    ),
    "python -m torch_impl.train --out torch.json": (
        "tests/test_train.py::test_one_epoch_on_a_subset_is_sane_and_round_trips"
    ),
}
# The suite's own commands: checked here against pyproject.toml (the marker, the extra), not run.
SUITE = {"python -m pytest", 'python -m pytest -m "not slow"', 'pip install -e ".[test]"'}
COMMAND_START = ("python ", "mnist-parity", "pip ")


# Linked from README.md while they are being written (tools/notebooks.py makes them): a missing one is
# an expected failure, shown as such, not a pass. Empty this set once both are committed.
def fenced_blocks(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(the lines outside fenced code blocks, [(each block's language, its lines)])."""
    prose, blocks, block = [], [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if block is None:
                block = (line[3:].strip(), [])
            else:
                blocks.append(block)
                block = None
        elif block is None:
            prose.append(line)
        else:
            block[1].append(line)
    assert block is None, "a code block is left open"
    return prose, blocks


def readme_commands() -> list[str]:
    """Each command line of README's code blocks, its comment cut off. In a text block (a sample of
    output) only the lines after a `$ ` prompt are commands; in a shell block every line is."""
    commands = []
    for language, lines in fenced_blocks(README.read_text())[1]:
        for line in lines:
            if language in ("text", "console"):
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            command = re.sub(r"\s+#\s.*$", "", line).strip()
            if command.startswith(COMMAND_START):
                commands.append(command)
    return commands


def test_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines (at most {MAX_LINES})"


def test_no_readme_line_outside_code_is_too_long():
    prose, _ = fenced_blocks(README.read_text())
    long = [line for line in prose if len(line) > MAX_WIDTH]
    assert not long, f"README.md lines over {MAX_WIDTH} characters: {long}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    prose, _ = fenced_blocks(page.read_text())
    targets = re.findall(r"\]\(([^)\s]+)\)", "\n".join(prose))
    missing = [
        target
        for target in targets
        if not re.match(r"[a-z]+:", target)  # http:, https:, mailto:
        and not target.startswith("#")
        and not (page.parent / target.split("#")[0]).exists()
    ]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


def test_every_readme_command_is_known():
    commands = readme_commands()
    assert (
        "python compare.py" in commands and "python -m pytest" in commands
    )  # the reader found them
    unknown = [c for c in commands if c not in RUN_BY and c not in SUITE]
    assert not unknown, f"README commands no test runs (add each to RUN_BY or SUITE): {unknown}"


def test_each_test_that_runs_a_readme_command_exists():
    for command, where in RUN_BY.items():
        path, name = where.split("::")
        text = (ROOT / path).read_text()
        assert re.search(rf"^def {name}\(", text, re.M), f"{command}: no test {where}"


@pytest.mark.parametrize("command", sorted(set(readme_commands()) - SUITE))
def test_a_readme_command_parses_and_its_spec_loads(command):
    argv = shlex.split(command)
    if argv[:2] == ["python", "compare.py"]:
        args = compare_args(argv[2:])
        spec = load_spec(spec_overrides(args), quick=args.quick)
        for one_sided in side_sets(
            args
        ).values():  # as compare.py loads each side's before training
            load_spec([*spec_overrides(args), *one_sided], quick=args.quick)
    elif argv[:2] == ["mnist-parity", "pair"]:
        pair_args(argv[2:])
        return
    else:
        assert argv[:2] == ["python", "-m"] and argv[2] in ("keras_impl.train", "torch_impl.train")
        module = ROOT / (argv[2].replace(".", "/") + ".py")
        assert 'if __name__ == "__main__"' in module.read_text(), f"{module} runs nothing"
        args = side_parser(f"python -m {argv[2]}").parse_args(argv[3:])
        spec = load_spec(spec_overrides(args), quick=args.quick)
    assert spec.train.epochs >= 1


def test_the_suite_commands_are_what_pyproject_declares():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "test" in project["project"]["optional-dependencies"]  # pip install -e ".[test]"
    markers = project["tool"]["pytest"]["ini_options"]["markers"]
    assert any(m.startswith("slow:") for m in markers)  # python -m pytest -m "not slow"
    assert project["project"]["scripts"]["mnist-parity"] == "compare:main"  # = python compare.py
