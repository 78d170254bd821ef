"""The MLP: Flatten -> [Linear -> activation -> Dropout] per hidden layer -> Linear to logits."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from shared.align import layer_sizes
from shared.spec import Spec

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
# Keras's glorot_uniform is torch's xavier_uniform_: U(+-sqrt(6 / (fan_in + fan_out))).
INITIALIZERS = {"glorot_uniform": nn.init.xavier_uniform_, "zeros": nn.init.zeros_}


class MLP(nn.Module):
    def __init__(self, spec: Spec):
        super().__init__()
        sizes = layer_sizes(spec)
        layers: list[nn.Module] = [nn.Flatten()]  # (B, 1, 28, 28) -> (B, 784)
        for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
            layers += [
                nn.Linear(fan_in, fan_out),
                ACTIVATIONS[spec.model.activation](),
                nn.Dropout(spec.model.dropout),
            ]
        layers.append(nn.Linear(sizes[-2], sizes[-1]))
        self.layers = nn.Sequential(*layers)
        self.reset_parameters(spec)

    def reset_parameters(self, spec: Spec) -> None:
        # The spec's initializers replace torch's defaults (weights and biases U(+-1/sqrt(fan_in))).
        for layer in self.linears():
            INITIALIZERS[spec.model.kernel_init](layer.weight)
            INITIALIZERS[spec.model.bias_init](layer.bias)

    def linears(self) -> list[nn.Linear]:
        return [m for m in self.layers if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def build_model(spec: Spec) -> MLP:
    return MLP(spec)


@torch.no_grad()
def load_initial_weights(model: MLP, weights: list[np.ndarray]) -> None:
    """Load [kernel, bias, ...] given in Keras layout (fan_in, fan_out)."""
    for layer, kernel, bias in zip(model.linears(), weights[::2], weights[1::2]):
        layer.weight.copy_(torch.from_numpy(kernel.T.copy()))  # nn.Linear keeps (fan_out, fan_in)
        layer.bias.copy_(torch.from_numpy(bias))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
