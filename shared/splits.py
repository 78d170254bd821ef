"""The train / validation / test arrays both sides train on, split once, here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.mnist import load_mnist, split_indices
from shared.spec import Spec


@dataclass(frozen=True)
class Splits:
    """uint8 images (N, 28, 28) and uint8 labels (N,) for each part."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_splits(spec: Spec, data_dir=None, download: bool = False) -> Splits:
    mnist = load_mnist(data_dir, download=download)
    train_idx, val_idx = split_indices(
        len(mnist.train_images), spec.data.validation_size, spec.data.split_seed
    )
    if spec.data.train_subset:
        train_idx = train_idx[: spec.data.train_subset]
    return Splits(
        mnist.train_images[train_idx],
        mnist.train_labels[train_idx],
        mnist.train_images[val_idx],
        mnist.train_labels[val_idx],
        mnist.test_images,
        mnist.test_labels,
    )


def first_images(splits: Splits, n_train: int, n_eval: int) -> Splits:
    """The splits with only their first n_train training images and n_eval validation and test
    images (all of them where there are fewer)."""
    return Splits(
        splits.x_train[:n_train],
        splits.y_train[:n_train],
        splits.x_val[:n_eval],
        splits.y_val[:n_eval],
        splits.x_test[:n_eval],
        splits.y_test[:n_eval],
    )
