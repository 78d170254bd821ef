"""The MNIST MLP pipeline in Keras 3, on the backend KERAS_BACKEND names (tensorflow, the default; jax;
torch), mirroring torch_impl/ file for file."""

import os

# Before TensorFlow is imported (this runs before any module of the package): its C++ log messages
# off, from INFO to ERROR; an error still raises a Python exception. The notices TensorFlow prints
# before its logging is set up (oneDNN, "could not find cuda drivers") obey no setting: a side run by
# compare.py has them dropped from its output (parity/startup_notices.py).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
