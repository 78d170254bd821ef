"""The audit: every setting this side actually uses, read from the live Keras objects a run builds."""

from __future__ import annotations

import math
import os

import keras
import numpy as np

import keras_impl.train
from keras_impl.augment import RandomAffine
from keras_impl.model import count_params
from shared.settings import (
    DRAWS,
    REPORTED_LOSS_BATCHES,
    UNIFORM_PERMUTATION,
    VARIANCE_BATCH,
    bias_family,
    convolution_text,
    drawn_ranges,
    flatten_rows_text,
    kernel_family,
    momentum_text,
    padding_applied,
    reported_loss_kind,
    row,
    running_variance_kind,
)
from shared.spec import Spec, spec_from_dict

STAGES = {"Rescaling": "rescale", "RandomAffine": "augment", "Normalization": "normalize"}
LOSSES = {"SparseCategoricalCrossentropy": "cross-entropy on integer labels"}
REDUCTIONS = {"sum_over_batch_size": "mean over the batch", "sum": "sum over the batch"}
XLA = {
    "tensorflow": "jit_compile='auto': XLA only where TensorFlow sees a GPU",
    "jax": "the JAX backend always compiles the training step with XLA",
    "torch": "jit_compile='auto': eager on the torch backend, no torch.compile",
}


FLATTEN_READ = "measured: Flatten on an image holding each element's (h, w, c) index"


def flatten_rows(flatten: keras.layers.Flatten, spec: Spec) -> str:
    size = spec.flat_dim
    image = np.arange(size, dtype="float32").reshape(1, *spec.feature_shape)
    features = keras.ops.convert_to_numpy(flatten(image))
    return flatten_rows_text(features[0], np.arange(size))


def convolution_rows(layer: keras.layers.Layer, spec: Spec, rows: dict) -> bool:
    """The rows of a convolution block's layer (model.kind = "cnn"); False for any other layer."""
    block = sum(1 for r in rows if r.startswith("model.conv_padding"))
    if isinstance(layer, keras.layers.Conv2D):
        kernel = keras.ops.convert_to_numpy(layer.kernel)  # (h, w, in, out)
        height, width, channels_in, channels_out = kernel.shape
        rows[f"model.conv{block + 1}"] = row(
            convolution_text(height, channels_in, channels_out, layer.strides[0], layer.use_bias),
            "Conv2D layer",
        )
        size = ([spec.data.height] + [s[0] for s in spec.block_shapes()])[block]
        probe = keras.layers.Conv2D(
            1,
            layer.kernel_size,
            layer.strides,
            layer.padding,
            use_bias=False,
            kernel_initializer="ones",
            dtype="float32",
        )
        ones = keras.ops.convert_to_numpy(probe(np.ones((1, size, size, 1), "float32")))[0, :, :, 0]
        rows[f"model.conv_padding{block + 1}"] = row(
            padding_applied(ones, size, size),
            f"measured: a Conv2D of this one's padding={layer.padding!r} and strides, all ones",
        )
        fans = height * width * channels_in, height * width * channels_out
        rows[f"model.conv_init{block + 1}"] = row(
            kernel_family(kernel, *fans), "measured on the built kernel (h, w, in, out)"
        )
    elif isinstance(layer, keras.layers.BatchNormalization):
        rows[f"model.batchnorm_momentum{block}"] = row(
            momentum_text(layer.momentum), "BatchNormalization.momentum"
        )
        rows[f"model.batchnorm_epsilon{block}"] = row(layer.epsilon, "BatchNormalization.epsilon")
        # (not from get_config: serializing imports TensorFlow on every backend)
        fresh = type(layer)(momentum=layer.momentum, epsilon=layer.epsilon, dtype="float64")
        fresh(np.reshape(VARIANCE_BATCH, (2, 1, 1, 1)), training=True)
        moving = float(keras.ops.convert_to_numpy(fresh.moving_variance)[0])
        rows[f"model.batchnorm_variance{block}"] = row(
            running_variance_kind(moving, layer.momentum),
            "measured: a fresh BatchNormalization of this one's momentum and epsilon, one training batch",
        )
    elif isinstance(layer, keras.layers.Activation):
        rows[f"model.block_activation{block}"] = row(layer.activation.__name__, "Activation layer")
    elif isinstance(layer, keras.layers.MaxPooling2D):
        size, stride = layer.pool_size[0], layer.strides[0]
        rows[f"model.pool{block}"] = row(
            f"{size}x{size} max-pooling, stride {stride}", "MaxPooling2D layer"
        )
    else:
        return False
    return True


