"""Device choice: the GPU when TensorFlow sees one (auto), else the CPU."""

from __future__ import annotations

import tensorflow as tf

from shared.cli import DeviceError


def select_device(choice: str) -> str:
    """Call before any TensorFlow op runs; returns "gpu" or "cpu"."""
    gpus = tf.config.list_physical_devices("GPU")
    if choice == "gpu" and not gpus:
        raise DeviceError(
            "--device gpu: TensorFlow sees no GPU here. Use --device auto or --device cpu, "
            "or install TensorFlow with CUDA (pip install 'tensorflow[and-cuda]') on a GPU machine."
        )
    try:
        if choice == "cpu" or not gpus:
            tf.config.set_visible_devices([], "GPU")
            return "cpu"
        for gpu in gpus:
            # take GPU memory as needed, not the whole card
            tf.config.experimental.set_memory_growth(gpu, True)
    except (
        RuntimeError
    ):  # TensorFlow already started in this process (tests): devices are as they were
        pass
    return "cpu" if choice == "cpu" or not gpus else "gpu"


def describe(device: str) -> str:
    if device == "cpu":
        return "cpu"
    details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
    return f"gpu ({details.get('device_name', 'unknown')})"
