"""The MLP: Flatten -> [Linear -> activation -> Dropout] per hidden layer -> Linear to logits."""

from __future__ import annotations

from torch import nn

from shared.spec import Spec

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class MLP(nn.Module):
    """The spec's MLP; its Linear layers start from Keras's initializers, not torch's defaults."""

    def __init__(self, spec: Spec):
        super().__init__()
        fan_in = spec.input_dim
        layers: list[nn.Module] = [nn.Flatten()]  # (B, 1, 28, 28) -> (B, 784)
        for units in spec.model.hidden:
            layers += [
                nn.Linear(fan_in, units),
                ACTIVATIONS[spec.model.activation](),
                nn.Dropout(spec.model.dropout),
            ]
            fan_in = units
        layers.append(
            nn.Linear(fan_in, spec.data.num_classes)
        )  # logits: CrossEntropyLoss takes them
        self.layers = nn.Sequential(*layers)
        self.apply(init_like_keras)

    def forward(self, x):
        return self.layers(x)


def init_like_keras(module: nn.Module) -> None:
    """Keras's Dense initializers in place of torch's defaults (weights and biases U(+-1/sqrt(fan_in)))."""
    if isinstance(module, nn.Linear):
        # Keras's glorot_uniform is torch's xavier_uniform_: U(+-sqrt(6 / (fan_in + fan_out)))
        nn.init.xavier_uniform_(module.weight)  # [init-kernel] Keras's glorot_uniform
        nn.init.zeros_(module.bias)  # [init-bias] Keras's zeros


def build_model(spec: Spec) -> MLP:
    """The spec's MLP, Glorot-initialised like Keras's Dense."""
    return MLP(spec)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
