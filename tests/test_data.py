import gzip
import hashlib
import http.server
import shutil
import threading
from functools import partial

import numpy as np
import pytest

from conftest import idx_bytes, write_idx_gz
from mnist_cnn import data
from mnist_cnn.errors import DataError

IMAGES = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)


def test_parse_images_and_labels():
    assert np.array_equal(data.parse_idx(idx_bytes(IMAGES)), IMAGES)
    assert data.parse_idx(idx_bytes(np.array([0, 9, 4]))).tolist() == [0, 9, 4]


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "empty or truncated"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated header"),
        (b"\x89PNG\r\n\x1a\n" + bytes(20), "not an MNIST IDX file"),
        (idx_bytes(IMAGES)[:-1], "truncated"),
        (idx_bytes(IMAGES) + b"\x00", "trailing bytes"),
        (idx_bytes(np.zeros((2, 27, 28), np.uint8)), "27x28, expected 28x28"),
        (idx_bytes(np.array([3, 10])), "label 10 is outside 0-9"),
    ],
)
def test_parse_rejects_bad_files(payload, message):
    with pytest.raises(DataError, match=message) as err:
        data.parse_idx(payload, "some-file")
    assert str(err.value).startswith("some-file: ")


def test_read_idx_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.gz"
    with pytest.raises(DataError, match=f"{missing}: file not found"):
        data.read_idx(missing)
    not_gzip = tmp_path / "x.gz"
    not_gzip.write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match="cannot read or decompress"):
        data.read_idx(not_gzip)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(idx_bytes(IMAGES))[:-12])
    with pytest.raises(DataError, match="cut.gz"):
        data.read_idx(cut)


@pytest.mark.slow
def test_checksum_catches_modified_data(tmp_path, mnist_dir):
    labels = data.read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz").copy()
    labels[0] = (labels[0] + 1) % 10  # still a well-formed IDX file
    path = write_idx_gz(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DataError, match="checksum mismatch"):
        data.read_idx(path, data.FILES["t10k-labels-idx1-ubyte"][1])


@pytest.mark.slow
def test_real_mnist_loads_with_expected_shapes(mnist):
    assert mnist.x_train.shape == (54000, 28, 28) and mnist.x_val.shape == (6000, 28, 28)
    assert mnist.x_test.shape == (10000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert len(mnist.y_train) + len(mnist.y_val) == 60000
    assert set(np.unique(mnist.y_test)) == set(range(10))


@pytest.mark.slow
def test_uncompressed_files_are_accepted(tmp_path, mnist_dir):
    for name in data.FILES:
        (tmp_path / name).write_bytes(gzip.decompress((mnist_dir / f"{name}.gz").read_bytes()))
    x, y = data.load_test_set(tmp_path)
    assert x.shape == (10000, 28, 28) and y.shape == (10000,)


@pytest.mark.slow
def test_data_dir_lacking_files_says_which(tmp_path, mnist_dir):
    shutil.copy(mnist_dir / "train-images-idx3-ubyte.gz", tmp_path)
    with pytest.raises(DataError, match="lacks train-labels-idx1-ubyte.gz, t10k-images"):
        data.locate_files(tmp_path)


@pytest.mark.slow
def test_split_is_deterministic_and_stratified(mnist):
    x, y = mnist.x_train[:20000], mnist.y_train[:20000]
    a = data.split_train_val(x, y, 0.25, seed=3)
    b = data.split_train_val(x, y, 0.25, seed=3)
    c = data.split_train_val(x, y, 0.25, seed=4)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not np.array_equal(a[3], c[3])
    assert len(a[3]) == 5000
    share = np.bincount(a[3], minlength=10) / np.bincount(y, minlength=10)
    assert np.allclose(share, 0.25, atol=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_split_rejects_bad_fraction(fraction, mnist):
    with pytest.raises(DataError, match="between 0 and 1"):
        data.split_train_val(mnist.x_val, mnist.y_val, fraction)


@pytest.mark.slow
def test_split_needs_every_class_on_both_sides_and_a_valid_seed(mnist):
    x, y = mnist.x_val, mnist.y_val  # 6,000 images
    for fraction in (0.001, 0.999):  # 6 images on one side, for 10 classes
        with pytest.raises(DataError, match="each side of the split needs at least 10"):
            data.split_train_val(x, y, fraction)
    assert len(data.split_train_val(x, y, 0.002)[3]) == 12
    for seed in (-1, 2**32):
        with pytest.raises(DataError, match="seed must be in"):
            data.split_train_val(x, y, 0.1, seed=seed)


def test_data_dir_that_is_a_file(tmp_path):
    file = tmp_path / "mnist.zip"
    file.write_bytes(b"")
    with pytest.raises(DataError, match="is not a folder"):
        data.locate_files(file)


@pytest.mark.slow
def test_limit_keeps_the_same_share_of_validation_and_the_whole_test_set(mnist_dir):
    full = data.load_mnist(mnist_dir)
    for limit, validation in ((5400, 600), (100, 12), (10**6, 6000)):
        small = data.load_mnist(mnist_dir, limit=limit)
        assert len(small.x_train) == min(limit, 54000) and len(small.x_val) == validation
        assert (small.x_val == full.x_val[:validation]).all() and len(small.x_test) == 10000


@pytest.fixture
def no_local_data(tmp_path, monkeypatch):
    """No MNIST_DATA_DIR and an empty Keras cache: only a download can help."""
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))


def test_offline_without_data_says_how_to_provide_it(no_local_data, monkeypatch):
    monkeypatch.setattr(data, "MIRRORS", ("http://127.0.0.1:9/mnist/",))
    with pytest.raises(DataError, match="could not be downloaded.*--data-dir FOLDER or set MNIST"):
        data.locate_files()


@pytest.mark.slow
def test_download_verifies_caches_and_falls_back_to_second_mirror(
    no_local_data, monkeypatch, mnist_dir, tmp_path
):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(mnist_dir))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        # The first mirror lacks the files; the local copy's .gz hashes stand in
        # for the public mirrors' (its gzip is byte-different, its payload equal).
        monkeypatch.setattr(data, "MIRRORS", (url + "missing/", url))
        local_md5 = {
            name: hashlib.md5((mnist_dir / f"{name}.gz").read_bytes()).hexdigest()
            for name in data.FILES
        }
        monkeypatch.setattr(
            data, "FILES", {n: (local_md5[n], sha) for n, (_, sha) in data.FILES.items()}
        )
        paths, source = data.locate_files()
        assert source == "download"
        assert all(
            p.parent == tmp_path / "keras-home" / "datasets" / "mnist" for p in paths.values()
        )
        server.shutdown()  # now only the cache can serve
        x, y = data.load_test_set()
        assert x.shape == (10000, 28, 28) and y.shape == (10000,)
        assert data.locate_files()[1] == str(tmp_path / "keras-home" / "datasets" / "mnist")
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_describe_reports_every_split(mnist):
    text = data.describe(mnist)
    for word in ("train", "validation", "test", "54000x28x28", "uint8", "class"):
        assert word in text
