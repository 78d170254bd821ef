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
    Rotation -> Translation -> Zoom chain, which would resample three times and uses zoom = 1 / scale.
    With given_batch (lockstep), the parameters come from the `given` variable (B, 4) that the
    Lockstep callback sets before each step, not from the layer's seed generator."""

    def __init__(
        self,
        degrees: float,
        translate: tuple[float, float],
        scale: tuple[float, float],
        interpolation: str = "bilinear",
        fill: float = 0.0,
        seed: int | None = None,
        given_batch: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.degrees, self.translate, self.scale = float(degrees), tuple(translate), tuple(scale)
        self.interpolation, self.fill, self.seed = interpolation, float(fill), seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.given_batch = given_batch

    def build(self, input_shape):
        if self.given_batch:
            self.given = self.add_weight(
                shape=(self.given_batch, 4), initializer="ones", trainable=False, name="given"
            )

    def draw_params(self, batch_size, height: int, width: int):
        """(angles, translations (B, 2), scales) for a batch: U(-degrees, degrees); whole-pixel shifts
        round(U(-f * W, f * W)), rounded as torchvision rounds them; U(low, high)."""
        if self.given_batch:
            params = self.given[:batch_size]
            return params[:, 0], params[:, 1:3], params[:, 3]
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
            "given_batch": self.given_batch,
        }


def random_affine(spec: Spec, lockstep: bool = False) -> RandomAffine:
    """The per-sample random warp; it draws its own angle, shift and scale on every call (lockstep:
    it takes them from the Lockstep callback)."""
    a = spec.augment
    return RandomAffine(
        degrees=a.degrees,
        translate=(a.translate, a.translate),
        scale=a.scale,
        interpolation=a.interpolation,
        fill=a.fill,  # [augment-fill] a constant fill, where Keras's RandomRotation and RandomZoom "reflect"
        seed=spec.train.seed,
        given_batch=spec.train.batch_size if lockstep else None,
    )


def affine(images, angles, translations, scales, interpolation: str, fill: float = 0.0):
    """Warp a batch (B, H, W, 1) with GIVEN per-sample parameters: angle (degrees, + = clockwise),
    translation (tx, ty) in pixels (+ = right, down), scale (> 1 = bigger).

    Not ops.image.affine_transform: on TensorFlow it computes in float32 whatever the images' dtype,
    and float64 lockstep needs a float64 warp. This is ops.image.map_coordinates(order=1 or 0,
    fill_mode="constant") restricted to the two image axes (tests/test_augment.py: bit-equal), at a
    quarter of its cost here, about affine_transform's."""
    height, width = images.shape[1], images.shape[2]
    dtype = images.dtype
    angles = ops.cast(angles, dtype) * (math.pi / 180)
    translations, scales = ops.cast(translations, dtype), ops.cast(scales, dtype)
    # Each OUTPUT pixel's position in the input: the inverse of "rotate, scale, then shift" about the
    # pixel-index centre ((W - 1) / 2, (H - 1) / 2), which is torchvision's centre too.
    cos, sin = ops.cos(angles) / scales, ops.sin(angles) / scales
    center_x, center_y = (width - 1) / 2, (height - 1) / 2
    rows, cols = ops.meshgrid(
        ops.arange(height, dtype=dtype), ops.arange(width, dtype=dtype), indexing="ij"
    )
    x = cols[None] - center_x - translations[:, 0, None, None]
    y = rows[None] - center_y - translations[:, 1, None, None]
    cos, sin = cos[:, None, None], sin[:, None, None]
    x, y = cos * x + sin * y + center_x, -sin * x + cos * y + center_y
    flat = ops.reshape(images, (-1,))
    first = ops.arange(ops.shape(images)[0], dtype="int32")[:, None, None] * (height * width)

    def pixels(row, col):  # input pixels at integer (row, col); `fill` outside the image
        inside = (row >= 0) & (row < height) & (col >= 0) & (col < width)
        index = first + ops.clip(row, 0, height - 1) * width + ops.clip(col, 0, width - 1)
        return ops.where(inside, ops.take(flat, index), ops.cast(fill, dtype))

    if interpolation == "nearest":  # rounded half to even, as grid_sample's nearest
        warped = pixels(ops.cast(ops.round(y), "int32"), ops.cast(ops.round(x), "int32"))
        return warped[..., None]
    top, left = ops.floor(y), ops.floor(x)
    dy, dx = y - top, x - left
    top, left = ops.cast(top, "int32"), ops.cast(left, "int32")
    warped = (
        pixels(top, left) * ((1 - dy) * (1 - dx))
        + pixels(top, left + 1) * ((1 - dy) * dx)
        + pixels(top + 1, left) * (dy * (1 - dx))
        + pixels(top + 1, left + 1) * (dy * dx)
    )
    return warped[..., None]
