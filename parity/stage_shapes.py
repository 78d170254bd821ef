"""Measure, on real digits, the dtype and shape entering and leaving each pipeline stage of one side,
and warp one digit with given parameters: `python -m parity.stage_shapes keras|torch OUT.json`.

`python -m parity.walkthrough --measure` runs measure(): this, once per side, each in a process of
its own, then the picture of the two warps; the walkthrough's pages show what it wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from shared.results import SIDES

# one digit and a few parameter sets inside spec.toml's [augment] ranges: the augmentation page
# shows the digit and both sides' warps of it, each warp with the same parameters on both sides
DIGIT = 0  # the first test image
WARPS = (
    {"angle": 10.0, "tx": 1.0, "ty": -1.0, "scale": 1.1},
    {"angle": -10.0, "tx": -1.0, "ty": 0.0, "scale": 0.9},
    {"angle": 4.5, "tx": 0.0, "ty": 1.0, "scale": 1.05},
    {"angle": -7.0, "tx": 1.0, "ty": 1.0, "scale": 0.95},
)
# the difference panels' fixed colour scale: +-1, the whole range of a [0, 1] pixel
DIFFERENCE_SCALE = 1.0


def warp_args() -> tuple[list[float], list[list[float]], list[float]]:
    """(angles, translations, scales) of WARPS, as both sides' affine() take them."""
    return (
        [w["angle"] for w in WARPS],
        [[w["tx"], w["ty"]] for w in WARPS],
        [w["scale"] for w in WARPS],
    )


def described(name: str, value) -> dict:
    array = np.asarray(value)
    return {
        "stage": name,
        "dtype": str(array.dtype),
        "shape": list(array.shape),
        "range": [round(float(array.min()), 4), round(float(array.max()), 4)],
    }


def keras_side(splits, spec) -> dict:
    import keras

    from keras_impl import augment
    from keras_impl.data import make_eval_data, make_train_data
    from keras_impl.model import build_model
    from keras_impl.train import make_loss

    keras.utils.set_random_seed(0)  # as torch_side's manual_seed: the same figures on every run
    epochs = make_train_data(spec, splits.x_train, splits.y_train)["x"]
    images, labels = epochs[0]
    rows = [
        described("raw images (the IDX file)", splits.x_train),
        described("a training batch, as fit receives it", images),
    ]
    model = build_model(spec)
    x = images
    for layer in model.get_layer("preprocessing").layers:
        x = layer(x, training=True)
        rows.append(described(f"after {type(layer).__name__}", keras.ops.convert_to_numpy(x)))
    x = model.get_layer(index=1)(x)  # Flatten
    rows.append(described("after Flatten", keras.ops.convert_to_numpy(x)))
    logits = model(images, training=True)
    rows.append(described("logits", keras.ops.convert_to_numpy(logits)))
    rows.append(described("loss", keras.ops.convert_to_numpy(make_loss()(labels, logits))))
    rows.append(
        described(
            "an evaluation batch", make_eval_data(spec, splits.x_val, splits.y_val)["x"][:128]
        )
    )
    digit = splits.x_test[DIGIT : DIGIT + 1, ..., None].astype(np.float32) / 255
    digits = np.repeat(digit, len(WARPS), axis=0)
    warped = augment.affine(digits, *warp_args(), "bilinear")
    return {
        "stages": rows,
        "digit": digit[0, ..., 0].tolist(),
        "warped": keras.ops.convert_to_numpy(warped)[..., 0].tolist(),
    }


def torch_side(splits, spec) -> dict:
    import torch

    from torch_impl import augment
    from torch_impl.data import make_eval_data, make_train_data, preprocess
    from torch_impl.model import build_model
    from torch_impl.train import make_loss

    torch.manual_seed(0)
    loader = make_train_data(spec, splits.x_train, splits.y_train)
    indices = next(iter(loader.batch_sampler))
    raw, labels = loader.dataset[indices]
    rows = [
        described("raw images (the IDX file)", splits.x_train),
        described("a training batch, as the loader gathers it", raw.numpy()),
    ]
    x = raw
    for transform in preprocess(spec, augment=True).transforms:
        x = transform(x)
        rows.append(described(f"after {type(transform).__name__}", x.numpy()))
    model = build_model(spec)
    rows.append(described("after Flatten", model.layers[0](x).detach().numpy()))
    logits = model(x)
    rows.append(described("logits", logits.detach().numpy()))
    rows.append(described("loss", make_loss()(logits, labels).detach().numpy()))
    images, _ = next(iter(make_eval_data(spec, splits.x_val, splits.y_val)))
    rows.append(described("an evaluation batch", images.numpy()))
    digit = torch.from_numpy(splits.x_test[DIGIT : DIGIT + 1, None].astype(np.float32) / 255)
    warped = augment.affine(digit.repeat(len(WARPS), 1, 1, 1), *warp_args(), "bilinear")
    return {
        "stages": rows,
        "digit": digit[0, 0].numpy().tolist(),
        "warped": warped[:, 0].numpy().tolist(),
    }


