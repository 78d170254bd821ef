"""The mirror check: keras_impl/M.py and torch_impl/M.py (the pipelines), and keras_parity/M.py and
torch_parity/M.py (their instruments), define the same public functions and classes, in the same
order, except the names declared one-sided here with the reason the framework forces. Beside it, the
names check: no two modules of the six packages share a file name, except those mirror pairs (and
__init__.py), so that a file's name says which one it is."""

from __future__ import annotations

import ast
from pathlib import Path

from shared.results import SIDES

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("impl", "parity")  # {side}_impl: the pipelines; {side}_parity: their instruments
PACKAGES = (*(f"{side}_{kind}" for kind in KINDS for side in SIDES), "shared", "parity")
MIRRORED = [{f"{side}_{kind}" for side in SIDES} for kind in KINDS]

# (side, module, name) -> why only that side has it
ONE_SIDED = {
    ("keras", "data", "EpochOrders"): (
        "[fit-shuffle] fit(shuffle=True) serves its first epoch's order again every epoch on "
        "TensorFlow with a fixed seed: a PyDataset serves each epoch's own permutation; a "
        "DataLoader's RandomSampler draws one per epoch itself"
    ),
    ("keras", "pipeline", "check_model_path"): (
        "Keras's model.save picks its format from the file name (.keras); torch.save writes any name"
    ),
    ("keras", "augment", "RandomAffine"): (
        "torchvision ships RandomAffine; Keras has no one-warp layer (its Rotation, Translation and "
        "Zoom resample three times), so the pipeline writes one"
    ),
    ("torch", "model", "init_like_keras"): (
        "[init-kernel] [init-bias] the bridge to Keras's Dense initializers, which are Keras's defaults"
    ),
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
    ("torch", "model", "Net"): "a torch model is an nn.Module subclass; Keras builds a Sequential",
    ("torch", "model", "KerasBatchNorm2d"): (
        "BatchNorm2d keeping Keras's biased running variance: no argument of BatchNorm2d sets it"
    ),
    ("torch", "pair_side", "carry_weights"): (
        "the Keras half is where a pair's weights come from: only the PyTorch half carries them in"
    ),
    ("torch", "alignment", "layer_tensors"): (
        "a module's tensors in Keras's order of its weights; a Keras layer's get_weights is in it"
    ),
    **dict.fromkeys(
        [("torch", "alignment", "keras_layout"), ("torch", "alignment", "torch_layout")],
        "the shared weights arrive in Keras's layout: only torch turns them, and back for the records",
    ),
    ("keras", "train", "EpochLog"): "fit reports through callbacks; the torch loop is written out",
    ("torch", "train", "keras_update"): (
        "the step pre-hook that bridges torch's Adam update (epsilon placement, bias correction) "
        "to Keras's"
    ),
    ("keras", "alignment", "layers_of"): (
        "a Keras model's layers, nested models walked in place; torch's model.modules() walks itself"
    ),
    ("torch", "alignment", "EpochOrders"): (
        "the shared order as a Sampler for the loader's batch sampler; the Keras pipeline's own "
        "EpochOrders PyDataset takes the orders as they are"
    ),
    ("torch", "alignment", "linear_layers"): (
        "nn.Linear modules in order, by model.modules(); the Keras side finds Dense layers by layers_of"
    ),
    ("keras", "alignment", "served_orders"): (
        "the whole-batch shuffle slip (ablate.shuffle_batches) is made on Keras's EpochOrders"
    ),
    ("keras", "ablation", "keras_augmentation"): (
        "the augment-affine ablation: Keras's own Rotation, Translation and Zoom layers"
    ),
    ("torch", "ablation", "training_transforms"): (
        "the loader's v2.Compose stages (a BatchLoader's, or a Dataset's); Keras's are model layers"
    ),
    ("torch", "ablation", "affine_settings"): (
        "the v2.RandomAffine that holds the fill; the Keras warp is one layer, swapped whole"
    ),
    ("torch", "ablation", "last_batch_loss"): (
        "the reported-loss slip in the explicit loop; fit's loss metric is not the pipeline's code"
    ),
    **{
        ("keras", "lockstep", name): (
            "fit runs the training step inside, out of a callback's sight: twins of its layers, of "
            "its optimizer and a metric record the step; PyTorch's hooks see the loop's own"
        )
        for name in (
            "SharedMaskDropout",
            "GivenAffine",
            "Recorded",
            "StepRecorder",
            "recording_optimizer",
            "instrumented_model",
        )
    },
    ("torch", "train", "train_epoch"): "the explicit loop over one epoch that fit runs inside",
}


def public_names(path: Path) -> list[str]:
    """Top-level public functions and classes of a module, in the order they are defined."""
    tree = ast.parse(path.read_text(), filename=str(path))
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [n.name for n in tree.body if isinstance(n, kinds) and not n.name.startswith("_")]


def mirror_differences(root: Path = ROOT) -> list[str]:
    """Every break of the mirror, as a sentence; empty when each pair of packages mirror each other."""
    problems = []
    for kind in KINDS:
        problems += _package_differences(root, kind)
    for side, module, name in ONE_SIDED:
        paths = [root / f"{side}_{kind}" / f"{module}.py" for kind in KINDS]
        if not any(path.exists() and name in public_names(path) for path in paths):
            problems.append(f"ONE_SIDED names {side} {module}.py {name}, which does not exist")
    return problems


def _package_differences(root: Path, kind: str) -> list[str]:
    problems = []
    package = {side: f"{side}_{kind}" for side in SIDES}
    modules = {side: {p.stem for p in (root / package[side]).glob("*.py")} for side in SIDES}
    for side, other in (SIDES, SIDES[::-1]):
        for module in sorted(modules[side] - modules[other]):
            problems.append(
                f"{package[side]}/{module}.py has no partner {package[other]}/{module}.py"
            )
    for module in sorted(modules["keras"] & modules["torch"]):
        found = {side: public_names(root / package[side] / f"{module}.py") for side in SIDES}
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
                        f"{package[side]}/{module}.py: {name} has no partner in "
                        f"{package[other]}/{module}.py (add one, or declare it one-sided in "
                        "parity/mirror.py with the reason)"
                    )
        keras_order = [n for n in mirrored["keras"] if n in mirrored["torch"]]
        torch_order = [n for n in mirrored["torch"] if n in mirrored["keras"]]
        if keras_order != torch_order:
            problems.append(
                f"{module}.py: the sides define their partners in different orders: "
                f"keras {', '.join(keras_order)}; torch {', '.join(torch_order)}"
            )
    return problems


def shared_file_names(root: Path = ROOT) -> list[str]:
    """Every module file name that two of the four packages share, as a sentence, other than the
    keras/torch mirror pairs and __init__.py; empty when every name says which file it is."""
    where: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            where.setdefault(path.name, []).append(str(path.relative_to(root)))
    problems = []
    for name, paths in sorted(where.items()):
        packages = {Path(p).parts[0] for p in paths}
        if name == "__init__.py" or len(packages) < 2 or (packages in MIRRORED and len(paths) == 2):
            continue
        problems.append(
            f"{name} is the name of {', '.join(sorted(paths))}: name each for what it does "
            "(only the keras/torch packages share names, as mirror pairs)"
        )
    return problems
