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
# # The MNIST pipeline in PyTorch, stage by stage
#
# This notebook runs the PyTorch side of the project (`torch_impl/`) one stage at a time: the spec
# and the data, batches, tensor layout, preprocessing, the model, training, evaluation and early
# stopping, and at the end the classic torchvision data path. Each stage calls the project's own
# functions and prints what they produced.
#
# It trains on 3,000 images for one epoch, so that it runs in seconds on a CPU. The accuracy is far
# below a full run's; the shapes, types and steps are the same.
#
# The same stages in Keras: [keras.ipynb](keras.ipynb).

# %%
import copy

import matplotlib.pyplot as plt
import torch
from torch import nn
from tqdm import tqdm

from shared.spec import load_spec
from shared.splits import load_splits
from torch_impl.data import make_eval_data, make_train_data, preprocess
from torch_impl.device import describe, select_device
from torch_impl.evaluate import evaluate
from torch_impl.model import build_model, count_params
from torch_impl.pipeline import build_pipeline
from torch_impl.train import make_loss, make_optimizer, train, train_epoch


def show(name, x):
    """One line: the name, dtype, shape and value range of a tensor or a NumPy array."""
    low, high = x.min().item(), x.max().item()
    print(f"{name:<26} {str(x.dtype):<14} {str(tuple(x.shape)):<18} {low:.5g} to {high:.5g}")


# %% [markdown]
# ## 1. The spec and the data
#
# Every number of the pipeline comes from one file, `shared/spec.toml`, which both sides read.
# `load_spec` reads it and applies overrides, written as on the command line
# (`--set data.train_subset=3000`). Here: 3,000 training images and one epoch.
#
# `select_device` picks the GPU when PyTorch sees one, else the CPU. In PyTorch, the code moves
# tensors and the model to that device itself. On a CPU, PyTorch uses one thread per core by
# default; this notebook asks for one thread (the comment in the code says why).
#
# `load_splits` reads MNIST and splits it once: 5,000 of the 60,000 training images are held out
# for validation, by a seeded permutation that both sides share. The images stay `uint8`, 0 to 255,
# as stored in the files: the transforms turn them into floats (stage 4).

# %%
spec = load_spec(["data.train_subset=3000", "train.epochs=1"])
device = select_device("auto")
# One CPU thread for PyTorch's ops: this small model gains nothing from more, and in a notebook
# kernel, whose own threads share the cores, two threads made an epoch many times slower.
torch.set_num_threads(1)
print(f"device: {describe(device)}")
print(f"batch size {spec.train.batch_size}, epochs {spec.train.epochs}, lr {spec.train.lr}")
print(f"hidden layers {spec.model.hidden}, dropout {spec.model.dropout}")

splits = load_splits(spec)
for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
    show(name, getattr(splits, name))

# %% [markdown]
# ## 2. Loading and batches
#
# A PyTorch training loop asks a loader for batches: `for images, labels in loader`. The project's
# default loader is "batched": `make_train_data` puts all the `uint8` images on the training device
# once, then for each step takes the next 128 indices from a `RandomSampler`, gathers those images
# and transforms the whole batch at once, so the batches it yields are already `float32` and
# normalized (stage 4). The sampler draws a fresh order every epoch; the last, smaller batch is
# kept. Validation and test loaders (`make_eval_data`) go in order and never augment.
#
# The usual torchvision loader, a `Dataset` that transforms one image at a time and a `DataLoader`
# that collates them, is stage 9. On a CPU, preparing images one by one takes most of an epoch.

# %%
train_loader = make_train_data(spec, splits.x_train, splits.y_train, device)
print(f"{type(train_loader).__name__}: {len(train_loader)} batches per epoch")
show("the images it holds", train_loader.dataset.tensors[0])

images, labels = next(iter(train_loader))
show("first batch: images", images)
show("first batch: labels", labels)
*_, (last_images, _) = train_loader
show("last batch: images", last_images)
print("first labels:", labels[:12].tolist())

# %% [markdown]
# ## 3. Tensors and layout
#
# A batch of images is a rank-4 tensor. PyTorch puts the channels first: (batch, channels, height,
# width), "NCHW". Keras puts them last: (batch, height, width, channels), "NHWC". MNIST has one
# channel, so the loader adds an axis of size 1 after the batch axis.
#
# The model flattens each image into 784 numbers before its first `Linear` layer. With one channel,
# both layouts flatten to the same order of pixels.

# %%
print("raw images:", splits.x_train.shape, "rank", splits.x_train.ndim)
print("a batch:   ", tuple(images.shape), "rank", images.ndim, "(NCHW)", "on", images.device)
print("the spec's shapes contract for this batch:", spec.shapes(len(images))["torch_batch"])
print("the same batch in Keras's layout (NHWC):", tuple(images.permute(0, 2, 3, 1).shape))
print("flattened:", tuple(nn.Flatten()(images).shape))

