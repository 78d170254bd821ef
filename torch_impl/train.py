"""Training: the explicit PyTorch loop, and `python -m torch_impl.train`."""

from __future__ import annotations

import math
import sys
import time

import torch
from torch import nn
from tqdm import tqdm

from shared import cli
from shared.results import Diverged, EpochRow, check_divergence, epoch_line, epoch_row
from shared.spec import Spec
from torch_impl.evaluate import evaluate


def make_optimizer(model: nn.Module, spec: Spec) -> torch.optim.Adam:
    t = spec.train
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=t.lr,
        betas=(t.beta1, t.beta2),
        eps=t.epsilon,
        fused=True,  # one kernel per step, not a dozen ops per tensor: 0.1-0.2 s less per epoch here
    )
    # [adam-epsilon] Keras adds epsilon to the raw sqrt(v), torch to the bias-corrected sqrt(v_hat),
    # and Keras's bias correction uses its betas in the variables' dtype: set torch's eps and lr
    # before each step so that its update is Keras's (keras_update).
    dtype = next(model.parameters()).dtype
    for group in optimizer.param_groups:
        group["keras_lr"], group["keras_epsilon"], group["keras_step"] = t.lr, t.epsilon, 0
        # Keras computes its bias correction with the betas rounded to the variables' dtype
        group["keras_betas"] = [torch.tensor(b, dtype=dtype).item() for b in group["betas"]]
    optimizer.register_step_pre_hook(keras_update)
    return optimizer


def keras_update(optimizer: torch.optim.Optimizer, args, kwargs) -> None:
    """Before step t: torch's Adam takes lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps); Keras's
    takes lr * sqrt(1 - b2'^t) / (1 - b1'^t) * m / (sqrt(v) + epsilon), with b' the betas rounded to
    the variables' dtype. Equal with eps = epsilon / sqrt(1 - b2^t) and lr rescaled as below."""
    for group in optimizer.param_groups:
        group["keras_step"] = t = group["keras_step"] + 1
        beta1, beta2 = group["betas"]
        keras_beta1, keras_beta2 = group["keras_betas"]
        correction = math.sqrt(1 - keras_beta2**t) / (1 - keras_beta1**t)
        group["lr"] = group["keras_lr"] * correction * (1 - beta1**t) / math.sqrt(1 - beta2**t)
        group["eps"] = group["keras_epsilon"] / math.sqrt(1 - beta2**t)


def make_loss() -> nn.CrossEntropyLoss:
    # takes logits, like SparseCategoricalCrossentropy(from_logits=True); the mean over the batch
    return nn.CrossEntropyLoss()


def train_epoch(
    model, loader, optimizer, loss_fn, device, progress, spec: Spec, epoch: int
) -> tuple[float, float]:
    """One pass; returns what Keras's fit reports: the sample-weighted mean loss and accuracy of the
    training batches, each measured in the forward pass that trained on it (dropout on)."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for batch, (images, labels) in enumerate(loader, 1):
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        optimizer.zero_grad()
        logits = model(images)
        loss = loss_fn(logits, labels)  # mean over the samples in this batch, as Keras's loss
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(labels)  # [reported-loss] fit's sample-weighted mean
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
        # the running mean, as fit reports it and Keras's check sees it
        check_divergence(total_loss / seen, epoch, batch, spec.train)
        progress.update(len(labels))
        progress.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
    return total_loss / seen, correct / seen


def train(model, optimizer, loss_fn, train_loader, val_loader, spec, device, quiet=False):
    """Train for spec.train.epochs; one history row (EpochRow) per epoch, validated in eval mode after
    each. Progress: a tqdm bar on a terminal; elsewhere (a log file, CI) one line per epoch."""
    bar = not quiet and sys.stdout.isatty()
    history: list[EpochRow] = []
    for epoch in range(1, spec.train.epochs + 1):
        start = time.perf_counter()
        title = f"Epoch {epoch}/{spec.train.epochs}"
        images = len(train_loader.dataset)
        with tqdm(
            total=images, desc=title, unit="img", disable=not bar, file=sys.stdout
        ) as progress:
            try:
                train_loss, train_accuracy = train_epoch(
                    model, train_loader, optimizer, loss_fn, device, progress, spec, epoch
                )
            except Diverged as err:
                err.history = history
                raise
            val_loss, val_accuracy, _ = evaluate(model, val_loader, device)
            progress.set_postfix(val_loss=f"{val_loss:.4f}", val_acc=f"{val_accuracy:.4f}")
        seconds = time.perf_counter() - start
        history.append(
            epoch_row(epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds)
        )
        if not quiet and not bar:
            print(epoch_line("torch", history[-1], spec.train.epochs), flush=True)
    return history


if __name__ == "__main__":  # the whole pipeline, assembled in pipeline.py
    from torch_impl.pipeline import main

    sys.exit(cli.run_main("torch", main))
