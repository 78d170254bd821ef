"""`compare.py --ablate ID` on the Keras side: each bridge turned off, or slip made, on the BUILT
pipeline (keras_impl/ has no switch for them), as a user's port would differ. Layers are swapped with
`keras.models.clone_model(clone_function=...)`, every other layer kept as it is."""

from __future__ import annotations

import keras
import numpy as np

from keras_impl.augment import RandomAffine
from keras_parity.alignment import served_orders
from shared.spec import Spec


def keras_augmentation(spec: Spec) -> keras.Sequential:
    """Keras's own augmentation layers and conventions, where a port would reach for them."""
    a = spec.augment
    # float32: on TensorFlow, RandomRotation fails on float64 images (a float32 constant)
    options = {"fill_mode": "constant", "seed": spec.train.seed, "dtype": "float32"}
    return keras.Sequential(
        [
            keras.layers.RandomRotation(a.degrees / 360, **options),
            keras.layers.RandomTranslation(a.translate, a.translate, **options),
            keras.layers.RandomZoom((a.scale[0] - 1, a.scale[1] - 1), **options),
        ],
        name="augmented",
    )


def apply_ablations(pipeline, spec: Spec) -> None:
    a, model = spec.ablate, pipeline.model
    # Python floats where the pipeline gives np.float64: on TensorFlow, float32 tensors first
    constant = float if a.float64_constants else np.float64
    std = constant(spec.data.std)
    variance = std if a.normalize_std else constant(np.dtype(spec.train.dtype).type(std)) ** 2

    def swap(layer):
        if isinstance(layer, RandomAffine) and a.augment_affine:
            return keras_augmentation(spec)
        if isinstance(layer, keras.layers.Normalization) and (
            a.normalize_std or a.float64_constants
        ):
            mean = constant(np.ravel(layer.input_mean)[0])
            return keras.layers.Normalization(mean=mean, variance=variance, name=layer.name)
        if isinstance(layer, keras.layers.Rescaling) and a.float64_constants:
            return keras.layers.Rescaling(float(layer.scale), name=layer.name)
        return layer

    if a.augment_affine or a.normalize_std or a.float64_constants:
        model = keras.models.clone_model(model, clone_function=swap, recursive=True)
    if model is not pipeline.model or a.loss_from_logits or a.float64_constants:
        optimizer = pipeline.model.optimizer
        if a.float64_constants:  # betas as Python floats
            config = {**optimizer.get_config(), "beta_1": float(spec.train.beta1)}
            optimizer = type(optimizer).from_config({**config, "beta_2": float(spec.train.beta2)})
        loss = pipeline.model.loss
        if a.loss_from_logits:  # the default from_logits=False: the logits taken as probabilities
            loss = type(loss)()
        model.compile(
            optimizer=optimizer,
            loss=loss,
            metrics=["accuracy"],
            steps_per_execution=pipeline.model.steps_per_execution,
        )
        pipeline.model = model
    epochs = pipeline.train_data["x"]
    if a.shuffle_batches:
        epochs.orders = served_orders(epochs.orders, spec)
    if a.fit_shuffle:  # fit's own shuffle: on TensorFlow, the first epoch's order every epoch
        images, labels = epochs.images, epochs.labels
        batch_size = spec.train.batch_size
        pipeline.train_data = {"x": images, "y": labels, "batch_size": batch_size, "shuffle": True}
