"""`python -m torch_parity`: the instrumented PyTorch side as compare.py launches it, the same as
`python -m torch_parity.side` (its Keras partner starts faster that way)."""

import sys

from shared import cli
from torch_parity.side import main

sys.exit(cli.run_main("torch", main))
