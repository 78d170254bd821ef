"""Data loading and normalization: tf.data pipelines with Keras preprocessing layers, per batch."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_impl.augment import random_affine
from shared.spec import Spec


def preprocess(spec: Spec, augment: bool) -> keras.Sequential:
    """uint8 -> float in [0, 1] -> (augment) -> (x - mean) / std, on a batch (B, 28, 28, 1)."""
    return keras.Sequential(
        [
            # bit-equal to torchvision's ToDtype(float32, scale=True)
            keras.layers.Rescaling(1 / 255),
            *([random_affine(spec)] if augment else []),  # on [0, 1], so the fill is black
            # [normalize-std] Normalization takes a variance where torchvision's Normalize takes a std.
            keras.layers.Normalization(mean=spec.data.mean, variance=spec.data.std**2),
        ]
    )


def make_loader(
    spec: Spec, images: np.ndarray, labels: np.ndarray, indices: tf.data.Dataset, augment: bool
):
    """Index batches -> (images (B, 28, 28, 1) float32, labels (B,)), preprocessed per batch."""
    images = tf.constant(images[..., None])  # NHWC: channels last
    labels = tf.constant(labels.astype(np.int64))
    layers = preprocess(spec, augment)
    # Gather and preprocess whole batches: per-element map work is what makes tf.data slow. One map
    # call at a time, so the augmentation's random stream is drawn in the same order on every run.
    loader = indices.map(
        lambda i: (layers(tf.gather(images, i), training=augment), tf.gather(labels, i))
    ).prefetch(tf.data.AUTOTUNE)
    loader.preprocess = layers  # tf.data keeps no handle on what its map calls: kept for the audit
    return loader


def make_train_data(
    spec: Spec, images: np.ndarray, labels: np.ndarray, orders: np.ndarray | None = None
):
    """Shuffled (or, aligned, in the given orders), augmented per the spec, last partial batch kept."""
    n, batch, drop_remainder = len(labels), spec.train.batch_size, False
    buffer_size, reshuffle = n, True
    if orders is None:
        # [shuffle-buffer] A buffer as large as the dataset is a uniform permutation, drawn anew every
        # epoch; a smaller one is not. Shuffling indices (not images) keeps that buffer small.
        indices = tf.data.Dataset.range(n).shuffle(
            buffer_size, seed=spec.train.seed, reshuffle_each_iteration=reshuffle
        )
        indices = indices.batch(batch, drop_remainder=drop_remainder)
    else:
        # All epochs back to back, one shared permutation each; fit(steps_per_epoch=...) walks through them.
        indices = tf.data.Dataset.from_tensor_slices(orders).flat_map(
            lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch)
        )
    loader = make_loader(spec, images, labels, indices, augment=spec.augment.enabled)
    # tf.data's batching and shuffle settings have no public attribute: recorded as given, for the audit
    loader.batching = {"batch_size": batch, "drop_remainder": drop_remainder}
    loader.shuffling = (
        None if orders is not None else {"buffer": buffer_size, "n": n, "reshuffle": reshuffle}
    )
    return loader


def make_eval_data(spec: Spec, images: np.ndarray, labels: np.ndarray):
    """In order, never augmented."""
    indices = tf.data.Dataset.range(len(labels)).batch(spec.train.batch_size)
    return make_loader(spec, images, labels, indices, augment=False)