def describe_pipeline(spec: Spec, pipeline, device: str) -> dict[str, dict]:
    """Rows {id: {"value", "read"}} for the built pipeline's compiled model and fit's data arguments,
    before training."""
    model, train_data = pipeline.model, pipeline.train_data
    rows = {}
    optimizer, loss = model.optimizer, model.loss
    config = optimizer.get_config()
    rows["optimizer.algorithm"] = row(type(optimizer).__name__, "type(model.optimizer)")
    rows["optimizer.learning_rate"] = row(config["learning_rate"], "optimizer.get_config()")
    rows["optimizer.betas"] = row([config["beta_1"], config["beta_2"]], "optimizer.get_config()")
    rows["optimizer.epsilon"] = row(config["epsilon"], "optimizer.get_config()")
    rows["optimizer.epsilon_placement"] = row(
        "added to the raw sqrt(v); bias correction in the step size",
        "keras.optimizers.Adam.update_step (no attribute holds it)",
    )
    decay = config["weight_decay"] or 0.0
    rows["optimizer.weight_decay"] = row(
        0.0 if not decay else f"{decay:g}, decoupled", "optimizer.get_config()"
    )
    rows["optimizer.amsgrad"] = row(bool(config.get("amsgrad", False)), "optimizer.get_config()")
    clips = {k: config[k] for k in ("clipnorm", "clipvalue", "global_clipnorm") if config[k]}
    rows["optimizer.clipping"] = row(
        ", ".join(f"{k} {v:g}" for k, v in clips.items()) or "none", "optimizer.get_config()"
    )

    loss_config = loss.get_config()
    rows["loss.function"] = row(LOSSES.get(type(loss).__name__, type(loss).__name__), "model.loss")
    rows["loss.reduction"] = row(
        REDUCTIONS.get(loss_config["reduction"], loss_config["reduction"]), "loss.get_config()"
    )
    rows["loss.from_logits"] = row(loss_config.get("from_logits", False), "loss.get_config()")
    rows["loss.label_smoothing"] = row(loss_config.get("label_smoothing", 0.0), "loss.get_config()")
    rows["loss.class_weights"] = row(None, "fit(class_weight=) is not passed (train.py)")
    rows["loss.ignored_label"] = row(loss_config.get("ignore_class"), "loss.get_config()")

    dense_count = dropout_count = 0
    stages = []
    for layer in model.layers:
        if layer.name == "preprocessing":  # data.preprocess: the model's first layers
            stages = layer.layers
        elif isinstance(layer, keras.layers.Flatten):
            rows["model.flatten"] = row("every axis after the batch axis", "Flatten layer")
            rows["model.flatten_rows"] = row(flatten_rows(layer, spec), FLATTEN_READ)
        elif convolution_rows(layer, spec, rows):
            pass
        elif isinstance(layer, keras.layers.Dense):
            dense_count += 1
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            fan_in, fan_out = kernel.shape
            activation = layer.activation.__name__
            rows[f"model.layer{dense_count}"] = row(
                f"linear {fan_in} -> {fan_out}, {'bias' if layer.use_bias else 'no bias'}, "
                f"{'no activation' if activation == 'linear' else activation}",
                "Dense layer",
            )
            rows[f"model.kernel_init{dense_count}"] = row(
                kernel_family(kernel, fan_in, fan_out), "measured on the built kernel (in, out)"
            )
            bias = keras.ops.convert_to_numpy(layer.bias) if layer.use_bias else np.zeros(0)
            rows[f"model.bias_init{dense_count}"] = row(
                bias_family(bias, fan_in), "measured on the built bias"
            )
        elif isinstance(layer, keras.layers.Dropout):
            dropout_count += 1
            rows[f"model.dropout{dropout_count}"] = row(layer.rate, "Dropout.rate")
        else:
            rows[f"model.other_{layer.name}"] = row(type(layer).__name__, "model.layers")
    rows["model.parameters"] = row(
        count_params(model), "count_params (model.py): the trainable weights"
    )

    rows["data.stages"] = row(
        " -> ".join(STAGES.get(type(s).__name__, type(s).__name__) for s in stages),
        "the model's preprocessing layers, in order",
    )
    for stage in stages:
        if isinstance(stage, keras.layers.Rescaling):
            rows["data.rescale"] = row([float(stage.scale), float(stage.offset)], "Rescaling")
        elif isinstance(stage, keras.layers.Normalization):
            # the constants as given, as torch's Normalize keeps them
            mean, variance = np.ravel(stage.input_mean), np.ravel(stage.input_variance)
            rows["data.normalize_mean"] = row(mean.tolist(), "Normalization.input_mean")
            rows["data.normalize_std"] = row(  # the std Normalization divides by
                np.sqrt(variance).tolist(), "sqrt(Normalization.input_variance)"
            )
        elif isinstance(stage, RandomAffine):
            rows["augment.degrees"] = row([-stage.degrees, stage.degrees], "RandomAffine.degrees")
            rows["augment.translate"] = row(list(stage.translate), "RandomAffine.translate")
            rows["augment.scale"] = row(list(stage.scale), "RandomAffine.scale")
            rows["augment.shear"] = row("none", "RandomAffine draws no shear")
            rows["augment.interpolation"] = row(stage.interpolation, "RandomAffine.interpolation")
            rows["augment.fill"] = row(
                f"constant {stage.fill:g} outside the image", "RandomAffine.fill"
            )
            rows["augment.parameters"] = row(
                "drawn per sample", "RandomAffine.draw_params: one draw per sample of the batch"
            )
    augmenting = [s for s in stages if isinstance(s, RandomAffine)]
    for stage in augmenting:
        rows.update(_draw_rows(stage))
    probe = np.linspace(0, 1, math.prod(model.input_shape[1:]), dtype="float32")
    probe = probe.reshape((1, *model.input_shape[1:]))
    augmented = {
        "training": bool(augmenting),  # fit calls the model with training=True
        # evaluate and predict call it with training=False: called so here, it draws nothing
        "evaluation": any(
            not np.array_equal(keras.ops.convert_to_numpy(s(probe, training=False)), probe)
            for s in augmenting
        ),
    }
    rows["augment.splits"] = row(
        [name for name, yes in augmented.items() if yes],
        "the model's RandomAffine with training=True (fit) and training=False (evaluate, predict)",
    )

    epochs = train_data["x"]  # the EpochOrders fit is given
    if isinstance(epochs, np.ndarray):  # arrays: fit batches and shuffles them itself
        rows["loop.batch_size"] = row(train_data["batch_size"], "fit(batch_size=)")
        rows["loop.partial_last_batch"] = row("kept", "fit keeps a partial last batch")
        rows["loop.shuffle"] = row(
            f"fit(shuffle={train_data['shuffle']!r}): on TensorFlow with a fixed seed, the first "
            "epoch's permutation again every epoch",
            "fit(shuffle=), as the builder gives it (tf.data keeps its order private)",
        )
    else:
        n, batch_size = epochs.orders.shape[1], epochs.batch_size
        rows["loop.batch_size"] = row(batch_size, "EpochOrders.batch_size")
        rows["loop.partial_last_batch"] = row(
            "kept" if len(epochs) * batch_size >= n else "dropped",
            "len(EpochOrders): batches per epoch",
        )
        rows["loop.shuffle"] = row(
            _order(epochs.orders, train_data["shuffle"], batch_size),
            "EpochOrders.orders, one row per epoch, and fit(shuffle=)",
        )
    rows["loop.reported_loss"] = row(
        _measure_reported_loss(spec, model.loss),
        "measured: train() on two batches of known loss (sizes 2 and 1)",
    )

    rows["loop.epochs"] = row(spec.train.epochs, "spec.train.epochs, which fit is given")

    trainable = model.trainable_weights
    weights_dtype = trainable[0].dtype if trainable else keras.config.floatx()
    rows["numerics.dtype"] = row(str(weights_dtype), "the weights' dtype")
    rows["numerics.device"] = row(device, "the device the run chose")
    backend = keras.backend.backend()
    rows["numerics.keras_backend"] = row(backend, "keras.backend.backend()")
    rows["numerics.xla"] = row(
        bool(model.jit_compile), f"model.jit_compile after compile ({XLA[backend]})"
    )
    rows["numerics.tf32"], rows["numerics.deterministic_ops"] = _precision_and_determinism(
        backend, device
    )
    return rows


