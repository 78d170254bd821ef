"""The model: the preprocessing layers (data.py), then the MLP: Flatten -> [Dense -> activation ->
Dropout] per hidden layer -> Dense to logits."""

from __future__ import annotations

import math

import keras

from keras_impl.data import preprocess
from shared.spec import Spec


def build_model(spec: Spec) -> keras.Sequential:
    """Raw images in, logits out; Dense's own initializers (Glorot-uniform kernels, zero biases), which
    the PyTorch side bridges to. Preprocessing inside the model, as the Keras guides advise: it runs on
    the training device."""
    data, model = spec.data, spec.model
    layers = [
        keras.Input((data.height, data.width, data.channels)),
        preprocess(spec, augment=spec.augment.enabled),  # rescale, augment (in training), normalize
        keras.layers.Flatten(),  # (B, 28, 28, 1) -> (B, 784)
    ]
    for units in model.hidden:
        layers += [
            keras.layers.Dense(units, activation=model.activation),
            keras.layers.Dropout(model.dropout),
        ]
    layers.append(keras.layers.Dense(data.num_classes))  # logits: from_logits=True
    return keras.Sequential(layers, name="mlp")


def count_params(model: keras.Model) -> int:
    """Trainable parameters (preprocessing has none)."""
    return sum(math.prod(weight.shape) for weight in model.trainable_weights)
