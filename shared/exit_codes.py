"""The exit status of every entry: compare.py (and the `mnist-parity` script) and each side's
`python -m keras_impl.train` / `python -m torch_impl.train`. Here, in shared/, because the sides
import shared/ and never parity/."""

EXIT_PASS = 0  # every check passed; a side: trained to the end (or described itself, or probed)
EXIT_FAIL = 1  # a check failed; a side: its training diverged and stopped
EXIT_USAGE = 2  # a usage, spec or data error, before any training
EXIT_CRASH = 3  # compare.py: a side crashed
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, what a shell reports for it
