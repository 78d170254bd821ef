"""Six classic porting slips, one per pair, each on the line marked "the slip". Each pair's Keras
builder is the correct one; `mnist-parity pair` names the rung and the layer where each first shows
(docs/pair.md).

    mnist-parity pair --keras examples.pairs.slips:keras_mlp --torch examples.pairs.slips:square_transpose
"""

import torch
from torch import nn

from examples.pairs import small_cnn, small_mlp

keras_mlp = small_mlp.keras_model
keras_cnn = small_cnn.keras_model


def square_transpose(keras_weights):
    """A Dense kernel loaded without the transpose where the layer is square (64 x 64): no shape
    error warns."""
    return small_mlp.torch_model(keras_weights, transpose_square=False)  # the slip


def flatten_order(keras_weights):
    """The first Dense kernel after a convolution transposed, its rows left in Keras's (h, w, c)
    flatten order."""
    return small_cnn.torch_model_loading(keras_weights, reorder_rows=False)  # the slip


def batchnorm_momentum():
    """Keras's BatchNormalization momentum (0.9) copied as it is into PyTorch's."""
    return small_cnn.torch_model(momentum=0.9)  # the slip: torch's momentum is 1 - Keras's


def same_padding():
    """Keras's padding="same" with stride 2 ported as padding=1, which pads all four sides."""
    return small_cnn.torch_model(padding=(1, 1, 1, 1))  # the slip: TensorFlow pads (0, 1, 0, 1)


def keras_softmax():
    """A softmax inside the Keras model, with the tool's from-logits loss."""
    return keras_cnn(softmax=True)  # the slip


def adam_epsilon():
    """PyTorch's stock Adam with Keras's epsilon copied: torch adds it after the bias correction."""
    model = small_cnn.torch_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)  # the slip
    return model, optimizer, nn.CrossEntropyLoss()
