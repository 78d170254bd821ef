"""Data loading and normalization on both sides: the shapes contract, values, order, no augmentation at eval."""

import numpy as np
import pytest
import torch

from shared.align import epoch_orders
from shared.spec import load_spec
from torch_impl import data as torch_data
from torch_parity.alignment import EpochOrders

keras = pytest.importorskip("keras")  # on any backend: KERAS_BACKEND
from keras_impl import data as keras_data  # noqa: E402
from keras_impl.model import build_model as keras_build  # noqa: E402


def reference(images, spec):
    """The spec's normalization in float64 numpy: ((x / 255) - mean) / std."""
    return (images.astype(np.float64) / 255 - spec.data.mean) / spec.data.std


def first_batch_torch(loader):
    return next(iter(loader))


class KerasBatches:
    """A Keras run's batches as the Dense layers get them: fit's (or evaluate's) data arguments, batch
    by batch in stored order (aligned: the first epoch's order), through the built model's
    preprocessing layers with training=True, as fit calls them, or False, as evaluate does. Each pass
    over it runs the layers again."""

    def __init__(self, spec, data: dict, training: bool):
        self.data, self.training = data, training
        self.preprocessing = keras_build(spec).get_layer("preprocessing")

    def __iter__(self):
        x = self.data["x"]
        if isinstance(x, keras_data.EpochOrders):
            batches = (x[index] for index in range(len(x)))
        else:
            size, y = self.data["batch_size"], self.data["y"]
            batches = ((x[i : i + size], y[i : i + size]) for i in range(0, len(x), size))
        for images, labels in batches:
            images = self.preprocessing(images, training=self.training)
            yield keras.ops.convert_to_numpy(images), labels


def keras_eval_batches(spec, images, labels):
    return KerasBatches(spec, keras_data.make_eval_data(spec, images, labels), training=False)


def keras_aligned(spec, images, labels, orders=None) -> dict:
    """fit's data arguments, serving `orders` as keras_parity/alignment.py makes them serve."""
    data = keras_data.make_train_data(spec, images, labels)
    if orders is not None:
        data["x"].orders = orders
    return data


def torch_aligned(spec, images, labels, orders=None):
    """The training loader, serving `orders` as torch_parity/alignment.py makes it serve."""
    loader = torch_data.make_train_data(spec, images, labels)
    if orders is not None:
        loader.batch_sampler.sampler = EpochOrders(orders)
    return loader


def keras_train_batches(spec, images, labels, orders=None):
    return KerasBatches(spec, keras_aligned(spec, images, labels, orders), True)


def fit_labels(data: dict, epochs: int, initial_epoch: int = 0) -> list[list[list[int]]]:
    """The labels of every batch fit trains on, per epoch, given fit's data arguments (data.py): a
    one-layer model, run eagerly, whose loss writes down its labels."""
    seen = []

    def recording_loss(labels, outputs):
        try:
            seen[-1].append(keras.ops.convert_to_numpy(labels).astype(int).ravel().tolist())
        except Exception:  # fit's symbolic pass, before the first epoch, has no values
            pass
        return keras.ops.mean(outputs)

    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    steps = 1 if keras.backend.backend() == "torch" else 4  # as train.py: several steps per call
    model.compile("sgd", loss=recording_loss, run_eagerly=True, steps_per_execution=steps)
    fit_data = dict(data)
    begin = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append([]))
    callbacks = [begin, *fit_data.pop("callbacks", [])]
    model.fit(
        **fit_data, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=0
    )
    return seen


def first_batch_keras(batches: KerasBatches):
    images, labels = next(iter(batches))
    return images, np.asarray(labels)


def test_split_sizes(splits, spec):
    assert splits.x_train.shape == (55000, 28, 28) and splits.x_val.shape == (5000, 28, 28)
    assert splits.x_test.shape == (10000, 28, 28) and splits.x_train.dtype == np.uint8
    assert spec.shapes(55000)["raw"] == splits.x_train.shape


def test_torch_shapes_and_normalization(splits, spec):
    dataset = torch_data.MnistDataset(
        splits.x_val, splits.y_val, torch_data.preprocess(spec, augment=False)
    )
    image, label = dataset[0]
    assert tuple(image.shape) == spec.shapes(1)["torch_sample"] and image.dtype == torch.float32
    images, labels = first_batch_torch(torch_data.make_eval_data(spec, splits.x_val, splits.y_val))
    assert tuple(images.shape) == spec.shapes(128)["torch_batch"] and labels.dtype == torch.int64
    np.testing.assert_allclose(images[:, 0].numpy(), reference(splits.x_val[:128], spec), atol=1e-6)
    assert labels.tolist() == splits.y_val[:128].tolist()


