"""`python -m keras_parity`: the instrumented Keras side as compare.py launches it, `python -m
keras_parity.side` with a faster start.

The side never plots, and on the TensorFlow backend it never calls JAX; yet Keras imports
matplotlib.pyplot whenever it is installed (0.5 s here) and TensorFlow's lite converter imports JAX
(0.4 s). Marked absent in this process before Keras is imported, their imports fail at once, as where
they are not installed, which both handle."""

import os
import sys

sys.modules.setdefault("matplotlib.pyplot", None)
if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
    sys.modules.setdefault("jax", None)

from keras_parity.side import main  # noqa: E402
from shared import cli  # noqa: E402

sys.exit(cli.run_main("keras", main))