def _draw_rows(layer: RandomAffine) -> dict[str, dict]:
    """The ranges the live draw code covers in DRAWS draws, its seed generator restored after."""
    state = keras.ops.convert_to_numpy(layer.seed_generator.state.value)
    angles, shifts, scales = (
        keras.ops.convert_to_numpy(x) for x in layer.draw_params(DRAWS, 28, 28)
    )
    layer.seed_generator.state.assign(state)
    read = f"measured: RandomAffine.draw_params, {DRAWS} draws"
    return {key: row(value, read) for key, value in drawn_ranges(angles, shifts, scales).items()}


def _measure_reported_loss(spec: Spec, loss) -> str:
    """What train() (fit and its EpochLog) reports as the training loss, on REPORTED_LOSS_BATCHES,
    with the pipeline's loss and a one-weight model of logits [0, x] that learns nothing."""
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(2, use_bias=False, kernel_initializer="zeros")]
    )
    model.layers[0].set_weights([np.array([[0.0, 1.0]])])
    # eagerly: a compiled step would cost a trace (about half a second) for two batches
    model.compile(keras.optimizers.SGD(0.0), loss, metrics=["accuracy"], run_eagerly=True)
    x = np.concatenate(
        [np.asarray(b[0], dtype=keras.config.floatx()) for b in REPORTED_LOSS_BATCHES]
    )
    y = np.concatenate([np.asarray(b[1], dtype=np.int64) for b in REPORTED_LOSS_BATCHES])
    sizes = [len(b[1]) for b in REPORTED_LOSS_BATCHES]
    losses = []
    for size, start in zip(sizes, np.cumsum([0, *sizes[:-1]])):
        logits = model(x[start : start + size, None])
        losses.append(float(keras.ops.convert_to_numpy(loss(y[start : start + size], logits))))
    data = {"x": x[:, None], "y": y, "batch_size": sizes[0]}
    one_epoch = spec_from_dict(spec.to_dict(), [("train.epochs", 1)])
    history = keras_impl.train.train(model, {**data, "shuffle": False}, data, one_epoch, quiet=True)
    return reported_loss_kind(history[0].train_loss, losses, sizes)


