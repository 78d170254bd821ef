"""The torch side's two data pipelines (spec data.pipeline): the batched default and the classic
torchvision idiom give the same batches for the same draws; the batched warp is F.affine's, per sample."""

import json

import numpy as np
import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from shared.align import epoch_orders
from shared.settings import UNIFORM_PERMUTATION
from shared.spec import SpecError, load_spec
from torch_impl import augment, data, device
from torch_impl.model import build_model
from torch_impl.pipeline import Pipeline
from torch_impl.train import make_loss, make_optimizer
from torch_parity.alignment import EpochOrders
from torch_parity.audit_rows import describe_pipeline

CLASSIC = ["data.pipeline=classic", "data.workers=0"]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def digits(splits, n: int) -> torch.Tensor:
    """n real test digits as uint8 (n, 1, 28, 28)."""
    return torch.from_numpy(splits.x_test[:n].copy()).unsqueeze(1)


def f_affine(images, angles, translations, scales, interpolation, fill):
    """torchvision's own F.affine, one sample at a time: what the batched warp must reproduce."""
    return torch.stack(
        [
            F.affine(
                image,
                angle=float(angle),
                translate=[float(t) for t in shift],
                scale=float(scale),
                shear=[0.0, 0.0],
                interpolation=v2.InterpolationMode(interpolation),
                fill=fill,
            )
            for image, angle, shift, scale in zip(images, angles, translations, scales)
        ]
    )


