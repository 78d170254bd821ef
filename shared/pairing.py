"""What both halves of `mnist-parity pair` share, framework-free: the user's builders, the input batch,
the shared dropout numbers, the pairing of the two models' layers, and the layout rules that carry a
Keras weight into PyTorch's layout and back.

Each side describes its model as a list of layers, {"name", "class", "kind", "tensors": [[role, shape],
...], ...}, in its own layout. Kinds: "dense", "conv2d", "batchnorm" (weighted), "dropout", "flatten",
"free" (any other layer without weights). Tensor roles are Keras's weight names (kernel, bias, gamma,
beta, moving_mean, moving_variance); the PyTorch side names its tensors by the role they pair with.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import numpy as np

WEIGHTED = ("dense", "conv2d", "batchnorm")
STATES = ("moving_mean", "moving_variance")  # non-trainable: running statistics
SUPPORTED = (
    "weighted layers: Keras Dense, Conv2D (channels last), BatchNormalization; PyTorch nn.Linear, "
    "nn.Conv2d, nn.BatchNorm1d/2d (and subclasses); dropout: Keras Dropout, PyTorch nn.Dropout; "
    "any layer without weights or random draws (activations, pooling, padding, flatten, reshape)"
)


class PairUsageError(Exception):
    """A builder that cannot be imported or called, a layer the tool cannot pair, bad input arrays:
    exit 2, with the message naming it and what is supported."""


def load_builder(text: str):
    """MODULE:FUNCTION (MODULE importable from the working directory) -> the function."""
    module_name, _, function_name = text.partition(":")
    if not module_name or not function_name:
        raise PairUsageError(f"{text!r}: give the builder as MODULE:FUNCTION, e.g. my_models:build")
    sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise PairUsageError(f"{text}: cannot import {module_name}: {err}") from err
    builder = getattr(module, function_name, None)
    if not callable(builder):
        raise PairUsageError(f"{text}: {module_name} has no function {function_name}")
    return builder


def call_builder(builder, text: str, **offered):
    """The builder's result as (model, optimizer or None, loss or None). It may return the model
    alone, or (model, optimizer, loss); of `offered`, it is given the keywords it takes."""
    taken = inspect.signature(builder).parameters
    try:
        built = builder(**{key: value for key, value in offered.items() if key in taken})
    except Exception as err:
        raise PairUsageError(f"{text} raised {type(err).__name__}: {err}") from err
    if isinstance(built, (tuple, list)):
        if len(built) != 3:
            raise PairUsageError(
                f"{text} returned {len(built)} items: return a model, or (model, optimizer, loss)"
            )
        return tuple(built)
    return built, None, None


def pair_inputs(
    data: str | None, steps: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """(x, y, where from): the training images of `steps` batches, float64 in [0, 1], (N, 28, 28) from
    the bundled MNIST, or `x` and `y` of an .npz (x in Keras's layout: channels last)."""
    n = steps * batch_size
    if data is None:
        from shared.mnist import load_mnist

        mnist = load_mnist()
        x, y = mnist.train_images[:n].astype(np.float64) / 255.0, mnist.train_labels[:n]
        return x, y.astype(np.int64), f"the bundled MNIST: its first {n} training images in [0, 1]"
    try:
        arrays = np.load(data)
        x, y = np.asarray(arrays["x"], dtype=np.float64), np.asarray(arrays["y"], dtype=np.int64)
    except (OSError, KeyError, ValueError) as err:
        raise PairUsageError(
            f"--data {data}: an .npz with arrays x and y is needed ({err})"
        ) from err
    if len(x) < n or len(y) < n:
        raise PairUsageError(
            f"--data {data}: {len(x)} samples; {steps} steps of {batch_size} need {n}"
        )
    return x[:n], y[:n], f"{data}: its first {n} samples"


def dropout_numbers(seed: int, step: int, index: int, shape: tuple[int, ...]) -> np.ndarray:
    """U(0, 1) numbers, in Keras's layout, for dropout layer `index` at step `step`: a unit is kept
    where its number is >= that side's OWN rate."""
    return np.random.default_rng([seed, 3, step, index]).random(shape)


def padding_words(pads) -> str:
    """(top, bottom, left, right) in the audit's words."""
    return "top {}, bottom {}, left {}, right {}".format(*pads)


def initializer_words(kernel: np.ndarray, kind: str) -> str:
    """The initializer a kernel (in Keras's layout) was drawn from, measured (shared/settings.py)."""
    from shared.settings import kernel_family

    receptive = int(np.prod(kernel.shape[:-2])) if kind == "conv2d" else 1
    return kernel_family(kernel, receptive * kernel.shape[-2], receptive * kernel.shape[-1])


def weighted(layers: list[dict]) -> list[dict]:
    return [layer for layer in layers if layer["kind"] in WEIGHTED]


def _label(layer: dict) -> str:
    return f"{layer['name']} ({layer['class']})"


def _position(layers: list[dict], kind: str) -> list[int]:
    """For each layer of `kind`: how many weighted layers come before it."""
    seen, positions = 0, []
    for layer in layers:
        seen += layer["kind"] in WEIGHTED
        if layer["kind"] == kind:
            positions.append(seen)
    return positions


def torch_shape(role: str, kind: str, shape: list[int]) -> list[int]:
    """The shape a Keras tensor takes in PyTorch's layout."""
    if role == "kernel" and kind == "dense":
        return shape[::-1]
    if role == "kernel" and kind == "conv2d":
        height, width, fan_in, fan_out = shape
        return [fan_out, fan_in, height, width]
    return shape


def pair_layers(keras: list[dict], torch: list[dict]) -> tuple[list[tuple[dict, dict]], str | None]:
    """The weighted layers paired in order, and None; or the pairs made and what cannot be paired."""
    keras_weighted, torch_weighted = weighted(keras), weighted(torch)
    pairs: list[tuple[dict, dict]] = []
    for k, t in zip(keras_weighted, torch_weighted):
        if k["kind"] != t["kind"]:
            return (
                pairs,
                f"{_label(k)} meets {_label(t)}: a {k['kind']} layer against a {t['kind']} one",
            )
        k_roles, t_roles = [r for r, _ in k["tensors"]], [r for r, _ in t["tensors"]]
        if k_roles != t_roles:
            missing = sorted(set(k_roles) ^ set(t_roles))
            return (
                pairs,
                f"{_label(k)} holds {', '.join(k_roles)}; {_label(t)} holds "
                f"{', '.join(t_roles)} (unmatched: {', '.join(missing)})",
            )
        for (role, k_shape), (_, t_shape) in zip(k["tensors"], t["tensors"]):
            if torch_shape(role, k["kind"], k_shape) != t_shape:
                return pairs, (
                    f"{_label(k)} {role} {tuple(k_shape)} does not map to {_label(t)}'s "
                    f"{tuple(t_shape)} (expected {tuple(torch_shape(role, k['kind'], k_shape))})"
                )
        pairs.append((k, t))
    if len(keras_weighted) != len(torch_weighted):
        longer, side = (
            (keras_weighted, "Keras")
            if len(keras_weighted) > len(torch_weighted)
            else (torch_weighted, "PyTorch")
        )
        extra = ", ".join(_label(layer) for layer in longer[len(pairs) :])
        return pairs, (
            f"{len(keras_weighted)} weighted layers in Keras, {len(torch_weighted)} in "
            f"PyTorch: the {side} model's {extra} has no partner"
        )
    k_dropouts, t_dropouts = _position(keras, "dropout"), _position(torch, "dropout")
    if k_dropouts != t_dropouts:
        return pairs, (
            f"dropout layers after weighted layers {k_dropouts} in Keras, {t_dropouts} in "
            "PyTorch (counted from 1)"
        )
    for index, (k, t) in enumerate(zip(_of(keras, "dropout"), _of(torch, "dropout")), 1):
        units = k.get("units", [])
        expected = [units[2], *units[:2]] if len(units) == 3 else units
        if t.get("units", expected) != expected:
            return pairs, (
                f"dropout {index} acts on {tuple(units)} in Keras, on {tuple(t['units'])} in "
                "PyTorch: the tool shares masks element by element, so both must drop the same "
                "tensor (put them at the same place)"
            )
    return pairs, None


def _of(layers: list[dict], kind: str) -> list[dict]:
    return [layer for layer in layers if layer["kind"] == kind]


def carry_rule(role: str, kind: str, flatten: list[int] | None) -> str:
    """How a Keras tensor is carried into PyTorch's layout, in words. `flatten`: the (h, w, c) a
    Keras Flatten flattened before this Dense when PyTorch flattens (c, h, w) and c > 1."""
    if role == "kernel" and kind == "dense":
        if flatten:
            return "rows reordered from (h, w, c) to (c, h, w), then transposed to (out, in)"
        return "transposed: (in, out) to (out, in)"
    if role == "kernel" and kind == "conv2d":
        return "permuted: (h, w, in, out) to (out, in, h, w)"
    return "as it is"


def to_torch(array: np.ndarray, role: str, kind: str, flatten: list[int] | None) -> np.ndarray:
    if role == "kernel" and kind == "conv2d":
        return array.transpose(3, 2, 0, 1)
    if role == "kernel" and kind == "dense":
        if flatten:
            height, width, channels = flatten
            array = array.reshape(height, width, channels, -1).transpose(2, 0, 1, 3)
            array = array.reshape(height * width * channels, -1)
        return array.T
    return array


def to_keras(array: np.ndarray, role: str, kind: str, flatten: list[int] | None) -> np.ndarray:
    """The inverse of to_torch: a PyTorch tensor in Keras's layout, as both sides record it."""
    if role == "kernel" and kind == "conv2d":
        return array.transpose(2, 3, 1, 0)
    if role == "kernel" and kind == "dense":
        array = array.T
        if flatten:
            height, width, channels = flatten
            array = array.reshape(channels, height, width, -1).transpose(1, 2, 0, 3)
            array = array.reshape(height * width * channels, -1)
    return array


def explain_loaded(
    loaded: np.ndarray, keras: np.ndarray, role: str, kind: str, flatten: list[int] | None
) -> str | None:
    """None where a tensor the PyTorch builder loaded itself is the Keras one carried by the rule;
    otherwise what it is instead (the classic slips first)."""

    def same(candidate) -> bool:
        candidate = np.asarray(candidate)
        return candidate.shape == loaded.shape and np.allclose(candidate, loaded, rtol=1e-6, atol=0)

    if same(to_torch(keras, role, kind, flatten)):
        return None
    if keras.size == loaded.size and same(keras.reshape(loaded.shape)):
        return "the Keras values in Keras's order, reshaped, not " + (
            "transposed" if kind == "dense" else "permuted"
        )
    if kind == "dense" and role == "kernel" and flatten and same(keras.T):
        return "transposed, but its rows not reordered from Keras's (h, w, c) flatten order to (c, h, w)"
    if kind == "conv2d" and role == "kernel" and same(keras.transpose(3, 2, 1, 0)):
        return "permuted to (out, in, w, h): height and width swapped"
    if kind == "batchnorm" and role in ("gamma", "beta", "moving_mean", "moving_variance"):
        return "not the Keras layer's " + role
    return "none of the Keras tensor's known layouts"
