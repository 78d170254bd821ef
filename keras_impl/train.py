"""Training: Keras's compile + fit, and `python -m keras_impl.train`."""

from __future__ import annotations

import math
import os
import sys
import time

os.environ.setdefault(
    "TF_CPP_MIN_LOG_LEVEL", "3"
)  # before TensorFlow is imported: no C++ log chatter

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_impl.data import make_eval_data, make_train_data  # noqa: E402
from keras_impl.device import describe, select_device  # noqa: E402
from keras_impl.evaluate import evaluate  # noqa: E402
from keras_impl.model import build_model, load_initial_weights  # noqa: E402
from shared import cli  # noqa: E402
from shared.align import epoch_orders, initial_weights  # noqa: E402
from shared.results import Diverged, new_result  # noqa: E402
from shared.spec import Spec  # noqa: E402


def make_optimizer(spec: Spec) -> keras.optimizers.Adam:
    t = spec.train
    # Keras adds epsilon to the raw sqrt(v), torch to the bias-corrected one (see torch_impl/train.py).
    return keras.optimizers.Adam(
        learning_rate=t.lr, beta_1=t.beta1, beta_2=t.beta2, epsilon=t.epsilon
    )


class EpochLog(keras.callbacks.Callback):
    """One row per epoch in the shared schema, with its wall time; stops on a non-finite loss."""

    def __init__(self, spec: Spec):
        super().__init__()
        self.spec = spec
        self.rows: list[dict] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        loss, t = (
            float(logs["loss"]),
            self.spec.train,
        )  # fit's running mean over this epoch's batches
        if t.diverged(loss):
            raise Diverged(
                f"epoch {len(self.rows) + 1}: training diverged: loss {loss:.4g} (limit train.max_loss = "
                f"{t.max_loss:g}) after {batch + 1} batches; lower train.lr (now {t.lr:g})",
                self.rows,
            )

    def on_epoch_end(self, epoch, logs=None):
        # fit's loss and accuracy: the sample-weighted mean over this epoch's training batches (dropout on).
        self.rows.append(
            {
                "epoch": epoch + 1,
                "train_loss": float(logs["loss"]),
                "train_accuracy": float(logs["accuracy"]),
                "val_loss": float(logs["val_loss"]),
                "val_accuracy": float(logs["val_accuracy"]),
                "seconds": time.perf_counter() - self.start,
            }
        )


def train(
    model: keras.Model,
    train_data,
    val_data,
    spec: Spec,
    steps_per_epoch: int | None = None,
    quiet: bool = False,
) -> list[dict]:
    """Train for spec.train.epochs; one history row per epoch, validated in inference mode after each."""
    model.compile(
        optimizer=make_optimizer(spec),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = EpochLog(spec)
    model.fit(
        train_data,
        epochs=spec.train.epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=val_data,
        shuffle=False,
        callbacks=[history],
        verbose=0 if quiet else 1,
    )  # the dataset shuffles
    return history.rows


def main(argv=None) -> int:
    args = cli.side_parser("python -m keras_impl.train").parse_args(argv)
    if args.save_model and not args.save_model.endswith(".keras"):
        cli.fail_usage(
            f"--save-model {args.save_model}: Keras's native format needs a .keras file name"
        )
    spec, splits = cli.load_inputs(args)
    try:
        device = select_device(args.device)
    except cli.DeviceError as err:
        cli.fail_usage(str(err))
    keras.utils.set_random_seed(spec.train.seed)  # initial weights (independent mode), dropout
    versions = {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__}
    result = new_result(
        "keras", spec.to_dict(), args.mode, args.align_seed, versions, describe(device)
    )
    print(f"keras: training on {result['device']} ({args.mode} mode)", flush=True)

    model = build_model(spec)
    orders, steps = None, None
    if args.mode == "aligned":
        load_initial_weights(model, initial_weights(spec, args.align_seed))
        orders = epoch_orders(len(splits.y_train), spec.train.epochs, args.align_seed)
        steps = math.ceil(len(splits.y_train) / spec.train.batch_size)
    train_data = make_train_data(spec, splits.x_train, splits.y_train, orders)
    val_data = make_eval_data(spec, splits.x_val, splits.y_val)

    start = time.perf_counter()
    try:
        result["history"] = train(model, train_data, val_data, spec, steps, args.quiet)
        test_loss, test_acc, confusion = evaluate(
            model, make_eval_data(spec, splits.x_test, splits.y_test)
        )
        result["test"], result["confusion_matrix"] = (
            {"loss": test_loss, "accuracy": test_acc},
            confusion,
        )
    except Diverged as err:
        result.update(status="diverged", message=str(err), history=err.history)
    result["total_seconds"] = time.perf_counter() - start
    return cli.finish(result, args, model.save)


if __name__ == "__main__":
    sys.exit(main())
