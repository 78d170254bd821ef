"""A hand-written MLP port whose PyTorch builder loads the Keras weights itself, as a port does: the
tool hands it `keras_weights` (the Keras layers' arrays, in order) and checks what it loaded.

    mnist-parity pair --keras examples.pairs.small_mlp:keras_model --torch examples.pairs.small_mlp:torch_model
"""

import keras
import torch
from torch import nn


def keras_model():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu", name="hidden1"),
            keras.layers.Dense(64, activation="relu", name="hidden2"),  # square: 64 x 64
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10, name="logits"),
        ]
    )


def torch_model(keras_weights, transpose_square=True):
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 64),
        nn.ReLU(),
        nn.Linear(64, 64),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(64, 10),
    )
    kernel1, bias1, kernel2, bias2, kernel3, bias3 = map(torch.from_numpy, keras_weights)
    with torch.no_grad():
        model[1].weight.copy_(kernel1.T)  # Keras keeps a kernel (in, out), nn.Linear (out, in)
        model[1].bias.copy_(bias1)
        model[3].weight.copy_(kernel2.T if transpose_square else kernel2)
        model[3].bias.copy_(bias2)
        model[6].weight.copy_(kernel3.T)
        model[6].bias.copy_(bias3)
    return model
