"""The model: the preprocessing layers (data.py), then the MLP: Flatten -> [Dense -> activation ->
Dropout] per hidden layer -> Dense to logits; with model.kind = "cnn", convolution blocks first."""

from __future__ import annotations

import math

import keras

from keras_impl.data import preprocess
from shared.spec import Spec


def build_model(spec: Spec) -> keras.Sequential:
    """Raw images in, logits out; the layers' own initializers (Glorot-uniform kernels, zero biases),
    which the PyTorch side bridges to. Preprocessing inside the model, as the Keras guides advise: it
    runs on the training device."""
    data, model = spec.data, spec.model
    layers = [
        keras.Input((data.height, data.width, data.channels)),
        preprocess(spec, augment=spec.augment.enabled),  # rescale, augment (in training), normalize
        *convolution_blocks(spec),
        keras.layers.Flatten(),  # (B, 28, 28, 1) -> (B, 784): height, width, channel order
    ]
    for units in model.hidden:
        layers += [
            keras.layers.Dense(units, activation=model.activation),
            keras.layers.Dropout(model.dropout),
        ]
    layers.append(keras.layers.Dense(data.num_classes))  # logits: from_logits=True
    return keras.Sequential(layers, name=model.kind)


def convolution_blocks(spec: Spec) -> list[keras.layers.Layer]:
    """Per block: Conv2D (no bias: BatchNorm's offset is one) -> BatchNormalization -> activation;
    the first block max-pools, each later one strides by 2. None for the MLP."""
    model, layers = spec.model, []
    if model.kind != "cnn":
        return layers
    for index, filters in enumerate(model.filters):
        strides = 1 if index == 0 else 2
        layers += [
            keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False),
            keras.layers.BatchNormalization(
                momentum=model.batchnorm_momentum, epsilon=model.batchnorm_epsilon
            ),
            keras.layers.Activation(model.activation),
        ]
        if index == 0:
            layers.append(keras.layers.MaxPooling2D(2))
    return layers


def count_params(model: keras.Model) -> int:
    """Trainable parameters (preprocessing has none)."""
    return sum(math.prod(weight.shape) for weight in model.trainable_weights)
