"""The MNIST MLP pipeline in Keras 3, on the backend KERAS_BACKEND names (tensorflow, the default; jax;
torch), mirroring torch_impl/ file for file."""

import contextlib
import os
import sys

# Before TensorFlow is imported (this runs before any module of the package): C++ errors only.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def _stderr_to_devnull():
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


if "keras" not in sys.modules:
    # Keras imports its backend here (KERAS_BACKEND, else ~/.keras/keras.json), and TensorFlow only when
    # it is the backend. TensorFlow's start-up notices (oneDNN, "could not find cuda drivers", CPU
    # features) are logged before its log level is read, straight to the stderr file descriptor; an
    # import error still shows, as a Python exception raised after stderr is restored.
    with _stderr_to_devnull():
        import keras  # noqa: F401
