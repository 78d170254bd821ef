"""`compare.py --ablate ID` on the PyTorch side: each bridge turned off, or slip made, on the BUILT
pipeline (torch_impl/ has no switch for them), as a user's port would differ."""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.transforms import v2

import torch_impl.train
from shared.spec import Spec
from torch_impl.augment import BatchRandomAffine
from torch_impl.model import KerasBatchNorm2d
from torch_parity.alignment import linear_layers


def training_transforms(loader) -> list:
    """The training loader's preprocessing stages: a BatchLoader's v2.Compose takes whole batches, a
    DataLoader's Dataset one sample at a time."""
    transform = loader.transform if hasattr(loader, "transform") else loader.dataset.transform
    return list(transform.transforms) if isinstance(transform, v2.Compose) else [transform]


def affine_settings(loader) -> v2.RandomAffine | None:
    """The v2.RandomAffine whose settings the training loader warps with (BatchRandomAffine's too)."""
    for t in training_transforms(loader):
        if isinstance(t, BatchRandomAffine):
            return t.transform
        if isinstance(t, v2.RandomAffine):
            return t
    return None


def apply_ablations(pipeline, spec: Spec) -> None:
    a, model = spec.ablate, pipeline.model
    # torch's own initializers, drawn from a generator of their own so that nothing else moves
    generator = torch.Generator().manual_seed(spec.train.seed)
    with torch.no_grad():
        for layer in (m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))):
            if (
                a.init_kernel
            ):  # the layers' default: kaiming_uniform_(a=sqrt(5)), U(+-1/sqrt(fan_in))
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
        for layer in linear_layers(model):
            if a.init_bias:
                bound = 1 / math.sqrt(layer.in_features)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    if a.augment_fill:  # RandomAffine's default fill=0: blended through a resampled mask
        settings = affine_settings(pipeline.train_loader)
        settings.fill, settings._fill = 0, v2._utils._setup_fill_arg(0)
    if a.adam_epsilon:  # stock Adam: the same arguments, without the keras_update step pre-hook
        optimizer = pipeline.optimizer
        pipeline.optimizer = type(optimizer)(model.parameters(), **optimizer.defaults)
    if a.reported_loss:  # the loop reports its last batch's loss, not the epoch's mean
        original = getattr(
            torch_impl.train.train_epoch, "__wrapped__", torch_impl.train.train_epoch
        )
        torch_impl.train.train_epoch = last_batch_loss(original, pipeline)
    for module in model.modules():
        if isinstance(module, nn.ZeroPad2d) and a.conv_padding:  # Conv2d(padding=1): all four sides
            module.padding = (1, 1, 1, 1)
        if isinstance(module, KerasBatchNorm2d):
            if a.batchnorm_momentum:  # Keras's momentum copied as it is: 0.99 on the batch
                module.momentum = spec.model.batchnorm_momentum
            if a.batchnorm_epsilon:  # BatchNorm2d's default eps
                module.eps = 1e-5
            if a.batchnorm_variance:  # stock BatchNorm2d: the unbiased running variance
                module.__class__ = nn.BatchNorm2d
    if a.flatten_order:  # channels last before Flatten (one channel, the MLP's: no change)
        for flatten in (m for m in model.modules() if isinstance(m, nn.Flatten)):
            flatten.register_forward_pre_hook(lambda module, args: (args[0].permute(0, 2, 3, 1),))


def last_batch_loss(train_epoch, pipeline):
    """train_epoch, reporting the loss of its last training batch (read by a hook on the loss)."""
    last = {}

    def remember(module, args, loss):
        if torch.is_grad_enabled():
            last["loss"] = loss.item()

    pipeline.loss_fn.register_forward_hook(remember)

    def slipped(*args, **kwargs):
        _, accuracy = train_epoch(*args, **kwargs)
        return last["loss"], accuracy

    slipped.__wrapped__ = train_epoch
    return slipped
