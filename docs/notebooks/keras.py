# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The MNIST pipeline in Keras, stage by stage
#
# This notebook runs the Keras side of the project (`keras_impl/`) one stage at a time: the spec and
# the data, batches, tensor layout, preprocessing, the model, training, evaluation and early
# stopping. Each stage calls the project's own functions and prints what they produced.
#
# It trains on 3,000 images for one epoch, so that it runs in seconds on a CPU. The accuracy is far
# below a full run's; the shapes, types and steps are the same.
#
# The same stages in PyTorch: [pytorch.ipynb](pytorch.ipynb).

# %%
import os

# TensorFlow's C++ log messages off before it loads, as keras_impl/__init__.py sets them
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import keras
import matplotlib.pyplot as plt
import numpy as np

from keras_impl.data import make_eval_data, make_train_data, preprocess
from keras_impl.device import describe, select_device
from keras_impl.evaluate import evaluate
from keras_impl.model import build_model, count_params
from keras_impl.pipeline import build_pipeline
from keras_impl.train import train
from shared.spec import load_spec
from shared.splits import load_splits


def show(name, x):
    """One line: the name, dtype, shape and value range of an array or tensor."""
    x = keras.ops.convert_to_numpy(x)
    print(f"{name:<24} {str(x.dtype):<8} {str(x.shape):<18} {x.min():.5g} to {x.max():.5g}")


# %% [markdown]
# ## 1. The spec and the data
#
# Every number of the pipeline comes from one file, `shared/spec.toml`, which both sides read.
# `load_spec` reads it and applies overrides, written as on the command line
# (`--set data.train_subset=3000`). Here: 3,000 training images and one epoch.
#
# `select_device` picks the GPU when TensorFlow sees one, else the CPU. It runs before TensorFlow
# computes anything, because device settings cannot change after that.
#
# `load_splits` reads MNIST and splits it once: 5,000 of the 60,000 training images are held out
# for validation, by a seeded permutation that both sides share. The images stay `uint8`, 0 to 255,
# as stored in the files: turning them into floats is the model's job (stage 4).

# %%
spec = load_spec(["data.train_subset=3000", "train.epochs=1"])
device = select_device("auto")
print(f"device: {describe(device)}, backend: {keras.backend.backend()}")
print(f"batch size {spec.train.batch_size}, epochs {spec.train.epochs}, lr {spec.train.lr}")
print(f"hidden layers {spec.model.hidden}, dropout {spec.model.dropout}")

splits = load_splits(spec)
for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
    show(name, getattr(splits, name))

# %% [markdown]
# ## 2. Loading and batches
#
# `fit` needs the data and how to walk through it. `make_train_data` returns `fit`'s data
# arguments as a dictionary:
#
# - `x`: a `keras.utils.PyDataset` that serves whole batches of (images, labels). Each epoch
#   visits every image once, in its own order drawn from the seed. The last, smaller batch is kept.
# - `shuffle=False`: the dataset already shuffles; `fit` would also shuffle the order of its batches.
# - `callbacks`: one callback that tells the dataset which epoch has begun.
#
# Why not `fit(x, y, shuffle=True)`? On TensorFlow, once the seed is fixed, it repeats the first
# epoch's order in every epoch. Drawing the orders in NumPy gives a fresh order each epoch.

# %%
train_data = make_train_data(spec, splits.x_train, splits.y_train)
print("fit's data arguments:", sorted(train_data))
batches = train_data["x"]
print(f"{type(batches).__name__}: {len(batches)} batches per epoch")

images, labels = batches[0]
show("first batch: images", images)
show("first batch: labels", labels)
show("last batch: images", batches[len(batches) - 1][0])
print("first labels:", labels[:12])

# %% [markdown]
# ## 3. Tensors and layout
#
# A batch of images is a rank-4 tensor. Keras puts the channels last: (batch, height, width,
# channels), "NHWC". PyTorch puts them first: (batch, channels, height, width), "NCHW". MNIST has
# one channel, so the data adds an axis of size 1 at the end.
#
# The model flattens each image into 784 numbers before its first `Dense` layer. With one channel,
# both layouts flatten to the same order of pixels.

# %%
print("raw images:", splits.x_train.shape, "rank", splits.x_train.ndim)
print("a batch:   ", images.shape, "rank", images.ndim, "(NHWC)")
print("the spec's shapes contract for this batch:", spec.shapes(len(images))["keras_batch"])
print("the same batch in PyTorch's layout (NCHW):", np.moveaxis(images, -1, 1).shape)
print("flattened:", images.reshape(len(images), -1).shape)

# %% [markdown]
# ## 4. Normalization and augmentation
#
# The model starts with preprocessing layers (`preprocess`), so they run wherever the model runs,
# on the GPU when there is one:
#
# 1. `Rescaling(1/255)`: `uint8` 0 to 255 becomes `float32` 0 to 1.
# 2. `RandomAffine`, in training only: each image gets its own small random rotation, shift and
#    scale, a new one every epoch. The model then sees more varied digits and overfits less. It runs
#    on the 0 to 1 image, so that the empty border it brings in is black (0). Keras has no layer that
#    warps like torchvision's `RandomAffine`; this one is the project's (`keras_impl/augment.py`).
# 3. `Normalization`: (x - mean) / std with MNIST's mean 0.1307 and std 0.3081, so that the inputs
#    are centred near 0 with a spread near 1, which suits the first layer's initial weights. Keras's
#    layer takes a variance, so the project passes the std squared.
#
# Below, the layers are applied one by one to the first batch, with `training=True`.

# %%
layers = preprocess(spec, augment=True)
x = images
show("input", x)
for layer in layers.layers:
    x = layer(x, training=True)
    show(f"after {type(layer).__name__}", x)

