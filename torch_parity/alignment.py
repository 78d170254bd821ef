"""Aligned mode on the built PyTorch pipeline: the shared initial weights (shared/align.py) loaded into
its layers, and the shared sample order served by its loader's batch sampler."""

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


WEIGHTED = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def weighted_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, WEIGHTED)]


def layer_tensors(layer: nn.Module) -> list[torch.Tensor]:
    """A layer's tensors in the order Keras keeps its weights (BatchNorm: gamma, beta, mean, var)."""
    if isinstance(layer, nn.BatchNorm2d):
        return [layer.weight, layer.bias, layer.running_mean, layer.running_var]
    return [layer.weight] if layer.bias is None else [layer.weight, layer.bias]


def keras_layout(tensor: torch.Tensor, layer: nn.Module, spec: Spec, first: bool) -> torch.Tensor:
    """A weight as Keras holds it (the inverse of torch_layout, without slips): what lockstep records.
    `first`: the layer is the first Linear, after Flatten."""
    if isinstance(layer, nn.Conv2d):
        return tensor.permute(2, 3, 1, 0)  # (out, in, h, w) -> (h, w, in, out)
    if not isinstance(layer, nn.Linear) or tensor.dim() == 1:
        return tensor
    kernel = tensor.T
    if first:  # rows from (c, h, w) to (h, w, c) order
        height, width, channels = spec.feature_shape
        kernel = kernel.reshape(channels, height, width, -1).permute(1, 2, 0, 3)
    return kernel.reshape(-1, tensor.shape[0])


def torch_layout(array: np.ndarray, layer: nn.Module, spec: Spec, first: bool) -> np.ndarray:
    """A weight given in Keras layout, in the layer's own (with the layout slips of spec.ablate).
    `first`: the layer is the first Linear, after Flatten."""
    slips = spec.ablate
    if isinstance(layer, nn.Conv2d):
        if slips.conv_layout:
            return array.reshape(array.shape[::-1])
        # [conv-layout] Keras keeps a convolution kernel (h, w, in, out), nn.Conv2d (out, in, h, w)
        return array.transpose(3, 2, 0, 1)
    if not isinstance(layer, nn.Linear) or array.ndim == 1:
        return array
    if first and not slips.flatten_layout:
        height, width, channels = spec.feature_shape
        # [flatten-layout] Keras flattens (B, H, W, C) height, width, channel; nn.Flatten flattens
        # (B, C, H, W) channel, height, width: the first kernel's rows follow (one channel: no change)
        array = array.reshape(height, width, channels, -1).transpose(2, 0, 1, 3)
        array = array.reshape(spec.flat_dim, -1)
    # [weight-layout] Keras keeps a kernel (fan_in, fan_out), nn.Linear a weight (fan_out, fan_in)
    return array.reshape(array.shape[::-1]) if slips.weight_layout else array.T


@torch.no_grad()
def load_initial_weights(model: nn.Module, weights: list[np.ndarray], spec: Spec) -> None:
    """Load the arrays of shared.align.model_weights, given in Keras layout, in the model's dtype."""
    arrays, first = iter(weights), linear_layers(model)[0]
    for layer in weighted_layers(model):
        for tensor in layer_tensors(layer):
            array = torch_layout(next(arrays), layer, spec, layer is first)
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(array)))
    if next(arrays, None) is not None:
        raise ValueError("more shared weights than the model's layers hold")


def align(pipeline, spec: Spec, splits, seed: int) -> EpochOrders:
    """The shared weights and order, in place; the sampler that now serves the order."""
    load_initial_weights(pipeline.model, initial_weights(spec, seed), spec)
    sampler = EpochOrders(epoch_orders(len(splits.y_train), spec.train.epochs, seed))
    # the loader's BatchSampler draws its indices from here (a DataLoader's too: set on its
    # batch_sampler, which DataLoader, unlike its own attributes, lets change after it is built)
    pipeline.train_loader.batch_sampler.sampler = sampler
    return sampler
