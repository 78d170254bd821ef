"""Lockstep: the same draws on both sides, every step compared, the first difference located.

Real runs of both sides on real MNIST (each in its own process), then one-sided mistakes made in
patched copies of the repository, each of which the probe (`compare.py --probe-only`, the audit and
the probe of every run without its training) must fail AND locate.
"""

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from parity.step_comparison import compare_steps, lockstep_check
from shared.draws import LockstepDraws, fingerprint
from shared.results import read_result
from shared.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
# the tests that run sides by side_runs (its servers, started once) or read untouched_probes, on one
# worker: tests/conftest.py
GROUP = pytest.mark.xdist_group("forked-sides")


def train(runs, side: str, out: Path, *options: str, root: Path = ROOT):
    """`python -m {side}_parity.side --quiet --out OUT OPTIONS` in `root`, by runs (side_runs)."""
    return runs(side, "--quiet", "--out", str(out), *options, root=root)


def lockstep_pair(runs, tmp: Path, *options: str) -> dict:
    results = {}
    for side in ("keras", "torch"):
        done = train(runs, side, tmp / f"{side}.json", "--mode", "lockstep", *options)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        results[side] = read_result(tmp / f"{side}.json")
    return results


@pytest.fixture(scope="session")
def untouched_probes(untouched_probe_run):
    """Each side's float64 lockstep probe of the untouched project (--mode lockstep on the probe's
    configuration: 600 images, 2 epochs, float64), as `compare.py --probe-only` wrote them."""
    out, done = untouched_probe_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {side: read_result(out / f"{side}-probe.json") for side in ("keras", "torch")}


def probe_spec():
    return load_spec().probe_spec()


def test_the_draws_follow_the_spec(spec):
    draws = LockstepDraws(spec, seed=0)
    params = draws.augment(epoch=0, start=0, size=5000, n=5000)
    angle, tx, ty, scale = params.T
    assert np.abs(angle).max() <= spec.augment.degrees and np.abs(angle).max() > 9
    assert set(np.unique(tx)) == set(np.unique(ty)) == {-1.0, 0.0, 1.0}  # whole pixels
    assert spec.augment.scale[0] <= scale.min() and scale.max() <= spec.augment.scale[1]
    assert np.array_equal(params[10:20], draws.augment(0, 10, 10, 5000))  # by position
    assert not np.array_equal(params, draws.augment(1, 0, 5000, 5000))  # fresh each epoch
    numbers = draws.uniforms(epoch=0, step=3, layer=0, shape=(128, 256))
    assert numbers.shape == (128, 256) and 0 <= numbers.min() and numbers.max() < 1
    assert abs(np.mean(numbers >= spec.model.dropout) - (1 - spec.model.dropout)) < 0.02
    assert np.array_equal(numbers, draws.uniforms(0, 3, 0, (128, 256)))  # by epoch, step, layer
    assert not np.array_equal(numbers, draws.uniforms(0, 4, 0, (128, 256)))
    assert not np.array_equal(numbers[:, :128], draws.uniforms(0, 3, 1, (128, 128)))


@pytest.mark.slow
@GROUP
def test_float64_lockstep_agrees_at_every_step(untouched_probes):
    keras, torch = untouched_probes["keras"], untouched_probes["torch"]
    assert len(keras.steps) == len(torch.steps) == 10  # 600 = 4 x 128 + 88, two epochs
    assert list(keras.steps[0].stages) == list(torch.steps[0].stages)
    assert list(torch.steps[0].stages)[:6] == [
        "rescaled",
        "augmented",
        "normalized",
        "batch",
        "logits",
        "loss",
    ]
    comparison = compare_steps(keras, torch, probe_spec())
    check = lockstep_check(comparison, "lockstep")
    assert check.passed and comparison.first is None, check.detail
    assert comparison.steps == 10 and comparison.worst < 1e-13
    assert set(comparison.largest) == {
        "structure",
        "order",
        "batch",
        "logits",
        "loss",
        "gradients",
        "parameters",
        "epoch figures",
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "step, stage, label",
    [
        (7, "param/bias_1", "step 7 (epoch 2): bias_1 after the update differs"),
        (3, "normalized", "step 3 (epoch 1): the batch after normalization differs"),
        (5, "grad/kernel_2", "step 5 (epoch 1): the gradient of kernel_2 differs"),
    ],
)
@GROUP
def test_the_first_differing_step_and_stage_are_named(untouched_probes, step, stage, label):
    keras = copy.deepcopy(untouched_probes["keras"])
    record = keras.steps[step - 1].stages[stage]
    record[0] += 1e-7 * record[1]  # far below float32 rounding, far above float64's
    for later in keras.steps[step:]:  # a difference carries on into later steps
        later.stages["loss"][0] *= 1 + 1e-6
    comparison = compare_steps(keras, untouched_probes["torch"], probe_spec())
    assert not lockstep_check(comparison, "lockstep").passed
    assert comparison.first.describe().startswith(label)


