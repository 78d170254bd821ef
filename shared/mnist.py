"""MNIST from the four canonical IDX files: verified, cached in-process, read-only.

    data = load_mnist()                      # bundled copy, or --data-dir / $MNIST_PARITY_DATA
    data.train_images.shape                  # (60000, 28, 28) uint8
    train_idx, val_idx = split_indices(60000, 5000, seed=0)

Every file is checked against the canonical SHA-256 (of the decompressed bytes) listed in
BUNDLED_DIR/SHA256SUMS, whichever directory it is read from. Any problem raises DataError.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.results import write_atomically

BUNDLED_DIR = Path(__file__).parent / "data" / "mnist"
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
DATA_ENV = "MNIST_PARITY_DATA"
CACHE_ENV = "MNIST_PARITY_CACHE"
CACHE_DIR = Path(os.environ.get(CACHE_ENV) or "~/.cache/mnist-parity").expanduser()

# Mnist attribute -> (IDX file name without .gz, expected shape)
FILES = {
    "train_images": ("train-images-idx3-ubyte", (60000, 28, 28)),
    "train_labels": ("train-labels-idx1-ubyte", (60000,)),
    "test_images": ("t10k-images-idx3-ubyte", (10000, 28, 28)),
    "test_labels": ("t10k-labels-idx1-ubyte", (10000,)),
}
FIX = (
    "re-fetch with `python compare.py --download`, or restore the bundled copy with "
    f"`git checkout shared/data/mnist`, or point --data-dir / {DATA_ENV} at a directory "
    "holding the four files (NAME.gz or plain NAME)"
)


class DataError(RuntimeError):
    """A missing or damaged MNIST file; the message names the file, the problem and the fix."""


class _Invalid(ValueError):
    """What is wrong with some bytes; read_idx / download_mnist add the file and the fix."""


@dataclass(frozen=True)
class Mnist:
    train_images: np.ndarray  # (60000, 28, 28) uint8, read-only
    train_labels: np.ndarray  # (60000,) uint8 in 0..9, read-only
    test_images: np.ndarray  # (10000, 28, 28) uint8, read-only
    test_labels: np.ndarray  # (10000,) uint8 in 0..9, read-only


def _parse(raw: bytes, expected_sha256: str | None, shape: tuple[int, ...] | None) -> np.ndarray:
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise _Invalid(f"corrupted or truncated gzip ({type(e).__name__}: {e})") from None
    if len(raw) < 4:
        raise _Invalid(f"truncated: {len(raw)} bytes, shorter than the 4-byte IDX magic number")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (0x801, 0x803):
        raise _Invalid(
            f"wrong magic number 0x{magic:08x}, expected 0x00000803 (uint8 images) "
            "or 0x00000801 (uint8 labels): not an MNIST IDX file"
        )
    header = 4 + 4 * raw[3]
    if len(raw) < header:
        raise _Invalid(f"truncated: {len(raw)} bytes, shorter than the {header}-byte IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", raw[3], 4))
    if shape is not None and dims != shape:
        raise _Invalid(f"wrong dimensions/count {dims}, expected {shape}")
    size = header + math.prod(dims)
    if len(raw) != size:
        what = "truncated" if len(raw) < size else f"{len(raw) - size} trailing bytes"
        raise _Invalid(f"{what}: {len(raw)} bytes, the header {dims} needs exactly {size}")
    if expected_sha256 is not None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != expected_sha256.lower():
            raise _Invalid(
                f"checksum mismatch: SHA-256 of the decompressed bytes is {actual[:16]}..., "
                f"expected {expected_sha256[:16]}... (damaged, or not the canonical MNIST)"
            )
    array = np.frombuffer(raw, np.uint8, offset=header).reshape(dims)
    array.flags.writeable = False
    return array


def read_idx(
    path: str | os.PathLike, expected_sha256: str | None, *, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """Parse one IDX file (gzipped or not) into a read-only uint8 array, verifying everything."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file is missing; {FIX}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e}); {FIX}") from None
    try:
        return _parse(raw, expected_sha256, shape)
    except _Invalid as e:
        raise DataError(f"{path}: {e}; {FIX}") from None


