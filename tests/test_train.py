"""Training on both sides, in this process: a sane 1-epoch run, determinism, save/load, divergence, schema."""

import json

import numpy as np
import pytest
import torch

from shared.results import Result, Scores, epoch_row, new_result
from shared.spec import load_spec, spec_from_dict
from shared.splits import load_splits
from torch_impl import pipeline as torch_train
from torch_impl.data import make_eval_data as torch_eval_data
from torch_impl.evaluate import evaluate as torch_evaluate
from torch_impl.model import build_model as torch_build
from torch_parity import side as torch_side

keras = pytest.importorskip("keras")
from keras_impl import pipeline as keras_train  # noqa: E402
from keras_impl.data import make_eval_data as keras_eval_data  # noqa: E402
from keras_impl.evaluate import evaluate as keras_evaluate  # noqa: E402
from keras_parity import side as keras_side  # noqa: E402


def keras_sees_a_gpu() -> bool:
    """Whether Keras's backend (KERAS_BACKEND) sees a GPU, asked as that backend asks."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return jax.default_backend() == "gpu"
    return torch.cuda.is_available()


SMALL = ["--set", "data.train_subset=3000", "--epochs", "1", "--quiet", "--device", "cpu"]
MAINS = {"torch": torch_train.main, "keras": keras_train.main}
# the sides with the parity instruments attached (--mode aligned, lockstep), as compare.py runs them
INSTRUMENTED = {"torch": torch_side.main, "keras": keras_side.main}
MODEL_FILE = {"torch": "mlp.pt", "keras": "mlp.keras"}


def run(side, tmp_path, *extra, name="result.json"):
    out = tmp_path / name
    mains = INSTRUMENTED if "--mode" in extra else MAINS
    code = mains[side]([*SMALL, "--out", str(out), *extra])
    return code, json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("side", ["torch", "keras"])
def test_one_epoch_on_a_subset_is_sane_and_round_trips(side, tmp_path, spec, capsys):
    model_path = tmp_path / MODEL_FILE[side]
    code, result = run(side, tmp_path, "--save-model", str(model_path))
    assert code == 0
    Result.from_dict(result)
    assert result["framework"] == side and result["status"] == "ok" and len(result["history"]) == 1
    if side == "keras":  # it names its backend (the others': tests/test_keras_backends.py)
        backend = keras.backend.backend()
        assert result["versions"]["keras_backend"] == backend and backend in result["versions"]
        assert f"{backend} backend" in capsys.readouterr().out
    assert spec_from_dict(result["spec"]) == load_spec(["data.train_subset=3000", "train.epochs=1"])
    assert result["test"]["accuracy"] > 0.75 and result["history"][0]["val_accuracy"] > 0.75
    assert sum(map(sum, result["confusion_matrix"])) == 10000
    # The saved model, loaded back, reproduces the saved test accuracy exactly.
    splits = load_splits(spec)
    if side == "torch":
        model = torch_build(spec)
        model.load_state_dict(torch.load(model_path, weights_only=True))
        _, accuracy, confusion = torch_evaluate(
            model, torch_eval_data(spec, splits.x_test, splits.y_test), torch.device("cpu")
        )
    else:
        model = keras.models.load_model(model_path)
        test_data = keras_eval_data(spec, splits.x_test, splits.y_test)
        _, accuracy, confusion = keras_evaluate(model, test_data, splits.y_test)
    assert accuracy == result["test"]["accuracy"] and confusion == result["confusion_matrix"]


@pytest.mark.slow
@pytest.mark.parametrize("side", ["torch", "keras"])
@pytest.mark.parametrize("mode", ["independent", "aligned"])
def test_same_seed_same_history(side, mode, tmp_path):
    runs = [
        run(side, tmp_path, "--mode", mode, "--seed", "3", name=f"{i}.json")[1] for i in range(2)
    ]
    strip = [[{k: v for k, v in h.items() if k != "seconds"} for h in r["history"]] for r in runs]
    assert strip[0] == strip[1] and runs[0]["test"] == runs[1]["test"]
    other = run(side, tmp_path, "--mode", mode, "--seed", "4", name="other.json")[1]
    assert other["history"][0]["train_loss"] != runs[0]["history"][0]["train_loss"]


@pytest.mark.slow
@pytest.mark.parametrize("side", ["torch", "keras"])
def test_a_diverging_run_stops_with_a_clear_message(side, tmp_path, capsys):
    code, result = run(side, tmp_path, "--set", "train.lr=100")
    assert code == 1
    Result.from_dict(result)
    assert result["status"] == "diverged" and result["test"] is None and result["history"] == []
    assert "diverged" in result["message"] and "train.lr" in result["message"]
    assert "STOPPED" in capsys.readouterr().out


@pytest.mark.parametrize("side", ["torch", "keras"])
def test_gpu_on_a_machine_without_one_is_a_clear_error(side, tmp_path, capsys):
    if side == "torch" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    if side == "keras" and keras_sees_a_gpu():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SystemExit) as exit_:
        MAINS[side]([*SMALL, "--device", "gpu", "--out", str(tmp_path / "r.json")])
    assert exit_.value.code == 2 and "--device gpu" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_the_schema_reads_back_and_rejects_a_malformed_result(spec):
    result = new_result("torch", spec.to_dict(), "aligned", 0, {"torch": "x"}, "cpu")
    result.history = [epoch_row(1, 0.5, 0.8, 0.4, 0.9, 1.0)]
    result.test, result.confusion_matrix = Scores(0.3, 0.9), [[0] * 10 for _ in range(10)]
    good = result.to_dict()
    assert Result.from_dict(good) == result
    for broken in (
        {**good, "history": [{"epoch": 1}]},
        {**good, "history": [{**good["history"][0], "epoch": 2}]},
        {**good, "history": [{**good["history"][0], "train_loss": "0.5"}]},
        {k: v for k, v in good.items() if k != "test"},
        {**good, "surprise": 1},
        {**good, "framework": "jax"},
        {**good, "status": "ok", "test": None},
        {**good, "test": {"loss": float("nan"), "accuracy": 0.9}},
        {**good, "confusion_matrix": [[1, 2]]},
        {**good, "seed": True},
    ):
        with pytest.raises(ValueError):
            Result.from_dict(broken)


@pytest.mark.slow
def test_aligned_mode_starts_both_sides_from_the_same_weights(tmp_path):
    """Aligned, with dropout and augmentation off, the only differences left are float rounding and
    Adam's epsilon placement: one epoch on 3,000 images agrees closely."""
    off = ["--mode", "aligned", "--set", "model.dropout=0", "--set", "augment.enabled=false"]
    t = run("torch", tmp_path, *off, name="t.json")[1]["history"][0]
    k = run("keras", tmp_path, *off, name="k.json")[1]["history"][0]
    assert (
        abs(t["train_loss"] - k["train_loss"]) < 5e-3 and abs(t["val_loss"] - k["val_loss"]) < 5e-3
    )
    assert np.isclose(t["val_accuracy"], k["val_accuracy"], atol=5e-3)


@pytest.mark.slow
@pytest.mark.parametrize("side", ["torch", "keras"])
def test_depth_comes_from_the_spec(side, tmp_path):
    """model.hidden=[] is softmax regression, trained with no code change."""
    code, result = run(
        side,
        tmp_path,
        "--set",
        "model.hidden=[]",
        "--set",
        "augment.enabled=false",
        "--set",
        "train.lr=1e-2",
    )
    assert code == 0 and result["spec"]["model"]["hidden"] == []
    assert 0.8 < result["test"]["accuracy"] < 0.95
