"""The audit: every setting this side actually uses, read from the live Keras objects a run builds."""

from __future__ import annotations

import inspect

import keras
import numpy as np

from shared.audit import UNIFORM_PERMUTATION, bias_family, kernel_family, row, shuffle_description
from shared.spec import Spec

STAGES = {"Rescaling": "rescale", "RandomAffine": "augment", "Normalization": "normalize"}
LOSSES = {"SparseCategoricalCrossentropy": "cross-entropy on integer labels"}
REDUCTIONS = {"sum_over_batch_size": "mean over the batch", "sum": "sum over the batch"}


def describe_pipeline(
    spec: Spec, model: keras.Model, train_data, eval_data, device: str
) -> dict[str, dict]:
    """Rows {id: {"value", "read"}} for a compiled model and its data, before training."""
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
    for layer in model.layers:
        if isinstance(layer, keras.layers.Flatten):
            rows["model.flatten"] = row("every axis after the batch axis", "Flatten layer")
        elif isinstance(layer, keras.layers.Dense):
            dense_count += 1
            kernel = layer.kernel.numpy()
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
            bias = layer.bias.numpy() if layer.use_bias else np.zeros(0)
            rows[f"model.bias_init{dense_count}"] = row(
                bias_family(bias, fan_in), "measured on the built bias"
            )
        elif isinstance(layer, keras.layers.Dropout):
            dropout_count += 1
            rows[f"model.dropout{dropout_count}"] = row(layer.rate, "Dropout.rate")
        else:
            rows[f"model.other_{layer.name}"] = row(type(layer).__name__, "model.layers")
    rows["model.parameters"] = row(model.count_params(), "model.count_params()")

    train_layers = train_data.preprocess.layers
    rows["data.stages"] = row(
        " -> ".join(STAGES.get(type(s).__name__, type(s).__name__) for s in train_layers),
        "the training pipeline's preprocessing layers, in order",
    )
    for stage in train_layers:
        if isinstance(stage, keras.layers.Rescaling):
            rows["data.rescale"] = row([float(stage.scale), float(stage.offset)], "Rescaling")
        elif isinstance(stage, keras.layers.Normalization):
            # the constants as given: the built mean and variance live in tf.data's graph
            mean, variance = np.ravel(stage.input_mean), np.ravel(stage.input_variance)
            rows["data.normalize_mean"] = row(mean.tolist(), "Normalization.input_mean")
            rows["data.normalize_std"] = row(  # the std Normalization divides by
                np.sqrt(variance).tolist(), "sqrt(Normalization.input_variance)"
            )
        elif type(stage).__name__ == "RandomAffine":
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
    augmented = {
        "training": any(type(s).__name__ == "RandomAffine" for s in train_layers),
        "evaluation": any(type(s).__name__ == "RandomAffine" for s in eval_data.preprocess.layers),
    }
    rows["augment.splits"] = row(
        [name for name, yes in augmented.items() if yes], "the pipelines' preprocessing layers"
    )

    batching, shuffling = train_data.batching, train_data.shuffling
    rows["loop.batch_size"] = row(batching["batch_size"], "recorded by make_train_data (tf.data)")
    rows["loop.partial_last_batch"] = row(
        "dropped" if batching["drop_remainder"] else "kept", "recorded by make_train_data"
    )
    rows["loop.shuffle"] = row(
        shuffle_description(**shuffling) if shuffling else UNIFORM_PERMUTATION,
        "recorded by make_train_data: Dataset.shuffle's buffer and reshuffle_each_iteration",
    )
    from keras_impl import train  # here: train.py imports this module

    fit_source = inspect.getsource(train.train)
    rows["loop.reported_loss"] = row(
        "the sample-weighted mean of the epoch's training batches, dropout on",
        "what fit's loss metric averages"
        + ("" if "model.fit(" in fit_source else " (fit not found)"),
    )

    rows["loop.epochs"] = row(spec.train.epochs, "spec.train.epochs, which fit is given")

    weights_dtype = model.weights[0].dtype if model.weights else keras.config.floatx()
    rows["numerics.dtype"] = row(str(weights_dtype), "the weights' dtype")
    rows["numerics.device"] = row(device, "the device the run chose")
    backend = keras.backend.backend()
    rows["numerics.keras_backend"] = row(backend, "keras.backend.backend()")
    rows["numerics.xla"] = row(bool(model.jit_compile), "model.jit_compile after compile")
    if backend == "tensorflow":
        import tensorflow as tf

        tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
        rows["numerics.tf32"] = row(
            tf32, "tf.config.experimental.tensor_float_32_execution_enabled()"
        )
        from tensorflow.python.framework import config as tf_config  # no public reader of this flag

        rows["numerics.deterministic_ops"] = row(
            tf_config.is_op_determinism_enabled(), "TensorFlow's op-determinism flag"
        )
    return rows
