"""The Keras side on Keras 3's other backends (KERAS_BACKEND=jax and torch), each backend in a
process of its own: a sane training run, the same pipeline described by its audit, which passes the
audit against the PyTorch side, fit's sample order, the same warp, no TensorFlow imported, and the
convolutional model's float64 probe and audit against the PyTorch side.

TensorFlow, the default backend, is the reference, as the rest of the suite runs it: its audit and
probe are compare.py's own (the untouched_probe_run and cnn_probes fixtures), its warp is computed
here in the test process. What these tests check on the other backends the suite checks on TensorFlow
elsewhere: the run in tests/test_train.py, the audit in tests/test_audit.py, fit's order in
tests/test_data.py, the float64 warp in tests/test_augment.py, the convolutional model's probe in
tests/test_cnn.py."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from parity.settings_audit import compare_files
from parity.step_comparison import compare_steps
from shared.results import read_result
from shared.spec import load_spec

# every test runs the Keras side on each backend, in its own process
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = [
    pytest.param(
        backend,
        marks=pytest.mark.skipif(
            importlib.util.find_spec(backend) is None, reason=f"{backend} is not installed"
        ),
    )
    for backend in ("jax", "torch")
]
SMALL = ["--set", "data.train_subset=2000", "--epochs", "1", "--quiet", "--device", "cpu"]

# Run in a process with KERAS_BACKEND set: the audit as `--audit PATH --audit-only` writes it, the
# labels fit trains on (a loss that writes them down, run eagerly), a warp with given parameters, and
# the modules loaded by then. Writes one JSON file, sys.argv[1].
PROBE = """
import json, sys
import numpy as np
from keras_parity import side  # first: it silences TensorFlow's start-up notices
import keras
from keras_impl.augment import affine
from keras_impl.data import make_train_data
from shared.align import epoch_orders
from shared.spec import load_spec
from shared.splits import load_splits

out = sys.argv[1]
assert side.main(["--audit", out + ".audit", "--audit-only", "--device", "cpu"]) == 0
# a small training run, as `python -m keras_impl.train SMALL --out OUT.run` makes it
from keras_impl.pipeline import main as train
assert train([*json.loads(sys.argv[2]), "--out", out + ".run"]) == 0
spec = load_spec(["augment.enabled=false", "train.batch_size=64"])
n, seen = 200, []

def recording_loss(labels, outputs):
    try:
        seen[-1].append(keras.ops.convert_to_numpy(labels).astype(int).ravel().tolist())
    except Exception:  # fit's symbolic pass has no values
        pass
    return keras.ops.mean(outputs)

def fit_labels(data, epochs):
    seen.clear()
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    steps = 1 if keras.backend.backend() == "torch" else 4
    model.compile("sgd", loss=recording_loss, run_eagerly=True, steps_per_execution=steps)
    data = dict(data)
    begin = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append([]))
    callbacks = [begin, *data.pop("callbacks", [])]
    model.fit(**data, epochs=epochs, callbacks=callbacks, verbose=0)
    return [list(epoch) for epoch in seen]

def aligned(data, orders):  # as keras_parity/alignment.py serves the shared order
    data["x"].orders = orders
    return data

images, ids = np.zeros((n, 28, 28), np.uint8), np.arange(n)
orders = epoch_orders(n, 2, seed=5)
digits = load_splits(load_spec()).x_test[:16].astype("float32")[..., None] / 255
rng = np.random.default_rng(0)
params = rng.uniform(-20, 20, 16), rng.uniform(-3, 3, (16, 2)), rng.uniform(0.85, 1.15, 16)
warped = affine(digits, *params, "bilinear")
if keras.backend.backend() == "jax":  # as the Keras side does for a float64 run
    import jax
    jax.config.update("jax_enable_x64", True)
