"""Evaluation: mean loss, accuracy and the confusion matrix, in inference mode."""

from __future__ import annotations

import keras
import numpy as np


def evaluate(model: keras.Model, dataset, num_classes: int = 10):
    """(loss, accuracy, confusion matrix [true][predicted]) over every sample of the dataset."""
    loss, accuracy = model.evaluate(dataset, verbose=0)  # training=False: dropout off
    labels = np.concatenate([y for _, y in dataset.as_numpy_iterator()])
    predicted = model.predict(dataset, verbose=0).argmax(axis=1)
    confusion = np.bincount(labels * num_classes + predicted, minlength=num_classes**2)
    return float(loss), float(accuracy), confusion.reshape(num_classes, num_classes).tolist()
