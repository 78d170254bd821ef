"""Device choice: the GPU when the Keras backend sees one (auto), else the CPU; full float32 matmuls."""

from __future__ import annotations

import importlib
import os

import keras

from shared.cli import DeviceError

GPU_INSTALL = {
    "tensorflow": "TensorFlow with CUDA (pip install 'tensorflow[and-cuda]')",
    "jax": "JAX with CUDA (pip install 'jax[cuda12]')",
    "torch": "a CUDA build of PyTorch",
}


def select_device(choice: str) -> str:
    """Call before the backend runs anything; returns "gpu" or "cpu"."""
    backend = keras.backend.backend()
    select = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}[backend]
    has_gpu = select(choice)
    if choice == "gpu" and not has_gpu:
        raise DeviceError(
            f"--device gpu: Keras's {backend} backend sees no GPU here. Use --device auto or "
            f"--device cpu, or install {GPU_INSTALL[backend]} on a GPU machine."
        )
    return "gpu" if has_gpu and choice != "cpu" else "cpu"


def describe(device: str) -> str:
    if device == "cpu":
        return "cpu"
    backend = keras.backend.backend()
    if backend == "tensorflow":
        tf = importlib.import_module("tensorflow")
        gpu = tf.config.list_physical_devices("GPU")[0]
        name = tf.config.experimental.get_device_details(gpu).get("device_name", "unknown")
    elif backend == "jax":
        name = importlib.import_module("jax").devices("gpu")[0].device_kind
    else:
        name = importlib.import_module("torch").cuda.get_device_name(0)
    return f"gpu ({name})"


# Each backend: set full float32 matmuls (the torch side's default; TensorFlow and JAX use TF32 on
# NVIDIA GPUs by default), use the CPU when asked, and say whether a GPU is there.


def _tensorflow(choice: str) -> bool:
    import tensorflow as tf

    tf.config.experimental.enable_tensor_float_32_execution(False)
    gpus = tf.config.list_physical_devices("GPU")
    try:
        if choice == "cpu" or not gpus:
            tf.config.set_visible_devices([], "GPU")
            # One thread per op: handing this model's small ops to a pool costs more than it saves
            # (measured on 2 cores: a 1.65 s epoch becomes 1.45 s); tf.data keeps its own threads.
            tf.config.threading.set_intra_op_parallelism_threads(1)
        else:
            for gpu in gpus:
                # take GPU memory as needed, not the whole card
                tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # TensorFlow already started in this process (tests): devices as they were
        pass
    return bool(gpus)


def _jax(choice: str) -> bool:
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")
    if choice == "cpu":
        jax.config.update("jax_platforms", "cpu")  # before JAX starts: it takes no GPU memory
        return False
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # not 75% of the card at start
    return jax.default_backend() == "gpu"


def _torch(choice: str) -> bool:
    import torch

    torch.set_float32_matmul_precision("highest")
    gpu = torch.cuda.is_available()
    if choice == "cpu" and gpu:
        # Keras chose CUDA when it was imported (KERAS_TORCH_DEVICE unset): the rest of this process
        # runs in a CPU device scope
        keras.device("cpu").__enter__()
    return gpu
