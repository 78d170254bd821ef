"""The audit: every setting this side actually uses, read from the live PyTorch objects a run builds."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import RandomSampler, SequentialSampler
from torchvision.transforms import v2
from tqdm import tqdm

import torch_impl.train
from shared.settings import (
    DRAWS,
    REPORTED_LOSS_BATCHES,
    UNIFORM_PERMUTATION,
    VARIANCE_BATCH,
    bias_family,
    convolution_text,
    drawn_ranges,
    flatten_rows_text,
    kernel_family,
    momentum_text,
    padding_applied,
    reported_loss_kind,
    row,
    running_variance_kind,
)
from shared.spec import Spec
from torch_impl.augment import BatchRandomAffine
from torch_impl.data import BatchLoader
from torch_parity.ablation import training_transforms
from torch_parity.alignment import linear_layers, torch_layout

STAGES = {
    "ToDtype": "rescale",
    "RandomAffine": "augment",
    "BatchRandomAffine": "augment",
    "Normalize": "normalize",
}
AUGMENTS = (v2.RandomAffine, BatchRandomAffine)
LOSSES = {"CrossEntropyLoss": "cross-entropy on integer labels"}
REDUCTIONS = {"mean": "mean over the batch", "sum": "sum over the batch"}
ACTIVATIONS = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}


FLATTEN_READ = (
    "measured: nn.Flatten (its hooks too) on an image holding each element's Keras (h, w, c) index, "
    "against the first Linear's rows as aligned mode carries them (torch_parity/alignment.py)"
)


def flatten_rows(flatten: nn.Flatten, model: nn.Module, spec: Spec) -> str:
    size = spec.flat_dim
    image = torch.arange(size, dtype=torch.float64).reshape(1, *spec.feature_shape)
    features = flatten(image.permute(0, 3, 1, 2)).numpy()[0]
    index = np.arange(size, dtype=np.float64)[:, None]  # a kernel (fan_in, 1): its rows' indices
    carried = torch_layout(index, linear_layers(model)[0], spec, first=True)
    return flatten_rows_text(features, carried[0])


def convolution_rows(modules: list[nn.Module], index: int, spec: Spec, rows: dict) -> bool:
    """The rows of a convolution block's module (model.kind = "cnn"); False for any other module."""
    module, before = modules[index], modules[index - 1]
    block = sum(1 for r in rows if r.startswith("model.conv_padding"))
    if isinstance(module, nn.Conv2d):
        channels_out, channels_in, height, width = module.weight.shape
        rows[f"model.conv{block + 1}"] = row(
            convolution_text(
                height, channels_in, channels_out, module.stride[0], module.bias is not None
            ),
            "nn.Conv2d",
        )
        size = ([spec.data.height] + [s[0] for s in spec.block_shapes()])[block]
        pad = before.padding if isinstance(before, nn.ZeroPad2d) else (0, 0, 0, 0)
        probe = nn.Conv2d(1, 1, module.kernel_size, module.stride, module.padding, bias=False)
        nn.init.ones_(probe.weight)
        with torch.no_grad():
            ones = probe(nn.ZeroPad2d(pad)(torch.ones(1, 1, size, size)))[0, 0].numpy()
        rows[f"model.conv_padding{block + 1}"] = row(
            padding_applied(ones, size, size),
            "measured: nn.ZeroPad2d before it and an nn.Conv2d of its padding and stride, all ones",
        )
        weight = module.weight.detach().cpu().numpy()
        fans = height * width * channels_in, height * width * channels_out
        rows[f"model.conv_init{block + 1}"] = row(
            kernel_family(weight, *fans), "measured on the built weight (out, in, h, w)"
        )
    elif isinstance(module, nn.BatchNorm2d):
        keep = 1 - module.momentum
        rows[f"model.batchnorm_momentum{block}"] = row(
            momentum_text(keep), "1 - BatchNorm2d.momentum (torch's momentum weighs the batch)"
        )
        rows[f"model.batchnorm_epsilon{block}"] = row(module.eps, "BatchNorm2d.eps")
        fresh = type(module)(1, momentum=module.momentum, eps=module.eps, dtype=torch.float64)
        fresh(torch.tensor(VARIANCE_BATCH, dtype=torch.float64).reshape(2, 1, 1, 1))
        rows[f"model.batchnorm_variance{block}"] = row(
            running_variance_kind(float(fresh.running_var[0]), keep),
            f"measured: a fresh {type(module).__name__} of this one's settings, one training batch",
        )
    elif type(module) in ACTIVATIONS and isinstance(before, nn.BatchNorm2d):
        rows[f"model.block_activation{block}"] = row(
            ACTIVATIONS[type(module)], "the module after BatchNorm2d"
        )
    elif isinstance(module, nn.MaxPool2d):
        rows[f"model.pool{block}"] = row(
            f"{module.kernel_size}x{module.kernel_size} max-pooling, stride {module.stride}",
            "nn.MaxPool2d",
        )
    elif not isinstance(module, nn.ZeroPad2d):  # read with the convolution after it
        return False
    return True


