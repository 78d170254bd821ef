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

# one digit, one set of parameters: the augmentation page shows both sides' warps of it
DIGIT = 0  # the first test image
WARP = {"angle": 10.0, "tx": 1.0, "ty": -1.0, "scale": 1.1}


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
    warped = augment.affine(
        digit, [WARP["angle"]], [[WARP["tx"], WARP["ty"]]], [WARP["scale"]], "bilinear"
    )
    return {"stages": rows, "warped": keras.ops.convert_to_numpy(warped)[0, ..., 0].tolist()}


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
    warped = augment.affine(
        digit, [WARP["angle"]], [[WARP["tx"], WARP["ty"]]], [WARP["scale"]], "bilinear"
    )
    return {"stages": rows, "warped": warped[0, 0].numpy().tolist()}


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
        del stages[side]["warped"]
    (directory / "stages.json").write_text(json.dumps(stages, indent=1) + "\n")


def picture(stages: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keras, torch = (np.array(stages[side]["warped"]) for side in SIDES)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    panels = [
        (keras, "Keras: keras_impl.augment.affine"),
        (torch, "PyTorch: torch_impl.augment.affine"),
        (np.abs(keras - torch), f"|difference|, largest {np.abs(keras - torch).max():.1e}"),
    ]
    for ax, (image, title) in zip(axes, panels):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1 if "differ" not in title else None)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(
        f"test digit {DIGIT}: angle {WARP['angle']:g} deg, shift ({WARP['tx']:g}, {WARP['ty']:g}) px, "
        f"scale {WARP['scale']:g}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
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
