"""Augmentation: one random affine warp per sample, a Keras layer doing what torchvision's RandomAffine does."""

from __future__ import annotations

import math

import keras
from keras import ops

from shared.spec import Spec


@keras.saving.register_keras_serializable(package="mnist_parity")
class RandomAffine(keras.layers.Layer):  # [augment-affine] one warp, drawn like torchvision's
    """A fresh angle, shift and scale per sample on every call (training=True), drawn like torchvision's
    RandomAffine, which takes the same arguments; inactive at inference. One warp, not Keras's
    Rotation -> Translation -> Zoom chain, which would resample three times and uses zoom = 1 / scale."""

    def __init__(
        self,
        degrees: float,
        translate: tuple[float, float],
        scale: tuple[float, float],
        interpolation: str = "bilinear",
        fill: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.degrees, self.translate, self.scale = float(degrees), tuple(translate), tuple(scale)
        self.interpolation, self.fill, self.seed = interpolation, float(fill), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def draw_params(self, batch_size, height: int, width: int):
        """(angles, translations (B, 2), scales) for a batch: U(-degrees, degrees); whole-pixel shifts
        round(U(-f * W, f * W)), rounded as torchvision rounds them; U(low, high)."""
        max_dx, max_dy = self.translate[0] * width, self.translate[1] * height

        def uniform(low, high):
            return keras.random.uniform((batch_size,), low, high, seed=self.seed_generator)

        shifts = [ops.round(uniform(-max_dx, max_dx)), ops.round(uniform(-max_dy, max_dy))]
        return uniform(-self.degrees, self.degrees), ops.stack(shifts, axis=1), uniform(*self.scale)

    def call(self, images, training=True):
        if not training:
            return images
        batch_size, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        angles, translations, scales = self.draw_params(batch_size, height, width)
        return affine(images, angles, translations, scales, self.interpolation, self.fill)

    def get_config(self):
        return {
            **super().get_config(),
            "degrees": self.degrees,
            "translate": self.translate,
            "scale": self.scale,
            "interpolation": self.interpolation,
            "fill": self.fill,
            "seed": self.seed,
        }


def random_affine(spec: Spec) -> RandomAffine:
    """The per-sample random warp; it draws its own angle, shift and scale on every call."""
    a = spec.augment
    return RandomAffine(
        degrees=a.degrees,
        translate=(a.translate, a.translate),
        scale=a.scale,
        interpolation=a.interpolation,
        fill=a.fill,  # [augment-fill] a constant fill, where Keras's RandomRotation and RandomZoom "reflect"
        seed=spec.train.seed,
    )


def affine(images, angles, translations, scales, interpolation: str, fill: float = 0.0):
    """Warp a batch (B, H, W, 1) with GIVEN per-sample parameters: angle (degrees, + = clockwise),
    translation (tx, ty) in pixels (+ = right, down), scale (> 1 = bigger)."""
    height, width = images.shape[1], images.shape[2]
    angles = ops.convert_to_tensor(angles, "float32") * (math.pi / 180)
    translations = ops.convert_to_tensor(translations, "float32")
    scales = ops.convert_to_tensor(scales, "float32")
    # affine_transform maps OUTPUT pixels to INPUT pixels, so build the inverse of "rotate, scale, then
    # shift" about the pixel-index centre ((W - 1) / 2, (H - 1) / 2), which is torchvision's centre too.
    center_x, center_y = (width - 1) / 2, (height - 1) / 2
    cos, sin = ops.cos(angles) / scales, ops.sin(angles) / scales
    x0, y0 = center_x + translations[:, 0], center_y + translations[:, 1]
    zeros = ops.zeros_like(cos)
    # The eight numbers [a0, a1, a2, b0, b1, b2, c0, c1] of the inverse map, as three rows:
    first_row = [cos, sin, center_x - cos * x0 - sin * y0]
    second_row = [-sin, cos, center_y + sin * x0 - cos * y0]
    projective = [zeros, zeros]
    return ops.image.affine_transform(
        images,
        ops.stack([*first_row, *second_row, *projective], axis=1),
        interpolation=interpolation,
        fill_mode="constant",
        fill_value=fill,
        data_format="channels_last",
    )