def describe_pipeline(spec: Spec, pipeline, device: str) -> dict[str, dict]:
    """Rows {id: {"value", "read"}} for the built pipeline's model, optimizer, loss and loaders,
    before training."""
    p = pipeline
    model, optimizer, loss_fn = p.model, p.optimizer, p.loss_fn
    train_loader, eval_loader = p.train_loader, p.val_loader
    rows = {}
    group = optimizer.param_groups[0]
    name = type(optimizer).__name__ + (", maximize" if group.get("maximize") else "")
    rows["optimizer.algorithm"] = row(name, "type(optimizer), param_groups")
    rows["optimizer.learning_rate"] = row(group["lr"], "optimizer.param_groups[0]")
    rows["optimizer.betas"] = row(list(group["betas"]), "optimizer.param_groups[0]")
    hooks = [getattr(hook, "__name__", "") for hook in _step_pre_hooks(optimizer)]
    bridged = "keras_epsilon" in group and "keras_update" in hooks
    rows["optimizer.epsilon"] = row(
        group["keras_epsilon"] if bridged else group["eps"], "optimizer.param_groups[0]"
    )
    rows["optimizer.epsilon_placement"] = row(
        "added to the raw sqrt(v); bias correction in the step size"
        if bridged
        else "added to the bias-corrected sqrt(v_hat)",
        "the keras_update step pre-hook (eps and lr per step) and param group keys"
        if bridged
        else "torch.optim.Adam's own update",
    )
    decay = group["weight_decay"]
    if decay:
        how = "decoupled" if group.get("decoupled_weight_decay") or name == "AdamW" else "L2"
        decay = f"{decay:g}, {how}"
    rows["optimizer.weight_decay"] = row(decay or 0.0, "optimizer.param_groups[0]")
    rows["optimizer.amsgrad"] = row(bool(group.get("amsgrad", False)), "optimizer.param_groups[0]")
    reported, clipped = _measure_loop(spec, loss_fn)
    rows["optimizer.clipping"] = row(
        "the loop changes gradients between backward() and step()" if clipped else "none",
        "measured: the loop's gradients at backward() and at the optimizer's step",
    )

    rows["loss.function"] = row(
        LOSSES.get(type(loss_fn).__name__, type(loss_fn).__name__), "loss_fn"
    )
    rows["loss.reduction"] = row(REDUCTIONS.get(loss_fn.reduction, loss_fn.reduction), "loss_fn")
    rows["loss.from_logits"] = row(
        isinstance(loss_fn, nn.CrossEntropyLoss), "CrossEntropyLoss always takes logits"
    )
    rows["loss.label_smoothing"] = row(getattr(loss_fn, "label_smoothing", 0.0), "loss_fn")
    weight = getattr(loss_fn, "weight", None)
    rows["loss.class_weights"] = row(None if weight is None else weight.tolist(), "loss_fn.weight")
    rows["loss.ignored_label"] = row(getattr(loss_fn, "ignore_index", None), "loss_fn.ignore_index")

    modules = list(model.modules())[1:]
    linear_count = dropout_count = 0
    for index, module in enumerate(modules):
        if isinstance(module, nn.Flatten):
            all_after_batch = module.start_dim == 1 and module.end_dim == -1
            rows["model.flatten"] = row(
                "every axis after the batch axis" if all_after_batch else "some axes",
                "nn.Flatten start_dim, end_dim",
            )
            rows["model.flatten_rows"] = row(flatten_rows(module, model, spec), FLATTEN_READ)
        elif convolution_rows(modules, index, spec, rows):
            pass
        elif isinstance(module, nn.Linear):
            linear_count += 1
            after = modules[index + 1] if index + 1 < len(modules) else None
            activation = ACTIVATIONS.get(type(after), "no activation")
            weight = module.weight.detach().cpu().numpy()
            fan_out, fan_in = weight.shape  # nn.Linear keeps (out, in)
            rows[f"model.layer{linear_count}"] = row(
                f"linear {fan_in} -> {fan_out}, "
                f"{'bias' if module.bias is not None else 'no bias'}, {activation}",
                "nn.Linear and the module after it",
            )
            rows[f"model.kernel_init{linear_count}"] = row(
                kernel_family(weight, fan_in, fan_out), "measured on the built weight (out, in)"
            )
            bias = module.bias.detach().cpu().numpy() if module.bias is not None else weight[:0, 0]
            rows[f"model.bias_init{linear_count}"] = row(
                bias_family(bias, fan_in), "measured on the built bias"
            )
        elif isinstance(module, nn.Dropout):
            dropout_count += 1
            rows[f"model.dropout{dropout_count}"] = row(module.p, "nn.Dropout.p")
        elif type(module) not in ACTIVATIONS and not isinstance(module, nn.Sequential):
            rows[f"model.other_{index}"] = row(type(module).__name__, "model.modules()")
    rows["model.parameters"] = row(sum(p.numel() for p in model.parameters()), "model.parameters()")

    transforms = training_transforms(train_loader)
    loader_name = type(train_loader).__name__
    per_batch = isinstance(train_loader, BatchLoader)  # its v2.Compose takes whole batches
    rows["data.stages"] = row(
        " -> ".join(STAGES.get(type(t).__name__, type(t).__name__) for t in transforms),
        f"the training {loader_name}'s v2.Compose, in order",
    )
    for transform in transforms:
        if isinstance(transform, v2.ToDtype):
            scale = 1 / 255 if transform.scale else 1.0  # uint8 in, float out
            rows["data.rescale"] = row([scale, 0.0], "ToDtype.scale (uint8 -> float: x / 255)")
        elif isinstance(transform, v2.Normalize):
            rows["data.normalize_mean"] = row(list(transform.mean), "Normalize.mean")
            rows["data.normalize_std"] = row(list(transform.std), "Normalize.std")
        elif isinstance(transform, (v2.RandomAffine, BatchRandomAffine)):
            batched = isinstance(transform, BatchRandomAffine)
            name = "BatchRandomAffine.transform" if batched else "RandomAffine"
            settings = transform.transform if batched else transform
            rows["augment.degrees"] = row(list(settings.degrees), f"{name}.degrees")
            rows["augment.translate"] = row(list(settings.translate), f"{name}.translate")
            rows["augment.scale"] = row(list(settings.scale), f"{name}.scale")
            rows["augment.shear"] = row(
                "none" if settings.shear is None else str(settings.shear), f"{name}.shear"
            )
            rows["augment.interpolation"] = row(
                v2.InterpolationMode(settings.interpolation).value, f"{name}.interpolation"
            )
            fill = settings.fill
            rows["augment.fill"] = row(
                "constant 0 outside the image"
                if fill is None
                else f"{fill} blended through a resampled mask",
                f"{name}.fill (None: plain zero padding)",
            )
            # RandomAffine draws once per call: per sample in a Dataset, once for a whole batch
            per = "batch" if per_batch and not batched else "sample"
            rows["augment.parameters"] = row(
                f"drawn once per {per}" if per == "batch" else "drawn per sample",
                "BatchRandomAffine.draw_params: one draw per sample"
                if batched
                else f"RandomAffine: one draw per call, called per {per}",
            )
    rows.update(_draw_rows(transforms))
    augmented = {
        "training": any(isinstance(t, AUGMENTS) for t in transforms),
        "evaluation": any(isinstance(t, AUGMENTS) for t in training_transforms(eval_loader)),
    }
    rows["augment.splits"] = row(
        [name for name, yes in augmented.items() if yes], "the loaders' transforms"
    )

    # a DataLoader makes its BatchSampler from batch_size and drop_last; a BatchLoader is given one
    batches = train_loader.batch_sampler
    rows["loop.batch_size"] = row(batches.batch_size, f"{loader_name}.batch_sampler.batch_size")
    rows["loop.partial_last_batch"] = row(
        "dropped" if batches.drop_last else "kept", f"{loader_name}.batch_sampler.drop_last"
    )
    sampler = batches.sampler
    if isinstance(sampler, RandomSampler) and not sampler.replacement:
        order = UNIFORM_PERMUTATION
    elif isinstance(sampler, SequentialSampler):
        order = "in order, never shuffled"
    else:
        order = f"{type(sampler).__name__}"
    rows["loop.shuffle"] = row(order, f"{loader_name}.batch_sampler.sampler")
    rows["loop.reported_loss"] = row(
        reported, "measured: train_epoch on two batches of known loss (sizes 2 and 1)"
    )

    rows["loop.epochs"] = row(spec.train.epochs, "spec.train.epochs, which train() loops over")

    parameter = next(model.parameters())
    rows["numerics.dtype"] = row(
        str(parameter.dtype).replace("torch.", ""), "the parameters' dtype"
    )
    rows["numerics.device"] = row(device, "the device the run chose")
    rows["numerics.xla"] = row(False, "eager PyTorch: no torch.compile")
    if torch.cuda.is_available():
        rows["numerics.tf32"] = row(
            torch.backends.cuda.matmul.allow_tf32, "torch.backends.cuda.matmul.allow_tf32"
        )
    else:
        rows["numerics.tf32"] = row(False, "no CUDA: float32 matmuls are full float32")
    rows["numerics.deterministic_ops"] = row(
        torch.are_deterministic_algorithms_enabled(), "torch.are_deterministic_algorithms_enabled()"
    )
    return rows


