"""Lockstep: the shared draws go in through the pipeline's seams, and every step is recorded.

The training loop (train.py) calls begin_epoch, then per step begin_step, after_backward and
after_update. The augmentation draws go in through BatchRandomAffine's (or, classic,
RandomAffine.make_params's) `given`, the dropout masks through each Dropout's `keep`.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms import v2

from shared.draws import LockstepDraws, fingerprint, order_digest, parameter_names
from shared.results import StepRecord
from shared.spec import Spec
from torch_impl.augment import BatchRandomAffine, RandomAffine
from torch_impl.data import BatchLoader
from torch_impl.model import MLP, gradients_in_keras_layout, parameters_in_keras_layout

STAGES = {v2.ToDtype: "rescaled", BatchRandomAffine: "augmented", v2.Normalize: "normalized"}


def _keras_layout(images: torch.Tensor) -> np.ndarray:
    """(B, 1, 28, 28) -> (B, 28, 28, 1), as Keras holds a batch."""
    return images.detach().cpu().permute(0, 2, 3, 1).numpy()


class Lockstep:
    """The draws of one lockstep run, fed to the model and loader, and the per-step records."""

    def __init__(self, spec: Spec, seed: int, orders: np.ndarray, model: MLP, loader):
        self.draws, self.orders, self.model = LockstepDraws(spec, seed), orders, model
        self.batch_size, self.names = spec.train.batch_size, parameter_names(spec)
        self.records: list[StepRecord] = []
        self.epoch, self.cursor, self.pending = 0, 0, {}
        if isinstance(loader, BatchLoader):
            transforms, loader.observe = loader.transform.transforms, self.observe
        else:  # classic: the Dataset's per-sample transforms, run in this process
            transforms = loader.dataset.transform.transforms
        for transform in transforms:
            if isinstance(transform, (BatchRandomAffine, RandomAffine)):
                transform.given = self.augment_params

    def augment_params(self, size: int) -> np.ndarray:
        """The next `size` samples' augmentation parameters, in the epoch's order."""
        params = self.draws.augment(self.epoch, self.cursor, size, self.orders.shape[1])
        self.cursor += size
        return params

    def observe(self, transform, images: torch.Tensor) -> None:
        self.pending[STAGES[type(transform)]] = fingerprint(_keras_layout(images))

    def begin_epoch(self, epoch: int) -> None:
        self.epoch, self.cursor = epoch - 1, 0

    def begin_step(self, batch: int, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Before the forward pass of step `batch` (from 1) of the epoch: set the dropout masks."""
        start = (batch - 1) * self.batch_size
        ids = self.orders[self.epoch, start : start + len(labels)]
        self.step = StepRecord(
            self.epoch + 1,
            len(self.records) + 1,
            order_digest(ids, labels.cpu().numpy()),
            {**self.pending, "batch": fingerprint(_keras_layout(images))},
        )
        self.pending = {}
        keeps = self.draws.keep(self.epoch, batch - 1, len(labels))
        for layer, keep in zip(self.model.dropouts(), keeps, strict=True):
            layer.keep = torch.from_numpy(keep).to(images.device, images.dtype)

    def after_backward(self, logits: torch.Tensor, loss: torch.Tensor) -> None:
        stages = self.step.stages
        stages["logits"] = fingerprint(logits.detach().cpu())
        stages["loss"] = [loss.item(), abs(loss.item())]
        for name, grad in zip(self.names, gradients_in_keras_layout(self.model)):
            stages[f"grad/{name}"] = fingerprint(grad.cpu())

    @torch.no_grad()
    def after_update(self) -> None:
        for name, value in zip(self.names, parameters_in_keras_layout(self.model)):
            self.step.stages[f"param/{name}"] = fingerprint(value.cpu())
        self.records.append(self.step)
