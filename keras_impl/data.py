"""Data loading and normalization: the arrays, served to fit in batches in each epoch's order; the
preprocessing layers the model runs on each batch."""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_impl.augment import random_affine
from shared.spec import Spec


def preprocess(spec: Spec, augment: bool) -> keras.Sequential:
    """uint8 -> float in [0, 1] -> (augment) -> (x - mean) / std, on a batch (B, 28, 28, 1). The model's
    first layers (model.py): they run where the model runs, on the GPU when there is one."""
    # [float64-constants] on TensorFlow, Keras turns a Python float into a float32 tensor first,
    # which in float64 would put 1/255, the mean and the variance 1e-8 off torchvision's.
    mean, std = np.float64(spec.data.mean), np.float64(spec.data.std)
    # [normalize-std] Normalization takes a variance where torchvision's Normalize takes a std, and
    # divides by its square root in the run's dtype: square the std rounded to that dtype, and the
    # root is exactly the std torchvision divides by (float32: 0.30810001 otherwise, not 0.3081).
    variance = np.float64(np.dtype(spec.train.dtype).type(std)) ** 2
    return keras.Sequential(
        [
            # bit-equal to torchvision's ToDtype(float32, scale=True)
            keras.layers.Rescaling(np.float64(1 / 255)),
            # on [0, 1], so the fill is black
            *([random_affine(spec)] if augment else []),
            keras.layers.Normalization(mean=mean, variance=variance),  # [normalize-std]
        ],
        name="preprocessing",
    )


class EpochOrders(keras.utils.PyDataset):
    """Epoch e serves the samples in orders[e], in batches, the last partial batch kept. fit tells it
    the epoch through its set_epoch callback, as a torch DistributedSampler is told: Keras also calls a
    PyDataset's on_epoch_begin and on_epoch_end outside the epochs, so they cannot count them."""

    def __init__(self, images, labels, orders: np.ndarray, batch_size: int, **kwargs):
        super().__init__(**kwargs)
        self.images, self.labels, self.orders, self.batch_size = images, labels, orders, batch_size
        self.epoch = 0
        self.set_epoch = keras.callbacks.LambdaCallback(on_epoch_begin=self._begin)

    def __len__(self) -> int:
        return math.ceil(self.orders.shape[1] / self.batch_size)

    def __getitem__(self, index: int):
        start = index * self.batch_size
        batch = self.orders[self.epoch, start : start + self.batch_size]
        return self.images[batch], self.labels[batch]

    def _begin(self, epoch: int, logs=None):
        if epoch >= len(self.orders):
            raise RuntimeError(
                f"EpochOrders holds {len(self.orders)} epochs; epoch {epoch + 1} was asked for"
            )
        self.epoch = epoch


def make_train_data(spec: Spec, images: np.ndarray, labels: np.ndarray) -> dict:
    """fit's data arguments: every sample once per epoch, in a fresh permutation each epoch drawn from
    the run's seed, the last partial batch kept; the model's RandomAffine augments them."""
    # [fit-shuffle] Not fit(x, y, shuffle=True): on the TensorFlow backend, once set_random_seed has
    # fixed TensorFlow's seed, the tf.random.shuffle inside fit's tf.data pipeline starts over with
    # each epoch's iterator and repeats the first epoch's permutation. Drawn here, in numpy, the
    # order is the same on every backend.
    rng = np.random.default_rng(spec.train.seed)
    orders = np.stack([rng.permutation(len(labels)) for _ in range(spec.train.epochs)])
    images, labels = images[..., None], labels.astype(np.int64)  # NHWC: channels last
    epochs = EpochOrders(images, labels, orders, spec.train.batch_size)
    # shuffle=False: fit would shuffle the order of a PyDataset's batches
    return {"x": epochs, "shuffle": False, "callbacks": [epochs.set_epoch]}


def make_eval_data(spec: Spec, images: np.ndarray, labels: np.ndarray) -> dict:
    """evaluate's data arguments: in order, never augmented (evaluation runs the model with
    training=False, where RandomAffine passes images through)."""
    return {
        "x": images[..., None],
        "y": labels.astype(np.int64),
        "batch_size": spec.train.batch_size,
    }
