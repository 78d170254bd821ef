"""Training: Keras's compile + fit, and `python -m keras_impl.train`."""

from __future__ import annotations

import sys
import time

import keras
import numpy as np

from shared import cli
from shared.results import Diverged, EpochRow, check_divergence, epoch_line, epoch_row
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
        scores = [logs[key] for key in ("loss", "accuracy", "val_loss", "val_accuracy")]
        self.rows.append(epoch_row(epoch + 1, *scores, time.perf_counter() - self.start))
        if self.lines:
            print(epoch_line("keras", self.rows[-1], self.spec.train.epochs), flush=True)


def train(model, train_data: dict, val_data: dict, spec: Spec, quiet=False) -> list[EpochRow]:
    """Train a compiled model for spec.train.epochs on fit's data arguments (data.py); one history row
    per epoch, validated in inference mode after each. Progress: fit's bar on a terminal; elsewhere
    (a log file, CI) one line per epoch."""
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


if __name__ == "__main__":  # the whole pipeline, assembled in pipeline.py
    from keras_impl.pipeline import main

    sys.exit(cli.run_main("keras", main))