@pytest.mark.parametrize("fill", [None, 0.0], ids=["fill=None", "fill=0"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_the_batched_warp_is_f_affine_per_sample(splits, interpolation, fill):
    rng = np.random.default_rng(0)
    n = 100
    images = digits(splits, n).float() / 255
    angles, scales = rng.uniform(-20, 20, n), rng.uniform(0.85, 1.15, n)
    for translations in (rng.uniform(-3, 3, (n, 2)), rng.integers(-2, 3, (n, 2))):
        batched = augment.affine(images, angles, translations, scales, interpolation, fill)
        per_sample = f_affine(images, angles, translations, scales, interpolation, fill)
        assert (batched - images).abs().max() > 0.5  # it did warp
        assert (batched - per_sample).abs().max() <= 1e-6


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_classic_and_batched_pipelines_give_the_same_batch_for_the_same_draws(
    splits, interpolation
):
    options = [f"augment.interpolation={interpolation}"]
    images = digits(splits, 64)
    batched = data.preprocess(load_spec(options), augment=True)
    warp = batched.transforms[1]
    assert isinstance(warp, augment.BatchRandomAffine)
    angles, shifts, scales = warp.draw_params(len(images), 28, 28)

    # The classic path's RandomAffine takes these draws through its make_params seam, per sample.
    classic = data.preprocess(load_spec([*options, *CLASSIC]), augment=True)
    assert isinstance(classic.transforms[1], v2.RandomAffine)
    draws = iter(
        {"angle": a.item(), "translate": tuple(map(int, t)), "scale": s.item(), "shear": (0.0, 0.0)}
        for a, t, s in zip(angles, shifts, scales)
    )
    classic.transforms[1].make_params = lambda flat_inputs: next(draws)
    per_sample = torch.stack([classic(image) for image in images])

    warp.draw_params = lambda batch_size, height, width: (angles, shifts, scales)  # lockstep's seam
    whole_batch = batched(images)
    plain = data.preprocess(load_spec(), augment=False)(images)
    assert whole_batch.shape == per_sample.shape == (64, 1, 28, 28)
    assert (whole_batch - plain).abs().max() > 1.0  # augmented
    assert (whole_batch - per_sample).abs().max() <= 1e-6


def test_batch_draws_are_randomaffines_draws(spec):
    """One sample's draw is make_params's, from the same stream; a batch draws one set per sample."""
    warp = augment.BatchRandomAffine(augment.random_affine(spec), torch.Generator().manual_seed(7))
    angle, shift, scale = warp.draw_params(1, 28, 28)
    torch.manual_seed(7)  # make_params draws from torch's global stream
    params = augment.random_affine(spec).make_params([torch.zeros(1, 28, 28)])
    assert (angle.item(), scale.item()) == (params["angle"], params["scale"])
    assert tuple(shift[0].tolist()) == params["translate"]

    a, n = spec.augment, 4000
    angles, shifts, scales = warp.draw_params(n, 28, 28)
    assert angles.shape == scales.shape == (n,) and shifts.shape == (n, 2)
    assert angles.dtype == shifts.dtype == scales.dtype == torch.float32
    assert len(set(angles.tolist())) == n  # a fresh draw per sample
    assert (
        -a.degrees <= angles.min() < -0.9 * a.degrees < 0.9 * a.degrees < angles.max() <= a.degrees
    )
    assert set(shifts.unique().tolist()) == {-1.0, 0.0, 1.0}  # round(U(-1.4, 1.4)), whole pixels
    assert abs((shifts == 0).float().mean().item() - 1 / 2.8) < 0.03  # |U| < 0.5: 1 / 2.8
    assert a.scale[0] <= scales.min() and scales.max() <= a.scale[1]


def test_the_same_seed_draws_the_same_augmented_batches(splits):
    def first_batch(seed):
        spec = load_spec([f"train.seed={seed}"])
        return next(iter(data.make_train_data(spec, splits.x_val[:512], splits.y_val[:512])))

    (x1, y1), (x2, y2), (x3, _) = first_batch(0), first_batch(0), first_batch(1)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)


def aligned(loader, orders):
    loader.batch_sampler.sampler = EpochOrders(orders)  # as torch_parity/alignment.py sets it
    return loader


@pytest.mark.parametrize("device_name", DEVICES)
def test_both_pipelines_serve_the_same_batches_without_augmentation(splits, device_name):
    if device_name == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    on = torch.device(device_name)
    off = ["augment.enabled=false", "train.batch_size=100"]
    x, y = splits.x_val[:250], splits.y_val[:250]
    orders = epoch_orders(len(y), 2, seed=3)
    batched, classic = load_spec(off), load_spec([*off, *CLASSIC])
    for make in (
        lambda spec: data.make_eval_data(spec, x, y, on),
        lambda spec: aligned(data.make_train_data(spec, x, y, on), orders),
    ):
        fast, slow = make(batched), make(classic)
        assert isinstance(fast, data.BatchLoader) and isinstance(slow, torch.utils.data.DataLoader)
        assert len(fast) == len(slow) == 3 and len(fast.dataset) == len(slow.dataset) == 250
        for _ in range(2):  # aligned: two epochs, two orders
            pairs = list(zip(fast, slow, strict=True))
            assert [len(b[1]) for b, _ in pairs] == [100, 100, 50]  # the partial batch kept
            for (xf, yf), (xs, ys) in pairs:
                assert xf.device.type == device_name and xf.dtype == torch.float32
                assert torch.equal(xf.cpu(), xs) and torch.equal(yf.cpu(), ys)


@pytest.mark.parametrize("device_name", DEVICES)
def test_the_batched_path_augments_on_the_training_device(splits, device_name):
    if device_name == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    x, y = splits.x_val[:256], splits.y_val[:256]
    spec = load_spec(["train.batch_size=256"])
    images, labels = next(iter(data.make_train_data(spec, x, y, device=torch.device(device_name))))
    assert images.device.type == labels.device.type == device_name
    # the draws come from a CPU generator: the same on every device
    cpu_images, cpu_labels = next(iter(data.make_train_data(spec, x, y)))
    assert torch.equal(labels.cpu(), cpu_labels)
    assert (images.cpu() - cpu_images).abs().max() <= 1e-5


def describe(spec, train_loader, eval_loader) -> dict:
    model = build_model(spec)
    pipeline = Pipeline(model, make_optimizer(model, spec), make_loss(), train_loader, eval_loader)
    rows = describe_pipeline(spec, pipeline, "cpu")
    return {k: v["value"] for k, v in rows.items() if k.startswith(("data.", "augment.", "loop."))}


def test_the_audit_reads_the_same_settings_from_either_pipeline(splits):
    x, y = splits.x_val[:300], splits.y_val[:300]
    values = {}
    for name, options in (("batched", []), ("classic", CLASSIC)):
        spec = load_spec(options)
        loaders = data.make_train_data(spec, x, y), data.make_eval_data(spec, x, y)
        values[name] = describe(spec, *loaders)
    assert values["batched"] == values["classic"]
    assert values["batched"]["augment.parameters"] == "drawn per sample"
    assert values["batched"]["loop.shuffle"] == UNIFORM_PERMUTATION
    assert values["batched"]["data.stages"] == "rescale -> augment -> normalize"


def test_one_warp_per_sample_and_the_audit_flags_one_for_a_whole_batch(splits, spec):
    x, y = np.repeat(splits.x_val[:1], 8, axis=0), np.repeat(splits.y_val[:1], 8)
    loader = data.make_train_data(spec, x, y)
    assert (
        len({image.numpy().tobytes() for image in next(iter(loader))[0]}) == 8
    )  # 8 copies, 8 warps
    # torchvision's RandomAffine draws once per call: on a batch, one warp for every sample
    loader.transform.transforms[1] = augment.random_affine(spec)
    assert len({image.numpy().tobytes() for image in next(iter(loader))[0]}) == 1
    rows = describe(spec, loader, data.make_eval_data(spec, x, y))
    assert rows["augment.parameters"] == "drawn once per batch"


def test_the_pipeline_key_is_validated():
    with pytest.raises(
        SpecError, match=r"data.pipeline = 'fast' is invalid: allowed: batched, classic"
    ):
        load_spec(["data.pipeline=fast"])
    assert load_spec().data.pipeline == "batched"


def test_float32_matmuls_are_full_float32_by_policy():
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")  # TF32 allowed
        device.select_device("cpu")
        assert torch.get_float32_matmul_precision() == "highest"
        assert not torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.set_float32_matmul_precision(before)


@pytest.mark.slow
def test_the_classic_pipeline_trains_with_dataloader_workers(tmp_path):
    from torch_impl.pipeline import main

    out = tmp_path / "classic.json"
    options = ["--set", "data.pipeline=classic", "--set", "data.workers=2"]
    options += ["--set", "data.train_subset=2000", "--epochs", "1", "--quiet", "--device", "cpu"]
    assert main([*options, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["status"] == "ok" and result["test"]["accuracy"] > 0.7
