"""The MLP on both sides: shapes, parameter counts, initializers, shared initial weights."""

import numpy as np
import pytest
import torch

from shared.align import initial_weights
from shared.spec import load_spec
from torch_impl import model as torch_model
from torch_parity import alignment as torch_alignment

keras = pytest.importorskip("keras")  # on any backend: KERAS_BACKEND
from keras_impl import model as keras_model  # noqa: E402
from keras_parity import alignment as keras_alignment  # noqa: E402


@pytest.mark.parametrize(
    "overrides, params",
    [
        (["model.hidden=[256,128]"], 235_146),
        (["model.hidden=[]"], 7_850),
        (["model.hidden=[512,256,128]"], 567_434),
        # 3x3x1x16 + 2x16 (BatchNorm) + 3x3x16x32 + 2x32, then 7x7x32 = 1568 -> 256 -> 128 -> 10
        (["model.kind=cnn"], 144 + 32 + 4608 + 64 + 1568 * 256 + 256 + 256 * 128 + 128 + 1290),
    ],
)
def test_same_parameter_count_on_both_sides(overrides, params):
    spec = load_spec(overrides)
    assert torch_model.count_params(torch_model.build_model(spec)) == params
    assert keras_model.count_params(keras_model.build_model(spec)) == params


def test_logits_shape(spec):
    x = np.zeros(spec.shapes(5)["torch_batch"], np.float32)
    assert (
        tuple(torch_model.build_model(spec)(torch.from_numpy(x)).shape) == spec.shapes(5)["logits"]
    )
    keras_x = np.zeros(spec.shapes(5)["keras_batch"], np.float32)
    assert tuple(keras_model.build_model(spec)(keras_x).shape) == spec.shapes(5)["logits"]


def glorot_limit(kernel):
    return np.sqrt(6 / sum(kernel.shape))


def test_glorot_uniform_kernels_and_zero_biases_on_both_sides(spec):
    torch.manual_seed(0)
    torch_params = []
    for layer in torch_alignment.linear_layers(torch_model.build_model(spec)):
        torch_params += [layer.weight.detach().numpy().T, layer.bias.detach().numpy()]
    keras_params = keras_model.build_model(spec).get_weights()
    for params in (torch_params, keras_params):
        assert [p.shape for p in params] == [
            (784, 256),
            (256,),
            (256, 128),
            (128,),
            (128, 10),
            (10,),
        ]
        for kernel, bias in zip(params[::2], params[1::2]):
            limit = glorot_limit(kernel)
            assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
            # the variance of U(-a, a) is a^2 / 3; torch's default init would give about a third of it
            assert kernel.var() == pytest.approx(limit**2 / 3, rel=0.1)
            assert not bias.any()


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_shared_initial_weights_give_the_same_logits(splits, kind):
    spec = load_spec([f"model.kind={kind}"])
    weights = initial_weights(spec, seed=3)
    t_model, k_model = torch_model.build_model(spec), keras_model.build_model(spec)
    torch_alignment.load_initial_weights(t_model, weights, spec)
    keras_alignment.load_initial_weights(k_model, weights)
    x = (splits.x_test[:256].astype(np.float32) / 255 - spec.data.mean) / spec.data.std
    t_model.eval()
    with torch.no_grad():
        t_logits = t_model(torch.from_numpy(x[:, None])).numpy()
    # the Keras model normalizes the raw images itself (its preprocessing layers)
    k_logits = keras.ops.convert_to_numpy(k_model(splits.x_test[:256, ..., None], training=False))
    np.testing.assert_allclose(t_logits, k_logits, atol=1e-5)
    assert initial_weights(spec, seed=3)[0].tobytes() == weights[0].tobytes()
    assert initial_weights(spec, seed=4)[0].tobytes() != weights[0].tobytes()


def test_dropout_is_active_in_training_only(spec):
    x = np.random.default_rng(0).normal(size=spec.shapes(64)["torch_batch"]).astype(np.float32)
    t_model = torch_model.build_model(spec)
    t_model.train()
    assert not torch.equal(t_model(torch.from_numpy(x)), t_model(torch.from_numpy(x)))
    t_model.eval()
    assert torch.equal(t_model(torch.from_numpy(x)), t_model(torch.from_numpy(x)))
    k_model = keras_model.build_model(load_spec(["augment.enabled=false"]))  # dropout alone

    def k_logits(training):
        return keras.ops.convert_to_numpy(k_model(x.transpose(0, 2, 3, 1), training=training))

    assert not np.array_equal(k_logits(True), k_logits(True))
    np.testing.assert_array_equal(k_logits(False), k_logits(False))


def test_the_keras_model_preprocesses_and_augments_in_training_only(splits, spec):
    """Raw images in: Rescaling -> RandomAffine -> Normalization run inside the model, RandomAffine
    with training=True only; the shared weights go into the Dense layers."""
    model = keras_model.build_model(load_spec(["model.dropout=0"]))
    stages = [type(layer).__name__ for layer in model.get_layer("preprocessing").layers]
    assert stages == ["Rescaling", "RandomAffine", "Normalization"]
    keras_alignment.load_initial_weights(model, initial_weights(spec, seed=3))
    kernels = [w for w in model.get_weights() if w.ndim == 2]
    assert [k.tobytes() for k in kernels] == [w.tobytes() for w in initial_weights(spec, 3)[::2]]
    images = splits.x_test[:64, ..., None]

    def logits(training):
        return keras.ops.convert_to_numpy(model(images, training=training))

    np.testing.assert_array_equal(logits(False), logits(False))
    assert np.abs(logits(True) - logits(False)).max() > 0.1
