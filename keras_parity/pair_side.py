"""`python -m keras_parity.pair_side`: the Keras half of `mnist-parity pair` (parity/pair.py). It
builds the user's model, describes its layers and settings, and writes its initial weights, the input
batch, every weighted layer's output in inference mode, and each training step's loss, gradients,
weights and running statistics, with the dropout masks drawn from shared numbers
(shared/pairing.py). Instruments attach from outside: `clone_model` swaps each Dropout for a twin that
takes the shared numbers against its OWN rate, a twin optimizer keeps the gradients."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import keras
import numpy as np

from keras_parity.alignment import layers_of
from keras_parity.lockstep import recording_optimizer
from shared import cli
from shared.draws import fingerprint
from shared.exit_codes import EXIT_PASS, EXIT_USAGE
from shared.pairing import (
    STATES,
    SUPPORTED,
    PairUsageError,
    call_builder,
    dropout_numbers,
    initializer_words,
    load_builder,
    padding_words,
    pair_inputs,
)
from shared.results import write_atomically
from shared.spec import load_spec

RANDOM = (  # layers that draw random numbers in training, which the tool cannot share
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
)


NOT_A_CHAIN = (
    "the model is not its layers applied one after the other: the tool pairs models that are "
    "chains of layers (Sequential, or functional without branches or several inputs)"
)
WEIGHTED = {
    keras.layers.Dense: "dense",
    keras.layers.Conv2D: "conv2d",
    keras.layers.BatchNormalization: "batchnorm",
}


class GivenDropout(keras.layers.Layer):
    """Dropout whose mask comes from `numbers` (batch, *unit shape), set before each step: a unit is
    kept where its number is >= the layer's rate, then scaled by 1 / (1 - rate) as Dropout scales."""

    def __init__(self, rate: float, batch_size: int, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.batch_size = float(rate), batch_size

    def build(self, input_shape):
        self.numbers = self.add_weight(
            shape=(self.batch_size, *input_shape[1:]), initializer="zeros", trainable=False
        )

    def call(self, inputs, training=False):
        if not training:
            return inputs
        keep = keras.ops.cast(self.numbers >= self.rate, inputs.dtype)
        return inputs * keep * (1.0 / (1.0 - self.rate))

    def compute_output_shape(self, input_shape):
        return input_shape


def _tensors(layer) -> list[tuple[str, keras.Variable]]:
    """A weighted layer's tensors by role, in Keras's own order."""
    roles = (
        ("kernel", "bias")
        if not isinstance(layer, keras.layers.BatchNormalization)
        else ("gamma", "beta", *STATES)
    )
    return [
        (role, getattr(layer, role)) for role in roles if getattr(layer, role, None) is not None
    ]


def describe_layers(model: keras.Model) -> list[dict]:
    """The model's layers in order, as shared/pairing.py pairs them; PairUsageError for a layer the
    tool cannot pair."""
    described, flattened = [], None
    for layer in layers_of(model):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        entry = {"name": layer.name, "class": type(layer).__name__}
        if isinstance(layer, tuple(WEIGHTED)):
            if isinstance(layer, keras.layers.Conv2D) and layer.data_format != "channels_last":
                raise PairUsageError(
                    f"layer {layer.name}: data_format {layer.data_format!r}; the "
                    "tool pairs channels-last Keras convolutions"
                )
            kind = next(kind for cls, kind in WEIGHTED.items() if isinstance(layer, cls))
            entry.update(kind=kind, tensors=[[r, list(v.shape)] for r, v in _tensors(layer)])
            entry["activation"] = getattr(getattr(layer, "activation", None), "__name__", "linear")
            if kind == "dense" and flattened is not None:
                entry["flattened_from"] = flattened
            flattened = None
        elif type(layer) is keras.layers.Dropout:
            if layer.noise_shape is not None:
                raise PairUsageError(
                    f"layer {layer.name}: Dropout with noise_shape {layer.noise_shape} drops "
                    "whole slices; the tool shares elementwise masks only (nn.Dropout's)"
                )
            units = [int(n) for n in layer.input.shape[1:]]
            entry.update(kind="dropout", rate=float(layer.rate), units=units)
        elif isinstance(layer, RANDOM) or type(layer).__name__.startswith("Random"):
            raise PairUsageError(
                f"layer {layer.name} ({type(layer).__name__}) draws random numbers "
                "in training that the tool cannot share; supported: Dropout"
            )
        elif layer.weights:
            raise PairUsageError(
                f"layer {layer.name} ({type(layer).__name__}) has weights the tool "
                f"cannot pair. Supported: {SUPPORTED}"
            )
        elif isinstance(layer, (keras.layers.Flatten, keras.layers.Reshape)):
            entry["kind"] = "flatten"  # a Reshape to one dimension flattens in the same order
            if len(layer.input.shape) == 4 and len(layer.output.shape) == 2:
                flattened = [int(n) for n in layer.input.shape[1:]]
        else:
            entry["kind"] = "free"
        described.append(entry)
    return described


def _padding(layer, shape) -> list[int]:
    """(top, bottom, left, right) a Conv2D pads an input of `shape` (B, H, W, C) with."""
    if layer.padding == "valid":
        return [0, 0, 0, 0]
    pads = []
    for size, kernel, stride, dilation in zip(
        shape[1:3], layer.kernel_size, layer.strides, layer.dilation_rate
    ):
        total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        pads += [total // 2, total - total // 2]  # TensorFlow's "same": the odd one at the end
    return pads


def forward_records(model: keras.Model, x: np.ndarray) -> tuple[dict, dict]:
    """Each weighted layer's output (before its own activation) and the model's, in inference mode,
    layer after layer; and the input shape each convolution met."""
    outputs, shapes, h = {}, {}, keras.ops.convert_to_tensor(x)
    for layer in layers_of(model):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        shapes[layer.name] = list(h.shape)
        activation = getattr(layer, "activation", None)
        fused = layer.weights and activation not in (None, keras.activations.linear)
        try:
            if fused:  # the output before the layer's own activation, which PyTorch keeps apart
                layer.activation = keras.activations.linear
            h = layer(h, training=False)
        except (ValueError, TypeError) as err:
            raise PairUsageError(
                f"{NOT_A_CHAIN}: {layer.name} ({type(layer).__name__}) cannot take the output "
                "of the layer before it alone"
            ) from err
        finally:
            if fused:
                layer.activation = activation
        if layer.weights:
            outputs[layer.name] = fingerprint(keras.ops.convert_to_numpy(h))
        if fused:
            h = activation(h)
    whole = keras.ops.convert_to_numpy(model(x, training=False))
    chained = keras.ops.convert_to_numpy(h)
    if whole.shape != chained.shape or not np.allclose(whole, chained, rtol=1e-9, atol=1e-12):
        raise PairUsageError(NOT_A_CHAIN)
    outputs["output"] = fingerprint(whole)
    return outputs, shapes


def describe_settings(model, optimizer, loss, layers: list[dict], shapes: dict) -> dict:
    """The audit's rows of this side: {row: value}, values written as the PyTorch side writes them."""
    rows = {"dtype": keras.config.floatx()}
    config = optimizer.get_config()
    rows["optimizer"] = type(optimizer).__name__
    rows["optimizer.learning_rate"] = f"{float(config['learning_rate']):.6g}"
    if "beta_1" in config:
        rows["optimizer.betas"] = f"{float(config['beta_1']):.6g}, {float(config['beta_2']):.6g}"
        rows["optimizer.epsilon"] = (
            f"{float(config['epsilon']):.6g} added to sqrt(v), before the bias correction"
        )
    last = layers[-1] if layers else {}
    output = (
        "probabilities"
        if last.get("activation") == "softmax" or last.get("class") == "Softmax"
        else "logits"
    )
    takes = "logits" if getattr(loss, "from_logits", False) else "probabilities"
    rows["loss"] = (
        f"cross-entropy of {takes}"
        if "Crossentropy" in type(loss).__name__
        else type(loss).__name__
    )
    rows["loss.model_output"] = f"{output}, into a loss that takes {takes}"
    rows["loss.label_smoothing"] = f"{float(getattr(loss, 'label_smoothing', 0.0)):.6g}"
    regularized = [
        f"{layer.name} {what}"
        for layer in layers_of(model)
        for what in ("kernel_regularizer", "bias_regularizer", "activity_regularizer")
        if getattr(layer, what, None) is not None
    ]
    rows["regularization"] = ", ".join(regularized) or "none"
    by_name, counts = {layer.name: layer for layer in layers_of(model)}, {}
    for entry in layers:
        layer, kind = by_name[entry["name"]], entry["kind"]
        where = f"{kind} {counts.setdefault(kind, 0) + 1}"
        counts[kind] += 1
        if kind in ("dense", "conv2d"):
            kernel = keras.ops.convert_to_numpy(layer.kernel.value)
            rows[f"{where} initializer"] = initializer_words(kernel, kind)
        if kind == "conv2d":
            rows[f"{where} padding"] = padding_words(_padding(layer, shapes[entry["name"]]))
            rows[f"{where} stride"] = f"{tuple(layer.strides)}"
        elif kind == "batchnorm":
            m = float(layer.momentum)
            rows[f"{where} momentum"] = f"running = {m:.6g} x running + {1 - m:.6g} x batch"
            rows[f"{where} epsilon"] = f"{float(layer.epsilon):.6g}"
            rows[f"{where} running_variance"] = "biased (the batch's own, which it normalizes with)"
        elif kind == "dropout":
            rows[f"{where} rate"] = f"{entry['rate']:.6g}"
    return rows


def _float64_constants(optimizer):
    """In float64, the optimizer's Python-float constants as np.float64: on TensorFlow a Python
    float becomes a float32 tensor first (a momentum of 0.9 moves by 1e-8), which a float64
    comparison would report as a difference of the port. The values are the builder's."""
    if keras.config.floatx() != "float64":
        return optimizer
    config = {
        key: np.float64(value) if isinstance(value, float) and key != "learning_rate" else value
        for key, value in optimizer.get_config().items()
    }
    return type(optimizer).from_config(config)


def _names(layers: list[dict], model) -> dict[str, str]:
    """Variable path -> the name both sides record it under (layer/role)."""
    by_name = {layer.name: layer for layer in layers_of(model)}
    return {
        variable.path: f"{entry['name']}/{role}"
        for entry in layers
        if "tensors" in entry
        for role, variable in _tensors(by_name[entry["name"]])
    }


def training_records(
    model, optimizer, loss, x, y, batch_size: int, steps: int, seed: int, layers: list[dict]
) -> list[dict]:
    """Per step: the batch's loss, each gradient, each weight after the update and each running
    statistic (fingerprints, Keras layout), trained by `train_on_batch` on consecutive batches."""

    def twin(layer):
        if type(layer) is keras.layers.Dropout:
            return GivenDropout(layer.rate, batch_size, name=layer.name)
        return layer

    trained = keras.models.clone_model(model, clone_function=twin)
    trained.compile(optimizer=recording_optimizer(_float64_constants(optimizer)), loss=loss)
    dropouts = [layer for layer in layers_of(trained) if isinstance(layer, GivenDropout)]
    names = _names(layers, model)
    records = []
    for step in range(steps):
        batch = slice(step * batch_size, (step + 1) * batch_size)
        for index, layer in enumerate(dropouts):
            shape = tuple(layer.numbers.shape)
            layer.numbers.assign(
                dropout_numbers(seed, step, index, shape).astype(layer.numbers.dtype)
            )
        logs = trained.train_on_batch(x[batch], y[batch], return_dict=True)
        record = {"loss": [float(logs["loss"]), abs(float(logs["loss"]))]}
        variables = trained.trainable_variables
        for variable, gradient in zip(variables, trained.optimizer.gradients, strict=True):
            record[f"grad/{names[variable.path]}"] = fingerprint(
                keras.ops.convert_to_numpy(gradient)
            )
        for variable in trained.variables:
            if variable.path in names:
                kind = "state" if names[variable.path].split("/")[1] in STATES else "param"
                record[f"{kind}/{names[variable.path]}"] = fingerprint(
                    keras.ops.convert_to_numpy(variable.value)
                )
        records.append(record)
    return records


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keras_parity.pair_side")
    parser.add_argument("--builder", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data")
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        keras.config.set_floatx(args.dtype)
        keras.utils.set_random_seed(args.seed)
        built = call_builder(load_builder(args.builder), args.builder)
        model, optimizer, loss = built
        if not isinstance(model, keras.Model):
            raise PairUsageError(
                f"{args.builder} returned a {type(model).__name__}, not a Keras model"
            )
        spec = load_spec([f"train.dtype={args.dtype}"])
        from keras_impl.train import make_loss, make_optimizer

        given = {"optimizer": optimizer is not None, "loss": loss is not None}
        optimizer = optimizer if optimizer is not None else make_optimizer(spec)
        loss = loss if loss is not None else make_loss()
        if not model.inputs:
            raise PairUsageError(
                f"{args.builder}: build the model with keras.Input, so that its "
                "input shape is known"
            )
        x, y, source = pair_inputs(args.data, args.steps, args.batch_size)
        shape = tuple(int(n) for n in model.inputs[0].shape[1:])
        if x[0].size != math.prod(shape):
            raise PairUsageError(f"the model takes {shape}; the input samples are {x.shape[1:]}")
        x = x.reshape(len(x), *shape).astype(args.dtype)
        layers = describe_layers(model)
        forward, shapes = forward_records(model, x[: args.batch_size])
        settings = describe_settings(model, optimizer, loss, layers, shapes)
        by_name = {layer.name: layer for layer in layers_of(model)}
        weights = {
            f"{entry['name']}/{role}": keras.ops.convert_to_numpy(variable.value)
            for entry in layers
            if "tensors" in entry
            for role, variable in _tensors(by_name[entry["name"]])
        }
        steps = training_records(
            model, optimizer, loss, x, y, args.batch_size, args.steps, args.seed, layers
        )
    except PairUsageError as err:
        print(f"keras: {err}", file=sys.stderr)
        return EXIT_USAGE
    np.savez(
        out / "keras-weights.npz", **{name.replace("/", "|"): a for name, a in weights.items()}
    )
    np.savez(out / "inputs.npz", x=x, y=y)
    record = {
        "framework": f"keras {keras.__version__}, {keras.backend.backend()} backend",
        "input": {"shape": list(x.shape), "source": source},
        "given": given,
        "layers": layers,
        "settings": settings,
        "forward": forward,
        "steps": steps,
    }
    write_atomically(out / "keras.json", json.dumps(record, indent=1).encode())  # the last file
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(cli.run_main("keras", main))
