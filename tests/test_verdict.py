"""The parity verdict (parity/checks.py) on hand-written results, and the spec's tolerances against
the calibration they were taken from (parity/calibration.json). No training, no framework import."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path

import pytest

from parity.calibrate import K, suggest
from parity.checks import Check, parity_checks, verdict
from shared.results import Result, Scores, epoch_row, new_result
from shared.spec import CALIBRATED_MODES as MODES
from shared.spec import Spec, load_spec

CALIBRATION = Path(__file__).resolve().parents[1] / "parity" / "calibration.json"
CONFIGS = ("default", "quick")
TOLERANCE_NAMES = ("test_accuracy", "val_accuracy", "val_loss", "train_loss")

FINISHED = ("keras trained to the end", "torch trained to the end")
FLOORS = ("keras test accuracy >= minimum", "torch test accuracy >= minimum")
TEST_DIFF = "test accuracy difference"
# history key -> its check's name (the tolerance of the same name applies)
CURVE_CHECKS = {
    "train_loss": "training loss difference (max over epochs)",
    "val_loss": "validation loss difference (max over epochs)",
    "val_accuracy": "validation accuracy difference (max over epochs)",
}
ALL_CHECKS = (*FINISHED, *FLOORS, TEST_DIFF, *CURVE_CHECKS.values())

# Well above both floors (0.98 default, 0.90 quick), and far enough from 1 that twice any test
# accuracy tolerance can be taken off it while staying above the floor.
TEST_ACCURACY = 0.995


@functools.cache
def spec_for(config: str) -> Spec:
    return load_spec(quick=config == "quick")


@functools.cache
def calibration() -> dict:
    return json.loads(CALIBRATION.read_text())


def base_curves(epochs: int) -> dict[str, list[float]]:
    """Plausible per-epoch curves, distinct at every epoch; copies, free to edit."""
    return {
        "train_loss": [0.5 / (e + 1) for e in range(epochs)],
        "val_loss": [0.3 / (e + 1) + 0.05 for e in range(epochs)],
        "val_accuracy": [0.9 + 0.009 * e for e in range(epochs)],
    }


def make_result(
    side: str,
    spec: Spec,
    mode: str,
    curves: dict[str, list[float]] | None = None,
    test_accuracy: float = TEST_ACCURACY,
    epochs: int | None = None,
) -> Result:
    """A finished run of `side`: `curves` (history key -> a value per epoch; defaults to
    base_curves), the given test accuracy and an empty 10 x 10 confusion matrix."""
    curves = curves or base_curves(spec.train.epochs if epochs is None else epochs)
    result = new_result(side, spec.to_dict(), mode, 0, {}, "cpu")
    result.history = [
        epoch_row(e + 1, tl, 0.9, vl, va, 1.0)
        for e, (tl, vl, va) in enumerate(
            zip(curves["train_loss"], curves["val_loss"], curves["val_accuracy"])
        )
    ]
    result.test = Scores(0.05, test_accuracy)
    result.confusion_matrix = [[0] * 10 for _ in range(10)]
    return result


def by_name(checks: list[Check]) -> dict[str, Check]:
    named = {c.name: c for c in checks}
    assert len(named) == len(checks), f"duplicate check names: {[c.name for c in checks]}"
    return named


def failed_names(checks: list[Check]) -> list[str]:
    return [c.name for c in checks if not c.passed]


every_config_and_mode = pytest.mark.parametrize(
    "config, mode", [(c, m) for c in CONFIGS for m in MODES]
)


# -- both sides fine ------------------------------------------------------------------------


@every_config_and_mode
def test_identical_results_pass_every_check_and_the_verdict_says_pass(config, mode):
    spec = spec_for(config)
    checks = parity_checks(
        make_result("keras", spec, mode), make_result("torch", spec, mode), spec, mode
    )
    named = by_name(checks)
    assert set(named) == set(ALL_CHECKS)
    assert failed_names(checks) == []
    for name in FINISHED:
        assert named[name].detail == "finished"
    assert verdict(checks, mode) == (
        f"PARITY PASS: all {len(ALL_CHECKS)} checks within tolerance ({mode} mode)"
    )


@every_config_and_mode
def test_each_check_carries_the_spec_tolerance_of_its_mode(config, mode):
    spec = spec_for(config)
    tol = spec.tolerances(mode)
    named = by_name(
        parity_checks(
            make_result("keras", spec, mode), make_result("torch", spec, mode), spec, mode
        )
    )
    assert named[TEST_DIFF].tolerance == tol.test_accuracy
    for key, name in CURVE_CHECKS.items():
        assert named[name].tolerance == getattr(tol, key)
    for name in FLOORS:
        assert named[name].tolerance == spec.parity.min_test_accuracy
        assert named[name].at_least
        assert named[name].measured == TEST_ACCURACY


@pytest.mark.parametrize("config", CONFIGS)
def test_a_difference_between_the_two_modes_tolerances_passes_only_the_looser_mode(config):
    spec = spec_for(config)
    aligned, independent = spec.tolerances("aligned"), spec.tolerances("independent")
    differing = [n for n in TOLERANCE_NAMES if getattr(aligned, n) != getattr(independent, n)]
    assert differing, f"{config}: aligned and independent share every tolerance"
    for name in differing:
        low, high = sorted((getattr(aligned, name), getattr(independent, name)))
        tight = "aligned" if getattr(aligned, name) == low else "independent"
        loose = "independent" if tight == "aligned" else "aligned"
        diff = (low + high) / 2
        curves = base_curves(spec.train.epochs)
        if name == "test_accuracy":
            keras = make_result("keras", spec, tight)
            torch = make_result("torch", spec, tight, test_accuracy=TEST_ACCURACY - diff)
            check = TEST_DIFF
        else:
            curves[name][0] += diff
            keras = make_result("keras", spec, tight)
            torch = make_result("torch", spec, tight, curves=curves)
            check = CURVE_CHECKS[name]
        assert failed_names(parity_checks(keras, torch, spec, tight)) == [check], name
        assert failed_names(parity_checks(keras, torch, spec, loose)) == [], name


# -- a side that did not finish -------------------------------------------------------------


@pytest.mark.parametrize("crashed", ["keras", "torch"])
@every_config_and_mode
def test_a_crashed_side_gives_only_the_two_finished_checks(config, mode, crashed):
    spec = spec_for(config)
    results = {side: make_result(side, spec, mode) for side in ("keras", "torch")}
    results[crashed] = None
    checks = parity_checks(results["keras"], results["torch"], spec, mode)
    named = by_name(checks)
    assert set(named) == set(FINISHED)
    survivor = "torch" if crashed == "keras" else "keras"
    bad, good = named[f"{crashed} trained to the end"], named[f"{survivor} trained to the end"]
    assert not bad.passed
    assert bad.measured is None
    assert bad.detail == "no result (the side crashed)"
    assert good.passed
    assert good.detail == "finished"
    assert verdict(checks, mode) == (
        f"PARITY FAIL: 1 of 2 checks failed ({mode} mode); "
        f"first: {crashed} trained to the end (no result (the side crashed))"
    )


def test_both_sides_crashed_fail_both_finished_checks_and_name_keras_first():
    spec = spec_for("default")
    checks = parity_checks(None, None, spec, "aligned")
    assert failed_names(checks) == list(FINISHED)
    assert verdict(checks, "aligned") == (
        "PARITY FAIL: 2 of 2 checks failed (aligned mode); "
        "first: keras trained to the end (no result (the side crashed))"
    )


@pytest.mark.parametrize("diverged", ["keras", "torch"])
@every_config_and_mode
def test_a_diverged_side_fails_its_finished_check_with_its_message(config, mode, diverged):
    spec = spec_for(config)
    message = "epoch 2: training diverged: loss nan (limit train.max_loss = 1000) after 17 batches"
    results = {side: make_result(side, spec, mode) for side in ("keras", "torch")}
    bad = results[diverged]
    # what the trainers write: the epochs completed before it, no test scores
    bad.status, bad.message, bad.history = "diverged", message, bad.history[:1]
    bad.test, bad.confusion_matrix = None, None
    checks = parity_checks(results["keras"], results["torch"], spec, mode)
    named = by_name(checks)
    assert set(named) == set(FINISHED)
    assert not named[f"{diverged} trained to the end"].passed
    assert named[f"{diverged} trained to the end"].detail == message
    assert failed_names(checks) == [f"{diverged} trained to the end"]
    assert verdict(checks, mode).endswith(f"first: {diverged} trained to the end ({message})")


# -- the test accuracy floor ----------------------------------------------------------------


@every_config_and_mode
def test_test_accuracy_under_the_floor_fails_the_at_least_check(config, mode):
    spec = spec_for(config)
    floor = spec.parity.min_test_accuracy
    # 0.002 apart: inside every test accuracy tolerance, so the floor is the only failure
    keras = make_result("keras", spec, mode, test_accuracy=floor + 0.001)
    torch = make_result("torch", spec, mode, test_accuracy=floor - 0.001)
    checks = parity_checks(keras, torch, spec, mode)
    named = by_name(checks)
    low = named["torch test accuracy >= minimum"]
    assert failed_names(checks) == ["torch test accuracy >= minimum"]
    assert low.at_least
    assert low.measured == floor - 0.001
    assert low.tolerance == floor
    assert low.detail == f"{floor - 0.001:.4f} vs required {floor:.4f}"
    assert named["keras test accuracy >= minimum"].passed
    assert verdict(checks, mode) == (
        f"PARITY FAIL: 1 of {len(ALL_CHECKS)} checks failed ({mode} mode); "
        f"first: torch test accuracy >= minimum: {floor - 0.001:.4f} < {floor:.4f} "
        f"({floor - 0.001:.4f} vs required {floor:.4f})"
    )


def test_the_floor_check_formats_measured_below_floor_in_the_verdict():
    spec = spec_for("default")  # floor 0.98
    keras = make_result("keras", spec, "aligned", test_accuracy=0.979)
    torch = make_result("torch", spec, "aligned", test_accuracy=0.981)
    checks = parity_checks(keras, torch, spec, "aligned")
    assert verdict(checks, "aligned") == (
        "PARITY FAIL: 1 of 8 checks failed (aligned mode); "
        "first: keras test accuracy >= minimum: 0.9790 < 0.9800 (0.9790 vs required 0.9800)"
    )


@pytest.mark.parametrize("config", CONFIGS)
def test_test_accuracy_exactly_at_the_floor_passes(config):
    spec = spec_for(config)
    floor = spec.parity.min_test_accuracy
    keras = make_result("keras", spec, "aligned", test_accuracy=floor)
    torch = make_result("torch", spec, "aligned", test_accuracy=floor)
    assert failed_names(parity_checks(keras, torch, spec, "aligned")) == []


# -- epochs and curves ----------------------------------------------------------------------


@every_config_and_mode
def test_different_numbers_of_epochs_fail_and_skip_the_difference_checks(config, mode):
    spec = spec_for(config)
    epochs = spec.train.epochs
    keras = make_result("keras", spec, mode)
    torch = make_result("torch", spec, mode, epochs=epochs - 1)
    checks = parity_checks(keras, torch, spec, mode)
    named = by_name(checks)
    assert set(named) == {*FINISHED, *FLOORS, "same number of epochs"}
    assert failed_names(checks) == ["same number of epochs"]
    assert named["same number of epochs"].measured is None
    assert named["same number of epochs"].detail == f"keras {epochs}, torch {epochs - 1}"
    assert verdict(checks, mode) == (
        f"PARITY FAIL: 1 of 5 checks failed ({mode} mode); "
        f"first: same number of epochs (keras {epochs}, torch {epochs - 1})"
    )


@pytest.mark.parametrize("bad_value", [math.nan, math.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("bad_epoch", [1, 2])
@every_config_and_mode
def test_a_non_finite_curve_value_fails_and_is_reported_as_the_worst_epoch(
    config, mode, bad_epoch, bad_value
):
    spec = spec_for(config)
    limit = spec.tolerances(mode).val_loss
    curves = base_curves(spec.train.epochs)
    other = 2 if bad_epoch == 1 else 1
    curves["val_loss"][bad_epoch - 1] = bad_value
    curves["val_loss"][other - 1] += 10 * limit  # a large finite difference at another epoch
    keras = make_result("keras", spec, mode)
    torch = make_result("torch", spec, mode, curves=curves)
    checks = parity_checks(keras, torch, spec, mode)
    check = by_name(checks)[CURVE_CHECKS["val_loss"]]
    assert failed_names(checks) == [CURVE_CHECKS["val_loss"]]
    assert not check.passed
    assert not math.isfinite(check.measured)
    keras_value = base_curves(spec.train.epochs)["val_loss"][bad_epoch - 1]
    assert check.detail == (
        f"largest at epoch {bad_epoch}: keras {keras_value:.4f}, torch {bad_value:.4f}"
    )
    assert verdict(checks, mode) == (
        f"PARITY FAIL: 1 of {len(ALL_CHECKS)} checks failed ({mode} mode); "
        f"first: {CURVE_CHECKS['val_loss']}: {check.measured:.4g} > tolerance {limit:.4g} "
        f"({check.detail})"
    )


@pytest.mark.parametrize("factor, passes", [(0.5, True), (2.0, False)], ids=["inside", "outside"])
@pytest.mark.parametrize("key", list(CURVE_CHECKS))
@every_config_and_mode
def test_a_curve_difference_inside_the_tolerance_passes_and_outside_fails(
    config, mode, key, factor, passes
):
    spec = spec_for(config)
    limit = getattr(spec.tolerances(mode), key)
    epochs = spec.train.epochs
    curves = base_curves(epochs)
    curves[key][-1] -= factor * limit  # at the last epoch; every other epoch identical
    keras = make_result("keras", spec, mode)
    torch = make_result("torch", spec, mode, curves=curves)
    checks = parity_checks(keras, torch, spec, mode)
    check = by_name(checks)[CURVE_CHECKS[key]]
    assert check.measured == pytest.approx(factor * limit, rel=1e-9)
    assert check.tolerance == limit
    assert check.passed is passes
    assert check.detail.startswith(f"largest at epoch {epochs}: ")
    assert failed_names(checks) == ([] if passes else [CURVE_CHECKS[key]])


@pytest.mark.parametrize("factor, passes", [(0.5, True), (2.0, False)], ids=["inside", "outside"])
@every_config_and_mode
def test_a_test_accuracy_difference_inside_the_tolerance_passes_and_outside_fails(
    config, mode, factor, passes
):
    spec = spec_for(config)
    limit = spec.tolerances(mode).test_accuracy
    high = 0.999  # 2 tolerances below it is still above every floor
    keras = make_result("keras", spec, mode, test_accuracy=high)
    torch = make_result("torch", spec, mode, test_accuracy=high - factor * limit)
    checks = parity_checks(keras, torch, spec, mode)
    check = by_name(checks)[TEST_DIFF]
    assert check.measured == pytest.approx(factor * limit, rel=1e-9)
    assert check.tolerance == limit
    assert check.passed is passes
    assert check.detail == f"keras {high:.4f}, torch {high - factor * limit:.4f}"
    # both stay above the floor: the difference is the only thing that can fail
    assert failed_names(checks) == ([] if passes else [TEST_DIFF])


# -- the FAIL line --------------------------------------------------------------------------


def test_the_fail_line_counts_failures_and_names_the_first_with_measured_tolerance_and_detail():
    spec = spec_for("default")  # aligned tolerances well under 0.009, 0.04 and 0.05
    curves = base_curves(spec.train.epochs)
    curves["train_loss"][3] += 0.05  # epoch 4
    curves["val_loss"][6] += 0.04  # epoch 7
    keras = make_result("keras", spec, "aligned")
    torch = make_result("torch", spec, "aligned", curves=curves, test_accuracy=0.986)
    checks = parity_checks(keras, torch, spec, "aligned")
    assert failed_names(checks) == [
        TEST_DIFF,
        CURVE_CHECKS["train_loss"],
        CURVE_CHECKS["val_loss"],
    ]
    assert verdict(checks, "aligned") == (
        "PARITY FAIL: 3 of 8 checks failed (aligned mode); "
        f"first: test accuracy difference: 0.009 > tolerance {spec.parity.aligned.test_accuracy:.4g} "
        "(keras 0.9950, torch 0.9860)"
    )


def test_the_fail_line_names_a_curve_check_when_it_is_the_first_failure():
    spec = spec_for("quick")  # independent val_accuracy tolerance well under 0.1
    curves = base_curves(spec.train.epochs)  # val_accuracy 0.9, 0.909
    curves["val_accuracy"][1] -= 0.1
    keras = make_result("keras", spec, "independent")
    torch = make_result("torch", spec, "independent", curves=curves)
    checks = parity_checks(keras, torch, spec, "independent")
    assert verdict(checks, "independent") == (
        "PARITY FAIL: 1 of 8 checks failed (independent mode); "
        "first: validation accuracy difference (max over epochs): 0.1 > tolerance "
        f"{spec.parity.independent.val_accuracy:.4g} (largest at epoch 2: keras 0.9090, torch 0.8090)"
    )


# -- the tolerances against their calibration -----------------------------------------------


@pytest.mark.parametrize("name", TOLERANCE_NAMES)
@every_config_and_mode
def test_spec_tolerance_is_at_least_the_calibrated_suggestion_and_at_most_twice_it(
    config, mode, name
):
    tolerance = getattr(spec_for(config).tolerances(mode), name)
    suggested = calibration()[config]["modes"][mode]["suggested_tolerances"][name]
    assert suggested <= tolerance <= 2 * suggested, (
        f"{config} {mode} {name}: spec tolerance {tolerance} outside "
        f"[suggestion {suggested:.6f}, 2 x suggestion {2 * suggested:.6f}]"
    )


@every_config_and_mode
def test_recorded_suggestions_follow_from_the_recorded_spreads(config, mode):
    doc = calibration()[config]
    assert doc["k"] == K
    recorded = doc["modes"][mode]
    recomputed = suggest(recorded["spread"]["keras"], recorded["spread"]["torch"])
    assert set(recomputed) == set(TOLERANCE_NAMES)
    assert set(recorded["suggested_tolerances"]) == set(TOLERANCE_NAMES)
    for name in TOLERANCE_NAMES:
        assert recomputed[name] == pytest.approx(
            recorded["suggested_tolerances"][name], rel=0, abs=1e-12
        ), f"{config} {mode} {name}"


def test_tolerance_names_are_the_spec_fields():
    fields = {f.name for f in dataclasses.fields(spec_for("default").tolerances("aligned"))}
    assert fields == set(TOLERANCE_NAMES)
    assert {*CURVE_CHECKS, "test_accuracy"} == fields
