"""Training: the explicit PyTorch loop, and `python -m torch_impl.train`."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torchvision
from torch import nn
from tqdm import tqdm

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
from torch_impl.data import make_eval_data, make_train_data
from torch_impl.device import describe, select_device
from torch_impl.evaluate import evaluate
from torch_impl.model import build_model


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


def train(
    model,
    optimizer,
    loss_fn,
    train_loader,
    val_loader,
    spec: Spec,
    device,
    quiet: bool = False,
) -> list[EpochRow]:
    """Train for spec.train.epochs; one history row per epoch, validated in eval mode after each.
    Progress: a tqdm bar on a terminal; elsewhere (a log file, CI, compare.py) one line per epoch,
    where the bar would write an update per batch."""
    bar = not quiet and sys.stdout.isatty()
    history: list[EpochRow] = []
    for epoch in range(1, spec.train.epochs + 1):
        start = time.perf_counter()
        with tqdm(
            total=len(train_loader.dataset),
            desc=f"Epoch {epoch}/{spec.train.epochs}",
            unit="img",
            disable=not bar,
            leave=True,
            file=sys.stdout,
        ) as progress:
            try:
                train_loss, train_accuracy = train_epoch(
                    model, train_loader, optimizer, loss_fn, device, progress, spec, epoch
                )
            except Diverged as err:
                err.history = history
                raise
            val_loss, val_accuracy, _ = evaluate(model, val_loader, device)
            seconds = time.perf_counter() - start
            progress.set_postfix(
                loss=f"{train_loss:.4f}",
                acc=f"{train_accuracy:.4f}",
                val_loss=f"{val_loss:.4f}",
                val_acc=f"{val_accuracy:.4f}",
            )
        history.append(
            epoch_row(epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds)
        )
        if not quiet and not bar:
            print(epoch_line("torch", history[-1], spec.train.epochs), flush=True)
    return history


@dataclass
class Pipeline:
    """What a run trains with, as built from the spec."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: nn.Module
    train_loader: object
    val_loader: object


def build_pipeline(spec: Spec, splits, device: torch.device) -> Pipeline:
    """The model, optimizer, loss and loaders of a run of `spec`, seeded by spec.train.seed."""
    torch.manual_seed(spec.train.seed)  # the initial weights and dropout; the loaders seed the rest
    model = build_model(spec).to(device, getattr(torch, spec.train.dtype))
    return Pipeline(
        model,
        make_optimizer(model, spec),
        make_loss(),
        make_train_data(spec, splits.x_train, splits.y_train, device),
        make_eval_data(spec, splits.x_val, splits.y_val, device),
    )


def run_pipeline(
    pipeline: Pipeline, spec: Spec, splits, device, result: Result, quiet: bool, stopwatch
) -> Result:
    """Train the pipeline, then evaluate it on the test split, into `result`."""
    p, start = pipeline, time.perf_counter()
    try:
        result.history = train(
            p.model, p.optimizer, p.loss_fn, p.train_loader, p.val_loader, spec, device, quiet
        )
        stopwatch.lap("training")
        test_loader = make_eval_data(spec, splits.x_test, splits.y_test, device)
        test_loss, test_accuracy, confusion = evaluate(p.model, test_loader, device)
        result.test, result.confusion_matrix = Scores(test_loss, test_accuracy), confusion
        stopwatch.lap("evaluation")
    except Diverged as err:
        result.status, result.message, result.history = "diverged", str(err), err.history
    result.total_seconds = time.perf_counter() - start
    result.phases = stopwatch.phases
    return result


def start_side(device_choice: str) -> torch.device:
    """The training device, or exit 2 saying why; on a CPU, one intra-op thread."""
    device = cli.or_usage_error(select_device, device_choice)
    if device.type == "cpu":
        # One intra-op thread. Classic: the DataLoader workers want the cores. Batched, measured on 2
        # cores: two threads ran an epoch in 1.0-1.1 s idle, one in 1.3 s; but while another process
        # kept a core busy, two threads waited on each other, 3-17 s an epoch, and one took 1.2-1.6 s.
        torch.set_num_threads(1)
    return device


def versions() -> dict[str, str]:
    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": np.__version__}


def main(argv=None) -> int:
    """Train one side on the spec and print its summary."""
    stopwatch = cli.Stopwatch()
    args = cli.side_parser("python -m torch_impl.train").parse_args(argv)
    spec, splits = cli.load_inputs(args)
    device = start_side(args.device)
    print(f"torch: training on {describe(device)}", flush=True)
    result = new_result("torch", spec.to_dict(), "independent", spec.train.seed, versions(), describe(device))
    pipeline = build_pipeline(spec, splits, device)
    stopwatch.lap("build")
    run_pipeline(pipeline, spec, splits, device, result, args.quiet, stopwatch)
    return cli.finish(result, args, lambda path: torch.save(pipeline.model.state_dict(), path))


if __name__ == "__main__":
    sys.exit(cli.run_main("torch", main))