def _order(orders: np.ndarray, shuffle, batch_size: int) -> str:
    """How the epochs visit the samples: one row of orders per epoch, whose batches fit(shuffle=True)
    would also reshuffle."""
    n = orders.shape[1]

    def batches(order):
        return {tuple(sorted(order[i : i + batch_size])) for i in range(0, n, batch_size)}

    if not all(np.array_equal(np.sort(order), np.arange(n)) for order in orders):
        return "not every sample once per epoch"
    if shuffle:
        return f"each epoch's order, its batches reshuffled by fit(shuffle={shuffle!r})"
    if (orders == np.arange(n)).all():
        return "in order, never shuffled"
    if len(orders) > 1 and (orders == orders[0]).all():
        return "a uniform permutation of every sample, the same every epoch"
    if len(orders) > 1 and all(batches(order) == batches(orders[0]) for order in orders[1:]):
        return "the first epoch's batches, reshuffled whole every epoch"
    return UNIFORM_PERMUTATION


def _precision_and_determinism(backend: str, device: str) -> tuple[dict, dict]:
    """Whether float32 matmuls run in TF32, and whether the deterministic-ops switch is on, each read
    from the backend's own flag (device.py sets full float32 on every backend)."""
    if backend == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.framework import config as tf_config  # no public reader of this flag

        tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
        return (
            row(tf32, "tf.config.experimental.tensor_float_32_execution_enabled()"),
            row(tf_config.is_op_determinism_enabled(), "TensorFlow's op-determinism flag"),
        )
    if backend == "jax":
        import jax

        precision = jax.config.jax_default_matmul_precision
        xla_flags = os.environ.get("XLA_FLAGS", "")
        return (
            # JAX's default precision runs float32 matmuls in TF32 on NVIDIA GPUs, never on a CPU
            row(
                device != "cpu" and precision not in ("highest", "float32"),
                f"jax.config.jax_default_matmul_precision ({precision}) on {device.split()[0]}",
            ),
            row(
                "--xla_gpu_deterministic_ops=true" in xla_flags,
                "XLA_FLAGS --xla_gpu_deterministic_ops",
            ),
        )
    import torch

    tf32 = torch.backends.cuda.matmul.allow_tf32 if torch.cuda.is_available() else False
    return (
        row(tf32, "torch.backends.cuda.matmul.allow_tf32 (False without CUDA)"),
        row(
            torch.are_deterministic_algorithms_enabled(),
            "torch.are_deterministic_algorithms_enabled()",
        ),
    )
