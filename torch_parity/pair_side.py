"""`python -m torch_parity.pair_side`: the PyTorch half of `mnist-parity pair` (parity/pair.py), run
after the Keras half. It builds the user's module, walks its layers in the order a forward pass calls
them, pairs them with the Keras layers (shared/pairing.py), carries the Keras weights in by the layout
rules (or, where the builder loaded them itself, checks what it loaded), and writes what the Keras half
writes. Instruments attach through PyTorch's hooks: a forward hook gives each nn.Dropout the shared
mask against its OWN rate, forward hooks keep the weighted layers' outputs."""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from shared import cli
from shared.draws import fingerprint
from shared.exit_codes import EXIT_PASS, EXIT_USAGE
from shared.pairing import (
    STATES,
    SUPPORTED,
    PairUsageError,
    call_builder,
    carry_rule,
    dropout_numbers,
    explain_loaded,
    initializer_words,
    load_builder,
    padding_words,
    pair_layers,
    to_keras,
    to_torch,
)
from shared.results import write_atomically
from shared.spec import load_spec

WEIGHTED = {nn.Linear: "dense", nn.Conv2d: "conv2d", _BatchNorm: "batchnorm"}
PADS = (nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d)
RANDOM = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
ROLES = {  # the Keras role each tensor pairs with, in Keras's order
    "dense": (("kernel", "weight"), ("bias", "bias")),
    "conv2d": (("kernel", "weight"), ("bias", "bias")),
    "batchnorm": (
        ("gamma", "weight"),
        ("beta", "bias"),
        ("moving_mean", "running_mean"),
        ("moving_variance", "running_var"),
    ),
}


class GivenDropout:
    """A forward hook on an nn.Dropout: its output replaced by the input masked where the shared
    number (drawn in Keras's layout) is below the module's OWN rate, scaled by 1 / (1 - p) as
    nn.Dropout scales."""

    def __init__(self, seed: int, index: int):
        self.seed, self.index, self.step = seed, index, 0

    def __call__(self, module, inputs, output):
        if not module.training:
            return output
        x = inputs[0]
        shape = (x.shape[0], *x.shape[2:], x.shape[1]) if x.dim() == 4 else tuple(x.shape)
        numbers = dropout_numbers(self.seed, self.step, self.index, shape)
        if x.dim() == 4:
            numbers = numbers.transpose(0, 3, 1, 2)  # Keras's (B, H, W, C) to (B, C, H, W)
        keep = torch.from_numpy(np.ascontiguousarray(numbers)) >= module.p
        return x * keep.to(x.dtype) / (1 - module.p)


def _kind(module: nn.Module) -> str | None:
    return next((kind for cls, kind in WEIGHTED.items() if isinstance(module, cls)), None)


