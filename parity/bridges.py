"""The one registry of bridged framework differences, and of the porting slips measured beside them.

Each bridge is a default on which Keras and PyTorch differ and that this pipeline makes equal. The
bridging lines carry the entry's id as a tag, `# [id] ...`, and a test checks that tags and registry
agree both ways. The audit's bridged rows, docs/differences.md's table, `compare.py --ablate` and the
walkthrough's cards come from here. Every bridge has a switch in spec.toml's [ablate] (its id with
underscores) that turns it off on `side`; SLIPS are classic porting mistakes with switches of their
own, and one null control that must not matter.

    python -m parity.bridges         # docs/differences.md's table, in Markdown
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CNN = ("model.kind=cnn",)  # the convolutional model's differences are measured on it
TAG = re.compile(r"#.*?\[([a-z0-9]+(?:-[a-z0-9]+)+)\]")


@dataclass(frozen=True)
class Bridge:
    id: str
    stage: str
    keras_default: str
    torch_default: str
    bridged: str  # what the bridge makes of the two defaults
    files: tuple[str, ...]  # where its tag marks the bridging line(s)
    rows: tuple[str, ...]  # the audit rows it bridges (a row id, or a prefix of numbered rows)
    why: str  # what goes wrong without it
    side: str  # the side whose code --ablate changes
    # the compare.py mode that isolates its ablation: aligned mode loads shared initial weights over
    # an initializer, so the initializers' ablations are measured in independent mode
    mode: str = "aligned"
    settings: tuple[
        str, ...
    ] = ()  # --set overrides it is measured under (the CNN's: model.kind=cnn)

    @property
    def switch(self) -> str:
        return self.id.replace("-", "_")


@dataclass(frozen=True)
class Slip:
    """A classic porting mistake (or a null control) that --ablate makes on one side."""

    id: str
    stage: str
    side: str
    what: str
    rows: tuple[str, ...]  # the audit rows it changes
    control: bool = False  # a null control: must change no number
    mode: str = "aligned"  # the compare.py mode it is measured in
    settings: tuple[str, ...] = ()  # --set overrides it is measured under

    @property
    def switch(self) -> str:
        return self.id.replace("-", "_")


BRIDGES = (
    Bridge(
        "normalize-std",
        "normalization",
        "Normalization(mean, variance): takes a variance",
        "Normalize(mean, std): takes a std",
        "variance = std ** 2",
        ("keras_impl/data.py",),
        ("data.normalize_std",),
        "passing the std as the variance divides by sqrt(0.3081) instead of 0.3081",
        "keras",
    ),
    Bridge(
        "fit-shuffle",
        "loading and batches",
        "fit(x, y, shuffle=True): on TensorFlow with a fixed seed, the first epoch's permutation "
        "again every epoch",
        "RandomSampler: a fresh uniform permutation every epoch",
        "a fresh permutation per epoch, drawn in numpy from the run's seed, served by EpochOrders",
        ("keras_impl/data.py",),
        ("loop.shuffle",),
        "every epoch would visit the samples in the same order on one side only",
        "keras",
    ),
    Bridge(
        "augment-affine",
        "augmentation",
        "RandomRotation -> RandomTranslation -> RandomZoom: three resamplings, "
        "counter-clockwise angles in turns, zoom = 1 / scale",
        "RandomAffine: one warp, clockwise angles in degrees, scale",
        "one warp on both, its parameters drawn as torchvision draws them",
        ("keras_impl/augment.py",),
        (
            "augment.degrees",
            "augment.translate",
            "augment.scale",
            "augment.parameters",
            "augment.shear",
            "augment.interpolation",
            "augment.fill",
            "data.stages",
            "augment.splits",
            "augment.drawn_angle",
            "augment.drawn_shift",
            "augment.drawn_scale",
        ),
        "three resamplings blur the digit more than one, and zoom 1.1 shrinks what scale 1.1 enlarges",
        "keras",
    ),
    Bridge(
        "augment-fill",
        "augmentation",
        'fill_mode="reflect" (RandomRotation, RandomZoom)',
        "fill=0, blended through a resampled mask (darkens border pixels twice)",
        "plain zero padding: a constant 0 fill on Keras, fill=None on torchvision",
        ("keras_impl/augment.py", "torch_impl/augment.py"),
        ("augment.fill",),
        "off on PyTorch, RandomAffine blends its fill through a resampled mask and darkens the "
        "pixels at a shifted digit's border (Keras's own default, reflect, would mirror strokes in)",
        "torch",
    ),
    Bridge(
        "init-kernel",
        "model",
        "glorot_uniform: U(+-sqrt(6 / (fan_in + fan_out)))",
        "kaiming_uniform_(a=sqrt(5)): U(+-1 / sqrt(fan_in))",
        "glorot_uniform on both (nn.init.xavier_uniform_)",
        ("torch_impl/model.py",),
        ("model.kernel_init", "model.conv_init"),
        "PyTorch's default starts the first layer about 2x smaller: another starting point",
        "torch",
        "independent",
    ),
    Bridge(
        "init-bias",
        "model",
        "zeros",
        "U(+-1 / sqrt(fan_in))",
        "zeros on both",
        ("torch_impl/model.py",),
        ("model.bias_init",),
        "random biases shift every unit at the start",
        "torch",
        "independent",
    ),
    Bridge(
        "weight-layout",
        "model",
        "Dense kernel (fan_in, fan_out)",
        "Linear weight (fan_out, fan_in)",
        "shared weights are transposed when torch loads them",
        ("torch_parity/alignment.py",),
        (),
        "a kernel reshaped, not transposed, to (out, in) loads without an error and scrambles "
        "every weight (the ablation); loaded as it is, it fails on shape unless the layer is square",
        "torch",
    ),
    Bridge(
        "conv-layout",
        "convolution",
        "Conv2D kernel (height, width, in, out)",
        "Conv2d weight (out, in, height, width)",
        "shared kernels are permuted when torch loads them",
        ("torch_parity/alignment.py",),
        (),
        "a kernel reshaped, not permuted, to (out, in, h, w) loads without an error and scrambles "
        "every filter (the ablation)",
        "torch",
        settings=CNN,
    ),
    Bridge(
        "conv-padding",
        "convolution",
        'Conv2D(padding="same", strides=2): TensorFlow pads the odd row and column at the bottom '
        "and right only",
        'Conv2d(padding="same") refuses a stride above 1; padding=1 pads all four sides',
        "nn.ZeroPad2d with TensorFlow's bottom-and-right padding before an unpadded Conv2d",
        ("torch_impl/model.py",),
        ("model.conv_padding",),
        "padding=1 gives the same output shape and shifts every window of the strided convolution "
        "by a pixel: no error, other features",
        "torch",
        settings=CNN,
    ),
    Bridge(
        "flatten-layout",
        "tensors and layout",
        "Flatten of (B, H, W, C): height, width, channel",
        "nn.Flatten of (B, C, H, W): channel, height, width",
        "the first dense kernel's rows reordered to channel, height, width when torch loads it",
        ("torch_parity/alignment.py",),
        ("model.flatten_rows",),
        "after a convolution the rows meet other features (the same shape, silently wrong); with one "
        "channel, the MLP's, the two orders are one",
        "torch",
        settings=CNN,
    ),
    Bridge(
        "batchnorm-momentum",
        "convolution",
        "BatchNormalization(momentum=0.99): the weight on the running value",
        "BatchNorm2d(momentum=0.1): the weight on the batch",
        "momentum = 1 - the spec's (Keras's meaning) on torch",
        ("torch_impl/model.py",),
        ("model.batchnorm_momentum",),
        "0.99 copied as it is keeps 99% of each batch: running statistics that follow the last batch, "
        "and another evaluation",
        "torch",
        settings=CNN,
    ),
    Bridge(
        "batchnorm-epsilon",
        "convolution",
        "BatchNormalization(epsilon=1e-3)",
        "BatchNorm2d(eps=1e-5)",
        "the spec's 1e-3 on both",
        ("torch_impl/model.py",),
        ("model.batchnorm_epsilon",),
        "another normalization from the first step, largest where a channel's variance is small",
        "torch",
        settings=CNN,
    ),
    Bridge(
        "batchnorm-variance",
        "convolution",
        "keeps the batch's biased variance (divided by n) as its running variance",
        "normalizes with the biased variance, keeps the unbiased one (divided by n - 1)",
        "KerasBatchNorm2d keeps the biased one",
        ("torch_impl/model.py",),
        ("model.batchnorm_variance",),
        "running variances n / (n - 1) larger (1.00004 here): evaluation differs by a few 1e-5, "
        "training not at all",
        "torch",
        settings=CNN,
    ),
    Bridge(
        "loss-from-logits",
        "training loop",
        "SparseCategoricalCrossentropy(from_logits=False): expects probabilities",
        "CrossEntropyLoss: takes logits",
        "from_logits=True: both take the model's logits",
        ("keras_impl/train.py",),
        ("loss.from_logits",),
        "logits read as probabilities are clipped to [1e-7, 1 - 1e-7]: a wrong loss and gradient",
        "keras",
    ),
    Bridge(
        "adam-epsilon",
        "training loop",
        "Adam epsilon 1e-7, added to the raw sqrt(v)",
        "Adam eps 1e-8, added to the bias-corrected sqrt(v_hat)",
        "epsilon 1e-7 on both; before step t torch's eps is set to epsilon / sqrt(1 - beta2^t), "
        "and its lr rescaled to Keras's bias correction (betas in the variables' dtype)",
        ("keras_impl/train.py", "torch_impl/train.py"),
        ("optimizer.epsilon", "optimizer.epsilon_placement"),
        "the same epsilon in the other place changes the first steps by up to 0.7 lr",
        "torch",
    ),
    Bridge(
        "float64-constants",
        "tensors and layout",
        "on TensorFlow, a Python float becomes a float32 tensor first: in float64, 1/255, the "
        "mean, the variance and Adam's betas are rounded to float32",
        "Python floats stay float64",
        "np.float64 constants on the Keras side",
        ("keras_impl/data.py", "keras_impl/train.py"),
        (),
        "float64 runs part by 1e-7 at the first step, and lockstep cannot prove float64 parity",
        "keras",
    ),
    Bridge(
        "reported-loss",
        "training loop",
        "fit reports the sample-weighted running mean of the epoch's batches, dropout on",
        "a loop reports what it computes (often the last batch's loss)",
        "the torch loop computes fit's figure",
        ("torch_impl/train.py",),
        ("loop.reported_loss",),
        "the two training curves would measure different things",
        "torch",
    ),
)
SLIPS = (
    Slip(
        "shuffle-batches",
        "loading and batches",
        "keras",
        'whole batches reshuffled every epoch, their contents fixed (fit(shuffle="batch"), or a '
        "loader that shuffles a list of batches), where both sides shuffle samples",
        ("loop.shuffle",),
    ),
    Slip(
        "flatten-order",
        "tensors and layout",
        "torch",
        "a channels-last flatten where torch flattens channels first and the shared kernel is "
        "carried for that: with one channel, the MLP's, the same order, so nothing may change; "
        "after the CNN's convolutions the first dense layer reads scrambled features",
        ("model.flatten_rows",),
        control=True,
    ),
)
ABLATIONS = {entry.id: entry for entry in (*BRIDGES, *SLIPS)}
BY_ID = {bridge.id: bridge for bridge in BRIDGES}


def ablated_rows(asked_keys: set[str]) -> set[str]:
    """The audit rows (ids or numbered prefixes) that ablate.* keys in `asked_keys` change."""
    return {
        row
        for entry in ABLATIONS.values()
        if f"ablate.{entry.switch}" in asked_keys
        for row in entry.rows
    }


def bridge_for_row(row_id: str) -> Bridge | None:
    for bridge in BRIDGES:
        if any(
            row_id == r or (row_id.startswith(r) and row_id[len(r) :].isdigit())
            for r in bridge.rows
        ):
            return bridge
    return None


def code_tags(root: Path = ROOT) -> dict[str, set[str]]:
    """{tag: files} for every `# ... [tag]` comment in the two pipelines and their instruments (the
    shared weights' layout is bridged where aligned mode loads them)."""
    found: dict[str, set[str]] = {}
    packages = ("keras_impl", "torch_impl", "keras_parity", "torch_parity")
    for path in sorted(p for package in packages for p in root.glob(f"{package}/*.py")):
        for tag in TAG.findall(path.read_text()):
            found.setdefault(tag, set()).add(str(path.relative_to(root)))
    return found


def markdown_table() -> str:
    lines = [
        "| id | stage | Keras default | PyTorch default | bridged to | where |",
        "|---|---|---|---|---|---|",
    ]
    for b in BRIDGES:
        where = ", ".join(f"`{f}`" for f in b.files)
        lines.append(
            f"| `{b.id}` | {b.stage} | {b.keras_default} | {b.torch_default} | {b.bridged} | {where} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
