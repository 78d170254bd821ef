"""The MLP: Flatten -> [Dense -> activation -> Dropout] per hidden layer -> Dense to logits."""

from __future__ import annotations

import keras
import numpy as np

from shared.spec import Spec


def build_model(spec: Spec) -> keras.Sequential:
    """The spec's MLP; Dense's own defaults are the spec's initializers (Glorot-uniform, zeros)."""
    data, model = spec.data, spec.model
    initializers = {"kernel_initializer": model.kernel_init, "bias_initializer": model.bias_init}
    layers = [keras.Input((data.height, data.width, data.channels))]
    layers.append(keras.layers.Flatten())  # (B, 28, 28, 1) -> (B, 784)
    for units in model.hidden:
        layers += [
            keras.layers.Dense(units, activation=model.activation, **initializers),
            keras.layers.Dropout(model.dropout),
        ]
    layers.append(keras.layers.Dense(data.num_classes, **initializers))  # logits: from_logits=True
    return keras.Sequential(layers, name="mlp")


def load_initial_weights(model: keras.Model, weights: list[np.ndarray]) -> None:
    """Load [kernel, bias, ...] given in Keras layout (fan_in, fan_out)."""
    model.set_weights(weights)


def count_params(model: keras.Model) -> int:
    return model.count_params()
