"""download_mnist against a real local HTTP server (127.0.0.1 only) serving the bundled files."""

import functools
import gzip
import http.server
import os
import shutil
import socket
import threading

import numpy as np
import pytest

from shared.mnist import BUNDLED_DIR, FILES, DataError, download_mnist, load_mnist

NAMES = sorted(f"{name}.gz" for name, _ in FILES.values())
LABELS = "t10k-labels-idx1-ubyte.gz"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(autouse=True)
def local_only(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def serve():
    """serve(directory) -> base URL of a live ThreadingHTTPServer; all shut down afterwards."""
    servers = []

    def start(directory):
        handler = functools.partial(QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def bundled_copy(tmp_path_factory):
    directory = tmp_path_factory.mktemp("served")
    for name in NAMES:
        shutil.copy(BUNDLED_DIR / name, directory)
    return directory


@pytest.fixture
def mirror(serve, bundled_copy):
    return serve(bundled_copy)


@pytest.fixture
def refused():
    """A URL on a port nothing listens on: connection refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def assert_equals_bundled(data):
    bundled = load_mnist(data_dir=BUNDLED_DIR)
    for attr in FILES:
        np.testing.assert_array_equal(getattr(data, attr), getattr(bundled, attr))


def test_download_then_load(tmp_path, mirror):
    cache = download_mnist(tmp_path / "cache", mirrors=(mirror,))
    assert cache == tmp_path / "cache" and sorted(os.listdir(cache)) == NAMES
    assert_equals_bundled(load_mnist(data_dir=cache))


def test_falls_back_past_refused_and_404(tmp_path, mirror, refused):
    cache = download_mnist(tmp_path / "cache", mirrors=(refused, f"{mirror}nothing-here/", mirror))
    assert sorted(os.listdir(cache)) == NAMES


def test_all_mirrors_failing_names_file_mirrors_reasons(tmp_path, mirror, refused):
    missing = f"{mirror}nothing-here/"
    with pytest.raises(DataError) as err:
        download_mnist(tmp_path / "cache", mirrors=(refused, missing), timeout=5)
    text = str(err.value)
    assert "train-images-idx3-ubyte.gz" in text and refused in text and missing in text
    assert "Connection refused" in text and "404" in text
    assert os.listdir(tmp_path / "cache") == []


def test_corrupted_download_leaves_nothing(tmp_path, serve, mirror):
    served = tmp_path / "served"
    served.mkdir()
    for name in NAMES:
        shutil.copy(BUNDLED_DIR / name, served)
    raw = bytearray(gzip.decompress((BUNDLED_DIR / LABELS).read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10  # one label changed; still valid gzip and IDX
    (served / LABELS).write_bytes(gzip.compress(bytes(raw)))
    bad = serve(served)
    with pytest.raises(DataError, match="checksum mismatch") as err:
        download_mnist(tmp_path / "cache", mirrors=(bad,))
    assert LABELS in str(err.value) and bad in str(err.value)
    assert sorted(os.listdir(tmp_path / "cache")) == [
        n for n in NAMES if n != LABELS
    ]  # no temp files
    # the next mirror has it right: the valid files are kept, only the bad one is fetched
    download_mnist(tmp_path / "cache", mirrors=(bad, mirror))
    assert sorted(os.listdir(tmp_path / "cache")) == NAMES


def test_present_valid_files_skipped_invalid_refetched(tmp_path, mirror, refused):
    cache = download_mnist(tmp_path / "cache", mirrors=(mirror,))
    download_mnist(cache, mirrors=(refused,))  # nothing to fetch: no network needed
    (cache / LABELS).write_bytes(b"garbage")
    download_mnist(cache, mirrors=(mirror,))
    assert (cache / LABELS).read_bytes() == (BUNDLED_DIR / LABELS).read_bytes()


def test_load_mnist_downloads_when_asked(tmp_path, mirror):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="missing"):
        load_mnist(data_dir=empty)
    data = load_mnist(
        data_dir=empty, download=True, cache_dir=tmp_path / "cache", mirrors=(mirror,)
    )
    assert sorted(os.listdir(tmp_path / "cache")) == NAMES
    assert_equals_bundled(data)
    damaged = tmp_path / "damaged"  # present but invalid: --download falls back to the cache too
    damaged.mkdir()
    for name in NAMES:
        (damaged / name).write_bytes(b"garbage")
    with pytest.raises(DataError, match="wrong magic number"):
        load_mnist(data_dir=damaged)
    assert (
        load_mnist(data_dir=damaged, download=True, cache_dir=tmp_path / "cache", mirrors=())
        is data
    )
