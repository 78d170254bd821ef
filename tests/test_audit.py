"""The audit: each side's live settings, compared row by row.

The untouched project has no row that differs. Each test below changes ONE live setting on ONE side in
code, in a patched copy of the repository (never through the spec), and asserts that the audit flags
that setting's rows and no others.
"""

import json
import os
from pathlib import Path

import pytest

from parity.settings_audit import classify, passed

ROOT = Path(__file__).resolve().parents[1]
# the tests that run sides by side_runs (its servers, started once), on one worker: tests/conftest.py
GROUP = pytest.mark.xdist_group("forked-sides")


def describe(side_runs, side: str, root: Path, tmp_path: Path, *options: str) -> dict:
    """`python -m {side}_parity.side --audit PATH --audit-only OPTIONS` in `root`: its rows."""
    out = tmp_path / f"{side}-audit.json"
    done = side_runs(side, "--audit", str(out), "--audit-only", *options, root=root, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="session")
def untouched(untouched_probe_run):
    """Each side's audit of the untouched project, as `compare.py --probe-only` wrote them: what
    describe() makes (`python -m {side}_parity.side --audit PATH --audit-only`)."""
    out, done = untouched_probe_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {
        side: json.loads((out / f"{side}-audit.json").read_text()) for side in ("keras", "torch")
    }


def differing(untouched: dict, side_runs, side: str, root: Path, tmp_path: Path) -> set[str]:
    rows = dict(untouched)
    rows[side] = describe(side_runs, side, root, tmp_path)
    return {r.id for r in classify(rows["keras"], rows["torch"], {}) if r.status == "differs"}


def test_the_untouched_project_has_no_row_that_differs(untouched):
    rows = classify(untouched["keras"], untouched["torch"], {})
    assert passed(rows), [r for r in rows if r.status == "differs"]
    status = {r.id: r.status for r in rows}
    assert status["optimizer.learning_rate"] == "same"  # a float32 rate is the same rate
    assert status["data.normalize_std"] == "bridged"  # sqrt(variance) against std
    assert status["optimizer.epsilon_placement"] == "bridged"
    assert status["model.kernel_init1"] == "bridged"
    assert status["loss.ignored_label"] == "noted"
    assert status["numerics.keras_backend"] == "noted"  # compare.py's default backend, noted
    backend = {r.id: r for r in rows}["numerics.keras_backend"].keras
    assert backend == os.environ.get("KERAS_BACKEND", "tensorflow")
    groups = {r.group for r in rows}
    assert groups == {"optimizer", "loss", "model", "data", "loop", "numerics"}


@pytest.mark.slow
@GROUP
def test_a_one_sided_override_is_asked_not_differs(untouched, tmp_path, side_runs):
    torch_rows = describe(side_runs, "torch", ROOT, tmp_path, "--set", "train.lr=0.01")
    rows = classify(untouched["keras"], torch_rows, {"torch": {"train.lr"}})
    assert {r.id: r.status for r in rows}["optimizer.learning_rate"] == "asked" and passed(rows)


