"""Data loading and normalization: a Dataset with a per-sample transform, and DataLoaders."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.transforms import v2

from shared.spec import Spec
from torch_impl.augment import random_affine


def preprocess(spec: Spec, augment: bool) -> v2.Compose:
    """uint8 -> float in [0, 1] -> (augment) -> (x - mean) / std, per sample."""
    return v2.Compose(
        [
            v2.ToDtype(
                torch.float32, scale=True
            ),  # x / 255, bit-equal to Keras's Rescaling(1 / 255)
            *([random_affine(spec)] if augment else []),  # on [0, 1], so that the fill is black
            v2.Normalize(mean=[spec.data.mean], std=[spec.data.std]),
        ]
    )


class MnistDataset(Dataset):
    """uint8 images (N, 28, 28) and labels; one sample is (transform(image (1, 28, 28)), label)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        # a writable copy, (N, 1, 28, 28): NCHW, channels first
        self.images = torch.from_numpy(np.array(images)).unsqueeze(1)
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.transform(self.images[index]), self.labels[index]


class EpochOrders(Sampler):
    """Aligned mode: epoch e visits the samples in orders[e] (shared/align.py), as Keras does."""

    def __init__(self, orders: np.ndarray):
        self.orders, self.epoch = orders, 0

    def __len__(self) -> int:
        return self.orders.shape[1]

    def __iter__(self):
        if self.epoch >= len(self.orders):
            raise RuntimeError(
                f"EpochOrders holds {len(self.orders)} epochs; epoch {self.epoch + 1} was asked for"
            )
        self.epoch += 1
        return iter(self.orders[self.epoch - 1].tolist())


def num_workers(spec: Spec) -> int:
    if spec.data.workers != "auto":
        return spec.data.workers
    # The per-sample transforms are most of an epoch's work, so one worker per core; the training step
    # (one thread, see train.py) takes little. Measured on 2 cores: 2 workers 30% faster than none.
    return min(os.cpu_count() or 1, 8)


def make_loader(
    spec: Spec,
    dataset: Dataset,
    shuffle: bool,
    sampler: Sampler | None = None,
    device: torch.device | None = None,
) -> DataLoader:
    workers = num_workers(spec)
    # An explicit generator keeps the DataLoader from drawing on torch's global stream (dropout's), and
    # seeds the workers' streams (RandomAffine's): same seed and worker count, same run.
    generator = torch.Generator().manual_seed(spec.train.seed)
    return DataLoader(
        dataset,
        batch_size=spec.train.batch_size,
        shuffle=shuffle,
        sampler=sampler,
        drop_last=False,
        num_workers=workers,
        persistent_workers=workers > 0,
        generator=generator,
        # page-locked memory speeds up copies to the GPU: only when training there
        pin_memory=device is not None and device.type == "cuda",
    )


def make_train_data(
    spec: Spec,
    images: np.ndarray,
    labels: np.ndarray,
    orders: np.ndarray | None = None,
    device: torch.device | None = None,
):
    """Shuffled (or, aligned, in the given orders), augmented per the spec, last partial batch kept."""
    dataset = MnistDataset(images, labels, preprocess(spec, augment=spec.augment.enabled))
    if orders is not None:
        return make_loader(spec, dataset, False, EpochOrders(orders), device)
    return make_loader(spec, dataset, shuffle=True, device=device)


def make_eval_data(
    spec: Spec, images: np.ndarray, labels: np.ndarray, device: torch.device | None = None
):
    """In order, never augmented."""
    dataset = MnistDataset(images, labels, preprocess(spec, augment=False))
    return make_loader(spec, dataset, shuffle=False, device=device)
