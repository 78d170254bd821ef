"""Training: Keras's compile + fit, and `python -m keras_impl.train`."""

from __future__ import annotations

import importlib
import random
import sys
import time
from dataclasses import dataclass

import keras
import numpy as np

from keras_impl.data import make_eval_data, make_train_data
from keras_impl.device import describe, select_device
from keras_impl.evaluate import evaluate
from keras_impl.model import build_model
from shared import cli
from shared.results import (
    Diverged,
    EpochRow,
    Result,
    Scores,
    check_divergence,
    epoch_line,
    epoch_row,
    new_result,
)
from shared.spec import Spec


def make_optimizer(spec: Spec) -> keras.optimizers.Adam:
    t = spec.train
    # [adam-epsilon] Keras adds epsilon to the raw sqrt(v), torch to the bias-corrected sqrt(v_hat);
    # torch_impl/train.py bridges to this update. [float64-constants] np.float64 betas in float64: on
    # TensorFlow a Python float becomes a float32 tensor first, which moves the bias correction 1e-7.
    # Not in float32, where an np.float64 beta would make the moment updates compute in float64 (NumPy
    # promotion, which Keras's ops follow) and cast back at every step.
    constant = np.float64 if spec.train.dtype == "float64" else float
    return keras.optimizers.Adam(
        learning_rate=t.lr,
        beta_1=constant(t.beta1),
        beta_2=constant(t.beta2),
        epsilon=t.epsilon,
    )


def make_loss() -> keras.losses.SparseCategoricalCrossentropy:
    # [loss-from-logits] the model outputs logits; the default from_logits=False expects probabilities
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


class EpochLog(keras.callbacks.Callback):
    """One row per epoch in the shared schema, with its wall time; stops on a non-finite loss. With
    `lines`, each row is printed on one line as its epoch ends."""

    def __init__(self, spec: Spec, lines: bool = False):
        super().__init__()
        self.spec, self.lines = spec, lines
        self.rows: list[EpochRow] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        # fit's running mean over this epoch's batches so far
        try:
            check_divergence(float(logs["loss"]), len(self.rows) + 1, batch + 1, self.spec.train)
        except Diverged as err:
            err.history = self.rows
            raise

    def on_epoch_end(self, epoch, logs=None):
        # fit's loss and accuracy: the sample-weighted mean over this epoch's training batches (dropout on).
        self.rows.append(
            epoch_row(
                epoch + 1,
                logs["loss"],
                logs["accuracy"],
                logs["val_loss"],
                logs["val_accuracy"],
                time.perf_counter() - self.start,
            )
        )
        if self.lines:
            print(epoch_line("keras", self.rows[-1], self.spec.train.epochs), flush=True)


def train(
    model: keras.Model,
    train_data: dict,
    val_data: dict,
    spec: Spec,
    quiet: bool = False,
) -> list[EpochRow]:
    """Train a compiled model for spec.train.epochs on fit's data arguments (data.py); one history row
    per epoch, validated in inference mode after each. Progress: fit's bar on a terminal; elsewhere
    (a log file, CI, compare.py) one line per epoch, where the bar would write its escape codes."""
    bar = not quiet and sys.stdout.isatty()
    fit_data, epoch_log = dict(train_data), EpochLog(spec, lines=not quiet and not bar)
    callbacks = [epoch_log, *fit_data.pop("callbacks", [])]  # EpochOrders.set_epoch among them
    model.fit(
        **fit_data,
        epochs=spec.train.epochs,
        validation_data=(val_data["x"], val_data["y"]),
        validation_batch_size=val_data["batch_size"],
        callbacks=callbacks,
        verbose=1 if bar else 0,
    )
    return epoch_log.rows


def _set_random_seed(seed: int, backend: str) -> None:
    if backend == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    # What keras.utils.set_random_seed seeds here, without the TensorFlow seed: it imports TensorFlow
    # whenever it is installed, to seed tf.data, which this pipeline does not use.
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
    # before anything is built: layers take their dtype then. The policy too: Keras keeps the first
    # one it made, from the floatx of that moment.
    keras.config.set_floatx(spec.train.dtype)
    keras.config.set_dtype_policy(spec.train.dtype)
    _set_random_seed(spec.train.seed, keras.backend.backend())  # initial weights, dropout, warps
    model = build_model(spec)
    model.compile(
        optimizer=make_optimizer(spec),
        loss=make_loss(),
        metrics=["accuracy"],
        # Several steps per call of the compiled training step: the call's overhead, and not the
        # step's maths, is most of a step of this small model on a CPU. The torch backend takes one.
        steps_per_execution=1 if keras.backend.backend() == "torch" else 16,
    )
    return Pipeline(
        model,
        make_train_data(spec, splits.x_train, splits.y_train),
        make_eval_data(spec, splits.x_val, splits.y_val),
    )


def run_pipeline(pipeline: Pipeline, spec: Spec, splits, result: Result, quiet: bool, stopwatch):
    """Train the pipeline, then evaluate it on the test split, into `result`."""
    p, start = pipeline, time.perf_counter()
    try:
        result.history = train(p.model, p.train_data, p.val_data, spec, quiet)
        stopwatch.lap("training")
        test_data = make_eval_data(spec, splits.x_test, splits.y_test)
        test_loss, test_accuracy, confusion = evaluate(p.model, test_data, splits.y_test)
        result.test, result.confusion_matrix = Scores(test_loss, test_accuracy), confusion
        stopwatch.lap("evaluation")
    except Diverged as err:
        result.status, result.message, result.history = "diverged", str(err), err.history
    result.total_seconds = time.perf_counter() - start
    result.phases = stopwatch.phases
    return result


def start_side(device_choice: str, float64: bool) -> str:
    """The training device, or exit 2 saying why; JAX's 64-bit types on when float64 is asked."""
    device = cli.or_usage_error(select_device, device_choice)
    if keras.backend.backend() == "jax" and float64:
        # JAX computes in float32 whatever the dtype asked for, unless 64-bit types are enabled
        importlib.import_module("jax").config.update("jax_enable_x64", True)
    return device


def versions() -> dict[str, str]:
    backend = keras.backend.backend()
    return {
        "keras_backend": backend,
        backend: importlib.import_module(backend).__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def main(argv=None) -> int:
    """Train one side on the spec and print its summary."""
    stopwatch = cli.Stopwatch()
    args = cli.side_parser("python -m keras_impl.train").parse_args(argv)
    if args.save_model and not args.save_model.endswith(".keras"):
        cli.fail_usage(f"--save-model {args.save_model}: Keras's native format needs a .keras name")
    spec, splits = cli.load_inputs(args)
    device = start_side(args.device, spec.train.dtype == "float64")
    print(f"keras: training on {describe(device)}, {keras.backend.backend()} backend", flush=True)
    result = new_result("keras", spec.to_dict(), "independent", spec.train.seed, versions(), describe(device))
    pipeline = build_pipeline(spec, splits)
    stopwatch.lap("build")
    run_pipeline(pipeline, spec, splits, result, args.quiet, stopwatch)
    return cli.finish(result, args, pipeline.model.save)


if __name__ == "__main__":
    sys.exit(cli.run_main("keras", main))
