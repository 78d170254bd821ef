"""Aligned mode on the built Keras pipeline: the shared initial weights (shared/align.py) loaded into
its layers, and the shared sample order served by its EpochOrders."""

from __future__ import annotations

import keras
import numpy as np

from shared.align import epoch_orders, initial_weights
from shared.spec import Spec


def layers_of(model: keras.Model):
    """The model's layers in order, those of nested models in their place."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from layers_of(layer)
        else:
            yield layer


WEIGHTED = (keras.layers.Conv2D, keras.layers.BatchNormalization, keras.layers.Dense)


def weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in layers_of(model) if isinstance(layer, WEIGHTED)]


def load_initial_weights(model: keras.Model, weights: list[np.ndarray]) -> None:
    """Load the arrays of shared.align.model_weights, in Keras layout, into the model's layers."""
    arrays = iter(weights)
    for layer in weighted_layers(model):
        layer.set_weights([next(arrays) for _ in layer.weights])
    if next(arrays, None) is not None:
        raise ValueError("more shared weights than the model's layers hold")


def align(pipeline, spec: Spec, splits, seed: int) -> None:
    """The shared weights and order, in place (with fit's own shuffle, ablate.fit_shuffle, fit keeps
    its order)."""
    load_initial_weights(pipeline.model, initial_weights(spec, seed))
    epochs = pipeline.train_data["x"]
    if hasattr(epochs, "orders"):
        orders = epoch_orders(len(splits.y_train), spec.train.epochs, seed)
        epochs.orders = served_orders(orders, spec)


def served_orders(orders: np.ndarray, spec: Spec) -> np.ndarray:
    """The orders EpochOrders serves: `orders`, or with ablate.shuffle_batches the slip of shuffling
    whole batches (fit(shuffle="batch"), a loader that shuffles a list of batches): each later epoch
    serves the first epoch's full batches in a new order, the partial one last."""
    if not spec.ablate.shuffle_batches:
        return orders
    batch_size = spec.train.batch_size
    rng = np.random.default_rng([spec.train.seed, 9])
    full = orders.shape[1] // batch_size * batch_size
    batches = orders[0, :full].reshape(-1, batch_size)
    later = [
        np.concatenate([*batches[rng.permutation(len(batches))], orders[0, full:]])
        for _ in orders[1:]
    ]
    return np.stack([orders[0], *later])
