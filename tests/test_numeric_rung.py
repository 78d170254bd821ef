"""The numeric rung: with the same weights and the same real batch, the two frameworks' logits, loss
and every gradient agree, and three Adam steps with the same given gradients agree, in float32 and
in float64. Each side computes in its own process (tests/rung_side.py).

Measured here (2-core CPU): float32 logits 1.7e-6, gradients 3.7e-7 of the largest, parameters after
three steps 7.5e-6 of the largest move; float64 3.1e-15, 6.8e-16 and 9.3e-15. Checked by hand: without the
epsilon bridge the parameters differ by 0.65 of the move; with Python-float betas on the Keras side
(rounded to float32 by TensorFlow) by 6.7e-6 in float64; with the variance passed as the std, or
without from_logits, the logits and the loss are far apart.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# both sides built and stepped in float32 and float64, in their own processes
# one worker computes the rung fixture (xdist_group)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("numeric-rung")]

ROOT = Path(__file__).resolve().parents[1]
# (logits, loss, gradients: relative to the largest; parameters: relative to the largest move)
TOLERANCES = {"float32": (1e-5, 1e-6, 1e-5, 3e-5), "float64": (1e-13, 1e-14, 1e-13, 1e-12)}
DTYPES = ("float32", "float64")
MOVE = 3e-3  # three Adam steps of lr 1e-3: no parameter moves further


@pytest.fixture(scope="session")
def rungs(tmp_path_factory):
    """Each side's rung in both dtypes, one process per side."""
    tmp = tmp_path_factory.mktemp("rung")
    for side in ("keras", "torch"):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, str(ROOT / "tests" / "rung_side.py"), side, str(tmp), *DTYPES]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    return tmp


@pytest.fixture(params=DTYPES)
def rung(request, rungs):
    dtype = request.param
    return dtype, *(dict(np.load(rungs / f"{side}-{dtype}.npz")) for side in ("keras", "torch"))


def largest_relative(keras, torch, keys):
    return max(np.abs(keras[k] - torch[k]).max() / np.abs(keras[k]).max() for k in keys)


def test_logits_agree(rung):
    dtype, keras, torch = rung
    assert keras["logits"].dtype == torch["logits"].dtype == np.dtype(dtype)
    assert keras["logits"].shape == torch["logits"].shape == (128, 10)
    assert largest_relative(keras, torch, ["logits"]) <= TOLERANCES[dtype][0]


def test_losses_agree(rung):
    dtype, keras, torch = rung
    assert 0.5 < float(keras["loss"]) < 5  # a real cross-entropy at the start of training
    assert largest_relative(keras, torch, ["loss"]) <= TOLERANCES[dtype][1]


def test_every_gradient_agrees(rung):
    dtype, keras, torch = rung
    grads = sorted(k for k in keras if k.startswith("grad"))
    assert len(grads) == 6
    for key in grads:
        assert keras[key].shape == torch[key].shape
        assert np.abs(keras[key]).max() > 0
        assert largest_relative(keras, torch, [key]) <= TOLERANCES[dtype][2], key


def test_three_adam_steps_agree(rung):
    dtype, keras, torch = rung
    for key in sorted(k for k in keras if k.startswith("param")):
        difference = np.abs(keras[key] - torch[key]).max() / MOVE
        assert difference <= TOLERANCES[dtype][3], (key, difference)
