"""The walkthrough's "Try this" answers (docs/walkthrough-data/pages.toml) against the sweep that
measured them (docs/walkthrough-data/exercises.json, python -m parity.exercises): every run asked is
measured, and every figure an answer states is one of its runs' measured figures. The pages
themselves are checked against both by tests/test_walkthrough.py."""

import re

import pytest

from parity.exercises import exercise_runs
from parity.walkthrough_inputs import AS_SHIPPED, PAGES, load_exercise_runs
from shared.results import SIDES

MEASURED = load_exercise_runs()
EXERCISES = [
    pytest.param(exercise, id=f"{page.slug}-{n}")
    for page in PAGES
    for n, exercise in enumerate(page.exercise, 1)
]


def figures(exercise) -> set[str]:
    """Every figure the runs of an exercise measured, as an answer would write it."""
    found = set()
    for arguments in (AS_SHIPPED, *exercise.runs):
        run = MEASURED["runs"][arguments]
        for side in SIDES:
            found.add(f"{100 * run[side]['test_accuracy']:.1f}%")
            found |= {f"{run[side]['test_loss']:.{d}f}" for d in (2, 4)}
            for epoch in run[side]["epochs"]:
                found |= {f"{epoch[key]:.{d}f}" for key in epoch for d in (2, 3, 4)}
    return found


def test_every_run_the_pages_ask_for_is_measured():
    assert list(MEASURED["runs"]) == exercise_runs()
    for arguments, run in MEASURED["runs"].items():
        assert run["exit"] in (0, 1), (arguments, run.get("error"))
        assert all(0.5 < run[side]["test_accuracy"] < 1 for side in SIDES), arguments


@pytest.mark.parametrize("exercise", EXERCISES)
def test_every_figure_an_answer_states_was_measured(exercise):
    stated = re.findall(r"\d+\.\d+%|\b0\.\d{2,4}\b", exercise.answer)
    assert stated, "an answer states what was measured"
    measured = figures(exercise)
    unmeasured = [figure for figure in stated if figure not in measured]
    assert not unmeasured, f"not among the sweep's figures: {unmeasured}"