float64 = [keras.ops.convert_to_tensor(a, "float64") for a in (digits, *params)]
warped64 = keras.ops.convert_to_numpy(affine(*float64, "bilinear"))
with open(out, "w") as file:
    json.dump({
        "audit": json.load(open(out + ".audit")),
        "shuffled": fit_labels(make_train_data(spec, images, ids), epochs=2),
        "aligned": fit_labels(aligned(make_train_data(spec, images, ids), orders), epochs=2),
        "orders": orders.tolist(),
        "digits": digits.tolist(),
        "params": [p.tolist() for p in params],
        "warped": keras.ops.convert_to_numpy(warped).tolist(),
        "warped64": warped64.tolist(),
        "warped64_dtype": str(warped64.dtype),
        "tensorflow_imported": "tensorflow" in sys.modules,
    }, file)
# then the CNN's float64 probe and audit, as `compare.py --probe-only --set model.kind=cnn` runs
# them (after the modules were noted: Keras's clone_model serializes the compile config, and its
# serializer imports TensorFlow wherever it is installed)
cnn = ["--set", "model.kind=cnn", "--device", "cpu", "--quiet", "--audit-only"]
assert side.main([*cnn, "--probe", out + ".cnn-probe", "--audit", out + ".cnn-audit"]) == 0
"""


def run(backend: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="session")
def probes(computed_once) -> dict[str, dict]:
    """The probe's findings per installed backend."""

    def compute(directory):
        found = {}
        for backend in ("jax", "torch"):
            if importlib.util.find_spec(backend) is not None:
                out = directory / f"{backend}-probe.json"
                done = run(backend, "-c", PROBE, str(out), json.dumps(SMALL))
                found[backend] = json.loads(out.read_text())
                found[backend]["stdout"] = done.stdout
                found[backend]["run"] = json.loads(Path(f"{out}.run").read_text())
                found[backend]["file"] = str(out)
        return found

    return computed_once("keras-backend-probes", compute)


@pytest.fixture(scope="session")
def reference(untouched_probe_run) -> dict[str, Path]:
    """The default backend's (TensorFlow's) audit and the PyTorch side's, as compare.py wrote them."""
    out, done = untouched_probe_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {side: out / f"{side}-audit.json" for side in ("keras", "torch")}


def warps_here(probe: dict) -> tuple[np.ndarray, np.ndarray]:
    """The probe's warps (float32, float64) of its digits and parameters, made again in this process,
    on the default backend."""
    import keras

    from keras_impl.augment import affine

    digits = np.array(probe["digits"], np.float32)
    params = [np.array(p) for p in probe["params"]]
    warped = keras.ops.convert_to_numpy(affine(digits, *params, "bilinear"))
    float64 = [keras.ops.convert_to_tensor(a, "float64") for a in (digits, *params)]
    return warped, keras.ops.convert_to_numpy(affine(*float64, "bilinear"))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.xdist_group("cnn-probes")  # probes and cnn_probes, computed on one worker
def test_a_small_run_on_each_backend_is_sane_and_names_its_backend(backend, probes):
    result = probes[backend]["run"]
    assert result["status"] == "ok" and result["device"] == "cpu" and len(result["history"]) == 1
    assert result["test"]["accuracy"] > 0.7 and result["history"][0]["val_accuracy"] > 0.7
    assert result["versions"]["keras_backend"] == backend and backend in result["versions"]
    assert f"{backend} backend" in probes[backend]["stdout"]


GROUP = pytest.mark.xdist_group("cnn-probes")  # probes and cnn_probes, computed on one worker


@pytest.mark.parametrize("backend", BACKENDS)
@GROUP
def test_the_audit_passes_on_each_backend(backend, probes, reference):
    """compare.py's audit of the Keras side on this backend against the PyTorch side."""
    paths = {"keras": Path(probes[backend]["file"] + ".audit"), "torch": reference["torch"]}
    rows = {r.id: r for r in compare_files(paths, {})}
    assert not [r.id for r in rows.values() if r.status == "differs"]
    assert rows["numerics.keras_backend"].keras == backend
    assert rows["numerics.keras_backend"].status == "noted"