def measure(directory: Path) -> None:
    """Measure each side's stages in a process of its own into directory/stages.json, and draw the
    augmentation picture, directory/augment.png."""
    directory.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    stages = {}
    for side in SIDES:
        out = directory / f"{side}.tmp.json"
        cmd = [sys.executable, "-m", "parity.stage_shapes", side, str(out)]
        subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
        stages[side] = json.loads(out.read_text())
        out.unlink()
    picture(stages, directory / "augment.png")
    for side in SIDES:
        del stages[side]["warped"], stages[side]["digit"]
    (directory / "stages.json").write_text(json.dumps(stages, indent=1) + "\n")


def picture(stages: dict, path: Path) -> None:
    """The augmentation picture: the original digit; each side's warps of it with the same WARPS;
    and Keras - PyTorch on a fixed symmetric scale (+-DIFFERENCE_SCALE, the whole pixel range) with
    its colour bar, so a difference of 1e-6 shows as the blank it nearly is."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keras, torch = (np.array(stages[side]["warped"]) for side in SIDES)
    digit = np.array(stages["keras"]["digit"])
    assert np.array_equal(digit, np.array(stages["torch"]["digit"])), "the sides read other digits"
    difference = keras - torch
    largest = float(np.abs(difference).max())
    rows = [
        (keras, "Keras\nkeras_impl.augment", "#b71c1c"),
        (torch, "PyTorch\ntorch_impl.augment", "#1a47a8"),
        (difference, "Keras \u2212 PyTorch", "#222222"),
    ]
    n = len(WARPS)
    fig = plt.figure(figsize=(2.6 + 1.9 * n + 0.9, 6.9))
    grid = fig.add_gridspec(
        3, n + 3, width_ratios=[1.25, 0.3] + [1] * n + [0.12], wspace=0.12, hspace=0.32
    )
    original = fig.add_subplot(grid[0:2, 0])
    original.imshow(digit, cmap="gray", vmin=0, vmax=1)
    original.set_title(f"original\n(test digit {DIGIT})", fontsize=11)
    original.set_xticks([])
    original.set_yticks([])
    scale = DIFFERENCE_SCALE
    for r, (images, label, colour) in enumerate(rows):
        for c, warp in enumerate(WARPS):
            ax = fig.add_subplot(grid[r, c + 2])
            if r < 2:
                shown = ax.imshow(images[c], cmap="gray", vmin=0, vmax=1)
            else:
                shown = ax.imshow(images[c], cmap="RdBu_r", vmin=-scale, vmax=scale)
                ax.set_xlabel(f"largest {np.abs(images[c]).max():.1e}", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(
                    f"angle {warp['angle']:g}\u00b0\nshift ({warp['tx']:g}, {warp['ty']:g}) px"
                    f"\nscale {warp['scale']:g}",
                    fontsize=10,
                )
            if c == 0:
                ax.set_ylabel(label, fontsize=10, color=colour, fontweight="bold")
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(1.5)
    bar = fig.colorbar(shown, cax=fig.add_subplot(grid[2, n + 2]), ticks=[-scale, 0, scale])
    bar.set_label("pixel difference\n(pixels are 0 to 1)", fontsize=9.5)
    bar.ax.tick_params(labelsize=9)
    fig.suptitle(
        f"The same {n} warps on both sides; largest |Keras \u2212 PyTorch| = {largest:.1e} "
        f"(colour scale fixed at \u00b1{scale:g})",
        fontsize=12.5,
    )
    fig.subplots_adjust(left=0.03, right=0.93, top=0.86, bottom=0.05)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def main(side: str, out: str) -> None:
    if side == "torch":
        import torch  # noqa: F401  before anything that may import TensorFlow
    from shared.spec import load_spec
    from shared.splits import load_splits

    spec = load_spec()
    splits = load_splits(spec)
    measured = (keras_side if side == "keras" else torch_side)(splits, spec)
    with open(out, "w") as f:
        json.dump(measured, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
