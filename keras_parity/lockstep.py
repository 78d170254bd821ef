"""Lockstep on the built Keras pipeline: the shared draws go in, and every training step is recorded
as fit ran it.

`keras.models.clone_model(clone_function=...)` swaps layers for instrumented twins and keeps every
other layer (and its weights) as it is: each Dropout for a `SharedMaskDropout` that keeps a unit where
the shared uniform number is at least the layer's OWN rate; the RandomAffine for a twin whose parameter
seam (draw_params) reads the shared parameters; each preprocessing layer for a `Recorded` wrapper that
keeps what it received and returned, inside fit's own training step, as does each convolution
block's Activation. A `StepRecorder` metric keeps
the labels, logits and loss fit trained on, and a twin of the optimizer the gradients it was handed.
The `Lockstep` callback sets the draws before each step and reads the records after it.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_impl.augment import RandomAffine
from keras_parity.alignment import layers_of
from shared.draws import LockstepDraws, fingerprint, order_digest, parameter_names
from shared.results import StepRecord
from shared.spec import Spec

STAGES = {
    keras.layers.Rescaling: "rescaled",
    RandomAffine: "augmented",
    keras.layers.Normalization: "normalized",
}


def _record_variable(layer: keras.layers.Layer, shape, name: str, dtype=None):
    return layer.add_weight(
        shape=shape, initializer="zeros", trainable=False, name=name, dtype=dtype
    )


def _write(variable, values) -> None:
    """Write a batch into the first rows of a variable that holds a full batch."""
    values = ops.cast(values, variable.dtype)
    variable.assign(ops.slice_update(variable.value, (0,) * len(variable.shape), values))


class SharedMaskDropout(keras.layers.Layer):
    """Dropout with the mask from `numbers` (B, units), set before each step: a unit is kept where its
    number is >= the layer's rate, and scaled by 1 / (1 - rate), as Keras's Dropout scales. It tells
    `watch` the mode it is called in outside a training step (evaluation's, when fit traces it)."""

    def __init__(self, rate: float, batch_size: int, watch=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.batch_size, self.watch = float(rate), batch_size, watch

    def build(self, input_shape):
        self.numbers = _record_variable(self, (self.batch_size, input_shape[-1]), "numbers")

    def call(self, inputs, training=False):
        if self.watch is not None and not self.watch.in_step:
            self.watch.evaluation_modes.add("training" if training else "inference")
        if not training:
            return inputs
        numbers = ops.convert_to_tensor(self.numbers)[: ops.shape(inputs)[0]]
        keep = ops.cast(numbers >= self.rate, inputs.dtype)
        return inputs * keep * (1.0 / (1.0 - self.rate))

    def compute_output_shape(self, input_shape):
        return input_shape


class GivenAffine(RandomAffine):
    """The pipeline's RandomAffine, its parameters read from `params` (B, 4), set before each step."""

    def __init__(self, batch_size: int, **config):
        super().__init__(**config)
        self.batch_size = batch_size

    def build(self, input_shape):
        self.params = _record_variable(self, (self.batch_size, 4), "params")

    def draw_params(self, batch_size, height: int, width: int):
        params = ops.convert_to_tensor(self.params)[:batch_size]
        return params[:, 0], params[:, 1:3], params[:, 3]


class Recorded(keras.layers.Layer):
    """A layer that keeps, in training, its output (and with `inputs`, its input) of the last step."""

    def __init__(self, layer, batch_size: int, inputs: bool = False, watch=None, **kwargs):
        super().__init__(name=f"recorded_{layer.name}", **kwargs)
        self.layer, self.batch_size, self.keep_inputs = layer, batch_size, inputs
        self.watch = watch  # the first layer's: the mode of every call outside a training step

    def build(self, input_shape):
        self.layer.build(input_shape)
        shape = (self.batch_size, *input_shape[1:])
        self.output_record = _record_variable(self, shape, "output")
        if self.keep_inputs:
            self.input_record = _record_variable(self, shape, "input")
            self.count = _record_variable(self, (), "count", dtype="int32")

    def call(self, inputs, training=False):
        if self.watch is not None and not self.watch.in_step:
            self.watch.evaluation_modes.add("training" if training else "inference")
        outputs = self.layer(inputs, training=training)
        if training:
            _write(self.output_record, outputs)
            if self.keep_inputs:
                _write(self.input_record, inputs)
                self.count.assign(ops.shape(inputs)[0])
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape


class StepRecorder(keras.metrics.Metric):
    """The labels, logits and loss of the last training batch, as fit computed them."""

    def __init__(self, loss_fn, batch_size: int, classes: int, name="step_recorder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.loss_fn = loss_fn
        self.loss = self.add_variable(shape=(), initializer="zeros", name="loss")
        self.labels = self.add_variable(shape=(batch_size,), initializer="zeros", name="labels")
        self.logits = self.add_variable(
            shape=(batch_size, classes), initializer="zeros", name="logits"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.loss.assign(ops.cast(self.loss_fn(y_true, y_pred), self.loss.dtype))
        _write(self.labels, ops.reshape(y_true, (-1,)))
        _write(self.logits, y_pred)

    def result(self):
        return ops.convert_to_tensor(self.loss)


def recording_optimizer(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """A twin of the compiled optimizer, of its class and config, that also keeps the gradients fit
    hands it at each step (in optimizer variables, which every backend's step carries along)."""

    class Recording(type(optimizer)):
        def build(self, variables):
            super().build(variables)
            self.gradients = [self.add_variable_from_reference(v, "gradient") for v in variables]

        def apply(self, grads, trainable_variables=None):
            result = super().apply(grads, trainable_variables)
            for variable, grad in zip(self.gradients, grads, strict=True):
                variable.assign(grad)
            return result

    return Recording.from_config(optimizer.get_config())


def instrumented_model(model: keras.Model, batch_size: int, watch=None) -> keras.Model:
    """A clone of `model` sharing its layers and weights, with the twins in place (module doc)."""
    preprocessing = [
        layer for outer in model.layers if outer.name == "preprocessing" for layer in outer.layers
    ]
    first = next(iter(layers_of(model)))

    def twin(layer):
        if isinstance(layer, keras.layers.Dropout):
            return SharedMaskDropout(layer.rate, batch_size, watch, name=layer.name)
        is_first = layer is first
        if isinstance(layer, keras.layers.Activation):  # a convolution block's output
            return Recorded(layer, batch_size)
        if not (layer in preprocessing or is_first):
            return layer
        if isinstance(layer, RandomAffine):
            # its settings read, not get_config(): serializing a layer imports TensorFlow on every backend
            settings = ("degrees", "translate", "scale", "interpolation", "fill", "seed", "name")
            layer = GivenAffine(batch_size, **{key: getattr(layer, key) for key in settings})
        return Recorded(layer, batch_size, inputs=is_first, watch=watch if is_first else None)

    return keras.models.clone_model(model, clone_function=twin, recursive=True)


class Lockstep(keras.callbacks.Callback):
    """The draws of one lockstep run, set before each step, and the per-step records."""

    def __init__(self, spec: Spec, seed: int, pipeline):
        super().__init__()
        self.draws, self.batch_size = LockstepDraws(spec, seed), spec.train.batch_size
        self.records: list[StepRecord] = []
        self.in_step, self.evaluation_modes = False, set()
        original = pipeline.model
        model = instrumented_model(original, self.batch_size, watch=self)
        self.recorder = StepRecorder(original.loss, self.batch_size, spec.data.num_classes)
        model.compile(
            optimizer=recording_optimizer(original.optimizer),
            loss=original.loss,
            metrics=["accuracy", self.recorder],
            steps_per_execution=1,  # the draws of each step are set before it
        )
        pipeline.model = model
        pipeline.train_data.setdefault("callbacks", []).append(self)
        epochs = pipeline.train_data["x"]
        self.n = epochs.orders.shape[1] if hasattr(epochs, "orders") else len(epochs)
        self.layers = list(layers_of(model))
        self.dropouts = [layer for layer in self.layers if isinstance(layer, SharedMaskDropout)]
        self.recorded = [layer for layer in self.layers if isinstance(layer, Recorded)]
        inner = [getattr(layer, "layer", layer) for layer in self.layers]
        self.affines = [layer for layer in inner if isinstance(layer, GivenAffine)]
        self.names, self.state_names = parameter_names(spec)
        batchnorms = [
            layer for layer in self.layers if isinstance(layer, keras.layers.BatchNormalization)
        ]
        self.states = [
            v for layer in batchnorms for v in (layer.moving_mean, layer.moving_variance)
        ]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.model  # noqa: B018 (on JAX, reading the model brings fit's state back to the variables)
        self.in_step = True
        start = batch * self.batch_size
        size = min(self.batch_size, self.n - start)
        for layer in self.affines:
            params = self.draws.augment(self.epoch, start, size, self.n)
            layer.params.assign(_padded(params, self.batch_size, layer.params.dtype))
        for index, layer in enumerate(self.dropouts):
            units = layer.numbers.shape[1]
            numbers = self.draws.uniforms(self.epoch, batch, index, (size, units))
            layer.numbers.assign(_padded(numbers, self.batch_size, layer.numbers.dtype))

    def on_train_batch_end(self, batch, logs=None):
        model = self.model  # on JAX: fit's state back in the variables
        self.in_step = False
        first = next(layer for layer in self.recorded if layer.keep_inputs)
        count = int(ops.convert_to_numpy(first.count))
        served = ops.convert_to_numpy(first.input_record)[:count]
        labels = ops.convert_to_numpy(self.recorder.labels)[:count].astype(np.int64)
        stages = {}
        blocks = [r for r in self.recorded if isinstance(r.layer, keras.layers.Activation)]
        preprocessing = [r for r in self.recorded if r not in blocks]
        for layer in preprocessing:
            name = next((n for kind, n in STAGES.items() if isinstance(layer.layer, kind)), None)
            stages[name or layer.layer.name] = fingerprint(
                ops.convert_to_numpy(layer.output_record)[:count]
            )
        stages["batch"] = fingerprint(ops.convert_to_numpy(preprocessing[-1].output_record)[:count])
        for index, layer in enumerate(blocks, 1):
            stages[f"block{index}"] = fingerprint(ops.convert_to_numpy(layer.output_record)[:count])
        stages["logits"] = fingerprint(ops.convert_to_numpy(self.recorder.logits)[:count])
        loss = float(ops.convert_to_numpy(self.recorder.loss))
        stages["loss"] = [loss, abs(loss)]
        for name, grad in zip(self.names, model.optimizer.gradients, strict=True):
            stages[f"grad/{name}"] = fingerprint(ops.convert_to_numpy(grad))
        for name, variable in zip(self.names, model.trainable_variables, strict=True):
            stages[f"param/{name}"] = fingerprint(ops.convert_to_numpy(variable.value))
        for name, variable in zip(self.state_names, self.states, strict=True):
            stages[f"state/{name}"] = fingerprint(ops.convert_to_numpy(variable.value))
        digest = order_digest(served, labels)
        self.records.append(StepRecord(self.epoch + 1, len(self.records) + 1, digest, stages))

    def structure(self) -> dict[str, str]:
        """What the instruments found of the model's structure, for the probe's comparison."""
        # the modes the dropout layers were called in outside the training steps: when fit, evaluate
        # and predict trace their steps (and when Keras builds the model, symbolically)
        modes = " and ".join(sorted(self.evaluation_modes)) or "none"
        return {"dropout_layers": str(len(self.dropouts)), "evaluation_mode": modes}


def _padded(values: np.ndarray, rows: int, dtype) -> np.ndarray:
    """`values` padded with ones to `rows` rows: the variables hold a full batch, a partial last
    batch uses its first rows."""
    out = np.ones((rows, *values.shape[1:]), dtype=np.float64)
    out[: len(values)] = values
    return out.astype(dtype)
