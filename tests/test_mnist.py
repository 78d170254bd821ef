"""shared.mnist on the real bundled MNIST: shapes, checksums, every bad-file message, the split."""

import gzip
import re
import shutil

import numpy as np
import pytest

from shared.mnist import (
    BUNDLED_DIR,
    DATA_ENV,
    FILES,
    DataError,
    Mnist,
    load_mnist,
    read_idx,
    split_indices,
)

SUMS = dict(line.split()[::-1] for line in (BUNDLED_DIR / "SHA256SUMS").read_text().splitlines())
LABELS = "t10k-labels-idx1-ubyte"  # the smallest file: cheap to corrupt
LABELS_RAW = gzip.decompress((BUNDLED_DIR / f"{LABELS}.gz").read_bytes())


@pytest.fixture(scope="module")
def mnist() -> Mnist:
    return load_mnist(data_dir=BUNDLED_DIR)


@pytest.fixture(autouse=True)
def no_data_env(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    """The four files, decompressed, under their plain names."""
    directory = tmp_path_factory.mktemp("raw")
    for name, _ in FILES.values():
        (directory / name).write_bytes(gzip.decompress((BUNDLED_DIR / f"{name}.gz").read_bytes()))
    return directory


def gz_dir(tmp_path, skip=()):
    """A directory holding the bundled .gz files (minus `skip`), for corrupting one of them."""
    for name, _ in FILES.values():
        if name not in skip:
            shutil.copy(BUNDLED_DIR / f"{name}.gz", tmp_path)
    return tmp_path


def test_shapes_dtypes_read_only(mnist):
    for attr, (_, shape) in FILES.items():
        array = getattr(mnist, attr)
        assert array.shape == shape and array.dtype == np.uint8
        assert not array.flags.writeable
    with pytest.raises(ValueError):
        mnist.train_images[0, 0, 0] = 1


def test_labels_and_pixels_plausible(mnist):
    for labels in (mnist.train_labels, mnist.test_labels):
        assert labels.min() == 0 and labels.max() == 9
    assert (np.bincount(mnist.train_labels, minlength=10) > 5000).all()
    assert (np.bincount(mnist.test_labels, minlength=10) > 800).all()
    assert mnist.train_images.max() == 255
    assert abs(mnist.train_images.mean() / 255 - 0.1307) < 1e-3  # the spec's normalization mean


def test_cached_per_directory(mnist):
    assert load_mnist() is mnist  # default = bundled, same resolved directory


def test_bundled_checksums_verified():
    for name, shape in FILES.values():
        assert read_idx(BUNDLED_DIR / f"{name}.gz", SUMS[name], shape=shape).shape == shape


def bad_files():
    """(file name, bytes, expected message fragment): each damage read_idx must report."""
    altered = bytearray(LABELS_RAW)
    altered[100] = (altered[100] + 1) % 10  # still a valid label, still valid gzip
    wrong_magic = b"\x00\x00\x08\x02" + LABELS_RAW[4:]
    wrong_count = LABELS_RAW[:4] + (100).to_bytes(4, "big") + LABELS_RAW[8:108]
    corrupt_gz = bytearray(gzip.compress(LABELS_RAW))
    corrupt_gz[len(corrupt_gz) // 2] ^= 0xFF
    return [
        (f"{LABELS}.gz", gzip.compress(bytes(altered)), "checksum mismatch"),
        (LABELS, LABELS_RAW[:-100], "truncated"),
        (LABELS, LABELS_RAW[:6], "truncated"),
        (LABELS, LABELS_RAW + b"\x00", "1 trailing bytes"),
        (f"{LABELS}.gz", gzip.compress(LABELS_RAW)[:-40], "corrupted or truncated gzip"),
        (f"{LABELS}.gz", bytes(corrupt_gz), "corrupted or truncated gzip"),
        (f"{LABELS}.gz", gzip.compress(wrong_magic), "wrong magic number 0x00000802"),
        (
            f"{LABELS}.gz",
            gzip.compress(wrong_count),
            "wrong dimensions/count (100,), expected (10000,)",
        ),
    ]


@pytest.mark.parametrize(
    "name, data, message",
    bad_files(),
    ids=[
        "checksum",
        "truncated",
        "truncated-header",
        "trailing",
        "truncated-gzip",
        "corrupted-gzip",
        "magic",
        "count",
    ],
)
def test_bad_file_messages(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DataError) as err:
        read_idx(path, SUMS[LABELS], shape=(10000,))
    text = str(err.value)
    assert message in text and str(path) in text
    assert "--download" in text and "git checkout shared/data/mnist" in text  # how to fix it


def test_checksum_message_shows_both_digests(tmp_path):
    path = tmp_path / LABELS
    path.write_bytes(LABELS_RAW[:-1] + bytes([(LABELS_RAW[-1] + 1) % 10]))
    with pytest.raises(DataError, match=f"expected {SUMS[LABELS][:16]}"):
        read_idx(path, SUMS[LABELS])


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="missing") as err:
        read_idx(tmp_path / "nope.gz", None)
    assert "nope.gz" in str(err.value)


def test_gzip_detected_by_content_not_name(tmp_path):
    path = tmp_path / "labels.bin"
    shutil.copy(BUNDLED_DIR / f"{LABELS}.gz", path)
    assert (read_idx(path, SUMS[LABELS]) == np.frombuffer(LABELS_RAW, np.uint8, offset=8)).all()


def test_load_reports_missing_file(tmp_path):
    with pytest.raises(
        DataError, match=re.escape(f"{tmp_path}: missing {LABELS}.gz (or the same without .gz)")
    ):
        load_mnist(data_dir=gz_dir(tmp_path, skip={LABELS}))


def test_load_checks_canonical_sums_in_any_directory(tmp_path):
    altered = bytearray(LABELS_RAW)
    altered[-1] = (altered[-1] + 1) % 10
    directory = gz_dir(tmp_path, skip={LABELS})
    (directory / f"{LABELS}.gz").write_bytes(gzip.compress(bytes(altered)))
    with pytest.raises(DataError, match=f"{LABELS}.gz: checksum mismatch"):
        load_mnist(data_dir=directory)


def test_uncompressed_directory_loads(raw_dir, mnist):
    data = load_mnist(data_dir=raw_dir)
    assert data is not mnist
    for attr in FILES:
        np.testing.assert_array_equal(getattr(data, attr), getattr(mnist, attr))


def test_env_var_honoured(monkeypatch, raw_dir, tmp_path):
    monkeypatch.setenv(DATA_ENV, str(raw_dir))
    assert load_mnist() is load_mnist(data_dir=raw_dir)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))  # empty: the error names it
    with pytest.raises(DataError, match="missing"):
        load_mnist()
    assert load_mnist(data_dir=BUNDLED_DIR) is not load_mnist(data_dir=raw_dir)  # argument wins


def test_split_disjoint_complete_seeded():
    train, val = split_indices(60000, 5000, seed=0)
    assert train.dtype == val.dtype == np.int64
    assert len(train) == 55000 and len(val) == 5000
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(60000))
    np.testing.assert_array_equal(
        np.concatenate([val, train]), np.random.default_rng(0).permutation(60000)
    )
    again_train, again_val = split_indices(60000, 5000, seed=0)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(val, again_val)
    assert not np.array_equal(val, split_indices(60000, 5000, seed=1)[1])


def test_split_zero_validation():
    train, val = split_indices(10, 0, seed=3)
    assert val.size == 0 and sorted(train) == list(range(10))


@pytest.mark.parametrize(
    "args",
    [
        (60000, 60000, 0),
        (60000, -1, 0),
        (0, 0, 0),
        (60000, 5000, -1),
        (60000, 5000.0, 0),
        (60000, True, 0),
    ],
)
def test_split_rejects_bad_arguments(args):
    with pytest.raises(ValueError, match="split_indices"):
        split_indices(*args)
