"""Evaluation: mean loss, accuracy and the confusion matrix, in inference mode."""

from __future__ import annotations

import keras
import numpy as np


def evaluate(model: keras.Model, dataset, labels: np.ndarray, num_classes: int = 10):
    """(loss, accuracy, confusion matrix [true][predicted]) over every sample of the dataset, whose
    labels, in order, are `labels`."""
    loss, accuracy = model.evaluate(dataset, verbose=0)  # training=False: dropout off
    predicted = model.predict(dataset, verbose=0).argmax(axis=1)
    pairs = np.asarray(labels, dtype=np.int64) * num_classes + predicted
    confusion = np.bincount(pairs, minlength=num_classes**2)
    return float(loss), float(accuracy), confusion.reshape(num_classes, num_classes).tolist()
