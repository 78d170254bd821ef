"""The train / validation / test arrays both sides train on, split once, here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.mnist import Mnist, load_mnist, split_indices
from shared.spec import Spec, invalid


@dataclass(frozen=True)
class Splits:
    """uint8 images (N, 28, 28) and uint8 labels (N,) for each part."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def check_contract(spec: Spec, mnist: Mnist) -> None:
    """The spec's shapes contract (data.height, width, channels, num_classes) against the images and
    labels loaded: SpecError naming the first key that does not match them."""
    images = mnist.train_images  # (N, H, W): an IDX image file has one channel
    height, width = images.shape[1:3]
    channels = images.shape[3] if images.ndim == 4 else 1
    classes = int(max(mnist.train_labels.max(), mnist.test_labels.max())) + 1
    plural = "s" if channels > 1 else ""
    seen = f"the images loaded are {height} x {width} pixels (height x width), {channels} channel{plural}"
    found = {
        "height": (height, seen),
        "width": (width, seen),
        "channels": (channels, seen),
        "num_classes": (classes, f"the labels loaded are 0 to {classes - 1}, {classes} classes"),
    }
    for name, (actual, what) in found.items():
        stated = getattr(spec.data, name)
        if stated != actual:
            raise invalid(f"data.{name}", stated, f"{what}, so it must be {actual}")


def load_splits(spec: Spec, data_dir=None, download: bool = False) -> Splits:
    """The spec's train / validation / test splits of MNIST (data_dir, else the default copy), once
    its shapes contract is checked against the data."""
    mnist = load_mnist(data_dir, download=download)
    check_contract(spec, mnist)
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
