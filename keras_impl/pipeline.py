"""The whole pipeline assembled from its stages (data, augment, model, train, evaluate, device), and
`python -m keras_impl.train`: train one side on the spec and print its summary."""

from __future__ import annotations

import importlib
import random
from dataclasses import dataclass

import keras
import numpy as np

from keras_impl.data import make_eval_data, make_train_data
from keras_impl.device import describe, select_device
from keras_impl.evaluate import evaluate
from keras_impl.model import build_model
from keras_impl.train import make_loss, make_optimizer, train
from shared import cli
from shared.results import Result, new_result, record_run
from shared.spec import Spec


def _set_random_seed(seed: int, backend: str) -> None:
    if backend == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    # What keras.utils.set_random_seed seeds, without TensorFlow's seed: it imports TensorFlow whenever
    # it is installed, to seed tf.data, which this pipeline does not use.
    random.seed(seed)
    np.random.seed(seed)
    if backend == "torch":
        importlib.import_module("torch").manual_seed(seed)


@dataclass
class Pipeline:
    """What a run trains with, as built from the spec: a compiled model and fit's data arguments."""

    model: keras.Model
    train_data: dict
    val_data: dict


def build_pipeline(spec: Spec, splits) -> Pipeline:
    """The compiled model and fit's data arguments of a run of `spec`, seeded by spec.train.seed."""
    backend = keras.backend.backend()
    if backend == "jax" and spec.train.dtype == "float64":
        # JAX computes in float32 whatever the dtype asked for, unless 64-bit types are enabled
        importlib.import_module("jax").config.update("jax_enable_x64", True)
    # before anything is built: layers take their dtype then, and the dtype policy from the floatx
    keras.config.set_floatx(spec.train.dtype)
    keras.config.set_dtype_policy(spec.train.dtype)
    _set_random_seed(spec.train.seed, backend)  # initial weights, dropout, warps
    model = build_model(spec)
    model.compile(
        optimizer=make_optimizer(spec),
        loss=make_loss(),
        metrics=["accuracy"],
        # Several steps per call of the compiled training step: the call's overhead, and not the
        # step's maths, is most of a step of this small model on a CPU. The torch backend takes one.
        steps_per_execution=1 if backend == "torch" else 16,
    )
    return Pipeline(
        model,
        make_train_data(spec, splits.x_train, splits.y_train),
        make_eval_data(spec, splits.x_val, splits.y_val),
    )


def run_pipeline(p: Pipeline, spec: Spec, splits, result, quiet: bool, stopwatch):
    """Train, then evaluate on the test split, into `result`."""
    test_data = make_eval_data(spec, splits.x_test, splits.y_test)
    return record_run(
        result,
        lambda: train(p.model, p.train_data, p.val_data, spec, quiet),
        lambda: evaluate(p.model, test_data, splits.y_test),
        stopwatch,
    )


def new_run_result(spec: Spec, device: str, mode="independent", align_seed=None) -> Result:
    """The Result a run of `spec` fills, with the versions it ran on."""
    backend = keras.backend.backend()
    modules = {"keras": keras, backend: importlib.import_module(backend), "numpy": np}
    versions = {"keras_backend": backend, **cli.versions(**modules)}
    seed = spec.train.seed if align_seed is None else align_seed
    return new_result("keras", spec.to_dict(), mode, seed, versions, describe(device))


def check_model_path(path: str | None) -> None:
    """Exit 2 unless --save-model names a .keras file, Keras's native format."""
    if path and not path.endswith(".keras"):
        cli.fail_usage(f"--save-model {path}: Keras's native format needs a .keras name")


def main(argv=None) -> int:
    """Train one side on the spec and print its summary."""
    stopwatch = cli.Stopwatch()
    args = cli.side_parser("python -m keras_impl.train").parse_args(argv)
    check_model_path(args.save_model)
    spec, splits = cli.load_inputs(args)
    device = cli.or_usage_error(select_device, args.device)
    print(f"keras: training on {describe(device)}, {keras.backend.backend()} backend", flush=True)
    result = new_run_result(spec, device)
    pipeline = build_pipeline(spec, splits)
    run_pipeline(pipeline, spec, splits, result, args.quiet, stopwatch)
    return cli.finish(result, args, pipeline.model.save)