# %% [markdown]
# ## 4. Normalization and augmentation
#
# `preprocess` chains torchvision transforms with `v2.Compose`:
#
# 1. `ToDtype(float32, scale=True)`: `uint8` 0 to 255 becomes `float32` 0 to 1.
# 2. The random warp, in training only: each image gets its own small random rotation, shift and
#    scale, a new one every epoch. The model then sees more varied digits and overfits less. It runs
#    on the 0 to 1 image, so that the empty border it brings in is black (0). torchvision's
#    `RandomAffine` draws one warp per call, so on a whole batch it would warp every image alike;
#    `BatchRandomAffine` (`torch_impl/augment.py`) draws one per image, as `RandomAffine` draws them.
# 3. `Normalize`: (x - mean) / std with MNIST's mean 0.1307 and std 0.3081, so that the inputs are
#    centred near 0 with a spread near 1, which suits the first layer's initial weights.
#
# Below, the transforms are applied one by one to the first 128 raw training images.

# %%
transform = preprocess(spec, augment=True)
print(transform)
raw = train_loader.dataset.tensors[0][:128]
x = raw
show("input", x)
for step in transform.transforms:
    x = step(x)
    show(f"after {type(step).__name__}", x)

# %% [markdown]
# Validation and test images go through the same chain without the warp:
# `preprocess(spec, augment=False)`. Top row: the first digits; bottom row: the same digits warped.

# %%
to_float, warp = transform.transforms[:2]
print("without augmentation:", [type(step).__name__ for step in preprocess(spec, False).transforms])
warped = warp(to_float(raw))

fig, axes = plt.subplots(2, 8, figsize=(8, 2.2))
for i in range(8):
    axes[0, i].imshow(raw[i, 0].cpu(), cmap="gray")
    axes[1, i].imshow(warped[i, 0].cpu(), cmap="gray")
for ax in axes.flat:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 5. The model
#
# `build_model` makes an `nn.Module`: `Flatten`, then for each hidden layer a `Linear` layer, a ReLU
# and a `Dropout`, and a last `Linear` layer with 10 outputs, one per digit. Those outputs are
# logits, raw scores: no softmax. `nn.CrossEntropyLoss` takes logits.
#
# PyTorch and Keras start their layers from different random weights. The project starts the PyTorch
# layers from Keras's: Glorot-uniform weights and zero biases (`init_like_keras`). `.to(device)`
# moves the weights to the device the batches are on.

# %%
model = build_model(spec).to(device)
print(model)
print("trainable parameters:", count_params(model))
logits = model(images)
show("logits of the first batch", logits.detach())

# %% [markdown]
# ## 6. Training
#
# PyTorch has no `fit`: the training loop is written out. One step, for one batch:
#
# 1. `optimizer.zero_grad()`: clear the gradients of the previous step;
# 2. `logits = model(images)`: the forward pass;
# 3. `loss = loss_fn(logits, labels)`: the mean loss over the batch;
# 4. `loss.backward()`: the gradients;
# 5. `optimizer.step()`: Adam updates the weights.
#
# `model.train()` turns dropout on first; evaluation calls `model.eval()` and turns it off. Here is
# one step by hand, with the project's loss (`make_loss`) and optimizer (`make_optimizer`: Adam, set
# to update the weights exactly as Keras's Adam does; see `docs/walkthrough/08-training.md`).

# %%
optimizer, loss_fn = make_optimizer(model, spec), make_loss()
model.train()
optimizer.zero_grad()
logits = model(images)
loss = loss_fn(logits, labels)
loss.backward()
optimizer.step()
print(f"one step: loss {loss.item():.4f}, logits {tuple(logits.shape)}")

# %% [markdown]
# `build_pipeline` seeds the random numbers and builds a fresh model, the optimizer, the loss and
# the loaders. `train` runs that same step for every batch (`train_epoch`), then measures the
# validation images in inference mode (`evaluate`: no dropout, no augmentation, no gradients). The
# history has one row per epoch. Its training loss is the mean over the epoch's batches, measured
# while the model was still learning and with dropout on, so it is often higher than the validation
# loss.

# %%
pipeline = build_pipeline(spec, splits, device)
history = train(
    pipeline.model,
    pipeline.optimizer,
    pipeline.loss_fn,
    pipeline.train_loader,
    pipeline.val_loader,
    spec,
    device,
)
print({key: round(value, 4) for key, value in vars(history[-1]).items()})

