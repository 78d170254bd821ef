"""`mnist-parity pair`: the layout rules and the pairing on their own (fast), then the ladder on the
example pairs (examples/pairs/): the correct ones agree at every rung, each classic porting slip fails
at its rung and layer, and a layer the tool cannot pair is a usage error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import torch
from torch import nn

from keras_parity.pair_side import describe_layers as keras_layers
from parity.pair_ladder import judge
from shared.pairing import (
    PairUsageError,
    explain_loaded,
    load_builder,
    pair_layers,
    to_keras,
    to_torch,
)
from torch_parity.pair_side import describe_layers as torch_layers

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(0)


def test_each_layout_rule_has_its_inverse():
    for role, kind, shape, flatten in [
        ("kernel", "dense", (12, 5), None),
        ("kernel", "dense", (2 * 3 * 2, 5), [2, 3, 2]),
        ("kernel", "conv2d", (3, 3, 2, 4), None),
        ("gamma", "batchnorm", (4,), None),
    ]:
        array = RNG.standard_normal(shape)
        assert np.array_equal(
            to_keras(to_torch(array, role, kind, flatten), role, kind, flatten), array
        )


def test_a_flattened_kernel_follows_torchs_flatten():
    """The reordered rows meet the features where nn.Flatten puts them."""
    features = RNG.standard_normal((1, 2, 3, 4))  # (B, H, W, C), Keras's
    kernel = RNG.standard_normal((24, 5))
    keras_out = features.reshape(1, -1) @ kernel
    torch_features = features.transpose(0, 3, 1, 2).reshape(1, -1)  # nn.Flatten of (B, C, H, W)
    torch_out = torch_features @ to_torch(kernel, "kernel", "dense", [2, 3, 4]).T
    np.testing.assert_allclose(torch_out, keras_out)


def test_a_tensor_loaded_by_hand_is_told_apart_from_the_classic_slips():
    square = RNG.standard_normal((6, 6))
    assert explain_loaded(square.T, square, "kernel", "dense", None) is None
    assert "not transposed" in explain_loaded(square, square, "kernel", "dense", None)
    kernel = RNG.standard_normal((2 * 2 * 3, 4))
    rows = explain_loaded(kernel.T, kernel, "kernel", "dense", [2, 2, 3])
    assert "rows not reordered" in rows
    conv = RNG.standard_normal((3, 2, 1, 4))
    assert "height and width swapped" in explain_loaded(
        conv.transpose(3, 2, 1, 0), conv, "kernel", "conv2d", None
    )


def _keras_mlp():
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, name="hidden"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(2, name="out"),
        ]
    )


def test_what_cannot_be_paired_is_named():
    keras_side = keras_layers(_keras_mlp())
    x = torch.zeros(2, 4)
    good = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5), nn.Linear(3, 2))
    assert pair_layers(keras_side, torch_layers(good, x)[0])[1] is None
    cases = {
        "has no partner": nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5)),
        "unmatched: bias": nn.Sequential(
            nn.Linear(4, 3, bias=False), nn.Dropout(0.5), nn.Linear(3, 2)
        ),
        "does not map": nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.5), nn.Linear(2, 2)),
        "dropout layers after": nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2), nn.Dropout(0.5)),
    }
    for words, module in cases.items():
        _, problem = pair_layers(keras_side, torch_layers(module, x)[0])
        assert problem is not None and words in problem, (words, problem)


def test_a_layer_the_tool_cannot_pair_is_a_usage_error_naming_it():
    with pytest.raises(PairUsageError, match=r"embedding.*Embedding.*Supported"):
        keras_layers(keras.Sequential([keras.Input((3,)), keras.layers.Embedding(10, 4)]))
    with pytest.raises(PairUsageError, match=r"0 \(LSTM\).*Supported"):
        torch_layers(nn.Sequential(nn.LSTM(4, 3)), torch.zeros(2, 4))
    with pytest.raises(PairUsageError, match=r"Dropout2d.*random"):
        torch_layers(nn.Sequential(nn.Dropout2d(0.1)), torch.zeros(2, 1, 4, 4))
    with pytest.raises(PairUsageError, match="MODULE:FUNCTION"):
        load_builder("no_colon")
    with pytest.raises(PairUsageError, match="cannot import"):
        load_builder("no_such_module_here:build")


def test_how_a_module_flattens_is_measured():
    class ChannelsLast(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(1, 2, 3, padding=1), nn.Linear(2 * 4 * 4, 3)

        def forward(self, x):
            return self.fc(self.conv(x).permute(0, 2, 3, 1).flatten(1))

    x = torch.randn(2, 1, 4, 4)
    plain = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(32, 3))
    assert torch_layers(plain, x)[0][-1]["flatten_order"] == "chw"
    assert torch_layers(ChannelsLast(), x)[0][-1]["flatten_order"] == "hwc"


# The ladder on the example pairs: each Keras half once, then each PyTorch half against it, each
# framework's halves in one process of its own.
KERAS_HALVES = {
    "project_cnn": ("project:keras_cnn", "float64"),
    "small_mlp": ("small_mlp:keras_model", "float64"),
    "small_cnn": ("small_cnn:keras_model", "float64"),
    "softmax": ("slips:keras_softmax", "float64"),
    "mlp_float32": ("project:keras_mlp", "float32"),
}
PAIRS = {  # pair -> (its Keras half, the PyTorch builder)
    "project_cnn": ("project_cnn", "project:torch_cnn"),
    "small_mlp": ("small_mlp", "small_mlp:torch_model"),
    "small_cnn": ("small_cnn", "small_cnn:torch_model"),
    "mlp_float32": ("mlp_float32", "project:torch_mlp"),
    "square_transpose": ("small_mlp", "slips:square_transpose"),
    "flatten_order": ("small_cnn", "slips:flatten_order"),
    "batchnorm_momentum": ("small_cnn", "slips:batchnorm_momentum"),
    "same_padding": ("small_cnn", "slips:same_padding"),
    "softmax": ("softmax", "small_cnn:torch_model"),
    "adam_epsilon": ("small_cnn", "slips:adam_epsilon"),
}
LOOP = """
import sys
from pathlib import Path
from {side}_parity.pair_side import main
for directory, builder, dtype in {runs!r}:
    Path(directory).mkdir(exist_ok=True)
    if main(["--builder", "examples.pairs." + builder, "--out", directory, "--dtype", dtype]) != 0:
        sys.exit(f"{{builder}} failed")
