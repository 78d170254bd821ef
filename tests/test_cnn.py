"""The convolutional model (model.kind = "cnn") on real MNIST: the float64 probe agrees at every step,
each block's output and BatchNorm's running statistics included; each of its bridges turned off, and
the flatten-order slip made, fails the probe at the step and stage it changes, and the audit reads it
from the live layers. Each side runs every probe in one process of its own (the probe and the audit,
as `compare.py --probe-only` runs them): one Keras process, one PyTorch process for every ablation,
since each is made on the PyTorch side (the cnn_probes fixture of tests/conftest.py, shared with
tests/test_keras_backends.py)."""

from pathlib import Path

import pytest

from parity.bridges import ABLATIONS as REGISTRY
from parity.settings_audit import compare_files, passed
from parity.step_comparison import compare_steps, lockstep_check
from shared.results import read_result
from shared.spec import load_spec

# two processes of probes: the whole suite's
pytestmark = pytest.mark.slow

CNN = load_spec(["model.kind=cnn"])
# ablation switch (CNN_ABLATIONS in tests/conftest.py, probed by the cnn_probes fixture) -> (the first
# stage the probe must name at step 1, the audit row that must differ)
ABLATIONS = {
    "conv_padding": ("block2", "model.conv_padding2"),
    "conv_layout": ("block1", None),  # a carry slip: the built model is untouched
    "flatten_layout": ("logits", "model.flatten_rows"),
    "flatten_order": ("logits", "model.flatten_rows"),
    "batchnorm_momentum": ("state/batchnorm_mean_0", "model.batchnorm_momentum1"),
    "batchnorm_epsilon": ("block1", "model.batchnorm_epsilon1"),
    "batchnorm_variance": ("state/batchnorm_variance_0", "model.batchnorm_variance1"),
    # aligned weights overwrite an initializer, so the probe agrees; the audit sees it
    "init_kernel": (None, "model.conv_init1"),
}


def judged(directory: Path, name: str | None):
    """The probe's comparison and the audit's rows of the untouched Keras side against torch's."""
    torch = name or "untouched"
    keras_probe, torch_probe = (
        read_result(directory / f"{side}-probe.json")
        for side in ("keras-untouched", f"torch-{torch}")
    )
    spec = load_spec(["model.kind=cnn", *([f"ablate.{name}=true"] if name else [])])
    comparison = compare_steps(keras_probe, torch_probe, spec.probe_spec())
    paths = {
        side: directory / f"{side}-{which}-audit.json"
        for side, which in (("keras", "untouched"), ("torch", torch))
    }
    return comparison, {row.id: row for row in compare_files(paths, {})}


@pytest.mark.xdist_group("cnn-probes")
def test_the_cnn_agrees_at_every_step_in_float64(cnn_probes):
    comparison, rows = judged(cnn_probes, None)
    check = lockstep_check(comparison, "lockstep probe")
    assert check.passed and comparison.first is None, check.detail
    assert comparison.steps == 10 and comparison.worst < 1e-10
    assert {"convolution blocks", "running statistics"} <= set(comparison.largest)
    assert passed(list(rows.values())), [r for r in rows.values() if r.status == "differs"]
    for row_id in ("model.conv_padding2", "model.batchnorm_variance1", "model.flatten_rows"):
        assert rows[row_id].status == "bridged", rows[row_id]
    # TensorFlow's "same" with stride 2 on 14 x 14 pads the bottom and right only, as measured
    assert rows["model.conv_padding2"].keras == "top 0, bottom 1, left 0, right 1 on 14x14"
    assert rows["model.batchnorm_momentum1"].torch == "running = 0.9 x running + 0.1 x batch"


@pytest.mark.xdist_group("cnn-probes")
@pytest.mark.parametrize("name", list(ABLATIONS))
def test_each_cnn_bridge_off_fails_at_its_stage(cnn_probes, name):
    stage, row_id = ABLATIONS[name]
    comparison, rows = judged(cnn_probes, name)
    if stage is None:
        assert comparison.first is None
    else:
        first = comparison.first
        assert first is not None and (first.where, first.stage) == ("step 1 (epoch 1)", stage), (
            first
        )
    if row_id is not None:
        assert rows[row_id].status == "differs", rows[row_id]
        # and no row that another entry of the registry bridges
        entry = REGISTRY[name.replace("_", "-")]
        others = [r.id for r in rows.values() if r.status == "differs"]
        assert all(r.rstrip("0123456789") in entry.rows for r in others), others
