"""Data loading and normalization, two ways (spec data.pipeline), the same batches for the same draws:
batched (the default) gathers each batch from uint8 tensors on the training device and preprocesses
it whole; classic, the torchvision idiom to learn first, is a Dataset whose v2.Compose prepares one
sample at a time and a DataLoader whose workers batch them (on a CPU, most of an epoch)."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    TensorDataset,
)
from torchvision.transforms import v2

from shared.spec import Spec
from torch_impl.augment import BatchRandomAffine, random_affine


def preprocess(spec: Spec, augment: bool, generator: torch.Generator | None = None) -> v2.Compose:
    """uint8 -> float in [0, 1] -> (augment) -> (x - mean) / std, with torchvision's transforms: on one
    sample (1, 28, 28) in the classic pipeline, on a batch (B, 1, 28, 28) in the batched one, where
    the generator draws the augmentation."""
    warp = random_affine(spec)
    if spec.data.pipeline == "batched":
        warp = BatchRandomAffine(warp, generator or torch.Generator().manual_seed(spec.train.seed))
    return v2.Compose(
        [
            # x / 255, bit-equal to Keras's Rescaling(1 / 255)
            v2.ToDtype(getattr(torch, spec.train.dtype), scale=True),
            *([warp] if augment else []),  # on [0, 1], so that the fill is black
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


class BatchLoader:
    """The batched pipeline's DataLoader: each step gathers the batch sampler's next indices from
    tensors already on the training device, and transforms them as one batch."""

    def __init__(self, dataset: TensorDataset, batch_sampler: BatchSampler, transform):
        self.dataset, self.batch_sampler, self.transform = dataset, batch_sampler, transform

    def __len__(self) -> int:  # batches per epoch, as len(DataLoader)
        return len(self.batch_sampler)

    def __iter__(self):
        for indices in self.batch_sampler:
            images, labels = self.dataset[indices]
            yield self.transform(images), labels


def num_workers(spec: Spec) -> int:
    if spec.data.workers != "auto":
        return spec.data.workers
    # The per-sample transforms are most of an epoch's work, so one worker per core; the training step
    # (one thread, see pipeline.py) takes little. Measured on 2 cores: 2 workers 30% faster than none.
    return min(os.cpu_count() or 1, 8)


def make_loader(
    spec: Spec, images, labels, sampler: Sampler, augment: bool, device=None, generator=None
):
    """Batches (images (B, 1, 28, 28) float32, labels (B,)) in the sampler's order, preprocessed: a
    DataLoader over a per-sample Dataset (classic), or a BatchLoader over tensors on the device."""
    # An explicit generator keeps the loader from drawing on torch's global stream (dropout's)
    generator = generator or torch.Generator().manual_seed(spec.train.seed)
    if spec.data.pipeline == "classic":
        workers = num_workers(spec)
        return DataLoader(
            MnistDataset(images, labels, preprocess(spec, augment)),
            batch_size=spec.train.batch_size,
            sampler=sampler,
            drop_last=False,
            num_workers=workers,
            persistent_workers=workers > 0,
            # seeds the workers' streams, where RandomAffine draws: same seed and worker count, same run
            generator=generator,
            # page-locked memory speeds up copies to the GPU: only when training there
            pin_memory=device is not None and device.type == "cuda",
        )
    dataset = TensorDataset(
        torch.from_numpy(np.array(images)).unsqueeze(1).to(device),  # uint8 (N, 1, 28, 28), NCHW
        torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device),
    )
    batches = BatchSampler(sampler, spec.train.batch_size, drop_last=False)
    return BatchLoader(dataset, batches, preprocess(spec, augment, generator))


def make_train_data(
    spec: Spec, images: np.ndarray, labels: np.ndarray, device: torch.device | None = None
):
    """Shuffled, a fresh permutation every epoch, augmented per the spec, last partial batch kept."""
    # one seeded stream for the shuffle and the augmentation draws, as a DataLoader's generator
    # draws its sampler's order and seeds its workers
    generator = torch.Generator().manual_seed(spec.train.seed)
    # what DataLoader(shuffle=True) samples with
    sampler = RandomSampler(range(len(labels)), generator=generator)
    return make_loader(spec, images, labels, sampler, spec.augment.enabled, device, generator)


def make_eval_data(
    spec: Spec, images: np.ndarray, labels: np.ndarray, device: torch.device | None = None
):
    """In order, never augmented."""
    sampler = SequentialSampler(range(len(labels)))
    return make_loader(spec, images, labels, sampler, augment=False, device=device)
