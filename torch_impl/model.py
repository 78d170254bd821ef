"""The MLP: Flatten -> [Linear -> activation -> Dropout] per hidden layer -> Linear to logits."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from shared.spec import Spec

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class Dropout(nn.Dropout):
    """nn.Dropout that, in lockstep, applies the keep-mask it is given (shared/draws.py) instead of
    drawing one. Used in every mode, so that lockstep checks the layer every run trains with."""

    keep: torch.Tensor | None = None  # (B, units) of 1.0 and 0.0, set before each training step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.keep is None:
            return super().forward(x)
        # the mask, then the 1 / (1 - p) scale, in the order Keras's side multiplies them
        return x * self.keep * (1.0 / (1.0 - self.p))


class MLP(nn.Module):
    """The spec's MLP; its Linear layers start from Keras's initializers, not torch's defaults."""

    def __init__(self, spec: Spec):
        super().__init__()
        data, model = spec.data, spec.model
        self.ablate = spec.ablate  # ablations only (spec.toml [ablate])
        fan_in = spec.input_dim
        layers: list[nn.Module] = [nn.Flatten()]  # (B, 1, 28, 28) -> (B, 784)
        for units in model.hidden:
            layers += [
                nn.Linear(fan_in, units),
                ACTIVATIONS[model.activation](),
                Dropout(model.dropout),
            ]
            fan_in = units
        layers.append(nn.Linear(fan_in, data.num_classes))  # logits: CrossEntropyLoss takes logits
        self.layers = nn.Sequential(*layers)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        # Keras's initializers replace torch's defaults (weights and biases U(+-1/sqrt(fan_in))).
        if not isinstance(module, nn.Linear):
            return
        if not self.ablate.init_kernel:
            # Keras's glorot_uniform is torch's xavier_uniform_: U(+-sqrt(6 / (fan_in + fan_out)))
            nn.init.xavier_uniform_(module.weight)  # [init-kernel] Keras's glorot_uniform
        if not self.ablate.init_bias:
            nn.init.zeros_(module.bias)  # [init-bias] Keras's zeros

    def linears(self) -> list[nn.Linear]:
        return [m for m in self.layers if isinstance(m, nn.Linear)]

    def dropouts(self) -> list[Dropout]:
        return [m for m in self.layers if isinstance(m, Dropout)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ablate.flatten_order:  # a null control, for ablations: channels last, then Flatten
            x = x.permute(0, 2, 3, 1)
        return self.layers(x)


def build_model(spec: Spec) -> MLP:
    """The spec's MLP, Glorot-initialised like Keras's Dense."""
    return MLP(spec)


@torch.no_grad()
def load_initial_weights(model: MLP, weights: list[np.ndarray]) -> None:
    """Load [kernel, bias, ...] given in Keras layout (fan_in, fan_out), in the model's dtype."""
    for layer, kernel, bias in zip(model.linears(), weights[::2], weights[1::2]):
        # [weight-layout] Keras keeps a kernel (fan_in, fan_out), nn.Linear a weight (fan_out, fan_in)
        layout = kernel.reshape(kernel.shape[::-1]) if model.ablate.weight_layout else kernel.T
        layer.weight.copy_(torch.from_numpy(layout.copy()))
        layer.bias.copy_(torch.from_numpy(bias))


def parameters_in_keras_layout(model: MLP) -> list[torch.Tensor]:
    """[kernel_0, bias_0, ...] as Keras holds them: each weight transposed to (fan_in, fan_out)."""
    return [t for layer in model.linears() for t in (layer.weight.T, layer.bias)]


def gradients_in_keras_layout(model: MLP) -> list[torch.Tensor]:
    return [t for layer in model.linears() for t in (layer.weight.grad.T, layer.bias.grad)]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
