"""A hand-written CNN port: two convolutions (the second "same" with stride 2), BatchNorm, max-pooling,
dropout. Its PyTorch side bridges each difference on the marked line; the slip modules call these
builders with one bridge undone.

    mnist-parity pair --keras examples.pairs.small_cnn:keras_model --torch examples.pairs.small_cnn:torch_model
"""

import keras
import torch
from torch import nn

from torch_impl.model import KerasBatchNorm2d


def keras_model(softmax=False):
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv1"),
            keras.layers.BatchNormalization(momentum=0.9, name="batchnorm1"),
            keras.layers.Activation("relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(16, 3, strides=2, padding="same", name="conv2"),
            keras.layers.Activation("relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu", name="dense"),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(10, activation="softmax" if softmax else None, name="logits"),
        ]
    )


def torch_model(momentum=0.1, padding=(0, 1, 0, 1)):
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding="same", bias=False),
        # Keras's momentum 0.9 weighs the running value, torch's the batch: 1 - 0.9; Keras's
        # epsilon 1e-3; Keras keeps the biased running variance (KerasBatchNorm2d)
        KerasBatchNorm2d(8, momentum=momentum, eps=1e-3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        # TensorFlow's "same" with stride 2 pads the odd row and column at the bottom and right only
        nn.ZeroPad2d(padding),
        nn.Conv2d(8, 16, 3, stride=2),
        nn.ReLU(),
        nn.Flatten(),  # (C, H, W) order: the tool reorders the Keras kernel's rows
        nn.Linear(16 * 7 * 7, 32),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(32, 10),
    )


def torch_model_loading(keras_weights, reorder_rows=True):
    """The same model, loading the Keras weights itself."""
    model = torch_model()
    conv1, gamma, beta, mean, variance, conv2, bias2, dense, bias, logits, logits_bias = map(
        torch.from_numpy, keras_weights
    )
    if reorder_rows:  # Keras flattens (h, w, c), nn.Flatten (c, h, w)
        dense = dense.reshape(7, 7, 16, 32).permute(2, 0, 1, 3).reshape(784, 32)
    with torch.no_grad():
        model[0].weight.copy_(conv1.permute(3, 2, 0, 1))  # (h, w, in, out) to (out, in, h, w)
        for tensor, value in zip(model[1].parameters(), (gamma, beta)):
            tensor.copy_(value)
        model[1].running_mean.copy_(mean)
        model[1].running_var.copy_(variance)
        model[5].weight.copy_(conv2.permute(3, 2, 0, 1))
        model[5].bias.copy_(bias2)
        model[8].weight.copy_(dense.T)
        model[8].bias.copy_(bias)
        model[11].weight.copy_(logits.T)
        model[11].bias.copy_(logits_bias)
    return model