@pytest.mark.parametrize("backend", BACKENDS)
@GROUP
def test_each_backend_describes_the_same_pipeline(backend, probes, reference):
    rows = probes[backend]["audit"]
    default = json.loads(reference["keras"].read_text())  # TensorFlow's, compare.py's own
    assert rows["numerics.keras_backend"]["value"] == backend
    assert rows["numerics.xla"]["value"] == (backend == "jax")  # JAX always compiles with XLA
    assert default["numerics.xla"]["value"] is False
    assert list(rows) == list(default)
    differing = {r for r in rows if rows[r]["value"] != default[r]["value"]}
    assert differing <= {"numerics.keras_backend", "numerics.xla"}
    for audit in (rows, default):
        assert audit["numerics.tf32"]["value"] is False  # full float32 matmuls on every backend
        assert audit["loop.shuffle"] == {
            "value": "a uniform permutation of every sample, drawn anew each epoch",
            "read": "EpochOrders.orders, one row per epoch, and fit(shuffle=)",
        }


@pytest.mark.parametrize("backend", BACKENDS)
@GROUP
def test_fit_visits_every_sample_in_the_order_each_mode_asks_on_each_backend(backend, probes):
    probe = probes[backend]
    first, second = [sum(epoch, []) for epoch in probe["shuffled"]]
    assert sorted(first) == sorted(second) == list(range(200)) and first != second  # anew
    assert max(first[:64]) - min(first[:64]) > 100  # samples shuffled, not batches
    assert [sum(epoch, []) for epoch in probe["aligned"]] == probe["orders"]
    for epochs in (probe["shuffled"], probe["aligned"]):
        assert [[len(batch) for batch in epoch] for epoch in epochs] == [[64, 64, 64, 8]] * 2


@pytest.mark.parametrize("backend", BACKENDS)
@GROUP
def test_the_warp_is_the_same_on_each_backend_and_keeps_float64(backend, probes):
    """The same warp of the same digits as on the default backend, in float32 and in float64 (off
    TensorFlow, Keras's ops.cos, ops.sin and ops.floor return float32 for float64)."""
    probe = probes[backend]
    reference, reference64 = warps_here(probe)
    warped, warped64 = np.array(probe["warped"]), np.array(probe["warped64"])
    assert np.abs(warped).max() > 0.5 and np.abs(warped - reference).max() < 1e-4
    assert probe["warped64_dtype"] == "float64" and reference64.dtype == np.float64
    assert np.abs(warped64).max() > 0.5 and np.abs(warped64 - reference64).max() < 1e-12


@pytest.mark.parametrize("backend", BACKENDS)
@GROUP
def test_tensorflow_is_not_imported_off_its_own_backend(backend, probes):
    assert probes[backend]["tensorflow_imported"] is False


@pytest.mark.parametrize("backend", BACKENDS)
@GROUP
def test_the_cnn_probe_and_audit_pass_on_each_backend(backend, probes, cnn_probes):
    """The convolutional model on this backend against the PyTorch side: the audit, and the float64
    probe at every step (each block's output and BatchNorm's running statistics too). On TensorFlow
    it agrees to 1e-10 (tests/test_cnn.py). On JAX, Keras's BatchNormalization layer in float64 parts
    from the formula by about 1e-7 (block 1 differs first, by about 4e-9); on the torch backend the
    batch after normalization parts first, as it does for the MLP: both are recorded here, located."""
    keras_file, torch_file = probes[backend]["file"], cnn_probes / "torch-untouched"
    keras, torch = (
        read_result(Path(f"{keras_file}.cnn-probe")),
        read_result(Path(f"{torch_file}-probe.json")),
    )
    comparison = compare_steps(keras, torch, load_spec(["model.kind=cnn"]).probe_spec())
    assert {"convolution blocks", "running statistics"} <= set(comparison.largest)
    first = comparison.first  # known, located, and small: float64 holds to about 1e-7 only here
    stage = {"jax": "block1", "torch": "normalized"}[backend]
    assert (first.where, first.stage) == ("step 1 (epoch 1)", stage), first
    assert comparison.worst < 1e-5, comparison.largest
    paths = {"keras": Path(f"{keras_file}.cnn-audit"), "torch": Path(f"{torch_file}-audit.json")}
    rows = compare_files(paths, {})
    assert rows and not [r.id for r in rows if r.status == "differs"]
