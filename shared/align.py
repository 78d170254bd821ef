"""What `--mode aligned` shares between the two sides: initial weights and the sample order.

Both are drawn here, in numpy, from the run's seed, because the frameworks' own random number
generators give different numbers for the same seed. Each side loads them in its own layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.spec import Spec


@dataclass(frozen=True)
class Weight:
    """One weight of the model, as both sides name and record it, with its shape in Keras's layout."""

    name: str  # kernel_0, bias_0, ...; conv_kernel_0, batchnorm_gamma_0, batchnorm_mean_0, ...
    shape: tuple[int, ...]
    trainable: bool = True


def layer_sizes(spec: Spec) -> list[int]:
    return [spec.flat_dim, *spec.model.hidden, spec.data.num_classes]


def model_weights(spec: Spec) -> list[Weight]:
    """Every weight, in the order of Keras's model.weights (a layer's trainable weights, then its
    running statistics): per convolution block the kernel (3, 3, in, out), BatchNorm's gamma, beta,
    moving mean and moving variance; per Dense layer the kernel (fan_in, fan_out) and the bias."""
    weights, channels = [], spec.data.channels
    for i, (_, _, filters) in enumerate(spec.block_shapes()):
        weights.append(Weight(f"conv_kernel_{i}", (3, 3, channels, filters)))
        weights += [Weight(f"batchnorm_{kind}_{i}", (filters,)) for kind in ("gamma", "beta")]
        for kind in ("mean", "variance"):
            weights.append(Weight(f"batchnorm_{kind}_{i}", (filters,), trainable=False))
        channels = filters
    sizes = layer_sizes(spec)
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        weights += [Weight(f"kernel_{i}", (fan_in, fan_out)), Weight(f"bias_{i}", (fan_out,))]
    return weights


def initial_weights(spec: Spec, seed: int) -> list[np.ndarray]:
    """The arrays of model_weights(spec), in Keras layout, float32: Glorot-uniform kernels,
    U(+-sqrt(6 / (fan_in + fan_out))) with a convolution's fans 9 x its channels in and out, zero
    biases and offsets, unit scales, BatchNorm's running statistics at their start (0 and 1)."""
    rng = np.random.default_rng([seed, 0])
    arrays = []
    for weight in model_weights(spec):
        kind = weight.name.rsplit("_", 1)[0]
        if kind in ("kernel", "conv_kernel"):
            *window, fan_in, fan_out = weight.shape
            receptive = int(np.prod(window))
            limit = np.sqrt(6.0 / (receptive * (fan_in + fan_out)))
            arrays.append(rng.uniform(-limit, limit, size=weight.shape).astype(np.float32))
        else:
            start = 1.0 if kind in ("batchnorm_gamma", "batchnorm_variance") else 0.0
            arrays.append(np.full(weight.shape, start, dtype=np.float32))
    return arrays


def epoch_orders(n: int, epochs: int, seed: int) -> np.ndarray:
    """(epochs, n) int64: one seeded permutation of the n training examples per epoch."""
    rng = np.random.default_rng([seed, 1])
    return np.stack([rng.permutation(n) for _ in range(epochs)])