@functools.cache
def _canonical_sums() -> dict[str, str]:
    sums_file = BUNDLED_DIR / "SHA256SUMS"
    try:
        rows = [line.split() for line in sums_file.read_text().splitlines()]
    except OSError as e:
        raise DataError(
            f"{sums_file}: cannot read the canonical checksums ({e}); restore it with "
            "`git checkout shared/data/mnist`"
        ) from None
    sums = {row[1].lstrip("*"): row[0] for row in rows if len(row) == 2}
    if missing := [name for name, _ in FILES.values() if name not in sums]:
        raise DataError(
            f"{sums_file}: no checksum for {', '.join(missing)}; restore it with "
            "`git checkout shared/data/mnist`"
        )
    return sums


def _find(directory: Path, name: str) -> Path | None:
    return next((p for p in (directory / f"{name}.gz", directory / name) if p.is_file()), None)


def _missing(directory: Path) -> bool:
    return any(_find(directory, name) is None for name, _ in FILES.values())


@functools.lru_cache(maxsize=8)
def _load(directory: Path) -> Mnist:
    paths = {attr: _find(directory, name) for attr, (name, _) in FILES.items()}
    if missing := [f"{FILES[attr][0]}.gz" for attr, path in paths.items() if path is None]:
        raise DataError(
            f"{directory}: missing {', '.join(missing)} (or the same without .gz); {FIX}"
        )
    sums, arrays = _canonical_sums(), {}
    for attr, (name, shape) in FILES.items():
        arrays[attr] = array = read_idx(paths[attr], sums[name], shape=shape)
        if attr.endswith("labels") and array.max() > 9:
            raise DataError(f"{paths[attr]}: label {array.max()} outside 0..9; {FIX}")
    return Mnist(**arrays)


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
    mirrors: tuple[str, ...] = MIRRORS,
) -> Mnist:
    """Load (and cache) MNIST from data_dir, else $MNIST_PARITY_DATA, else the bundled copy.

    If that fails and download=True (or the bundled copy is missing), use cache_dir instead
    (default $MNIST_PARITY_CACHE or ~/.cache/mnist-parity), fetching into it what is not valid there.
    """
    directory = Path(data_dir or os.environ.get(DATA_ENV) or BUNDLED_DIR).expanduser().resolve()
    try:
        return _load(directory)
    except DataError:
        if not download and not (directory == BUNDLED_DIR.resolve() and _missing(directory)):
            raise
    cache = Path(cache_dir or os.environ.get(CACHE_ENV) or CACHE_DIR).expanduser().resolve()
    try:
        return _load(cache)
    except DataError:  # missing or damaged in the cache too: (re-)fetch what is needed
        download_mnist(cache, mirrors)
    return _load(cache)


def download_mnist(
    dest_dir: str | os.PathLike, mirrors: tuple[str, ...] = MIRRORS, timeout: float = 30
) -> Path:
    """Fetch the four .gz files into dest_dir, trying mirrors in order; keep only verified files."""
    dest, sums = Path(dest_dir).expanduser(), _canonical_sums()
    dest.mkdir(parents=True, exist_ok=True)
    for name, shape in FILES.values():
        target = dest / f"{name}.gz"
        try:
            read_idx(target, sums[name], shape=shape)
            continue  # already present and valid
        except DataError:
            pass
        reasons = []
        for mirror in mirrors:
            url = f"{mirror.rstrip('/')}/{target.name}"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    raw = response.read()
                _parse(raw, sums[name], shape)
            except (OSError, _Invalid) as e:  # URLError, HTTPError, timeouts are OSErrors
                reasons.append(f"{url}: {e}")
                continue
            write_atomically(target, raw)
            break
        else:
            tried = "\n  ".join(reasons) or "(no mirrors given)"
            raise DataError(
                f"{target}: could not download {target.name} from any mirror:\n  {tried}\n"
                f"Check the connection, or point --data-dir / {DATA_ENV} at a directory "
                "holding the four files, or restore the bundled copy with "
                "`git checkout shared/data/mnist`"
            )
    return dest


def split_indices(n_train: int, validation_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) int64 indices from one seeded permutation, the same for both frameworks."""
    for name, value in (("n_train", n_train), ("validation_size", validation_size), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"split_indices: {name} must be a non-negative int, got {value!r}")
    if not 0 <= validation_size < n_train:
        raise ValueError(
            f"split_indices: validation_size={validation_size} must be smaller than "
            f"n_train={n_train} so that some training images remain"
        )
    perm = np.random.default_rng(seed).permutation(n_train).astype(np.int64, copy=False)
    return perm[validation_size:], perm[:validation_size]
