"""The model: the preprocessing layers (data.py), then the MLP: Flatten -> [Dense -> activation ->
Dropout] per hidden layer -> Dense to logits."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_impl.data import preprocess
from shared.spec import Spec


@keras.saving.register_keras_serializable(package="mnist_parity")
class Dropout(keras.layers.Layer):
    """Keras's Dropout: zero each unit with probability `rate` in training, scale the rest by
    1 / (1 - rate). Keras's own layer draws its mask inside and cannot take one from outside; this one,
    with given_batch (lockstep), applies the `keep` mask (B, units) that the Lockstep callback sets
    before each step. Used in every mode, so that lockstep checks the layer every run trains with."""

    def __init__(
        self, rate: float, seed: int | None = None, given_batch: int | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        self.rate, self.seed, self.given_batch = float(rate), seed, given_batch
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if self.given_batch:
            self.keep = self.add_weight(
                shape=(self.given_batch, input_shape[-1]),
                initializer="ones",
                trainable=False,
                name="keep",
            )

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        if self.given_batch:
            keep = ops.convert_to_tensor(self.keep)[: ops.shape(inputs)[0]]
        else:
            draws = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator)
            keep = ops.cast(draws >= self.rate, inputs.dtype)
        return inputs * keep * (1.0 / (1.0 - self.rate))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {"rate": self.rate, "seed": self.seed, "given_batch": self.given_batch}
        return {**super().get_config(), **config}


def build_model(spec: Spec, lockstep: bool = False) -> keras.Sequential:
    """Raw images in, logits out; Dense's own initializers (Glorot-uniform kernels, zero biases), which
    the PyTorch side bridges to. Preprocessing inside the model, as the Keras guides advise: it runs on
    the training device. lockstep: the augmentation and dropout layers take their draws from the
    Lockstep callback."""
    data, model = spec.data, spec.model
    given_batch = spec.train.batch_size if lockstep else None
    layers = [keras.Input((data.height, data.width, data.channels))]
    # rescale -> augment (with training=True only) -> normalize
    layers.append(preprocess(spec, augment=spec.augment.enabled, lockstep=lockstep))
    layers.append(keras.layers.Flatten())  # (B, 28, 28, 1) -> (B, 784)
    for units in model.hidden:
        layers += [
            keras.layers.Dense(units, activation=model.activation),
            Dropout(model.dropout, given_batch=given_batch),
        ]
    layers.append(keras.layers.Dense(data.num_classes))  # logits: from_logits=True
    return keras.Sequential(layers, name="mlp")


def load_initial_weights(model: keras.Model, weights: list[np.ndarray]) -> None:
    """Load [kernel, bias, ...] given in Keras layout (fan_in, fan_out) into the Dense layers."""
    dense_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for layer, kernel, bias in zip(dense_layers, weights[::2], weights[1::2], strict=True):
        layer.set_weights([kernel, bias])


def count_params(model: keras.Model) -> int:
    """Trainable parameters (preprocessing has none)."""
    return sum(math.prod(weight.shape) for weight in model.trainable_weights)
