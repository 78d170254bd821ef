"""Train the Keras and the PyTorch pipelines on one spec and check that their curves line up.

    python compare.py                  # defaults: aligned mode, 10 epochs, both sides
    python compare.py --quick          # a smoke run, well under a minute
    python compare.py --torch-set train.lr=1e-2 --quick   # a one-sided change: the verdict must fail
    python compare.py --probe-only     # the audit and the float64 lockstep probe only: seconds
    python compare.py --seeds 5 --quick   # 5 runs per side, equivalence by TOST
    python compare.py --mode lockstep --dtype float64   # every draw shared, every step compared
    python compare.py --quick --ablate adam-epsilon     # one bridge off on one side: what it costs
    mnist-parity pair --keras M:F --torch M:F          # your own pair, rung by rung (docs/pair.md)

Every run starts with the audit of both pipelines and a float64 lockstep probe (a small subset, two
epochs, every step compared), then trains in the chosen mode. How: parity/compare_run.py.

Exit status (shared/exit_codes.py): 0 every parity check passed; 1 a check failed; 2 a usage, spec or
data error; 3 a side crashed; 130 interrupted (Ctrl-C: both sides stopped, the run directory marked).
"""

from __future__ import annotations

import sys

from shared.exit_codes import EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["pair"]:  # `mnist-parity pair`: a user's own Keras/PyTorch pair
        from parity.pair import main as pair

        return pair(argv[1:])
    try:
        from parity.compare_run import compare

        return compare(argv)
    except KeyboardInterrupt:  # before a run directory was made: a run catches its own
        print("\ninterrupted (Ctrl-C) while starting; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