def _tensors(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """A weighted module's tensors by the Keras role they pair with."""
    pairs = [(role, getattr(module, attr, None)) for role, attr in ROLES[_kind(module)]]
    return [(role, tensor) for role, tensor in pairs if tensor is not None]


def _keras_layout(tensor: torch.Tensor) -> np.ndarray:
    """A batch as Keras holds it: (B, C, H, W) -> (B, H, W, C)."""
    array = tensor.detach().cpu()
    return (array.permute(0, 2, 3, 1) if array.dim() == 4 else array).numpy()


def describe_layers(model: nn.Module, x: torch.Tensor) -> tuple[list[dict], dict[str, nn.Module]]:
    """The leaf modules in the order one forward pass calls them, as shared/pairing.py pairs them,
    each Linear with how its input was flattened (measured); PairUsageError for a module the tool
    cannot pair."""
    names = {module: name for name, module in model.named_modules()}
    for name, module in model.named_modules():
        leaf = not list(module.children())
        if isinstance(module, RANDOM):
            raise PairUsageError(
                f"module {name} ({type(module).__name__}) draws random numbers in "
                "training that the tool cannot share; supported: nn.Dropout"
            )
        own = list(module.parameters(recurse=False)) + [
            b for b in module.buffers(recurse=False) if b.is_floating_point()
        ]
        if own and (not leaf or _kind(module) is None):
            raise PairUsageError(
                f"module {name or 'the model'} ({type(module).__name__}) holds "
                f"weights the tool cannot pair. Supported: {SUPPORTED}"
            )
    calls, last, seen = [], [x if x.dim() == 4 else None], {}
    flattened: dict[str, str | None] = {}

    def before(module, inputs):
        if isinstance(module, nn.Linear) and last[0] is not None and inputs[0].dim() == 2:
            flattened[names[module]] = _flatten_order(last[0], inputs[0])
            last[0] = None
        if isinstance(module, nn.Conv2d):
            seen[module, "padding"] = _measured_padding(last[0], inputs[0])
        if type(module) is nn.Dropout:
            seen[module, "units"] = list(inputs[0].shape[1:])

    def after(module, inputs, output):
        if module in calls and type(module) is nn.Dropout:
            raise PairUsageError(
                f"module {names[module]} (Dropout) is called more than once in a forward pass: "
                "the tool gives each nn.Dropout one mask per step; give each call its own module"
            )
        if module not in calls:
            calls.append(module)
        if isinstance(output, torch.Tensor) and output.dim() == 4 and not isinstance(module, PADS):
            last[0] = output

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_pre_hook(before) for m in leaves]
    handles += [m.register_forward_hook(after) for m in leaves]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for handle in handles:
            handle.remove()
    described = []
    for module in calls:
        entry = {"name": names[module] or "(the model)", "class": type(module).__name__}
        kind = _kind(module)
        if kind is not None:
            entry.update(kind=kind, tensors=[[r, list(t.shape)] for r, t in _tensors(module)])
            if kind == "dense" and names[module] in flattened:
                entry["flatten_order"] = flattened[names[module]]
            if kind == "conv2d":
                entry["padding"] = seen[module, "padding"]
        elif type(module) is nn.Dropout:
            entry.update(kind="dropout", rate=float(module.p), units=seen[module, "units"])
        else:
            entry["kind"] = "flatten" if isinstance(module, nn.Flatten) else "free"
        described.append(entry)
    return described, {entry["name"]: module for entry, module in zip(described, calls)}


def _flatten_order(last: torch.Tensor, flat: torch.Tensor) -> str | None:
    """How `flat` (B, n) holds the (B, C, H, W) tensor `last`, maybe through an elementwise
    non-decreasing function on the way (a functional ReLU): "chw", "hwc", or None (neither). An order
    fits where sorting `last` in it sorts `flat` too."""
    fits = []
    for order, candidate in (
        ("chw", last.flatten(1)),
        ("hwc", last.permute(0, 2, 3, 1).flatten(1)),
    ):
        if candidate.shape != flat.shape:
            continue
        ranked = torch.gather(flat, 1, candidate.argsort(dim=1, stable=True))
        if torch.all(ranked[:, 1:] >= ranked[:, :-1]):
            fits.append(order)
    return fits[0] if fits else None


def _measured_padding(last: torch.Tensor | None, given: torch.Tensor) -> list[int] | None:
    """(top, bottom, left, right) zeros around `last` (the last 4-D output before a convolution,
    padding modules aside) in `given` (the convolution's input), found by where `last` sits in it:
    the padding of a ZeroPad2d module or of functional.pad. None where `given` is not `last` padded
    with zeros."""
    if last is None or last.shape[:2] != given.shape[:2]:
        return None
    rows, columns = given.shape[2] - last.shape[2], given.shape[3] - last.shape[3]
    if rows < 0 or columns < 0:
        return None
    for top in range(rows + 1):
        for left in range(columns + 1):
            window = given[:, :, top : top + last.shape[2], left : left + last.shape[3]]
            if torch.equal(window, last):
                border = given.clone()
                border[:, :, top : top + last.shape[2], left : left + last.shape[3]] = 0
                if not border.any():
                    return [top, rows - top, left, columns - left]
    return None


def _flatten(keras_entry: dict, torch_entry: dict) -> list[int] | None:
    """The (h, w, c) to reorder a Dense kernel's rows from, where Keras flattened (h, w, c) and
    PyTorch (c, h, w) with more than one channel."""
    shape = keras_entry.get("flattened_from")
    if shape and shape[2] > 1 and torch_entry.get("flatten_order") == "chw":
        return shape
    return None