@pytest.mark.slow
@GROUP
def test_a_different_sample_order_is_named_first(untouched_probes):
    keras = copy.deepcopy(untouched_probes["keras"])
    keras.steps[4].order = "00000000"
    comparison = compare_steps(keras, untouched_probes["torch"], probe_spec())
    assert comparison.first.describe().startswith(
        "step 5 (epoch 1): the sample order (the images and labels served) differs"
    )


def test_a_fingerprint_sees_a_change_a_sum_would_not():
    x = np.random.default_rng(0).standard_normal(784)
    swapped = x.copy()
    swapped[[3, 700]] = swapped[[700, 3]]  # the same values, the same sum and norm
    assert fingerprint(x)[1] == pytest.approx(fingerprint(swapped)[1], rel=1e-15)
    assert abs(fingerprint(x)[0] - fingerprint(swapped)[0]) > 1e-6


@pytest.mark.slow
@GROUP
def test_the_classic_path_takes_the_same_draws(untouched_probes, tmp_path, side_runs):
    classic = side_probe(side_runs, "torch", ROOT, tmp_path, "--set", "data.pipeline=classic")
    batched = untouched_probes["torch"]
    # F.affine per sample against one grid_sample per batch: the same maths, other rounding
    for a, b in zip(classic.steps, batched.steps, strict=True):
        assert a.order == b.order and list(a.stages) == list(b.stages)
        for stage in ("augmented", "batch", "logits", "loss", "grad/kernel_0", "param/kernel_0"):
            assert a.stages[stage] == pytest.approx(b.stages[stage], rel=1e-12, abs=1e-12)


@pytest.mark.slow
@GROUP
def test_lockstep_refuses_what_it_cannot_share(tmp_path, side_runs):
    done = train(
        side_runs,
        "torch",
        tmp_path / "refused.json",
        "--mode",
        "lockstep",
        "--set",
        "data.pipeline=classic",
        "--set",
        "data.workers=2",
    )
    assert done.returncode == 2 and not (tmp_path / "refused.json").exists()
    assert "needs data.workers=0" in done.stderr and "--set data.workers=0" in done.stderr


@pytest.mark.slow
@GROUP
def test_softmax_regression_agrees_at_every_step(tmp_path, side_runs):
    """No hidden layer, so no dropout layer: the instruments find the mode evaluation runs in from
    the model itself (a Keras model without dropout once read as "none" here: a false failure)."""
    options = ["--set", "data.train_subset=300", "--epochs", "1", "--dtype", "float64"]
    results = lockstep_pair(side_runs, tmp_path, *options, "--set", "model.hidden=[]")
    spec = load_spec(["data.train_subset=300", "train.dtype=float64", "model.hidden=[]"])
    assert results["keras"].structure == results["torch"].structure
    assert results["keras"].structure["evaluation_mode"] == "inference"
    assert compare_steps(results["keras"], results["torch"], spec).first is None


@pytest.mark.slow
@GROUP
def test_float32_lockstep_agrees_over_its_first_steps(tmp_path, side_runs):
    spec = load_spec(["data.train_subset=1280", "train.epochs=1"])
    results = lockstep_pair(side_runs, tmp_path, "--set", "data.train_subset=1280", "--epochs", "1")
    comparison = compare_steps(results["keras"], results["torch"], spec)
    assert len(results["keras"].steps) == 10
    assert comparison.steps == spec.parity.lockstep.float32_steps == 7
    assert comparison.first is None, comparison.first
    assert 0 < comparison.worst <= spec.parity.lockstep.float32
    # a small one-sided slip fails the float32 window too: torch's stock Adam epsilon placement
    slipped = tmp_path / "slipped.json"
    options = [
        "--set",
        "data.train_subset=1280",
        "--epochs",
        "1",
        "--set",
        "ablate.adam_epsilon=true",
    ]
    done = train(side_runs, "torch", slipped, "--mode", "lockstep", *options)
    assert done.returncode == 0, done.stderr[-2000:]
    first = compare_steps(results["keras"], read_result(slipped), spec).first
    assert first is not None and first.where == "step 1 (epoch 1)", first