PATCHES = {
    "the Adam epsilon bridge removed": (
        "torch",
        "torch_impl/train.py",
        "    optimizer.register_step_pre_hook(keras_update)\n",
        "",
        {"optimizer.epsilon_placement"},
    ),
    "weight decay added in code": (
        "torch",
        "torch_impl/train.py",
        "        eps=t.epsilon,\n",
        "        eps=t.epsilon,\n        weight_decay=1e-4,\n",
        {"optimizer.weight_decay"},
    ),
    "label smoothing on one loss": (
        "torch",
        "torch_impl/train.py",
        "return nn.CrossEntropyLoss()",
        "return nn.CrossEntropyLoss(label_smoothing=0.1)",
        {"loss.label_smoothing"},
    ),
    "a dropout rate typed by hand": (
        "keras",
        "keras_impl/model.py",
        "keras.layers.Dropout(model.dropout)",
        "keras.layers.Dropout(0.5)",
        {"model.dropout1", "model.dropout2"},
    ),
    "torch's default initialisation left in place": (
        "torch",
        "torch_impl/model.py",
        "        self.apply(init_like_keras)\n",
        "",
        {f"model.{kind}_init{i}" for kind in ("kernel", "bias") for i in (1, 2, 3)},
    ),
    "the std passed as the variance": (
        "keras",
        "keras_impl/data.py",
        "variance = np.float64(np.dtype(spec.train.dtype).type(std)) ** 2",
        "variance = std",
        {"data.normalize_std"},
    ),
    "augmentation moved after normalization": (
        "torch",
        "torch_impl/data.py",
        """            *([warp] if augment else []),  # on [0, 1], so that the fill is black
            v2.Normalize(mean=[spec.data.mean], std=[spec.data.std]),""",
        """            v2.Normalize(mean=[spec.data.mean], std=[spec.data.std]),
            *([warp] if augment else []),""",
        {"data.stages"},
    ),
    "RandomAffine's default fill": (
        "torch",
        "torch_impl/augment.py",
        "        fill=None,\n    )",
        "    )",
        {"augment.fill"},
    ),
    "the partial last batch dropped": (
        "torch",
        "torch_impl/data.py",
        "BatchSampler(sampler, spec.train.batch_size, drop_last=False)",
        "BatchSampler(sampler, spec.train.batch_size, drop_last=True)",
        {"loop.partial_last_batch"},
    ),
    "one permutation for every epoch": (
        "keras",
        "keras_impl/data.py",
        "np.stack([rng.permutation(len(labels)) for _ in range(spec.train.epochs)])",
        "np.stack([rng.permutation(len(labels))] * spec.train.epochs)",
        {"loop.shuffle"},
    ),
    "a float64 model on one side": (
        "torch",
        "torch_impl/pipeline.py",
        "model = build_model(spec).to(device, getattr(torch, spec.train.dtype))",
        "model = build_model(spec).to(device, torch.float64)",
        {"numerics.dtype"},
    ),
    "the reported loss weighted by the full batch size": (
        "torch",
        "torch_impl/train.py",
        "total_loss += loss.item() * len(labels)",
        "total_loss += loss.item() * spec.train.batch_size",
        {"loop.reported_loss"},
    ),
    "gradients clipped in the loop": (
        "torch",
        "torch_impl/train.py",
        "        loss.backward()\n",
        "        loss.backward()\n        nn.utils.clip_grad_norm_(model.parameters(), 5.0)\n",
        {"optimizer.clipping"},
    ),
    # draw-code slips: the configured ranges stay right, the drawn ones go wrong
    "the translate fraction used as pixels": (
        "torch",
        "torch_impl/augment.py",
        "max_dx, max_dy = fx * width, fy * height",
        "max_dx, max_dy = fx, fy",
        {"augment.drawn_shift"},
    ),
    "a rotation range in radians": (
        "keras",
        "keras_impl/augment.py",
        "return uniform(-self.degrees, self.degrees), ops.stack(shifts, axis=1), uniform(*self.scale)",
        "angle = math.radians(self.degrees)\n"
        "        return uniform(-angle, angle), ops.stack(shifts, axis=1), uniform(*self.scale)",
        {"augment.drawn_angle"},
    ),
    "a scale range typed by hand": (
        "torch",
        "torch_impl/augment.py",
        "uniform(*(t.scale or (1.0, 1.0)))",
        "uniform(0.8, 1.2)",
        {"augment.drawn_scale"},
    ),
}


@pytest.mark.slow
@GROUP
@pytest.mark.parametrize("name", PATCHES)
def test_a_one_sided_change_in_code_flags_its_rows_and_no_other(
    name, untouched, tmp_path, patched_copy, side_runs
):
    side, file, old, new, expected = PATCHES[name]
    root = patched_copy(tmp_path, file, old, new)
    assert differing(untouched, side_runs, side, root, tmp_path) == expected


@pytest.mark.slow
def test_compare_audit_prints_both_columns_and_exits_0_untouched(tmp_path, compare_cli):
    done = compare_cli("--audit", "--out", str(tmp_path / "audit"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "AUDIT PASS: no setting differs" in done.stdout
    assert "optimizer: where epsilon enters" in done.stdout and "[adam-epsilon]" in done.stdout
    saved = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert saved["passed"] and not (tmp_path / "audit" / "keras.json").exists()  # trained nothing


@pytest.mark.slow
def test_a_differing_row_fails_the_audit_and_the_verdict_and_is_named(
    tmp_path, compare_cli, patched_copy
):
    root = patched_copy(
        tmp_path,
        "torch_impl/train.py",
        "return nn.CrossEntropyLoss()",
        "return nn.CrossEntropyLoss(label_smoothing=0.1)",
    )
    done = compare_cli("--audit", "--out", str(tmp_path / "audit"), root=root)
    assert done.returncode == 1 and "AUDIT FAIL: 1 of" in done.stdout
    assert "(loss: label smoothing)" in done.stdout
    # the verdict of a run (its audit and probe: --probe-only, which trains nothing) fails on it
    done = compare_cli("--probe-only", "--out", str(tmp_path / "run"), root=root)
    assert done.returncode == 1, done.stdout[-3000:]
    line = [text for text in done.stdout.splitlines() if text.startswith("PROBE FAIL")][0]
    assert "audit: no setting differs: loss: label smoothing" in line
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| differs | loss: label smoothing | 0 | 0.1 |" in report