def _check_flatten_orders(pairs) -> None:
    """PairUsageError where Keras flattened several channels and how PyTorch did is not known."""
    for keras_entry, torch_entry in pairs:
        shape = keras_entry.get("flattened_from")
        if shape and shape[2] > 1 and torch_entry.get("flatten_order") is None:
            raise PairUsageError(
                f"cannot tell how the PyTorch module flattens before {torch_entry['name']} "
                f"(Linear), paired with {keras_entry['name']} after Keras's flatten of "
                f"{tuple(shape)}: the tool compares the Linear's input with the last 4-D output "
                "before it; flatten with nn.Flatten, or flatten(1) right after a module"
            )


def _initializers(pairs, modules) -> dict:
    """Each kernel's initializer, measured on the module's own weights, as the audit's rows."""
    rows, counts = {}, {}
    for keras_entry, torch_entry in pairs:
        kind = keras_entry["kind"]
        counts[kind] = counts.get(kind, 0) + 1
        if kind in ("dense", "conv2d"):
            weight = modules[torch_entry["name"]].weight.detach().cpu().numpy()
            words = initializer_words(to_keras(weight, "kernel", kind, None), kind)
            rows[f"{kind} {counts[kind]} initializer"] = [words, words]
    return rows


@torch.no_grad()
def carry_weights(pairs, modules, keras_weights: dict, loaded: bool) -> list[dict]:
    """Per tensor, its rule; the Keras tensors copied in, or (`loaded`: the builder loaded them
    itself) what each loaded tensor is where it is not the carried one."""
    rows = []
    for keras_entry, torch_entry in pairs:
        module, kind = modules[torch_entry["name"]], keras_entry["kind"]
        for role, tensor in _tensors(module):
            name = f"{keras_entry['name']}/{role}"
            flatten = _flatten(keras_entry, torch_entry)
            array = keras_weights[name]
            row = {
                "tensor": name,
                "into": f"{torch_entry['name']}.{dict(ROLES[kind])[role]}",
                "rule": carry_rule(role, kind, flatten),
                "loaded": None,
            }
            if loaded:
                row["loaded"] = explain_loaded(
                    tensor.cpu().double().numpy(), array, role, kind, flatten
                )
            else:
                tensor.copy_(
                    torch.from_numpy(np.ascontiguousarray(to_torch(array, role, kind, flatten)))
                )
            rows.append(row)
    return rows


