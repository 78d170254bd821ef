"""What `--mode aligned` shares between the two sides: initial weights and the sample order.

Both are drawn here, in numpy, from the run's seed, because the frameworks' own random number
generators give different numbers for the same seed. Each side loads them in its own layout.
"""

from __future__ import annotations

import numpy as np

from shared.spec import Spec


def layer_sizes(spec: Spec) -> list[int]:
    return [spec.input_dim, *spec.model.hidden, spec.data.num_classes]


def initial_weights(spec: Spec, seed: int) -> list[np.ndarray]:
    """[kernel_0, bias_0, kernel_1, bias_1, ...] in Keras layout: kernel (fan_in, fan_out), float32.

    Glorot-uniform kernels, U(+-sqrt(6 / (fan_in + fan_out))), and zero biases, as spec.model says.
    """
    rng = np.random.default_rng([seed, 0])
    sizes = layer_sizes(spec)
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weights.append(rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32))
        weights.append(np.zeros(fan_out, dtype=np.float32))
    return weights


def epoch_orders(n: int, epochs: int, seed: int) -> np.ndarray:
    """(epochs, n) int64: one seeded permutation of the n training examples per epoch."""
    rng = np.random.default_rng([seed, 1])
    return np.stack([rng.permutation(n) for _ in range(epochs)])
