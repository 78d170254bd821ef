import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.spec import SpecError, load_spec, parse_override, spec_from_dict


def test_defaults(spec):
    assert (spec.data.height, spec.data.width, spec.data.channels, spec.data.num_classes) == (
        28,
        28,
        1,
        10,
    )
    assert (spec.data.mean, spec.data.std, spec.data.validation_size) == (0.1307, 0.3081, 5000)
    assert (
        spec.augment.enabled and spec.augment.interpolation == "bilinear" and spec.augment.fill == 0
    )
    assert (
        spec.model.hidden == (256, 128)
        and spec.model.activation == "relu"
        and spec.model.dropout == 0.2
    )
    assert (spec.model.kernel_init, spec.model.bias_init) == ("glorot_uniform", "zeros")
    t = spec.train
    assert (t.optimizer, t.lr, t.beta1, t.beta2, t.epsilon, t.batch_size, t.epochs) == (
        "adam",
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
        ("data.height=32", "data.height", "28 x 28"),
        ("train.batch_size=0", "train.batch_size", "must be >= 1"),
        ("train.optimizer=sgd", "train.optimizer", "allowed: adam"),
        ("model.activation=swish", "model.activation", "allowed: relu"),
        ("model.dropout=1.5", "model.dropout", "[0, 1)"),
        ("data.validation_size=70000", "data.validation_size", "60,000"),
        ("data.train_subset=56000", "data.train_subset", "at most 55000"),
        ("augment.interpolation=bicubic", "augment.interpolation", "bilinear"),
        ("augment.scale=[1.2,0.8]", "augment.scale", "low <= high"),
        ("augment.fill=0.5", "augment.fill", "only 0"),
        ("train.epochs=2.5", "train.epochs", "whole number"),
        ("train.lr=fast", "train.lr", "expected a number"),
        ("model.hidden=[256,-1]", "model.hidden", "> 0"),
        ("parity.aligned.val_loss=0", "parity.aligned.val_loss", "> 0"),
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
    ],
)
def test_unknown_keys_and_malformed_overrides(override, expected):
    with pytest.raises(SpecError, match=expected):
        load_spec([override])


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