"""


def _run_halves(side: str, runs: list, env: dict) -> None:
    code = LOOP.format(side=side, runs=runs)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def ladders(computed_once):
    def compute(directory: Path) -> dict:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        runs = [
            (str(directory / f"keras-{name}"), b, dtype)
            for name, (b, dtype) in KERAS_HALVES.items()
        ]
        _run_halves("keras", runs, env)
        torch_runs = []
        for pair, (keras_half, builder) in PAIRS.items():
            shutil.copytree(directory / f"keras-{keras_half}", directory / pair)
            torch_runs.append((str(directory / pair), builder, KERAS_HALVES[keras_half][1]))
        _run_halves("torch", torch_runs, {**env, "KERAS_BACKEND": "torch"})
        out = {}
        for pair in PAIRS:
            keras_record = json.loads((directory / pair / "keras.json").read_text())
            torch_record = json.loads((directory / pair / "torch.json").read_text())
            dtype = KERAS_HALVES[PAIRS[pair][0]][1]
            tolerance, judged = (1e-10, 20) if dtype == "float64" else (1e-5, 7)
            out[pair] = judge(keras_record, torch_record, tolerance, judged, dtype)
        return out

    return computed_once("pair-ladders", compute)


@pytest.mark.slow
@pytest.mark.xdist_group("pair-ladders")
@pytest.mark.parametrize("pair", ["project_cnn", "small_mlp", "small_cnn", "mlp_float32"])
def test_a_correct_pair_agrees_at_every_rung(ladders, pair):
    ladder = ladders[pair]
    assert ladder.passed, [vars(rung) for rung in ladder.rungs]
    assert [rung.passed for rung in ladder.rungs] == [True] * 5
    assert ladder.tolerance == (1e-5 if pair.endswith("float32") else 1e-10)
    training = ladder.rungs[-1]
    assert ("7 steps" if pair.endswith("float32") else "20 steps") in training.summary
    assert training.largest <= ladder.tolerance


@pytest.mark.slow
@pytest.mark.xdist_group("pair-ladders")
@pytest.mark.parametrize(
    "pair, rung, where, audit",
    [
        ("square_transpose", "weights", "hidden2/kernel", None),
        ("flatten_order", "weights", "dense/kernel", None),
        (
            "batchnorm_momentum",
            "training",
            "step 1: batchnorm1 (BatchNormalization)",
            "batchnorm 1 momentum",
        ),
        ("same_padding", "forward", "conv2 (Conv2D)", "conv2d 2 padding"),
        ("softmax", "forward", "the model's output (after the softmax", "loss.model_output"),
        ("adam_epsilon", "training", "step 1: conv1 (Conv2D)", "optimizer.epsilon"),
    ],
)
def test_each_porting_slip_fails_at_its_rung_and_layer(ladders, pair, rung, where, audit):
    ladder = ladders[pair]
    assert not ladder.passed
    assert ladder.failed.name == rung and ladder.failed.where.startswith(where), vars(ladder.failed)
    later = ladder.rungs[[r.name for r in ladder.rungs].index(rung) + 1 :]
    assert all(r.passed is None for r in later) or rung == "training"
    assert [row["row"] for row in ladder.audit_differs] == ([audit] if audit else [])


@pytest.mark.slow
def test_the_command_on_the_mlp_pair_passes_and_writes_its_report(tmp_path, compare_cli):
    out = tmp_path / "pair"
    done = compare_cli(
        "pair",
        "--keras",
        "examples.pairs.project:keras_mlp",
        "--torch",
        "examples.pairs.project:torch_mlp",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS: every rung agrees (float64, tolerance 1e-10)" in done.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["passed"] and [r["passed"] for r in report["rungs"]] == [True] * 5
    assert "dropout layers: 2" in report["rungs"][0]["summary"]
    assert "| 5 training | pass | 20 steps" in (out / "report.md").read_text()


@pytest.mark.slow
def test_a_module_the_tool_cannot_pair_exits_2_naming_it(tmp_path):
    (tmp_path / "mine.py").write_text(
        "from torch import nn\n\n\ndef build():\n    return nn.Sequential(nn.Flatten(), nn.RNN(784, 10))\n"
    )
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "parity.pair",
            "--keras",
            "examples.pairs.project:keras_mlp",
            "--torch",
            "mine:build",
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "1 (RNN)" in done.stderr and "Supported" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not any(out.iterdir())  # nothing half-written


@pytest.mark.slow
def test_a_slip_exits_1_naming_its_rung_and_layer(tmp_path, compare_cli):
    done = compare_cli(
        "pair",
        "--keras",
        "examples.pairs.slips:keras_mlp",
        "--torch",
        "examples.pairs.slips:square_transpose",
        "--steps",
        "2",
        "--out",
        str(tmp_path / "pair"),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL: rung 2 (weights) fails at hidden2/kernel into 3.weight" in done.stdout


def test_what_a_module_does_in_forward_is_measured_not_read():
    """A functional ReLU before a channels-last flatten, functional.pad before a stride-2
    convolution: measured from the tensors; a Dropout module called twice: a usage error."""

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 2, 3, padding=1)
            self.conv2 = nn.Conv2d(2, 3, 3, stride=2)
            self.fc = nn.Linear(3 * 4 * 4, 2)

        def forward(self, x):
            x = nn.functional.pad(self.conv1(x), (0, 1, 0, 1))
            return self.fc(nn.functional.relu(self.conv2(x)).permute(0, 2, 3, 1).flatten(1))

    layers, _ = torch_layers(Functional(), torch.randn(2, 1, 8, 8))
    assert layers[1]["padding"] == [0, 1, 0, 1] and layers[2]["flatten_order"] == "hwc"

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.drop = nn.Linear(4, 4), nn.Linear(4, 2), nn.Dropout(0.5)

        def forward(self, x):
            return self.fc2(self.drop(self.fc1(self.drop(x))))

    with pytest.raises(PairUsageError, match="drop .*called more than once"):
        torch_layers(Twice(), torch.zeros(2, 4))


def test_dropouts_that_cannot_share_a_mask_are_named():
    channel_drop = keras.layers.Dropout(0.2, noise_shape=(None, 1, 1, 2))
    with pytest.raises(PairUsageError, match="noise_shape"):
        keras_layers(keras.Sequential([keras.Input((4, 4, 2)), channel_drop]))
    before_flatten = keras_layers(
        keras.Sequential(
            [
                keras.Input((2, 2, 3)),
                keras.layers.Dropout(0.5),
                keras.layers.Flatten(),
                keras.layers.Dense(2),
            ]
        )
    )
    after_flatten = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(12, 2))
    problem = pair_layers(before_flatten, torch_layers(after_flatten, torch.zeros(2, 3, 2, 2))[0])[
        1
    ]
    assert "dropout 1 acts on (2, 2, 3) in Keras, on (12,) in PyTorch" in problem


@pytest.mark.slow
def test_the_python_api_raises_a_usage_error_and_keeps_nothing(tmp_path, monkeypatch):
    from parity.pair import compare_pair

    monkeypatch.chdir(ROOT)
    out = tmp_path / "pair"
    with pytest.raises(
        PairUsageError, match="keras: no_such_module:build: cannot import no_such_module"
    ):
        compare_pair("no_such_module:build", "examples.pairs.project:torch_mlp", out=str(out))
    assert not any(out.iterdir())
