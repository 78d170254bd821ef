"""Aligned mode on the built PyTorch pipeline: the shared initial weights (shared/align.py) loaded into
its Linear layers, and the shared sample order served by its loader's batch sampler."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import Sampler

from shared.align import epoch_orders, initial_weights
from shared.spec import Spec


class EpochOrders(Sampler):
    """Epoch e visits the samples in orders[e], as the Keras side's EpochOrders serves them."""

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


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


@torch.no_grad()
def load_initial_weights(model: nn.Module, weights: list[np.ndarray], layout_slip=False) -> None:
    """Load [kernel, bias, ...] given in Keras layout (fan_in, fan_out), in the model's dtype."""
    for layer, kernel, bias in zip(linear_layers(model), weights[::2], weights[1::2], strict=True):
        # [weight-layout] Keras keeps a kernel (fan_in, fan_out), nn.Linear a weight (fan_out, fan_in)
        layout = kernel.reshape(kernel.shape[::-1]) if layout_slip else kernel.T
        layer.weight.copy_(torch.from_numpy(layout.copy()))
        layer.bias.copy_(torch.from_numpy(bias))


def align(pipeline, spec: Spec, splits, seed: int) -> EpochOrders:
    """The shared weights and order, in place; the sampler that now serves the order."""
    load_initial_weights(pipeline.model, initial_weights(spec, seed), spec.ablate.weight_layout)
    sampler = EpochOrders(epoch_orders(len(splits.y_train), spec.train.epochs, seed))
    # the loader's BatchSampler draws its indices from here (a DataLoader's too: set on its
    # batch_sampler, which DataLoader, unlike its own attributes, lets change after it is built)
    pipeline.train_loader.batch_sampler.sampler = sampler
    return sampler
