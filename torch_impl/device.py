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
    if choice == "cpu" or not torch.cuda.is_available():
        # One intra-op thread. Classic: the DataLoader workers want the cores. Batched, measured on 2
        # cores: two threads ran an epoch in 1.0-1.1 s idle, one in 1.3 s; but while another process
        # kept a core busy, two threads waited on each other, 3-17 s an epoch, and one 1.2-1.6 s.
        torch.set_num_threads(1)
        return torch.device("cpu")
    return torch.device("cuda")


def describe(device: torch.device) -> str:
    return f"gpu ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "cpu"