def _draw_rows(transforms) -> dict[str, dict]:
    """The ranges the live draw code covers in DRAWS draws, its random state restored after."""
    for t in transforms:
        if isinstance(t, BatchRandomAffine):
            state = t.generator.get_state()
            angles, shifts, scales = t.draw_params(DRAWS, 28, 28)
            t.generator.set_state(state)
            read = f"measured: BatchRandomAffine.draw_params, {DRAWS} draws"
        elif isinstance(t, v2.RandomAffine):
            with torch.random.fork_rng():  # make_params draws from torch's global generator
                params = [t.make_params([torch.zeros(1, 28, 28)]) for _ in range(DRAWS)]
            angles = [p["angle"] for p in params]
            shifts = [s for p in params for s in p["translate"]]
            scales = [p["scale"] for p in params]
            read = f"measured: RandomAffine.make_params, {DRAWS} draws"
        else:
            continue
        return {
            key: row(value, read) for key, value in drawn_ranges(angles, shifts, scales).items()
        }
    return {}


def _measure_loop(spec: Spec, loss_fn: nn.Module) -> tuple[str, bool]:
    """(what train_epoch reports as the training loss, whether it changes the gradients between
    backward() and step()), measured on REPORTED_LOSS_BATCHES with a copy of nothing but the loss."""
    with torch.random.fork_rng():  # nothing here moves the run's own draws
        model = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0], [1.0]]))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    at_backward, at_step = [], []
    model.weight.register_hook(lambda grad: at_backward.append(grad.clone()))
    optimizer.register_step_pre_hook(lambda *_: at_step.append(model.weight.grad.clone()))
    batches = [
        (torch.tensor(x, dtype=torch.float32)[:, None], torch.tensor(y))
        for x, y in REPORTED_LOSS_BATCHES
    ]
    losses = [loss_fn(model(x), y).item() for x, y in batches]
    progress = tqdm(disable=True)
    reported, _ = torch_impl.train.train_epoch(
        model, batches, optimizer, loss_fn, torch.device("cpu"), progress, spec, 1
    )
    clipped = any(not torch.equal(a, b) for a, b in zip(at_backward, at_step))
    return reported_loss_kind(reported, losses, [len(y) for _, y in batches]), clipped


def _step_pre_hooks(optimizer) -> list:
    # torch keeps an optimizer's step pre-hooks in this attribute; no public accessor lists them
    return list(optimizer._optimizer_step_pre_hooks.values())
