"""Training: the explicit PyTorch loop, and `python -m torch_impl.train`."""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
import torchvision
from torch import nn
from tqdm import tqdm

from shared import cli
from shared.align import epoch_orders, initial_weights
from shared.results import Diverged, new_result
from shared.spec import Spec
from torch_impl.data import make_eval_data, make_train_data
from torch_impl.device import describe, select_device
from torch_impl.evaluate import evaluate
from torch_impl.model import build_model, load_initial_weights


def make_optimizer(model: nn.Module, spec: Spec) -> torch.optim.Adam:
    t = spec.train
    # Same lr, betas and epsilon as Keras, but torch adds epsilon to the bias-corrected sqrt(v_hat)
    # while Keras adds it to the raw sqrt(v): early steps differ slightly (about 0.7 lr on the first one).
    return torch.optim.Adam(model.parameters(), lr=t.lr, betas=(t.beta1, t.beta2), eps=t.epsilon)


def train_epoch(
    model, loader, optimizer, loss_fn, device, progress, spec: Spec
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
        total_loss += loss.item() * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
        if spec.train.diverged(total_loss / seen):  # the running mean, as Keras's check sees it
            raise Diverged(
                f"training diverged: loss {total_loss / seen:.4g} (limit train.max_loss = "
                f"{spec.train.max_loss:g}) after {batch} batches; "
                f"lower train.lr (now {spec.train.lr:g})"
            )
        progress.update(len(labels))
        progress.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
    return total_loss / seen, correct / seen


def train(model, train_loader, val_loader, spec: Spec, device, quiet: bool = False) -> list[dict]:
    """Train for spec.train.epochs; one history row per epoch, validated in eval mode after each."""
    optimizer = make_optimizer(model, spec)
    loss_fn = (
        nn.CrossEntropyLoss()
    )  # takes logits, like SparseCategoricalCrossentropy(from_logits=True)
    history: list[dict] = []
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
                train_loss, train_acc = train_epoch(
                    model, train_loader, optimizer, loss_fn, device, progress, spec
                )
            except Diverged as err:
                raise Diverged(f"epoch {epoch}: {err}", history) from None
            val_loss, val_acc, _ = evaluate(model, val_loader, device)
            seconds = time.perf_counter() - start
            progress.set_postfix(
                loss=f"{train_loss:.4f}",
                acc=f"{train_acc:.4f}",
                val_loss=f"{val_loss:.4f}",
                val_acc=f"{val_acc:.4f}",
            )
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_accuracy": train_acc,
                "val_loss": val_loss,
                "val_accuracy": val_acc,
                "seconds": seconds,
            }
        )
    return history


def main(argv=None) -> int:
    args = cli.side_parser("python -m torch_impl.train").parse_args(argv)
    spec, splits = cli.load_inputs(args)
    try:
        device = select_device(args.device)
    except cli.DeviceError as err:
        cli.fail_usage(str(err))
    torch.manual_seed(
        spec.train.seed
    )  # initial weights (independent mode), dropout; the loaders seed the rest
    if device.type == "cpu":
        # The MLP's matrices are small and DataLoader workers want the cores: with two intra-op threads
        # and any other busy process an epoch took 3.5x longer here; with one it is as fast when idle.
        torch.set_num_threads(1)
    versions = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
    }
    result = new_result(
        "torch", spec.to_dict(), args.mode, args.align_seed, versions, describe(device)
    )
    print(f"torch: training on {result['device']} ({args.mode} mode)", flush=True)

    model = build_model(spec)
    orders = None
    if args.mode == "aligned":
        load_initial_weights(model, initial_weights(spec, args.align_seed))
        orders = epoch_orders(len(splits.y_train), spec.train.epochs, args.align_seed)
    model.to(device)
    train_loader = make_train_data(spec, splits.x_train, splits.y_train, orders)
    val_loader = make_eval_data(spec, splits.x_val, splits.y_val)

    start = time.perf_counter()
    try:
        result["history"] = train(model, train_loader, val_loader, spec, device, args.quiet)
        test_loss, test_acc, confusion = evaluate(
            model, make_eval_data(spec, splits.x_test, splits.y_test), device
        )
        result["test"], result["confusion_matrix"] = (
            {"loss": test_loss, "accuracy": test_acc},
            confusion,
        )
    except Diverged as err:
        result.update(status="diverged", message=str(err), history=err.history)
    result["total_seconds"] = time.perf_counter() - start
    return cli.finish(result, args, lambda path: torch.save(model.state_dict(), path))


if __name__ == "__main__":
    sys.exit(main())
