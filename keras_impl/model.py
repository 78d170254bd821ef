"""The model: the preprocessing layers (data.py), then the MLP: Flatten -> [Dense -> activation ->
Dropout] per hidden layer -> Dense to logits."""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_impl.data import preprocess
from shared.spec import Spec


def build_model(spec: Spec) -> keras.Sequential:
    """Raw images in, logits out; Dense's own defaults are the spec's initializers (Glorot-uniform,
    zeros). Preprocessing inside the model, as the Keras guides advise: it runs on the training device."""
    data, model = spec.data, spec.model
    initializers = {"kernel_initializer": model.kernel_init, "bias_initializer": model.bias_init}
    layers = [keras.Input((data.height, data.width, data.channels))]
    # rescale -> augment (with training=True only) -> normalize
    layers.append(preprocess(spec, augment=spec.augment.enabled))
    layers.append(keras.layers.Flatten())  # (B, 28, 28, 1) -> (B, 784)
    for units in model.hidden:
        layers += [
            keras.layers.Dense(units, activation=model.activation, **initializers),
            keras.layers.Dropout(model.dropout),
        ]
    layers.append(keras.layers.Dense(data.num_classes, **initializers))  # logits: from_logits=True
    return keras.Sequential(layers, name="mlp")


def load_initial_weights(model: keras.Model, weights: list[np.ndarray]) -> None:
    """Load [kernel, bias, ...] given in Keras layout (fan_in, fan_out) into the Dense layers."""
    dense_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for layer, kernel, bias in zip(dense_layers, weights[::2], weights[1::2], strict=True):
        layer.set_weights([kernel, bias])


def count_params(model: keras.Model) -> int:
    """Trainable parameters (preprocessing has none)."""
    return sum(math.prod(weight.shape) for weight in model.trainable_weights)
