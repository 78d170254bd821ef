"""Lockstep on the built PyTorch pipeline, through PyTorch's own hooks: the shared draws go in, and
every training step is recorded as the loop ran it.

- the augmentation parameters: the warp's parameter seam (BatchRandomAffine.draw_params, or
  v2.RandomAffine.make_params on the classic path), in the epoch's order;
- the dropout masks: a forward hook on each nn.Dropout replaces its output by the input masked
  where the shared uniform number is below the layer's OWN rate, then scaled by 1 / (1 - rate);
- the records: forward pre-hooks and hooks on the training transforms (the raw batch and each
  stage), a forward pre-hook on the model (the batch it received), a forward hook on the loss (the
  logits, labels and loss the loop used), forward hooks on each convolution block's activation (its
  output), optimizer step pre- and post-hooks (gradients, parameters, BatchNorm's running statistics).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2

from shared.draws import LockstepDraws, fingerprint, order_digest, parameter_names
from shared.results import StepRecord
from shared.spec import Spec
from torch_impl.augment import BatchRandomAffine
from torch_parity.ablation import training_transforms
from torch_parity.alignment import (
    EpochOrders,
    keras_layout,
    layer_tensors,
    linear_layers,
    weighted_layers,
)

STAGES = {
    v2.ToDtype: "rescaled",
    BatchRandomAffine: "augmented",
    v2.RandomAffine: "augmented",
    v2.Normalize: "normalized",
}


def _keras_layout(images: torch.Tensor) -> np.ndarray:
    """A batch (B, C, H, W) as Keras holds it, (B, H, W, C); a sample (C, H, W) as a batch of one."""
    images = images.detach().cpu()
    return (images if images.dim() == 4 else images[None]).permute(0, 2, 3, 1).numpy()


class Lockstep:
    """The draws of one lockstep run, handed to the pipeline's layers, and the per-step records."""

    def __init__(self, spec: Spec, seed: int, pipeline, sampler: EpochOrders):
        self.draws, self.sampler = LockstepDraws(spec, seed), sampler
        self.model, self.records, self.spec = pipeline.model, [], spec
        self.layers, self.first_linear = weighted_layers(self.model), linear_layers(self.model)[0]
        self.names, self.state_names = parameter_names(spec)
        self.dropouts = [m for m in self.model.modules() if isinstance(m, nn.Dropout)]
        self.evaluation_modes: set[str] = set()
        self.epoch, self.cursor, self.step_in_epoch, self.in_step = -1, 0, 0, False
        self.raw: list[torch.Tensor] = []
        self.staged: dict[str, list[np.ndarray]] = {}
        for transform in training_transforms(pipeline.train_loader):
            if isinstance(transform, BatchRandomAffine):
                transform.draw_params = self.batch_params
            elif isinstance(transform, v2.RandomAffine):
                transform.make_params = self.sample_params
            transform.register_forward_hook(self.observe)
            if isinstance(transform, v2.ToDtype):
                transform.register_forward_pre_hook(self.observe_raw)
        self.model.register_forward_pre_hook(self.begin_step)
        for dropout in self.dropouts:
            dropout.register_forward_hook(self.shared_mask)
        modules = list(self.model.modules())
        blocks = [
            m for m, before in zip(modules[1:], modules) if isinstance(before, nn.BatchNorm2d)
        ]
        for index, block in enumerate(blocks, 1):  # each convolution block's activation
            block.register_forward_hook(self.block_output(f"block{index}"))
        pipeline.loss_fn.register_forward_hook(self.after_loss)
        pipeline.optimizer.register_step_pre_hook(self.before_update)
        pipeline.optimizer.register_step_post_hook(self.after_update)

    def _augment(self, size: int) -> np.ndarray:
        """The next `size` samples' augmentation parameters, in the epoch's order."""
        if self.sampler.epoch - 1 != self.epoch:  # the sampler began a new epoch
            self.epoch, self.cursor, self.step_in_epoch = self.sampler.epoch - 1, 0, 0
        params = self.draws.augment(self.epoch, self.cursor, size, self.sampler.orders.shape[1])
        self.cursor += size
        return params

    def batch_params(self, batch_size: int, height: int, width: int):
        params = torch.from_numpy(self._augment(batch_size))
        return params[:, 0], params[:, 1:3], params[:, 3]

    def sample_params(self, flat_inputs):
        angle, tx, ty, scale = self._augment(1)[0].tolist()
        return dict(angle=angle, translate=(int(tx), int(ty)), scale=scale, shear=(0.0, 0.0))

    def observe_raw(self, transform, args):
        self.raw.append(args[0])

    def observe(self, transform, args, output):
        name = STAGES.get(type(transform), type(transform).__name__)
        self.staged.setdefault(name, []).append(_keras_layout(output))

    def begin_step(self, model, args):
        if not torch.is_grad_enabled():  # an evaluation: its mode is recorded, nothing else
            self.evaluation_modes.add("training" if model.training else "inference")
            return
        if not model.training:
            return
        if self.sampler.epoch - 1 != self.epoch:  # no augmentation drew for this epoch
            self.epoch, self.cursor, self.step_in_epoch = self.sampler.epoch - 1, 0, 0
        images = args[0]
        stages = {name: fingerprint(np.concatenate(x)) for name, x in self.staged.items()}
        stages["batch"] = fingerprint(_keras_layout(images))
        self.step = StepRecord(self.epoch + 1, len(self.records) + 1, "", stages)
        self.staged, self.in_step = {}, True

    def block_output(self, name: str):
        def record(module, args, output):
            if self.in_step:
                self.step.stages[name] = fingerprint(_keras_layout(output))

        return record

    def shared_mask(self, dropout: nn.Dropout, args, output):
        if not self.in_step:
            return None
        x = args[0]
        index = self.dropouts.index(dropout)
        numbers = self.draws.uniforms(self.epoch, self.step_in_epoch, index, tuple(x.shape))
        keep = torch.from_numpy(numbers >= dropout.p).to(x.device, x.dtype)
        # the mask, then the 1 / (1 - p) scale, in the order the Keras side multiplies them
        return x * keep * (1.0 / (1.0 - dropout.p))

    def after_loss(self, loss_fn, args, loss):
        if not self.in_step:
            return
        logits, labels = args[0], args[1]
        raw = torch.cat([r if r.dim() == 4 else r[None] for r in self.raw])
        self.raw = []
        self.step.order = order_digest(_keras_layout(raw), labels.cpu().numpy())
        self.step.stages["logits"] = fingerprint(logits.detach().cpu())
        self.step.stages["loss"] = [loss.item(), abs(loss.item())]

    def before_update(self, optimizer, args, kwargs):
        if not self.in_step:
            return
        for name, grad in zip(self.names, self._keras_layout_tensors(grad=True)):
            self.step.stages[f"grad/{name}"] = fingerprint(grad.cpu())

    @torch.no_grad()
    def after_update(self, optimizer, args, kwargs):
        if not self.in_step:
            return
        for name, value in zip(self.names, self._keras_layout_tensors(grad=False)):
            self.step.stages[f"param/{name}"] = fingerprint(value.cpu())
        states = [
            t for m in self.layers if isinstance(m, nn.BatchNorm2d) for t in layer_tensors(m)[2:]
        ]
        for name, value in zip(self.state_names, states, strict=True):
            self.step.stages[f"state/{name}"] = fingerprint(value.cpu())
        self.records.append(self.step)
        self.in_step, self.step_in_epoch = False, self.step_in_epoch + 1

    def _keras_layout_tensors(self, grad: bool) -> list[torch.Tensor]:
        """The trainable weights (or their gradients) in the order and layout Keras holds them."""
        return [
            keras_layout(p.grad if grad else p, layer, self.spec, layer is self.first_linear)
            for layer in self.layers
            for p in layer.parameters(recurse=False)
        ]

    def structure(self) -> dict[str, str]:
        """What the instruments found of the model's structure, for the probe's comparison."""
        modes = " and ".join(sorted(self.evaluation_modes)) or "none"
        return {"dropout_layers": str(len(self.dropouts)), "evaluation_mode": modes}
