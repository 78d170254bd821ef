"""Device choice: the GPU when PyTorch sees one (auto), else the CPU."""

from __future__ import annotations

import torch

from shared.cli import DeviceError


def select_device(choice: str) -> torch.device:
    if choice == "gpu" and not torch.cuda.is_available():
        raise DeviceError(
            "--device gpu: PyTorch sees no CUDA GPU here. Use --device auto or --device cpu, "
            "or install a CUDA build of torch on a machine with an NVIDIA GPU."
        )
    # Full float32 matmuls, no TF32: torch's default, set explicitly as the one policy of both sides
    # (TensorFlow's own default on a GPU is TF32).
    torch.set_float32_matmul_precision("highest")
    return torch.device("cuda" if choice != "cpu" and torch.cuda.is_available() else "cpu")


def describe(device: torch.device) -> str:
    return f"gpu ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "cpu"
