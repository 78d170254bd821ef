"""What `--mode lockstep` shares beyond aligned mode's weights and order (shared/align.py): every
random draw of the run, and the per-step records both sides write.

The draws are made here, in numpy, from the run's seed: the augmentation parameters of every sample
of every epoch, and for every step and dropout layer the uniform numbers its mask is drawn from. The
instruments (keras_parity/, torch_parity/) hand them to each side's own augmentation (its parameter
seam) and dropout layers, which keep a unit where the number is at least their OWN rate.

Each record is a fingerprint of every stage of one training step, in pipeline order (the batch's
sample ids, the batch after each preprocessing stage, the logits, the loss, each gradient, each
parameter after the update), so that compare.py can name the first step and the first stage that
differ. A fingerprint is (projection on a fixed random unit vector, norm): two tensors with
fingerprints that agree to a relative 1e-10 agree to that, short of a difference orthogonal to a
random direction, which has probability zero.
"""

from __future__ import annotations

import functools
import zlib

import numpy as np

from shared.align import model_weights
from shared.spec import Spec

# The augmentation parameters of one sample: angle (degrees), tx, ty (whole pixels), scale.
AUGMENT_COLUMNS = ("angle", "tx", "ty", "scale")


class LockstepDraws:
    """The run's random draws, by (epoch, position in that epoch's order) and by (epoch, step)."""

    def __init__(self, spec: Spec, seed: int):
        self.spec, self.seed = spec, seed
        self._epoch = (None, None)  # (epoch, n) and its parameters, drawn once

    def _augment_epoch(self, epoch: int, n: int) -> np.ndarray:
        if self._epoch[0] != (epoch, n):
            self._epoch = ((epoch, n), self._draw_epoch(epoch, n))
        return self._epoch[1]

    def _draw_epoch(self, epoch: int, n: int) -> np.ndarray:
        a, d = self.spec.augment, self.spec.data
        rng = np.random.default_rng([self.seed, 2, epoch])
        max_dx, max_dy = a.translate * d.width, a.translate * d.height
        return np.stack(
            [
                rng.uniform(-a.degrees, a.degrees, n),
                # whole pixels, rounded half to even as torchvision's round() and Keras's ops.round
                np.round(rng.uniform(-max_dx, max_dx, n)),
                np.round(rng.uniform(-max_dy, max_dy, n)),
                rng.uniform(*a.scale, n),
            ],
            axis=1,
        )

    def augment(self, epoch: int, start: int, size: int, n: int) -> np.ndarray:
        """(size, 4) float64: the parameters of positions start..start+size of epoch `epoch`
        (0-based) of an n-sample epoch."""
        return self._augment_epoch(epoch, n)[start : start + size]

    def uniforms(self, epoch: int, step: int, layer: int, shape: tuple[int, ...]) -> np.ndarray:
        """U(0, 1) numbers of `shape` (batch, units) for dropout layer `layer` (0-based) at step `step`
        (0-based) of epoch `epoch`: a unit is kept where its number is >= the layer's rate."""
        return np.random.default_rng([self.seed, 3, epoch, step, layer]).random(shape)


@functools.lru_cache(maxsize=64)
def _direction(size: int) -> np.ndarray:
    r = np.random.default_rng([4, size]).standard_normal(size)
    return r / np.linalg.norm(r)


def fingerprint(values) -> list[float]:
    """[projection on a fixed random unit vector, norm] of an array, in float64. Give tensors in the
    same layout on both sides (Keras's: images (B, 28, 28, 1) or flat, kernels (fan_in, fan_out))."""
    x = np.asarray(values, dtype=np.float64).ravel()
    return [float(x @ _direction(x.size)), float(np.sqrt(x @ x))]


def order_digest(images, labels) -> str:
    """A digest of one batch as the framework served it: its raw images (uint8 values, in Keras's
    layout (B, H, W, C)) and labels, in order. Equal digests: the same samples in the same order."""
    pixels = np.asarray(np.round(np.asarray(images, dtype=np.float64)), dtype=np.uint8).tobytes()
    return f"{zlib.crc32(pixels + np.asarray(labels, dtype=np.int64).tobytes()):08x}"


def parameter_names(spec: Spec) -> tuple[list[str], list[str]]:
    """The names both sides record their weights under, in Keras's order (shared/align.py): the
    trainable ones (a gradient and a value per step), then the running statistics (a value per step:
    state that no gradient shows)."""
    weights = model_weights(spec)
    return [w.name for w in weights if w.trainable], [w.name for w in weights if not w.trainable]
