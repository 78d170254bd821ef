import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.mnist import load_mnist
from shared.spec import RULES, SpecError, load_spec, parse_override, spec_from_dict
from shared.splits import check_contract


def test_defaults(spec):
    assert (spec.data.height, spec.data.width, spec.data.channels, spec.data.num_classes) == (
        28,
        28,
        1,
        10,
    )
    assert (spec.data.mean, spec.data.std, spec.data.validation_size) == (0.1307, 0.3081, 5000)
    assert spec.augment.enabled and spec.augment.interpolation == "bilinear"
    assert (
        spec.model.hidden == (256, 128)
        and spec.model.activation == "relu"
        and spec.model.dropout == 0.2
    )
    t = spec.train
    assert (t.lr, t.beta1, t.beta2, t.epsilon, t.batch_size, t.epochs) == (
        1e-3,
        0.9,
        0.999,
        1e-7,
        128,
        10,
    )
    assert spec.parity.min_test_accuracy == 0.98
    # the tolerances themselves come from the calibration: tests/test_verdict.py ties them to it


def test_shapes_contract(spec):
    s = spec.shapes(32)
    assert s == {
        "raw": (32, 28, 28),
        "torch_sample": (1, 28, 28),
        "keras_sample": (28, 28, 1),
        "torch_batch": (32, 1, 28, 28),
        "keras_batch": (32, 28, 28, 1),
        "flat": (32, 784),
        "logits": (32, 10),
    }


def test_overrides_are_typed():
    spec = load_spec(
        [
            "train.lr=3e-4",
            "model.hidden=[512,256,128]",
            "augment.enabled=false",
            "augment.interpolation=nearest",
            "train.lr=1",
        ]
    )
    assert spec.train.lr == 1.0 and isinstance(spec.train.lr, float)
    assert spec.model.hidden == (512, 256, 128)
    assert spec.augment.enabled is False and spec.augment.interpolation == "nearest"
    assert load_spec(["model.hidden=[]"]).model.hidden == ()
    assert parse_override("data.workers=auto") == ("data.workers", "auto")


def test_quick_applies_the_quick_table_then_overrides():
    spec = load_spec(["train.epochs=3"], quick=True)
    assert spec.data.train_subset == 10000 and spec.train.epochs == 3
    assert spec.parity.min_test_accuracy < 0.98


@pytest.mark.parametrize(
    "override, key, allowed",
    [
        ("train.lr=-1", "train.lr", "must be > 0"),
        ("train.batch_size=0", "train.batch_size", "must be >= 1"),
        ("data.split_seed=-1", "data.split_seed", ">= 0"),
        ("model.activation=swish", "model.activation", "allowed: relu"),
        ("model.dropout=1.5", "model.dropout", "[0, 1)"),
        ("data.validation_size=70000", "data.validation_size", "60,000"),
        ("data.train_subset=56000", "data.train_subset", "at most 55000"),
        ("augment.interpolation=bicubic", "augment.interpolation", "bilinear"),
        ("augment.scale=[1.2,0.8]", "augment.scale", "low <= high"),
        ("train.epochs=2.5", "train.epochs", "whole number"),
        ("train.lr=fast", "train.lr", "expected a number"),
        ("model.hidden=[256,-1]", "model.hidden", "> 0"),
        ("parity.calibration=weekly", "parity.calibration", "allowed: default, quick"),
        ("parity.lockstep.float64=0", "parity.lockstep.float64", "> 0"),
    ],
)
def test_each_bad_value_names_key_value_and_what_is_allowed(override, key, allowed):
    with pytest.raises(SpecError) as err:
        load_spec([override])
    message = str(err.value)
    assert (
        key in message
        and allowed in message
        and override.split("=", 1)[1].strip("[]").split(",")[0] in message
    )


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.learning_rate=1", "unknown spec key train.learning_rate"),
        ("trian.lr=1", "unknown spec key trian.lr"),
        ("lr=1", "unknown spec key lr"),
        ("train.lr", "expected KEY=VALUE"),
        # knobs that could not turn, removed: Adam, Keras's initializers and a black fill are the pipeline
        ("train.optimizer=sgd", "unknown spec key train.optimizer"),
        ("model.kernel_init=he_uniform", "unknown spec key model.kernel_init"),
        ("model.bias_init=ones", "unknown spec key model.bias_init"),
        ("augment.fill=0.5", "unknown spec key augment.fill"),
    ],
)
def test_unknown_keys_and_malformed_overrides(override, expected):
    with pytest.raises(SpecError, match=expected):
        load_spec([override])


def test_every_value_of_the_spec_has_its_rule():
    def keys(node, prefix):
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            if dataclasses.is_dataclass(value):
                yield from keys(value, f"{prefix}{field.name}.")
            elif not isinstance(value, (bool, dict)):
                yield f"{prefix}{field.name}"

    free = {"data.mean"}  # any number
    checked_against_the_data = {"data.height", "data.width", "data.channels", "data.num_classes"}
    ruled = [rule.key for rule in RULES]
    assert len(set(ruled)) == len(ruled)
    assert set(ruled) == set(keys(load_spec(), "")) - free - checked_against_the_data


@pytest.mark.parametrize(
    "override, said",
    [
        ("data.height=32", "the images loaded are 28 x 28 pixels (height x width), 1 channel"),
        ("data.width=27", "so it must be 28"),
        ("data.channels=3", "1 channel, so it must be 1"),
        ("data.num_classes=12", "the labels loaded are 0 to 9, 10 classes, so it must be 10"),
    ],
)
def test_the_shapes_contract_is_checked_against_the_data_loaded(override, said):
    spec = load_spec([override])  # a well-formed value: only the data can refute it
    with pytest.raises(SpecError) as err:
        check_contract(spec, load_mnist())
    key, value = override.split("=")
    assert f"spec value {key} = {value} is invalid: " in str(err.value) and said in str(err.value)
    check_contract(load_spec(), load_mnist())


def test_round_trip_through_json(spec):
    again = spec_from_dict(json.loads(spec.to_json()))
    assert again == spec
    changed = load_spec(["model.hidden=[64]", "train.seed=7"])
    assert spec_from_dict(json.loads(changed.to_json())) == changed != spec


def test_a_broken_spec_file_is_reported(tmp_path):
    bad = tmp_path / "spec.toml"
    bad.write_text("[train\nlr = 1")
    with pytest.raises(SpecError, match="cannot read the spec"):
        load_spec(path=bad)


@pytest.mark.parametrize(
    "command", [["compare.py"], ["-m", "torch_impl.train"], ["-m", "keras_impl.train"]]
)
def test_a_bad_value_on_the_command_line_exits_2_before_anything_else(command):
    run = subprocess.run(
        [sys.executable, *command, "--set", "train.lr=-1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert run.returncode == 2
    assert "train.lr" in run.stderr and "-1" in run.stderr
    assert "training on" not in run.stdout


def test_a_shape_the_data_refutes_exits_2_before_training():
    run = subprocess.run(
        [sys.executable, "-m", "torch_impl.train", "--set", "data.height=32"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "data.height = 32" in run.stderr and "must be 28" in run.stderr
    assert "training on" not in run.stdout