# One-sided mistakes of the kinds made when porting, each in a patched copy of the repository:
# (side's file, the line as it is, the line with the mistake, what the probe must name first)
MISTAKES = {
    "beta2 typed in code": (
        "torch_impl/train.py",
        "betas=(t.beta1, t.beta2),",
        "betas=(t.beta1, 0.99),",
        "step 1 (epoch 1): kernel_0 after the update differs",
    ),
    "a normalization constant typed by hand": (
        "keras_impl/data.py",
        "mean, std = np.float64(spec.data.mean), np.float64(spec.data.std)",
        "mean, std = np.float64(spec.data.mean), np.float64(0.3801)",
        "step 1 (epoch 1): the batch after normalization differs",
    ),
    "normalization moved before augmentation": (
        "keras_impl/data.py",
        """            # on [0, 1], so the fill is black
            *([random_affine(spec)] if augment else []),
            keras.layers.Normalization(mean=mean, variance=variance),  # [normalize-std]""",
        """            keras.layers.Normalization(mean=mean, variance=variance),  # [normalize-std]
            *([random_affine(spec)] if augment else []),""",
        "step 1 (epoch 1): the batch after augmentation differs",
    ),
    "zero_grad forgotten": (
        "torch_impl/train.py",
        "        optimizer.zero_grad()\n",
        "",
        "step 2 (epoch 1): the gradient of kernel_0 differs",
    ),
    "the reported loss weighted by the full batch size": (
        "torch_impl/train.py",
        "total_loss += loss.item() * len(labels)",
        "total_loss += loss.item() * spec.train.batch_size",
        "epoch 1: the reported training loss differs",
    ),
    "a Keras model without its dropout layers": (
        "keras_impl/model.py",
        "            keras.layers.Dropout(model.dropout),\n",
        "",
        "the models differ in the number of dropout layers",
    ),
    "a PyTorch evaluation without model.eval()": (
        "torch_impl/evaluate.py",
        "    model.eval()\n",
        "",
        "the models differ in the mode evaluation runs in",
    ),
}


def side_probe(runs, side: str, root: Path, tmp: Path, *options: str):
    """One side's float64 lockstep probe, as compare.py's run writes it (--probe, then no training)."""
    probe, audit = tmp / f"{side}-probe.json", tmp / f"{side}-audit.json"
    done = train(runs, side, tmp / "unused.json", "--probe", str(probe), "--audit", str(audit),
                 "--audit-only", *options, root=root)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return read_result(probe)


@pytest.mark.slow
@GROUP
@pytest.mark.parametrize("name", [n for n in MISTAKES if n != "zero_grad forgotten"])
def test_a_one_sided_mistake_fails_the_probe_and_is_located(
    name, tmp_path, patched_copy, untouched_probes, side_runs
):
    """The patched side's probe against the untouched other side's: what compare.py's probe check
    compares (the next test runs one mistake through compare.py itself, report and all)."""
    file, old, new, located = MISTAKES[name]
    side = file.split("_")[0]
    probes = dict(untouched_probes)
    probes[side] = side_probe(side_runs, side, patched_copy(tmp_path, file, old, new), tmp_path)
    comparison = compare_steps(probes["keras"], probes["torch"], load_spec().probe_spec())
    check = lockstep_check(comparison, "lockstep probe")
    assert not check.passed
    assert f"first beyond tolerance: {located}" in check.detail, check.detail


@pytest.mark.slow
def test_a_one_sided_mistake_fails_compare_probe_only_and_is_located(
    tmp_path, compare_cli, patched_copy
):
    file, old, new, located = MISTAKES["zero_grad forgotten"]
    root = patched_copy(tmp_path, file, old, new)
    out = tmp_path / "run"
    done = compare_cli("--probe-only", "--out", str(out), root=root)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    parity = json.loads((out / "parity.json").read_text())
    probe = next(c for c in parity["checks"] if c["name"].startswith("lockstep probe"))
    assert not probe["passed"]
    assert f"first beyond tolerance: {located}" in probe["detail"], probe["detail"]
    assert parity["probe"]["first_difference"].startswith(located)
    assert located in (out / "report.md").read_text()
    assert "PROBE FAIL" in done.stdout and located in done.stdout
    assert not (out / "keras.json").exists() and not (out / "torch.json").exists()  # no training


@pytest.mark.slow
@GROUP
def test_a_sample_order_slip_is_located_as_the_order(tmp_path, untouched_probes, side_runs):
    """fit's own shuffle on the Keras side (--ablate fit-shuffle, which sets ablate.fit_shuffle on
    the side parity/bridges.py names): the batch fit served is recorded, so the probe names the
    order, not the loss it leads to."""
    slip = ["--set", "ablate.fit_shuffle=true"]
    keras = side_probe(side_runs, "keras", ROOT, tmp_path, *slip)
    spec = load_spec(["ablate.fit_shuffle=true"]).probe_spec()
    comparison = compare_steps(keras, untouched_probes["torch"], spec)
    assert not lockstep_check(comparison, "lockstep probe").passed
    located = "step 1 (epoch 1): the sample order (the images and labels served) differs"
    assert comparison.first.describe().startswith(located), comparison.first
