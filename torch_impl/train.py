"""Training: the explicit PyTorch loop, and `python -m torch_impl.train`."""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch
import torchvision
from torch import nn
from tqdm import tqdm

from shared import cli
from shared.align import epoch_orders, initial_weights
from shared.results import (
    Diverged,
    EpochRow,
    Scores,
    check_divergence,
    epoch_row,
    new_result,
    write_json,
)
from shared.spec import Spec
from torch_impl.audit import describe_pipeline
from torch_impl.data import make_eval_data, make_train_data
from torch_impl.device import describe, select_device
from torch_impl.evaluate import evaluate
from torch_impl.model import build_model, load_initial_weights


def make_optimizer(model: nn.Module, spec: Spec) -> torch.optim.Adam:
    t = spec.train
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=t.lr,
        betas=(t.beta1, t.beta2),
        eps=t.epsilon,
        fused=True,  # one kernel per step, not a dozen ops per tensor: 0.1-0.2 s less per epoch here
    )
    # [adam-epsilon] Keras adds epsilon to the raw sqrt(v), torch to the bias-corrected sqrt(v_hat):
    # the same update needs torch's eps = epsilon / sqrt(1 - beta2^t) at step t, set before each step.
    for group in optimizer.param_groups:
        group["keras_epsilon"], group["keras_step"] = t.epsilon, 0
    optimizer.register_step_pre_hook(keras_epsilon)
    return optimizer


def keras_epsilon(optimizer: torch.optim.Optimizer, args, kwargs) -> None:
    """Before step t: eps = epsilon / sqrt(1 - beta2^t), which makes torch's Adam update Keras's."""
    for group in optimizer.param_groups:
        group["keras_step"] += 1
        beta2 = group["betas"][1]
        group["eps"] = group["keras_epsilon"] / math.sqrt(1 - beta2 ** group["keras_step"])


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
    model, optimizer, loss_fn, train_loader, val_loader, spec: Spec, device, quiet: bool = False
) -> list[EpochRow]:
    """Train for spec.train.epochs; one history row per epoch, validated in eval mode after each."""
    history: list[EpochRow] = []
    for epoch in range(1, spec.train.epochs + 1):
        start = time.perf_counter()
        with tqdm(
            total=len(train_loader.dataset),
            desc=f"Epoch {epoch}/{spec.train.epochs}",
            unit="img",
            disable=quiet,
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
    return history


def main(argv=None) -> int:
    stopwatch = cli.Stopwatch()
    args = cli.side_parser("python -m torch_impl.train").parse_args(argv)
    spec, splits = cli.load_inputs(args)
    try:
        device = select_device(args.device)
    except cli.DeviceError as err:
        cli.fail_usage(str(err))
    # initial weights (independent mode), dropout; the loaders seed the rest
    torch.manual_seed(spec.train.seed)
    if device.type == "cpu":
        # One intra-op thread. Classic: the DataLoader workers want the cores. Batched, measured on 2
        # cores: two threads ran an epoch in 1.0-1.1 s idle, one in 1.3 s; but while another process
        # kept a core busy, two threads waited on each other, 3-17 s an epoch, and one took 1.2-1.6 s.
        torch.set_num_threads(1)
    versions = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
    }
    result = new_result(
        "torch", spec.to_dict(), args.mode, args.align_seed, versions, describe(device)
    )
    print(f"torch: training on {result.device} ({args.mode} mode)", flush=True)

    model = build_model(spec).to(device)
    optimizer, loss_fn = make_optimizer(model, spec), make_loss()
    train_loader = make_train_data(spec, splits.x_train, splits.y_train, device=device)
    val_loader = make_eval_data(spec, splits.x_val, splits.y_val, device)
    if args.audit:  # the pipeline as built, before aligned mode replaces weights and order
        rows = describe_pipeline(
            spec, model, optimizer, loss_fn, train_loader, val_loader, result.device
        )
        write_json(args.audit, rows)
        if args.audit_only:
            return cli.EXIT_OK
    if args.mode == "aligned":
        load_initial_weights(model, initial_weights(spec, args.align_seed))
        orders = epoch_orders(len(splits.y_train), spec.train.epochs, args.align_seed)
        train_loader = make_train_data(spec, splits.x_train, splits.y_train, orders, device)

    start = time.perf_counter()
    stopwatch.lap("setup")  # the data, the model, the audit
    try:
        result.history = train(
            model, optimizer, loss_fn, train_loader, val_loader, spec, device, args.quiet
        )
        stopwatch.lap("training")
        test_loader = make_eval_data(spec, splits.x_test, splits.y_test, device)
        test_loss, test_accuracy, confusion = evaluate(model, test_loader, device)
        result.test, result.confusion_matrix = Scores(test_loss, test_accuracy), confusion
        stopwatch.lap("evaluation")
    except Diverged as err:
        result.status, result.message, result.history = "diverged", str(err), err.history
    result.total_seconds = time.perf_counter() - start
    result.phases = stopwatch.phases
    return cli.finish(result, args, lambda path: torch.save(model.state_dict(), path))


if __name__ == "__main__":
    sys.exit(main())
