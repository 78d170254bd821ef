"""The whole pipeline assembled from its stages (data, augment, model, train, evaluate, device), and
`python -m torch_impl.train`: train one side on the spec and print its summary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torchvision
from torch import nn

from shared import cli
from shared.results import Result, new_result, record_run
from shared.spec import Spec
from torch_impl.data import make_eval_data, make_train_data
from torch_impl.device import describe, select_device
from torch_impl.evaluate import evaluate
from torch_impl.model import build_model
from torch_impl.train import make_loss, make_optimizer, train


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
    if spec.data.pipeline == "classic" and device.type == "cpu":
        torch.set_num_threads(1)  # the DataLoader's worker processes want the cores
    torch.manual_seed(spec.train.seed)  # the initial weights and dropout; the loaders seed the rest
    model = build_model(spec).to(device, getattr(torch, spec.train.dtype))
    if spec.model.kind == "cnn":
        # activations stored height, width, channel, as TensorFlow stores them; their shape (and so
        # Flatten's order) stays NCHW. On a CPU a CNN step takes 16 ms so, 22 ms in NCHW
        model = model.to(memory_format=torch.channels_last)
    return Pipeline(
        model,
        make_optimizer(model, spec),
        make_loss(),
        make_train_data(spec, splits.x_train, splits.y_train, device),
        make_eval_data(spec, splits.x_val, splits.y_val, device),
    )


def run_pipeline(p: Pipeline, spec: Spec, splits, device, result, quiet: bool, stopwatch):
    """Train, then evaluate on the test split, into `result`."""
    return record_run(
        result,
        lambda: train(
            p.model, p.optimizer, p.loss_fn, p.train_loader, p.val_loader, spec, device, quiet
        ),
        lambda: evaluate(
            p.model, make_eval_data(spec, splits.x_test, splits.y_test, device), device
        ),
        stopwatch,
    )


def new_run_result(spec: Spec, device, mode="independent", align_seed=None) -> Result:
    """The Result a run of `spec` fills, with the versions it ran on."""
    versions = cli.versions(torch=torch, torchvision=torchvision, numpy=np)
    seed = spec.train.seed if align_seed is None else align_seed
    return new_result("torch", spec.to_dict(), mode, seed, versions, describe(device))


def main(argv=None) -> int:
    """Train one side on the spec and print its summary."""
    stopwatch = cli.Stopwatch()
    args = cli.side_parser("python -m torch_impl.train").parse_args(argv)
    spec, splits = cli.load_inputs(args)
    device = cli.or_usage_error(select_device, args.device)
    print(f"torch: training on {describe(device)}", flush=True)
    result = new_run_result(spec, device)
    pipeline = build_pipeline(spec, splits, device)
    run_pipeline(pipeline, spec, splits, device, result, args.quiet, stopwatch)
    return cli.finish(result, args, lambda path: torch.save(pipeline.model.state_dict(), path))
