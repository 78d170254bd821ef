"""Data loading and normalization: the arrays, served to fit in batches in each epoch's order; the
preprocessing layers the model runs on each batch."""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_impl.augment import random_affine
from shared.spec import Spec


def preprocess(spec: Spec, augment: bool, lockstep: bool = False) -> keras.Sequential:
    """uint8 -> float in [0, 1] -> (augment) -> (x - mean) / std, on a batch (B, 28, 28, 1). The model's
    first layers (model.py): they run where the model runs, on the GPU when there is one."""
    # [float64-constants] on TensorFlow, Keras turns a Python float into a float32 tensor first,
    # which in float64 would put 1/255, the mean and the variance 1e-8 off torchvision's.
    constant = float if spec.ablate.float64_constants else np.float64
    mean, std = constant(spec.data.mean), constant(spec.data.std)
    # [normalize-std] Normalization takes a variance where torchvision's Normalize takes a std, and
    # divides by its square root in the run's dtype: square the std rounded to that dtype, and the
    # root is exactly the std torchvision divides by (float32: 0.30810001 otherwise, not 0.3081).
    rounded_std = constant(np.dtype(spec.train.dtype).type(std))
    variance = std if spec.ablate.normalize_std else rounded_std**2
    return keras.Sequential(
        [
            # bit-equal to torchvision's ToDtype(float32, scale=True)
            keras.layers.Rescaling(constant(1 / 255)),
            # on [0, 1], so the fill is black
            *([random_affine(spec, lockstep)] if augment else []),
            keras.layers.Normalization(mean=mean, variance=variance),
        ],
        name="preprocessing",
    )


class EpochOrders(keras.utils.PyDataset):
    """Epoch e serves the samples in orders[e], in batches, the last partial batch kept (torch_impl's
    EpochOrders sampler does the same for a DataLoader). fit tells it the epoch through its set_epoch
    callback, as a torch DistributedSampler is told: Keras also calls a PyDataset's on_epoch_begin and
    on_epoch_end outside the epochs, so they cannot count them."""

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


def make_train_data(
    spec: Spec, images: np.ndarray, labels: np.ndarray, orders: np.ndarray | None = None
) -> dict:
    """fit's data arguments: every sample once per epoch, in a fresh permutation each epoch drawn from
    the run's seed (aligned: in the given orders), the last partial batch kept; the model's
    RandomAffine augments them."""
    if orders is None:
        # [fit-shuffle] Not fit(x, y, shuffle=True): on the TensorFlow backend, once set_random_seed has
        # fixed TensorFlow's seed, the tf.random.shuffle inside fit's tf.data pipeline starts over with
        # each epoch's iterator and repeats the first epoch's permutation. Drawn here, in numpy, the
        # order is the same on every backend.
        rng = np.random.default_rng(spec.train.seed)
        orders = np.stack([rng.permutation(len(labels)) for _ in range(spec.train.epochs)])
    if spec.ablate.shuffle_batches:  # a porting slip, for ablations: see _whole_batches
        orders = _whole_batches(orders, spec.train.batch_size, spec.train.seed)
    images, labels = images[..., None], labels.astype(np.int64)  # NHWC: channels last
    if spec.ablate.fit_shuffle:  # [fit-shuffle] ablated: fit's own shuffle
        return {"x": images, "y": labels, "batch_size": spec.train.batch_size, "shuffle": True}
    epochs = EpochOrders(images, labels, orders, spec.train.batch_size)
    # shuffle=False: fit would shuffle the order of a PyDataset's batches
    return {"x": epochs, "shuffle": False, "callbacks": [epochs.set_epoch]}


def _whole_batches(orders: np.ndarray, batch_size: int, seed: int) -> np.ndarray:
    """The slip of shuffling whole batches (fit(shuffle="batch"), a loader that shuffles a list of
    batches): each later epoch serves the first epoch's full batches in a new order, the partial
    one last."""
    rng = np.random.default_rng([seed, 9])
    full = orders.shape[1] // batch_size * batch_size
    batches = orders[0, :full].reshape(-1, batch_size)
    later = [
        np.concatenate([*batches[rng.permutation(len(batches))], orders[0, full:]])
        for _ in orders[1:]
    ]
    return np.stack([orders[0], *later])


def make_eval_data(spec: Spec, images: np.ndarray, labels: np.ndarray) -> dict:
    """evaluate's data arguments: in order, never augmented (evaluate and predict call the model with
    training=False, where RandomAffine passes images through)."""
    return {
        "x": images[..., None],
        "y": labels.astype(np.int64),
        "batch_size": spec.train.batch_size,
    }
