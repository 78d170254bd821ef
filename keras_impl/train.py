"""Training: Keras's compile + fit, and `python -m keras_impl.train`."""

from __future__ import annotations

import importlib
import random
import sys
import time

import keras
import numpy as np

from keras_impl.data import make_eval_data, make_train_data
from keras_impl.describe import describe_pipeline
from keras_impl.device import describe, select_device
from keras_impl.evaluate import evaluate
from keras_impl.lockstep_hooks import BatchLoss, Lockstep
from keras_impl.model import build_model, load_initial_weights
from shared import cli
from shared.align import epoch_orders, initial_weights
from shared.exit_codes import EXIT_PASS
from shared.results import (
    Diverged,
    EpochRow,
    Result,
    Scores,
    check_divergence,
    epoch_line,
    epoch_row,
    new_result,
    write_json,
)
from shared.spec import Spec


def make_optimizer(spec: Spec) -> keras.optimizers.Adam:
    t = spec.train
    # [adam-epsilon] Keras adds epsilon to the raw sqrt(v), torch to the bias-corrected sqrt(v_hat);
    # torch_impl/train.py bridges to this update. [float64-constants] np.float64 betas in float64: on
    # TensorFlow a Python float becomes a float32 tensor first, which moves the bias correction 1e-7.
    # Not in float32, where an np.float64 beta would make the moment updates compute in float64 (NumPy
    # promotion, which Keras's ops follow) and cast back at every step.
    float64 = spec.train.dtype == "float64" and not spec.ablate.float64_constants
    constant = np.float64 if float64 else float
    return keras.optimizers.Adam(
        learning_rate=t.lr,
        beta_1=constant(t.beta1),
        beta_2=constant(t.beta2),
        epsilon=t.epsilon,
    )


def make_loss(spec: Spec) -> keras.losses.SparseCategoricalCrossentropy:
    # [loss-from-logits] the model outputs logits; the default from_logits=False expects probabilities
    return keras.losses.SparseCategoricalCrossentropy(from_logits=not spec.ablate.loss_from_logits)


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
    lockstep=None,
) -> list[EpochRow]:
    """Train a compiled model for spec.train.epochs on fit's data arguments (data.py); one history row
    per epoch, validated in inference mode after each. In lockstep, the `lockstep` callback feeds the
    shared draws in and records every step. Progress: fit's bar on a terminal; elsewhere (a log file,
    CI, compare.py) one line per epoch, where the bar would write its escape codes."""
    bar = not quiet and sys.stdout.isatty()
    fit_data, epoch_log = dict(train_data), EpochLog(spec, lines=not quiet and not bar)
    # EpochOrders.set_epoch, then the draws of the step
    callbacks = [epoch_log, *fit_data.pop("callbacks", []), *([lockstep] if lockstep else [])]
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


def run(
    spec: Spec, splits, mode: str, align_seed: int, device, args, stopwatch: cli.Stopwatch
) -> tuple[Result, keras.Model] | None:
    """Build the pipeline from `spec`, train it in `mode`, evaluate it: (the run's Result, the model);
    None after describing the pipeline for args.audit when args.audit_only."""
    backend = keras.backend.backend()
    # before anything is built: layers take their dtype then. The policy too: Keras keeps the first
    # one it made, from the floatx of that moment.
    keras.config.set_floatx(spec.train.dtype)
    keras.config.set_dtype_policy(spec.train.dtype)
    _set_random_seed(spec.train.seed, backend)  # initial weights (independent mode), dropout
    versions = {
        "keras_backend": backend,
        backend: importlib.import_module(backend).__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }
    result = new_result("keras", spec.to_dict(), mode, align_seed, versions, describe(device))
    lockstep = mode == "lockstep"
    model, loss_fn = build_model(spec, lockstep), make_loss(spec)
    # Several steps per call of the compiled training step: the call's overhead, and not the step's
    # maths, is most of a step of this small model on a CPU. The torch backend takes one step per
    # call, and lockstep one, to set each step's draws before it.
    steps_per_execution = 1 if backend == "torch" or lockstep else 16
    model.compile(
        optimizer=make_optimizer(spec),
        loss=loss_fn,
        metrics=["accuracy", *([BatchLoss(loss_fn)] if lockstep else [])],
        steps_per_execution=steps_per_execution,
    )
    train_data = make_train_data(spec, splits.x_train, splits.y_train)
    val_data = make_eval_data(spec, splits.x_val, splits.y_val)
    stopwatch.lap("build")
    if args.audit:  # the pipeline as built, before aligned mode replaces weights and order
        write_json(args.audit, describe_pipeline(spec, model, train_data, result.device))
        stopwatch.lap("audit")
        if args.audit_only:
            return None
    callback = None
    if mode in ("aligned", "lockstep"):
        load_initial_weights(model, initial_weights(spec, align_seed))
        orders = epoch_orders(len(splits.y_train), spec.train.epochs, align_seed)
        train_data = make_train_data(spec, splits.x_train, splits.y_train, orders)
        if lockstep:
            served = getattr(train_data["x"], "orders", orders)  # as EpochOrders serves them
            images, labels = splits.x_train[..., None], splits.y_train.astype(np.int64)
            callback = Lockstep(spec, align_seed, served, images, labels, loss_fn)

    start = time.perf_counter()
    stopwatch.lap("setup")  # aligned mode's shared weights and order
    try:
        result.history = train(model, train_data, val_data, spec, args.quiet, callback)
        stopwatch.lap("training")
        test_data = make_eval_data(spec, splits.x_test, splits.y_test)
        test_loss, test_accuracy, confusion = evaluate(model, test_data, splits.y_test)
        result.test, result.confusion_matrix = Scores(test_loss, test_accuracy), confusion
        stopwatch.lap("evaluation")
    except Diverged as err:
        result.status, result.message, result.history = "diverged", str(err), err.history
    result.total_seconds = time.perf_counter() - start
    result.steps = callback.records if callback else []
    result.phases = stopwatch.phases
    return result, model


def main(argv=None) -> int:
    stopwatch = cli.Stopwatch()
    args = cli.side_parser("python -m keras_impl.train").parse_args(argv)
    if args.save_model and not args.save_model.endswith(".keras"):
        cli.fail_usage(
            f"--save-model {args.save_model}: Keras's native format needs a .keras file name"
        )
    spec, splits = cli.load_inputs(args)
    stopwatch.lap("data")
    try:
        device = select_device(args.device)
    except cli.DeviceError as err:
        cli.fail_usage(str(err))
    spec = cli.main_spec(spec, args.mode)
    backend = keras.backend.backend()
    if backend == "jax" and (args.probe or spec.train.dtype == "float64"):
        # JAX computes in float32 whatever the dtype asked for, unless 64-bit types are enabled
        importlib.import_module("jax").config.update("jax_enable_x64", True)
    print(
        f"keras: training on {describe(device)}, {backend} backend ({args.mode} mode)", flush=True
    )
    if args.probe:  # the float64 lockstep probe, before the run itself
        cli.write_probe("keras", spec, splits, args, device, run, stopwatch)
    outcome = run(spec, splits, args.mode, args.align_seed, device, args, stopwatch)
    if outcome is None:
        return EXIT_PASS
    result, model = outcome
    return cli.finish(result, args, model.save)


if __name__ == "__main__":
    sys.exit(cli.run_main("keras", main))
