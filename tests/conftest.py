"""Shared fixtures, in two tiers.

Fast tier (``pytest -m "not slow"``): no MNIST and no training.
- `fake_mnist_dir`: four small IDX files of printed digits, and the checksums
  `mnist_cnn.data` verifies patched to match them;
- `digit_images`: 28x28 printed digits in the MNIST style, with their labels;
- `model_file`: a copy of the model shipped in the package (a real, trained
  reader, loaded in about a second);
- `tiny_model_file`: an untrained `original` network, for plumbing tests.

Slow tier (``@pytest.mark.slow``): the real MNIST files from $MNIST_DATA_DIR,
else from the ``shared/data/mnist`` folder beside the repository (`mnist_dir`,
`mnist`). A test that asks for them without the slow mark fails, so the fast
tier can never start reading MNIST by accident.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("MNIST_DATA_DIR", str(REPO.parent / "shared" / "data" / "mnist"))
SHIPPED_MODEL_DIR = REPO / "src" / "mnist_cnn" / "default_model"
SLOW_FIXTURES = {"mnist_dir", "mnist"}


# Modules whose every test is slow and whose import alone takes seconds: schemathesis
# builds its tests from the server's schema as the module is imported.
SLOW_MODULES = {"test_server_schema.py"}


def pytest_ignore_collect(collection_path, config):
    """In the fast tier, skip importing modules that hold only slow tests."""
    if config.getoption("markexpr") == "not slow" and collection_path.name in SLOW_MODULES:
        return True
    return None


def pytest_collection_modifyitems(items):
    """Refuse to run a fast test that asks for real MNIST."""
    offenders = [
        item.nodeid
        for item in items
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("slow") is None
    ]
    if offenders:
        raise pytest.UsageError(
            "these tests use real MNIST without @pytest.mark.slow: " + ", ".join(offenders)
        )


@pytest.fixture(autouse=True)
def _fast_tests_see_no_mnist(request, tmp_path_factory, monkeypatch):
    """Outside the slow tier, MNIST is nowhere to be found (no folder, an empty Keras
    cache, no download), and `keras.Model.fit` raises: a fast test that reads data must
    use `fake_mnist_dir`, and one that trains must be marked slow."""
    if request.node.get_closest_marker("slow") is None:
        empty = tmp_path_factory.mktemp("no-mnist")
        monkeypatch.setenv("MNIST_DATA_DIR", str(empty / "absent"))
        monkeypatch.setenv("KERAS_HOME", str(empty / "keras"))
        monkeypatch.setattr("mnist_cnn.data.MIRRORS", ())
        monkeypatch.setattr("keras.Model.fit", _no_training)


def _no_training(*args, **kwargs):
    raise AssertionError("the fast tier trains nothing: mark this test @pytest.mark.slow")


# -- Slow tier: real MNIST. --------------------------------------------------------------------


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    path = Path(os.environ["MNIST_DATA_DIR"])
    if not (path / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"real MNIST not found in {path}; set MNIST_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    from mnist_cnn import data

    return data.load_mnist(mnist_dir, val_fraction=0.1, seed=0)


# -- IDX files. --------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file."""
    header = struct.pack(">I", 0x800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_gz(path: Path, array: np.ndarray) -> Path:
    path.write_bytes(gzip.compress(idx_bytes(array)))
    return path


# -- Fast tier: synthetic digits and the shipped model. ----------------------------------------


def printed_digits(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` printed digits in the MNIST style: white on black, 28x28 uint8, each
    drawn in Pillow's own font at a random size, turn and offset. Labels cycle 0-9."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28), np.uint8)
    labels = np.arange(count, dtype=np.uint8) % 10
    for i, label in enumerate(labels):
        canvas = Image.new("L", (56, 56))
        font = ImageFont.load_default(size=int(rng.integers(34, 42)))
        ImageDraw.Draw(canvas).text(
            (28, 28), str(label), font=font, fill=255, anchor="mm", stroke_width=2
        )
        canvas = canvas.rotate(float(rng.uniform(-12, 12)), resample=Image.BILINEAR)
        canvas = canvas.resize((28, 28), Image.LANCZOS)
        shift = rng.integers(-2, 3, size=2)
        images[i] = np.roll(np.asarray(canvas), tuple(shift), axis=(0, 1))
    return images, labels


@pytest.fixture(scope="session")
def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """200 printed digits (20 of each) and their labels, MNIST style."""
    return printed_digits(200, seed=1)


@pytest.fixture(scope="session")
def fake_mnist_files(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder of the four MNIST files holding printed digits (600 training images,
    200 test images), and the SHA-256 of each file's payload."""
    from mnist_cnn import data

    folder = tmp_path_factory.mktemp("fake-mnist")
    x_train, y_train = printed_digits(600, seed=2)
    x_test, y_test = printed_digits(200, seed=3)
    arrays = {
        "train-images-idx3-ubyte": x_train,
        "train-labels-idx1-ubyte": y_train,
        "t10k-images-idx3-ubyte": x_test,
        "t10k-labels-idx1-ubyte": y_test,
    }
    assert set(arrays) == set(data.FILES)
    hashes = {}
    for name, array in arrays.items():
        write_idx_gz(folder / f"{name}.gz", array)
        hashes[name] = hashlib.sha256(idx_bytes(array)).hexdigest()
    return folder, hashes


@pytest.fixture
def fake_mnist_dir(fake_mnist_files, monkeypatch) -> Path:
    """`fake_mnist_files`' folder, also set as $MNIST_DATA_DIR, with the checksums that
    `mnist_cnn.data` verifies patched to the fake files' for this test."""
    from mnist_cnn import data

    folder, hashes = fake_mnist_files
    monkeypatch.setattr(
        data, "FILES", {name: (md5, hashes[name]) for name, (md5, _) in data.FILES.items()}
    )
    monkeypatch.setenv("MNIST_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def shipped_model_dir(tmp_path_factory) -> Path:
    """A copy of the package's default model folder (model.keras, config.json,
    metrics.json): tests may write beside it without touching the package."""
    folder = tmp_path_factory.mktemp("shipped") / "default_model"
    shutil.copytree(SHIPPED_MODEL_DIR, folder)
    return folder


@pytest.fixture(scope="session")
def model_file(shipped_model_dir) -> Path:
    """A trained model as a .keras file: the copy of the shipped one (99.5% on MNIST)."""
    return shipped_model_dir / "model.keras"


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory) -> Path:
    """An untrained `original` network (34,826 parameters) as a .keras file."""
    from mnist_cnn import models

    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    models.build("original").save(path)
    return path


@pytest.fixture(scope="session")
def benchmark_script():
    """A script of benchmarks/ loaded as a module, to test its parts:
    ``benchmark_script("whole_numbers").score(...)``."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
