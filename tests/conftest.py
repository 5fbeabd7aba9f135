"""Shared fixtures. The real MNIST files come from $MNIST_DATA_DIR, else from
the ``shared/data/mnist`` folder beside the repository."""

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("MNIST_DATA_DIR", str(REPO.parent / "shared" / "data" / "mnist"))


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


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file."""
    header = struct.pack(">I", 0x800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_gz(path: Path, array: np.ndarray) -> Path:
    path.write_bytes(gzip.compress(idx_bytes(array)))
    return path


@pytest.fixture(scope="session")
def model_file(tmp_path_factory, mnist_dir) -> Path:
    """A quickly trained `seed` model (about 98% test accuracy) as a .keras file."""
    from mnist_cnn.config import TrainConfig
    from mnist_cnn.training import train

    runs_dir = tmp_path_factory.mktemp("runs")
    config = TrainConfig(model="seed", epochs=2, limit=20000, runs_dir=str(runs_dir), name="m")
    return train(config, verbose=0) / "model.keras"
