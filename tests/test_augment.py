"""Augmentation: both sides' explicit warps agree on real digits; the conventions of spec.toml hold."""

import numpy as np
import pytest
import torch

from shared.spec import load_spec
from torch_impl import augment as torch_augment

pytest.importorskip("keras")  # on any backend: KERAS_BACKEND
from keras_impl import augment as keras_augment  # noqa: E402


def warp_both(images01, angles, translations, scales, spec):
    """images01: (B, 28, 28) float32 in [0, 1] -> (torch result, keras result), both (B, 28, 28)."""
    interpolation = spec.augment.interpolation
    t = torch_augment.affine(
        torch.from_numpy(images01[:, None]), angles, translations, scales, interpolation
    )
    # the layer's warp, as training runs it (on TensorFlow, compiled by XLA)
    warp = keras_augment.random_affine(spec).warp
    k = warp(
        images01[..., None], *(np.float32(p) for p in (angles, translations, scales)), interpolation
    )
    return t[:, 0].numpy(), np.asarray(k)[..., 0]


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_explicit_warps_agree_on_real_digits(splits, interpolation):
    spec = load_spec([f"augment.interpolation={interpolation}"])
    rng = np.random.default_rng(0)
    n = 100
    images = splits.x_test[:n].astype(np.float32) / 255
    angles = rng.uniform(-20, 20, n)
    translations = rng.uniform(-3, 3, (n, 2))
    scales = rng.uniform(0.85, 1.15, n)
    t, k = warp_both(images, angles, translations, scales, spec)
    assert np.abs(t - images).max() > 0.5  # it did warp
    assert np.abs(t - k).max() < 1e-4


def test_the_keras_warp_is_float64_and_map_coordinates_bilinear_rule(splits):
    """float64 lockstep needs a float64 warp on the Keras side (affine_transform computes in
    float32 on TensorFlow): in float64 the two sides agree to rounding."""
    from keras import ops

    rng = np.random.default_rng(1)
    n = 50
    images = splits.x_test[:n].astype(np.float64) / 255
    angles, scales = rng.uniform(-10, 10, n), rng.uniform(0.9, 1.1, n)
    translations = np.round(rng.uniform(-1.4, 1.4, (n, 2)))
    k = np.asarray(
        keras_augment.affine(images[..., None], angles, translations, scales, "bilinear")
    )
    t = torch_augment.affine(
        torch.from_numpy(images[:, None]), angles, translations, scales, "bilinear"
    )
    assert k.dtype == np.float64 and np.abs(t[:, 0].numpy() - k[..., 0]).max() < 1e-12
    # the same output -> input map, sampled by Keras's own map_coordinates
    a = np.deg2rad(angles)[:, None, None]
    cos, sin = np.cos(a) / scales[:, None, None], np.sin(a) / scales[:, None, None]
    rows, cols = np.meshgrid(np.arange(28.0), np.arange(28.0), indexing="ij")
    x = cols - 13.5 - translations[:, 0, None, None]
    y = rows - 13.5 - translations[:, 1, None, None]
    coordinates = [
        np.broadcast_to(np.arange(n, dtype=np.float64)[:, None, None], x.shape),
        -sin * x + cos * y + 13.5,
        cos * x + sin * y + 13.5,
    ]
    reference = ops.image.map_coordinates(images, coordinates, order=1, fill_mode="constant")
    assert np.abs(np.asarray(reference) - k[..., 0]).max() < 1e-12


def test_conventions_angle_translation_scale(spec):
    image = np.zeros((1, 28, 28), np.float32)
    image[0, 13, 20] = 1.0  # a dot right of the centre (13.5, 13.5)

    def where(out):
        return np.unravel_index(np.argmax(out[0]), (28, 28))

    for side in (0, 1):
        # translate (+2, +3): right and down
        assert where(warp_both(image, [0.0], [[2.0, 3.0]], [1.0], spec)[side]) == (16, 22)
        # +90 degrees is clockwise on screen: a dot to the right of the centre moves below it
        row, col = where(warp_both(image, [90.0], [[0.0, 0.0]], [1.0], spec)[side])
        assert row > 17 and abs(col - 13.5) < 1.5
        # scale 2 is a magnification: the dot moves away from the centre
        row, col = where(warp_both(image, [0.0], [[0.0, 0.0]], [2.0], spec)[side])
        assert col >= 26


def test_fill_is_black_background(spec):
    ones = np.ones((1, 28, 28), np.float32)
    for out in warp_both(ones, [45.0], [[0.0, 0.0]], [1.0], spec):
        assert out[0, 0, 0] == 0.0 and out[0, 14, 14] == pytest.approx(1.0)


def test_random_warps_are_per_sample_and_in_range(splits, spec):
    images = np.repeat(splits.x_test[:1].astype(np.float32) / 255, 8, axis=0)
    layer = keras_augment.random_affine(spec)
    k = np.asarray(layer(images[..., None], training=True))[..., 0]
    t = np.stack(
        [torch_augment.random_affine(spec)(torch.from_numpy(im[None]))[0].numpy() for im in images]
    )
    for out in (k, t):
        assert len({o.round(4).tobytes() for o in out}) == 8  # 8 identical inputs, 8 distinct warps
        assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    np.testing.assert_array_equal(
        np.asarray(layer(images[..., None], training=False))[..., 0], images
    )


def test_the_keras_layer_takes_torchvision_arguments_and_saves(spec, tmp_path):
    import keras

    layer, transform = keras_augment.random_affine(spec), torch_augment.random_affine(spec)
    assert [-layer.degrees, layer.degrees] == transform.degrees
    assert layer.translate == tuple(transform.translate) and layer.scale == tuple(transform.scale)
    assert layer.interpolation == transform.interpolation.value and transform.fill is None
    model = keras.Sequential([keras.Input((28, 28, 1)), layer])
    model.save(tmp_path / "augment.keras")
    loaded = keras.models.load_model(tmp_path / "augment.keras").layers[0]
    assert isinstance(loaded, keras_augment.RandomAffine)
    assert loaded.get_config() == layer.get_config()


def test_both_sides_draw_from_the_same_distributions(spec):
    a, n = spec.augment, 2000
    angles, shifts, scales = map(
        np.asarray, keras_augment.random_affine(spec).draw_params(n, 28, 28)
    )
    transform = torch_augment.random_affine(spec)
    params = [transform.make_params([torch.zeros(1, 28, 28)]) for _ in range(n)]
    t_angles = np.array([p["angle"] for p in params])
    t_shifts = np.array([p["translate"] for p in params], dtype=np.float64)
    t_scales = np.array([p["scale"] for p in params])
    limit = round(a.translate * spec.data.width)
    for ang, shift, scale in ((angles, shifts, scales), (t_angles, t_shifts, t_scales)):
        assert (
            -a.degrees <= ang.min() < -0.9 * a.degrees and 0.9 * a.degrees < ang.max() <= a.degrees
        )
        assert np.array_equal(shift, np.round(shift)) and set(np.unique(shift)) == set(
            range(-limit, limit + 1)
        )
        assert (
            a.scale[0] <= scale.min()
            and scale.max() <= a.scale[1]
            and abs(scale.mean() - np.mean(a.scale)) < 0.01
        )
    # the share of zero shifts agrees (both round the same uniform draw)
    assert abs((shifts == 0).mean() - (t_shifts == 0).mean()) < 0.05
