"""Augmentation: one random affine warp per sample, a Keras layer doing what torchvision's RandomAffine does."""

from __future__ import annotations

import math

import keras
from keras import ops

from shared.spec import Spec


def affine(images, angles, translations, scales, spec: Spec):
    """Warp a batch (B, H, W, 1) with GIVEN per-sample parameters: angle (degrees, + = clockwise),
    translation (tx, ty) in pixels (+ = right, down), scale (> 1 = bigger)."""
    height, width = spec.data.height, spec.data.width
    angles = ops.convert_to_tensor(angles, "float32") * (math.pi / 180)
    translations = ops.convert_to_tensor(translations, "float32")
    scales = ops.convert_to_tensor(scales, "float32")
    # affine_transform maps OUTPUT pixels to INPUT pixels, so build the inverse of "rotate, scale, then
    # shift" about the pixel-index centre ((W - 1) / 2, (H - 1) / 2), which is torchvision's centre too.
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin = ops.cos(angles) / scales, ops.sin(angles) / scales
    x0, y0 = cx + translations[:, 0], cy + translations[:, 1]
    zeros = ops.zeros_like(cos)
    rows = ops.stack(
        [cos, sin, cx - cos * x0 - sin * y0, -sin, cos, cy + sin * x0 - cos * y0, zeros, zeros],
        axis=1,
    )
    return ops.image.affine_transform(
        images,
        rows,
        interpolation=spec.augment.interpolation,
        # constant fill: Keras's RandomRotation/Zoom default is "reflect"
        fill_mode="constant",
        fill_value=spec.augment.fill,
        data_format="channels_last",
    )


class RandomAffine(keras.layers.Layer):
    """A fresh angle, shift and scale per sample on every call (training=True), drawn like torchvision's
    RandomAffine; inactive at inference. One warp, not Keras's Rotation -> Translation -> Zoom chain,
    which would resample three times and uses zoom = 1 / scale."""

    def __init__(self, spec: Spec, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.seed_generator = keras.random.SeedGenerator(seed)

    def draw_params(self, batch):
        """(angles, translations (B, 2), scales) for a batch: U(-degrees, degrees); whole-pixel shifts
        round(U(-f * W, f * W)), rounded as torchvision rounds them; U(low, high)."""
        a = self.spec.augment
        max_dx, max_dy = a.translate * self.spec.data.width, a.translate * self.spec.data.height

        def uniform(low, high):
            return keras.random.uniform((batch,), low, high, seed=self.seed_generator)

        translations = ops.stack(
            [ops.round(uniform(-max_dx, max_dx)), ops.round(uniform(-max_dy, max_dy))], axis=1
        )
        return uniform(-a.degrees, a.degrees), translations, uniform(*a.scale)

    def call(self, images, training=True):
        if not training:
            return images
        return affine(images, *self.draw_params(ops.shape(images)[0]), self.spec)


def random_affine(spec: Spec) -> RandomAffine:
    """The per-sample random warp; it draws its own angle, shift and scale on every call."""
    return RandomAffine(spec, seed=spec.train.seed)