def test_keras_shapes_and_normalization(splits, spec):
    data = keras_data.make_eval_data(spec, splits.x_val, splits.y_val)
    assert (
        data["x"].shape == (5000, *spec.shapes(1)["keras_sample"]) and data["x"].dtype == np.uint8
    )
    images, labels = first_batch_keras(keras_eval_batches(spec, splits.x_val, splits.y_val))
    assert images.shape == spec.shapes(128)["keras_batch"] and images.dtype == np.float32
    assert images.shape[1:] == spec.shapes(1)["keras_sample"]
    np.testing.assert_allclose(images[..., 0], reference(splits.x_val[:128], spec), atol=1e-6)
    assert labels.tolist() == splits.y_val[:128].tolist()


def test_both_sides_feed_the_same_eval_batches(splits, spec):
    t_images, _ = first_batch_torch(torch_data.make_eval_data(spec, splits.x_test, splits.y_test))
    k_images, _ = first_batch_keras(keras_eval_batches(spec, splits.x_test, splits.y_test))
    # NCHW vs NHWC: the same numbers once the channel axis is moved.
    np.testing.assert_allclose(t_images.permute(0, 2, 3, 1).numpy(), k_images, atol=1e-6)


def test_last_partial_batch_is_kept():
    spec = load_spec(["data.train_subset=300", "train.batch_size=128", "augment.enabled=false"])
    x = np.zeros((300, 28, 28), np.uint8)
    y = np.arange(300, dtype=np.uint8) % 10
    assert [len(b[1]) for b in torch_data.make_train_data(spec, x, y)] == [128, 128, 44]
    (epoch,) = fit_labels(keras_data.make_train_data(spec, x, y), epochs=1)
    assert [len(batch) for batch in epoch] == [128, 128, 44]


def labels_seen(data):
    """The labels in the order the loader / dataset yields them (the tests use labels as sample ids)."""
    if isinstance(data, dict):  # Keras: fit's data arguments; each call fits the next epoch
        epoch = getattr(data["x"], "epochs_fitted", 0)
        data["x"].epochs_fitted = epoch + 1
        (batches,) = fit_labels(data, epochs=epoch + 1, initial_epoch=epoch)
        return [label for batch in batches for label in batch]
    return [int(label) for batch in data for label in np.asarray(batch[1])]


@pytest.mark.parametrize("side", [torch_data, keras_data], ids=["torch", "keras"])
def test_shuffling_is_a_fresh_full_permutation_every_epoch(side):
    spec = load_spec(["augment.enabled=false", "train.batch_size=100"])
    n = 1000
    data = side.make_train_data(spec, np.zeros((n, 28, 28), np.uint8), np.arange(n))
    first, second = labels_seen(data), labels_seen(data)
    assert sorted(first) == sorted(second) == list(range(n))  # every sample, once per epoch
    assert first != second and first != list(range(n))  # shuffled, anew each epoch
    assert max(first[:100]) - min(first[:100]) > 500  # examples are shuffled, not batches


def test_keras_fit_draws_a_fresh_permutation_each_epoch_of_one_run():
    spec = load_spec(["augment.enabled=false", "train.batch_size=100"])
    n = 1000
    data = keras_data.make_train_data(spec, np.zeros((n, 28, 28), np.uint8), np.arange(n))
    first, second = [sum(epoch, []) for epoch in fit_labels(data, epochs=2)]
    assert sorted(first) == sorted(second) == list(range(n)) and first != second


def test_aligned_order_is_the_shared_permutation_on_both_sides():
    spec = load_spec(["augment.enabled=false", "train.batch_size=64"])
    n = 200
    x, ids = np.zeros((n, 28, 28), np.uint8), np.arange(n)
    orders = epoch_orders(n, 2, seed=5)
    loader = torch_aligned(spec, x, ids, orders)
    assert [labels_seen(loader) for _ in range(2)] == orders.tolist()
    keras_epochs = fit_labels(keras_aligned(spec, x, ids, orders), epochs=2)
    assert [sum(epoch, []) for epoch in keras_epochs] == orders.tolist()
    assert [len(batch) for batch in keras_epochs[0]] == [64, 64, 64, 8]


def test_no_augmentation_on_validation_or_test(splits, spec):
    assert spec.augment.enabled
    for make in (torch_data.make_eval_data, keras_eval_batches):
        one = make(spec, splits.x_val[:256], splits.y_val[:256])
        a = [np.asarray(b[0]) for b in one]
        b = [np.asarray(b[0]) for b in one]
        for first, second in zip(a, b):
            np.testing.assert_array_equal(first, second)
        np.testing.assert_allclose(
            np.concatenate(a).reshape(256, 28, 28), reference(splits.x_val[:256], spec), atol=1e-6
        )


def test_training_data_is_augmented_afresh_each_epoch(splits):
    spec = load_spec(["train.batch_size=256"])
    orders = np.stack([np.arange(256), np.arange(256)])
    for make in (torch_aligned, keras_train_batches):
        data = make(spec, splits.x_val[:256], splits.y_val[:256], orders)
        first, second = [np.asarray(next(iter(data))[0]) for _ in range(2)]
        plain = reference(splits.x_val[:256], spec).reshape(first.shape)
        assert np.abs(first - plain).max() > 0.5 and np.abs(first - second).max() > 0.5