# %% [markdown]
# ## 7. Evaluation
#
# The test images are used once, at the end, to measure the trained model on images it never
# learned from. `evaluate` runs the model in eval mode and without gradients over all 10,000 test
# images, in order, and returns the mean loss, the accuracy and the confusion matrix: row = the true
# digit, column = the predicted one. The diagonal holds the right answers.

# %%
test_loader = make_eval_data(spec, splits.x_test, splits.y_test, device)
loss, accuracy, confusion = evaluate(pipeline.model, test_loader, device)
print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f} on {len(splits.y_test)} images")
confusion = torch.tensor(confusion)
print(confusion)
mistakes = confusion - torch.diag(torch.diag(confusion))
true, predicted = divmod(mistakes.argmax().item(), len(mistakes))
print(f"most frequent mistake: {true} taken for {predicted}, {mistakes.max().item()} times")

# %% [markdown]
# ## 8. Early stopping
#
# A longer run may start to overfit: the training loss keeps falling while the validation loss
# rises. Early stopping watches the validation loss after each epoch, stops when it has not improved
# for `patience` epochs, and keeps the weights of the best epoch.
#
# PyTorch has no callback for it: the loop does it. After each epoch it compares the validation loss
# with the best so far. When it is better, it keeps a copy of the model's `state_dict()` (a deep
# copy: the `state_dict` holds the live tensors, which the next step changes). When `patience`
# epochs pass without improvement, it leaves the loop. At the end it loads the best `state_dict`
# back into the model.
#
# The project does not use early stopping: both sides train the spec's number of epochs, so that
# their curves can be compared epoch by epoch. Here it runs on 2,000 images for at most 4 epochs,
# with the project's `train_epoch` and `evaluate` (`train_epoch` reports progress to a `tqdm` bar,
# switched off here). On so short a run the validation loss may improve every epoch; then training
# runs all 4 epochs and the best epoch is the last.

# %%
stop_spec = load_spec(["data.train_subset=2000", "train.epochs=4"])
stop_splits = load_splits(stop_spec)
stop = build_pipeline(stop_spec, stop_splits, device)
patience = 1
best_loss, best_epoch, best_state, waited = float("inf"), 0, None, 0
for epoch in range(1, stop_spec.train.epochs + 1):
    with tqdm(disable=True) as progress:
        train_loss, _ = train_epoch(
            stop.model,
            stop.train_loader,
            stop.optimizer,
            stop.loss_fn,
            device,
            progress,
            stop_spec,
            epoch,
        )
    val_loss, _, _ = evaluate(stop.model, stop.val_loader, device)
    print(f"epoch {epoch}: train loss {train_loss:.4f}, val loss {val_loss:.4f}")
    if val_loss < best_loss:
        best_loss, best_epoch, waited = val_loss, epoch, 0
        best_state = copy.deepcopy(stop.model.state_dict())
    else:
        waited += 1
        if waited >= patience:
            print(f"no improvement for {waited} epoch(s): stopping")
            break
stop.model.load_state_dict(best_state)
print(f"best epoch: {best_epoch}")
restored, _, _ = evaluate(stop.model, stop.val_loader, device)
print(f"validation loss of the weights now in the model: {restored:.4f}")

# %% [markdown]
# ## 9. The classic torchvision path
#
# The first data pipeline most PyTorch tutorials teach has two parts:
#
# - a `Dataset` (`MnistDataset`) whose `__getitem__` returns one sample, `(transform(image), label)`,
#   with a `v2.Compose` that prepares one image (1, 28, 28) at a time, torchvision's own
#   `RandomAffine` included;
# - a `DataLoader` that asks it for 128 samples and stacks them into a batch. With worker processes
#   (`data.workers`), several batches are prepared in parallel while the model trains.
#
# The project has it: `data.pipeline = "classic"` in the spec. The batches have the same shape,
# dtype and value range as the batched path's. Here it runs without worker processes
# (`data.workers=0`): starting them pays off over an epoch, not for one batch.

# %%
classic_spec = load_spec(["data.train_subset=3000", "data.pipeline=classic", "data.workers=0"])
classic_loader = make_train_data(classic_spec, splits.x_train, splits.y_train)
print(f"{type(classic_loader).__name__} over {type(classic_loader.dataset).__name__}")
print(classic_loader.dataset.transform)

image, label = classic_loader.dataset[0]
show("one sample: image", image)
classic_images, classic_labels = next(iter(classic_loader))
show("classic: a batch", classic_images)
show("batched: a batch", images)
show("classic: labels", classic_labels)
show("batched: labels", labels)

# %% [markdown]
# ## Where next
#
# - [docs/walkthrough/index.md](../walkthrough/index.md): every stage in both frameworks side by
#   side, with the framework differences the project bridges and what each one costs.
# - `python compare.py`: trains both sides on the full spec and compares them epoch by epoch
#   (`python compare.py --quick` for a short run).