def forward_records(model: nn.Module, pairs, modules, x: torch.Tensor) -> dict:
    """Each paired weighted layer's output and the model's, in eval mode, recorded by forward
    hooks, in Keras's layout, under the Keras layer's name."""
    outputs, handles = {}, []
    for keras_entry, torch_entry in pairs:

        def keep(module, inputs, output, name=keras_entry["name"]):
            outputs[name] = fingerprint(_keras_layout(output))

        handles.append(modules[torch_entry["name"]].register_forward_hook(keep))
    try:
        with torch.no_grad():
            outputs["output"] = fingerprint(_keras_layout(model.eval()(x)))
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def describe_settings(model, optimizer, loss, layers: list[dict], modules) -> dict:
    """The audit's rows of this side: {row: [value, PyTorch's default]}, written as Keras's side
    writes them (the default tells a bridged row from a row that is the same by default)."""
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    rows = {"dtype": [dtype, dtype], "optimizer": [type(optimizer).__name__] * 2}
    group = optimizer.param_groups[0]
    bridged = "keras_epsilon" in group and bool(optimizer._optimizer_step_pre_hooks)
    lr = group["keras_lr"] if bridged else group["lr"]
    rows["optimizer.learning_rate"] = [f"{float(lr):.6g}"] * 2
    if "betas" in group:
        rows["optimizer.betas"] = [f"{group['betas'][0]:.6g}, {group['betas'][1]:.6g}"] * 2
        after = f"{group['eps']:.6g} added to sqrt(v_hat), after the bias correction"
        rows["optimizer.epsilon"] = [
            f"{group['keras_epsilon']:.6g} added to sqrt(v), before the bias correction"
            if bridged
            else after,
            after,
        ]
    takes = {"CrossEntropyLoss": "logits", "NLLLoss": "log-probabilities"}.get(type(loss).__name__)
    name = f"cross-entropy of {takes}" if takes else type(loss).__name__
    rows["loss"] = [name, name]
    last = layers[-1]["class"] if layers else ""
    output = {"Softmax": "probabilities", "LogSoftmax": "log-probabilities"}.get(last, "logits")
    rows["loss.model_output"] = [f"{output}, into a loss that takes {takes or 'its own input'}"] * 2
    rows["loss.label_smoothing"] = [f"{float(getattr(loss, 'label_smoothing', 0.0)):.6g}", "0"]
    decay = group.get("weight_decay", 0)
    rows["regularization"] = [f"weight decay {decay:.6g}" if decay else "none", "none"]
    counts: dict[str, int] = {}
    for entry in layers:
        kind, module = entry["kind"], modules[entry["name"]]
        index = counts[kind] = counts.get(kind, 0) + 1
        where = f"{kind} {index}"
        if kind == "conv2d":
            own, extra = _conv_padding(module), entry.get("padding")
            pads = [a + b for a, b in zip(own, extra)] if extra is not None else None
            words = (
                padding_words(pads) if pads else f"{padding_words(own)}, and not measured before"
            )
            rows[f"{where} padding"] = [words, padding_words(own)]
            rows[f"{where} stride"] = [f"{tuple(module.stride)}"] * 2
        elif kind == "batchnorm":
            p = module.momentum
            rule = (
                "a cumulative average"
                if p is None
                else f"running = {1 - p:.6g} x running + {p:.6g} x batch"
            )
            rows[f"{where} momentum"] = [rule, "running = 0.9 x running + 0.1 x batch"]
            rows[f"{where} epsilon"] = [f"{module.eps:.6g}", "1e-05"]
            rows[f"{where} running_variance"] = [_running_variance(module), UNBIASED]
        elif kind == "dropout":
            rows[f"{where} rate"] = [f"{entry['rate']:.6g}"] * 2
    return rows


UNBIASED = "unbiased (n / (n - 1) x the batch's, which it normalizes with)"


