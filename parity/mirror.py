"""The mirror check: keras_impl/M.py and torch_impl/M.py define the same public functions and classes,
in the same order, except the names declared one-sided here with the reason the framework forces.
Beside it, the names check: no two modules of the four packages share a file name, except those
mirror pairs (and __init__.py), so that a file's name says which one it is."""

from __future__ import annotations

import ast
from pathlib import Path

from shared.results import SIDES

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("keras_impl", "torch_impl", "shared", "parity")
MIRRORED = {f"{side}_impl" for side in SIDES}

# (side, module, name) -> why only that side has it
ONE_SIDED = {
    ("torch", "augment", "BatchRandomAffine"): (
        "torchvision's RandomAffine draws once per call (per sample in a Dataset); the batched "
        "pipeline needs one draw per sample of a batch, as the Keras RandomAffine layer makes"
    ),
    ("torch", "data", "MnistDataset"): (
        "a torch Dataset serves one sample at a time to the DataLoader (classic path); Keras's "
        "EpochOrders PyDataset serves whole batches"
    ),
    ("torch", "data", "BatchLoader"): (
        "a DataLoader collates samples one at a time; the batched pipeline gathers whole batches "
        "from tensors on the device, as Keras's EpochOrders serves whole batches to fit"
    ),
    ("torch", "data", "num_workers"): (
        "DataLoader worker processes (classic path) have no counterpart: Keras's model does its "
        "preprocessing inside the training step"
    ),
    ("torch", "data", "make_loader"): (
        "a loader is built from a dataset and a sampler on either torch path; Keras's "
        "make_train_data hands fit its arguments (the EpochOrders PyDataset) directly"
    ),
    ("torch", "model", "MLP"): "a torch model is an nn.Module subclass; Keras builds a Sequential",
    ("keras", "train", "EpochLog"): "fit reports through callbacks; the torch loop is written out",
    ("torch", "train", "keras_update"): (
        "the step pre-hook that bridges torch's Adam update (epsilon placement, bias correction) "
        "to Keras's"
    ),
    ("torch", "model", "parameters_in_keras_layout"): (
        "nn.Linear keeps its weight (fan_out, fan_in); lockstep records compare in Keras's layout"
    ),
    ("torch", "model", "gradients_in_keras_layout"): (
        "nn.Linear keeps its weight (fan_out, fan_in); lockstep records compare in Keras's layout"
    ),
    ("keras", "lockstep_hooks", "BatchLoss"): (
        "fit logs the epoch's running mean of the loss; a metric captures each batch's own, which "
        "the torch loop holds anyway"
    ),
    ("keras", "lockstep_hooks", "staged_step"): (
        "fit runs the training step inside, out of a callback's sight: the callback recomputes its "
        "stages with the model's own layers; the torch loop records them as it runs them"
    ),
    ("torch", "train", "train_epoch"): "the explicit loop over one epoch that fit runs inside",
}


def public_names(path: Path) -> list[str]:
    """Top-level public functions and classes of a module, in the order they are defined."""
    tree = ast.parse(path.read_text(), filename=str(path))
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [n.name for n in tree.body if isinstance(n, kinds) and not n.name.startswith("_")]


def mirror_differences(root: Path = ROOT) -> list[str]:
    """Every break of the mirror, as a sentence; empty when the two packages mirror each other."""
    problems = []
    modules = {side: {p.stem for p in (root / f"{side}_impl").glob("*.py")} for side in SIDES}
    for side, other in (SIDES, SIDES[::-1]):
        for module in sorted(modules[side] - modules[other]):
            problems.append(f"{side}_impl/{module}.py has no partner {other}_impl/{module}.py")
    for module in sorted(modules["keras"] & modules["torch"]):
        found = {side: public_names(root / f"{side}_impl" / f"{module}.py") for side in SIDES}
        mirrored = {}
        for side, other in (SIDES, SIDES[::-1]):
            mirrored[side] = [n for n in found[side] if (side, module, n) not in ONE_SIDED]
            for name in found[side]:
                if (side, module, name) in ONE_SIDED and name in found[other]:
                    problems.append(
                        f"{module}.{name} is declared {side}-only, but both sides have it"
                    )
        for side, other in (SIDES, SIDES[::-1]):
            for name in mirrored[side]:
                if name not in mirrored[other]:
                    problems.append(
                        f"{side}_impl/{module}.py: {name} has no partner in {other}_impl/{module}.py "
                        "(add one, or declare it one-sided in parity/mirror.py with the reason)"
                    )
        keras_order = [n for n in mirrored["keras"] if n in mirrored["torch"]]
        torch_order = [n for n in mirrored["torch"] if n in mirrored["keras"]]
        if keras_order != torch_order:
            problems.append(
                f"{module}.py: the sides define their partners in different orders: "
                f"keras {', '.join(keras_order)}; torch {', '.join(torch_order)}"
            )
    for side, module, name in ONE_SIDED:
        path = root / f"{side}_impl" / f"{module}.py"
        if not path.exists() or name not in public_names(path):
            problems.append(f"ONE_SIDED names {side}_impl/{module}.py {name}, which does not exist")
    return problems


def shared_file_names(root: Path = ROOT) -> list[str]:
    """Every module file name that two of the four packages share, as a sentence, other than the
    keras_impl/torch_impl mirror pairs and __init__.py; empty when every name says which file it is."""
    where: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            where.setdefault(path.name, []).append(str(path.relative_to(root)))
    problems = []
    for name, paths in sorted(where.items()):
        packages = {Path(p).parts[0] for p in paths}
        if name == "__init__.py" or len(packages) < 2 or (packages == MIRRORED and len(paths) == 2):
            continue
        problems.append(
            f"{name} is the name of {', '.join(sorted(paths))}: name each for what it does "
            "(only keras_impl/ and torch_impl/ share names, as mirror pairs)"
        )
    return problems
