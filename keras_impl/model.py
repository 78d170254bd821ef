"""The MLP: Flatten -> [Dense -> activation -> Dropout] per hidden layer -> Dense to logits."""

from __future__ import annotations

import keras
import numpy as np

from shared.spec import Spec


def build_model(spec: Spec) -> keras.Sequential:
    d, m = spec.data, spec.model
    layers = [
        keras.Input((d.height, d.width, d.channels)),
        keras.layers.Flatten(),
    ]  # (B, 28, 28, 1) -> (B, 784)
    for units in m.hidden:
        layers += [
            keras.layers.Dense(
                units,
                activation=m.activation,
                kernel_initializer=m.kernel_init,
                bias_initializer=m.bias_init,
            ),
            keras.layers.Dropout(m.dropout),
        ]
    # logits: the loss takes from_logits=True
    layers.append(
        keras.layers.Dense(
            d.num_classes, kernel_initializer=m.kernel_init, bias_initializer=m.bias_init
        )
    )
    return keras.Sequential(layers, name="mlp")


def load_initial_weights(model: keras.Model, weights: list[np.ndarray]) -> None:
    """Load [kernel, bias, ...] given in Keras layout (fan_in, fan_out)."""
    model.set_weights(weights)


def count_params(model: keras.Model) -> int:
    return model.count_params()