# %% [markdown]
# With `training=False`, as in validation and testing, `RandomAffine` passes the images through
# unchanged. Top row: the first digits of the batch; bottom row: the same digits augmented.

# %%
rescale, warp = layers.layers[0], layers.layers[1]
rescaled = rescale(images)
augmented = warp(rescaled, training=True)
print(
    "training=False leaves them as they were:",
    np.array_equal(warp(rescaled, training=False), rescaled),
)

fig, axes = plt.subplots(2, 8, figsize=(8, 2.2))
for i in range(8):
    axes[0, i].imshow(images[i, :, :, 0], cmap="gray")
    axes[1, i].imshow(augmented[i, :, :, 0], cmap="gray")
for ax in axes.flat:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 5. The model
#
# `build_model` makes a `keras.Sequential`: the preprocessing layers, `Flatten`, then for each hidden
# layer a `Dense` layer with ReLU and a `Dropout`, and a last `Dense` layer with 10 outputs, one per
# digit. Those outputs are logits, raw scores: no softmax. The loss takes logits
# (`from_logits=True`), which is numerically safer than taking probabilities.
#
# The preprocessing layers have no trainable weights, so the parameters are those of the `Dense`
# layers.

# %%
model = build_model(spec)
model.summary()
print("trainable parameters:", count_params(model))

# %% [markdown]
# ## 6. Training
#
# `build_pipeline` seeds the random numbers, builds the model and compiles it: Adam as the
# optimizer, sparse categorical cross-entropy on logits as the loss, accuracy as the metric. It also
# makes `fit`'s data arguments for the training and validation images.
#
# `train` calls `model.fit` for the spec's epochs. After each epoch, `fit` measures the loss and
# accuracy on the validation images, in inference mode (no dropout, no augmentation). The history has
# one row per epoch. Its training loss is the mean over the epoch's batches, measured while the model
# was still learning and with dropout on, so it is often higher than the validation loss.

# %%
pipeline = build_pipeline(spec, splits)
print("optimizer:", type(pipeline.model.optimizer).__name__)
print("loss:", type(pipeline.model.loss).__name__)
history = train(pipeline.model, pipeline.train_data, pipeline.val_data, spec)
print({key: round(value, 4) for key, value in vars(history[-1]).items()})

# %% [markdown]
# ## 7. Evaluation
#
# The test images are used once, at the end, to measure the trained model on images it never
# learned from. `evaluate` runs the model in inference mode over all 10,000 test images, in order,
# and returns the mean loss, the accuracy and the confusion matrix: row = the true digit, column =
# the predicted one. The diagonal holds the right answers.

# %%
test_data = make_eval_data(spec, splits.x_test, splits.y_test)
loss, accuracy, confusion = evaluate(pipeline.model, test_data, splits.y_test)
print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f} on {len(splits.y_test)} images")
confusion = np.array(confusion)
print(confusion)
mistakes = confusion - np.diag(np.diag(confusion))
true, predicted = np.unravel_index(mistakes.argmax(), mistakes.shape)
print(f"most frequent mistake: {true} taken for {predicted}, {mistakes.max()} times")

# %% [markdown]
# ## 8. Early stopping
#
# A longer run may start to overfit: the training loss keeps falling while the validation loss
# rises. Early stopping watches the validation loss after each epoch, stops when it has not improved
# for `patience` epochs, and keeps the weights of the best epoch.
#
# In Keras this is a callback passed to `fit`: `keras.callbacks.EarlyStopping`. With
# `restore_best_weights=True`, it copies the model's weights at the end of each epoch that improves
# on the best so far. At the end of training (its `on_train_end`, in Keras 3's
# `keras/src/callbacks/early_stopping.py`) it loads the best epoch's weights back into the model,
# whether training stopped early or ran all its epochs. It restores the weights only, not the
# optimizer's state.
#
# The project does not use early stopping: both sides train the spec's number of epochs, so that
# their curves can be compared epoch by epoch. Here it runs on 2,000 images for at most 4 epochs,
# through the same `fit` call that `keras_impl.train.train` makes, with one more callback. On so
# short a run the validation loss may improve every epoch; then training runs all 4 epochs and the
# best epoch is the last.

# %%
stop_spec = load_spec(["data.train_subset=2000", "train.epochs=4"])
stop_splits = load_splits(stop_spec)
stop = build_pipeline(stop_spec, stop_splits)
early_stopping = keras.callbacks.EarlyStopping(
    monitor="val_loss", patience=1, restore_best_weights=True, verbose=1
)
fit_data = dict(stop.train_data)
callbacks = [*fit_data.pop("callbacks"), early_stopping]  # the dataset's epoch callback, and this
fit_history = stop.model.fit(
    **fit_data,
    epochs=stop_spec.train.epochs,
    validation_data=(stop.val_data["x"], stop.val_data["y"]),
    validation_batch_size=stop.val_data["batch_size"],
    callbacks=callbacks,
    verbose=0,
)
print("validation loss per epoch:", [round(v, 4) for v in fit_history.history["val_loss"]])
print(
    f"epochs run: {len(fit_history.history['val_loss'])}, best epoch: {early_stopping.best_epoch + 1}"
)
restored = stop.model.evaluate(**stop.val_data, verbose=0, return_dict=True)
print(f"validation loss of the weights now in the model: {restored['loss']:.4f}")

# %% [markdown]
# ## Where next
#
# - [docs/walkthrough/index.md](../walkthrough/index.md): every stage in both frameworks side by
#   side, with the framework differences the project bridges and what each one costs.
# - `python compare.py`: trains both sides on the full spec and compares them epoch by epoch
#   (`python compare.py --quick` for a short run).
