"""On a GPU machine (`pytest -m gpu`, run by tools/gpu_check.sh): both sides train there, under one
matmul-precision policy. Skipped where no CUDA GPU is visible to PyTorch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here"),
]
ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "data.train_subset=2000", "--epochs", "1", "--quiet", "--device", "gpu"]


@pytest.mark.parametrize("side", ["keras", "torch"])
def test_each_side_trains_on_the_gpu(side, tmp_path):
    out = tmp_path / f"{side}.json"
    backend = os.environ.get("KERAS_BACKEND", "jax")
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", f"{side}_impl.train", *SMALL, "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["device"].startswith("gpu") and result["test"]["accuracy"] > 0.7


def test_the_audit_sees_both_sides_on_the_gpu_in_full_float32(tmp_path, compare_cli):
    backend = os.environ.get("KERAS_BACKEND", "jax")
    out = tmp_path / "audit"
    done = compare_cli("--audit", "--device", "gpu", "--keras-backend", backend, "--out", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {r["id"]: r for r in json.loads((out / "audit.json").read_text())["rows"]}
    assert str(rows["numerics.device"]["keras"]).startswith("gpu")
    assert str(rows["numerics.device"]["torch"]).startswith("gpu")
    assert rows["numerics.tf32"]["status"] == "same" and rows["numerics.tf32"]["torch"] is False