def _conv_padding(module: nn.Conv2d) -> list[int]:
    """(top, bottom, left, right) an nn.Conv2d pads by itself."""
    if module.padding == "valid":
        return [0, 0, 0, 0]
    if module.padding == "same":
        pads = []
        for kernel, dilation in zip(module.kernel_size, module.dilation):
            total = dilation * (kernel - 1)
            pads += [total // 2, total - total // 2]
        return pads
    rows, columns = module.padding
    return [rows, rows, columns, columns]


@torch.no_grad()
def _running_variance(module: _BatchNorm) -> str:
    """Which variance the module keeps, measured on a copy after one training batch."""
    probe = copy.deepcopy(module).train()
    probe.reset_running_stats()
    probe.momentum = 1.0  # running = the batch's
    shape = (
        (8, module.num_features, 3, 3)
        if isinstance(module, nn.BatchNorm2d)
        else (8, module.num_features)
    )
    batch = torch.randn(
        shape, dtype=probe.running_var.dtype, generator=torch.Generator().manual_seed(0)
    )
    probe(batch)
    dims = [d for d in range(batch.dim()) if d != 1]
    if torch.allclose(probe.running_var, batch.var(dims, unbiased=False)):
        return "biased (the batch's own, which it normalizes with)"
    return UNBIASED if torch.allclose(probe.running_var, batch.var(dims)) else "neither"


def training_records(
    model, optimizer, loss, x, y, batch_size: int, steps: int, seed: int, pairs, modules
) -> list[dict]:
    """Per step, what the Keras half records, in Keras's layout: this tool's loop (zero_grad,
    forward, loss, backward, step) on consecutive batches."""
    dropouts = [
        GivenDropout(seed, index)
        for index, m in enumerate(m for m in modules.values() if type(m) is nn.Dropout)
    ]
    handles = [
        m.register_forward_hook(hook)
        for hook, m in zip(dropouts, (m for m in modules.values() if type(m) is nn.Dropout))
    ]
    tensors = [
        (f"{k['name']}/{role}", role, k["kind"], _flatten(k, t), tensor)
        for k, t in pairs
        for role, tensor in _tensors(modules[t["name"]])
    ]
    records = []
    model.train()
    try:
        for step in range(steps):
            for hook in dropouts:
                hook.step = step
            batch = slice(step * batch_size, (step + 1) * batch_size)
            optimizer.zero_grad()
            value = loss(model(x[batch]), y[batch])
            value.backward()
            record = {"loss": [value.item(), abs(value.item())]}
            for name, role, kind, flatten, tensor in tensors:
                if role not in STATES and tensor.grad is not None:  # None: frozen
                    grad = tensor.grad.detach().cpu().numpy()
                    record[f"grad/{name}"] = fingerprint(to_keras(grad, role, kind, flatten))
            optimizer.step()
            for name, role, kind, flatten, tensor in tensors:
                array = to_keras(tensor.detach().cpu().numpy(), role, kind, flatten)
                record[f"{'state' if role in STATES else 'param'}/{name}"] = fingerprint(array)
            records.append(record)
    finally:
        for handle in handles:
            handle.remove()
    return records


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m torch_parity.pair_side")
    parser.add_argument("--builder", required=True)
    parser.add_argument("--out", required=True, help="the directory the Keras half wrote")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    dtype = getattr(torch, args.dtype)
    while not (
        out / "keras.json"
    ).exists():  # the Keras half, started at the same time, writes it last
        time.sleep(0.05)
    keras_record = json.loads((out / "keras.json").read_text())
    with np.load(out / "keras-weights.npz") as saved:
        keras_weights = {name.replace("|", "/"): saved[name] for name in saved.files}
    with np.load(out / "inputs.npz") as saved:
        x, y = torch.from_numpy(saved["x"]).to(dtype), torch.from_numpy(saved["y"])
    if x.dim() == 4:
        x = x.permute(0, 3, 1, 2).contiguous()  # Keras's (B, H, W, C) to PyTorch's (B, C, H, W)
    try:
        torch.set_default_dtype(dtype)
        torch.manual_seed(args.seed)
        builder = load_builder(args.builder)
        model, optimizer, loss = call_builder(
            builder, args.builder, keras_weights=list(keras_weights.values())
        )
        if not isinstance(model, nn.Module):
            raise PairUsageError(
                f"{args.builder} returned a {type(model).__name__}, not an nn.Module"
            )
        model.to(dtype)
        loaded = "keras_weights" in inspect.signature(builder).parameters
        layers, modules = describe_layers(model, x[: args.batch_size])
        record = {
            "framework": f"torch {torch.__version__}",
            "layers": layers,
            "input": {"shape": list(x.shape)},
            "builder_loaded": loaded,
        }
        pairs, problem = pair_layers(keras_record["layers"], layers)
        _check_flatten_orders(pairs)
        if problem is not None:
            record["structure"] = problem
        else:
            initializers = _initializers(pairs, modules)  # before the Keras weights replace them
            record["weights"] = carry_weights(pairs, modules, keras_weights, loaded)
            spec = load_spec([f"train.dtype={args.dtype}"])
            from torch_impl.train import make_loss, make_optimizer

            optimizer = optimizer if optimizer is not None else make_optimizer(model, spec)
            loss = loss if loss is not None else make_loss()
            record["settings"] = describe_settings(model, optimizer, loss, layers, modules)
            record["settings"].update(initializers)
            record["forward"] = forward_records(model, pairs, modules, x[: args.batch_size])
            record["steps"] = training_records(
                model, optimizer, loss, x, y, args.batch_size, args.steps, args.seed, pairs, modules
            )
    except PairUsageError as err:
        print(f"torch: {err}", file=sys.stderr)
        return EXIT_USAGE
    write_atomically(out / "torch.json", json.dumps(record, indent=1).encode())
    return EXIT_PASS


if __name__ == "__main__":
    # A Keras builder beside the PyTorch one in the user's module imports Keras here too: on its
    # torch backend, not TensorFlow (seconds of imports; TensorFlow before torchvision crashes)
    os.environ["KERAS_BACKEND"] = "torch"
    sys.exit(cli.run_main("torch", main))
