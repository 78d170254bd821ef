"""Lockstep: the shared draws go in through the pipeline's seams, and every step is recorded.

fit calls the Lockstep callback before and after each training step (compile with
steps_per_execution=1). Before the step it sets the augmentation parameters (RandomAffine's `given`)
and the dropout masks (Dropout's `keep`), and fingerprints the step's stages by running the model's
own layers on the batch (staged_step): the preprocessing layers one at a time, the forward pass and
its gradients.
After the step it records the loss fit trained on (BatchLoss) and the updated parameters.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_impl.augment import RandomAffine
from keras_impl.model import Dropout
from shared.draws import LockstepDraws, fingerprint, order_digest, parameter_names
from shared.results import StepRecord
from shared.spec import Spec

STAGES = {
    keras.layers.Rescaling: "rescaled",
    RandomAffine: "augmented",
    keras.layers.Normalization: "normalized",
}


class BatchLoss(keras.metrics.Metric):
    """The loss of the last training batch, from the logits fit trained on (fit's own `loss` is the
    running mean over the epoch)."""

    def __init__(self, loss_fn, name="batch_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.loss_fn = loss_fn
        self.value = self.add_variable(shape=(), initializer="zeros", name="value")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.value.assign(ops.cast(self.loss_fn(y_true, y_pred), self.value.dtype))

    def result(self):
        return ops.convert_to_tensor(self.value)


def staged_step(model: keras.Model, loss_fn):
    """A function (images, labels) -> (each preprocessing stage's output, logits, loss, gradients of
    the trainable variables) of one training forward pass, by the model's own layers. Keras has no
    backend-neutral gradient call: each backend's own, as Keras's custom-training-loop guides do."""
    preprocessing = model.get_layer("preprocessing").layers
    backend = keras.backend.backend()

    def stages(images):
        outputs, x = [], images
        for layer in preprocessing:
            x = layer(x, training=True)
            outputs.append(x)
        return outputs

    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)  # eagerly, a step's ops cost 60 ms here; traced, 5
        def step(images, labels):
            with tf.GradientTape() as tape:
                logits = model(images, training=True)
                loss = loss_fn(labels, logits)
            return stages(images), logits, loss, tape.gradient(loss, model.trainable_variables)

        return step
    if backend == "jax":
        import jax

        trainable, non_trainable = model.trainable_variables, model.non_trainable_variables

        @jax.jit  # eagerly, every op of every step is dispatched (and first compiled) on its own
        def compute(trainable_values, non_trainable_values, images, labels):
            def forward(values):
                logits, _ = model.stateless_call(
                    values, non_trainable_values, images, training=True
                )
                return loss_fn(labels, logits), logits

            (loss, logits), grads = jax.value_and_grad(forward, has_aux=True)(trainable_values)
            # traced: the variables' values (the given draws) come in as arguments
            mapping = [*zip(trainable, trainable_values), *zip(non_trainable, non_trainable_values)]
            with keras.StatelessScope(state_mapping=mapping):
                outputs = stages(images)
            return outputs, logits, loss, grads

        def step(images, labels):
            values = [v.value for v in trainable], [v.value for v in non_trainable]
            return compute(*values, images, labels)

        return step
    import torch

    def step(images, labels):
        logits = model(images, training=True)
        loss = loss_fn(labels, logits)
        variables = [v.value for v in model.trainable_variables]
        return stages(images), logits, loss, torch.autograd.grad(loss, variables)

    return step


def _numpy(tensor) -> np.ndarray:
    return ops.convert_to_numpy(tensor)


class Lockstep(keras.callbacks.Callback):
    """The draws of one lockstep run, fed to the model before each step, and the per-step records."""

    def __init__(self, spec: Spec, seed: int, orders: np.ndarray, images, labels, loss_fn):
        super().__init__()
        self.draws, self.orders = LockstepDraws(spec, seed), orders
        self.images, self.labels, self.loss_fn = images, labels, loss_fn
        self.batch_size, self.names = spec.train.batch_size, parameter_names(spec)
        self.records: list[StepRecord] = []
        self.step_function = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        start, n = batch * self.batch_size, self.orders.shape[1]
        ids = self.orders[self.epoch, start : start + self.batch_size]
        size = len(ids)
        preprocessing = self.model.get_layer("preprocessing")
        for layer in preprocessing.layers:
            if isinstance(layer, RandomAffine):
                params = self.draws.augment(self.epoch, start, size, n)
                layer.given.assign(_padded(params, self.batch_size, layer.given.dtype))
        dropouts = [layer for layer in self.model.layers if isinstance(layer, Dropout)]
        for layer, keep in zip(dropouts, self.draws.keep(self.epoch, batch, size), strict=True):
            layer.keep.assign(_padded(keep, self.batch_size, layer.keep.dtype))

        if self.step_function is None:
            self.step_function = staged_step(self.model, self.loss_fn)
        images, labels = self.images[ids], self.labels[ids]
        outputs, logits, _, grads = self.step_function(images, labels)
        stages = {
            STAGES.get(type(layer), layer.name): fingerprint(_numpy(x))
            for layer, x in zip(preprocessing.layers, outputs, strict=True)
        }
        stages["batch"] = fingerprint(_numpy(outputs[-1]))
        stages["logits"] = fingerprint(_numpy(logits))
        stages["loss"] = []  # after the step: the loss fit trained on
        for name, grad in zip(self.names, grads, strict=True):
            stages[f"grad/{name}"] = fingerprint(_numpy(grad))
        digest = order_digest(ids, labels)
        self.step = StepRecord(self.epoch + 1, len(self.records) + 1, digest, stages)

    def on_train_batch_end(self, batch, logs=None):
        loss = float(logs["batch_loss"])
        self.step.stages["loss"] = [loss, abs(loss)]
        for name, variable in zip(self.names, self.model.trainable_variables, strict=True):
            self.step.stages[f"param/{name}"] = fingerprint(_numpy(variable.value))
        self.records.append(self.step)


def _padded(values: np.ndarray, rows: int, dtype) -> np.ndarray:
    """`values` padded with ones to `rows` rows: the variables hold a full batch, a partial last
    batch uses its first rows."""
    out = np.ones((rows, *values.shape[1:]), dtype=np.float64)
    out[: len(values)] = values
    return out.astype(dtype)
