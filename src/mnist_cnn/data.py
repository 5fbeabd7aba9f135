"""Step 1: load and explore MNIST.

MNIST is four IDX files. This module finds them (a folder you name, the Keras
cache, or a download from a public mirror), parses them strictly, verifies
their checksums and splits the training set into train and validation parts.

Example:

>>> from mnist_cnn import data
>>> mnist = data.load_mnist(val_fraction=0.1, seed=0)   # doctest: +SKIP
>>> mnist.x_train.shape, mnist.x_val.shape, mnist.x_test.shape  # doctest: +SKIP
((54000, 28, 28), (6000, 28, 28), (10000, 28, 28))
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_cnn.errors import DataError

DATA_DIR_ENV = "MNIST_DATA_DIR"
CACHE_SUBDIR = "datasets/mnist"  # below the Keras cache, ~/.keras by default

# Tried in order. Both serve the original gzip files from yann.lecun.com.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# name -> (MD5 of the mirrors' .gz file, SHA-256 of the decompressed IDX payload).
# The payload hash is what matters: it accepts any gzip of the same bytes.
FILES = {
    "train-images-idx3-ubyte": (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "train-labels-idx1-ubyte": (
        "d53e105ee54ea40749a09fcbcd1e9432",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "t10k-images-idx3-ubyte": (
        "9fb629c4189551a2d022fa330f9573f3",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "t10k-labels-idx1-ubyte": (
        "ec29112dd5afa0611ce80d1b7f02629c",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}

IMAGE_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABEL_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
NUM_CLASSES = 10


@dataclass
class Mnist:
    """MNIST as uint8 arrays: images (N, 28, 28) with values 0-255, labels (N,) 0-9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {
            "train": (self.x_train, self.y_train),
            "validation": (self.x_val, self.y_val),
            "test": (self.x_test, self.y_test),
        }


def parse_idx(payload: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse an uncompressed IDX file of unsigned bytes (MNIST images or labels).

    Checks the magic number, the dimensions and the byte count, and for label
    files that every label is a digit 0-9. Raises `DataError` naming `name`.

    >>> parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 2, 3, 7])).tolist()
    [3, 7]
    """
    if len(payload) < 4:
        raise DataError(f"{name}: file is empty or truncated ({len(payload)} bytes)")
    magic = struct.unpack(">I", payload[:4])[0]
    if magic not in (IMAGE_MAGIC, LABEL_MAGIC):
        raise DataError(
            f"{name}: not an MNIST IDX file (magic number 0x{magic:08x}, "
            f"expected 0x{IMAGE_MAGIC:08x} for images or 0x{LABEL_MAGIC:08x} for labels)"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(payload) < header:
        raise DataError(f"{name}: truncated header ({len(payload)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", payload[4:header])
    if ndim == 3 and dims[1:] != (28, 28):
        raise DataError(f"{name}: images are {dims[1]}x{dims[2]}, expected 28x28")
    expected = header + int(np.prod(dims))
    if len(payload) != expected:
        problem = "truncated" if len(payload) < expected else "has trailing bytes"
        raise DataError(f"{name}: {problem}: {len(payload)} bytes, header {dims} needs {expected}")
    array = np.frombuffer(payload, dtype=np.uint8, offset=header).reshape(dims)
    if ndim == 1 and array.size and array.max() >= NUM_CLASSES:
        raise DataError(f"{name}: label {int(array.max())} is outside 0-9")
    return array


def read_idx(path: str | os.PathLike, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file, gzip-compressed (``.gz``) or not, and optionally verify
    the SHA-256 of its uncompressed bytes."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        payload = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read or decompress ({e})") from None
    array = parse_idx(payload, str(path))
    if sha256 is not None and hashlib.sha256(payload).hexdigest() != sha256:
        raise DataError(
            f"{path}: checksum mismatch: this is not the standard MNIST file "
            "(corrupt, modified or a different data set)"
        )
    return array


def _find_local(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def _cache_dir() -> Path:
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(keras_home) / CACHE_SUBDIR


def _download(name: str, gz_md5: str) -> Path:
    """Fetch ``name.gz`` into the Keras cache, trying each mirror in turn."""
    from mnist_cnn.backend import keras  # deferred: only downloads need it

    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)  # else get_file falls back to /tmp/.keras
    errors = []
    for mirror in MIRRORS:
        try:
            path = keras.utils.get_file(
                fname=f"{name}.gz",
                origin=mirror + f"{name}.gz",
                file_hash=gz_md5,
                cache_dir=str(cache.parent.parent),
                cache_subdir=CACHE_SUBDIR,
            )
            return Path(path)
        except Exception as e:  # get_file raises bare Exception on URL errors
            errors.append(f"{mirror}: {e}")
    raise DataError(
        f"MNIST file {name}.gz is not on this machine and could not be downloaded "
        f"({'; '.join(errors)}). Put the four MNIST .gz files in a folder and pass "
        f"--data-dir FOLDER or set {DATA_DIR_ENV}=FOLDER."
    )


def locate_files(data_dir: str | os.PathLike | None = None) -> tuple[dict[str, Path], str]:
    """Find the four MNIST files and say where they came from.

    Order: `data_dir`, else the ``MNIST_DATA_DIR`` environment variable, else the
    Keras cache (``~/.keras/datasets/mnist``), else a download from `MIRRORS`.
    """
    folder = data_dir or os.environ.get(DATA_DIR_ENV)
    if folder:
        folder = Path(folder)
        if not folder.is_dir():
            problem = "is not a folder" if folder.exists() else "does not exist"
            raise DataError(f"data folder {folder} {problem}")
        paths = {name: _find_local(folder, name) for name in FILES}
        missing = [f"{name}.gz" for name, p in paths.items() if p is None]
        if missing:
            raise DataError(f"data folder {folder} lacks {', '.join(missing)}")
        return paths, str(folder)
    cache = _cache_dir()
    paths = {name: _find_local(cache, name) for name in FILES}
    if all(paths.values()):
        return paths, str(cache)
    return {name: _download(name, gz_md5) for name, (gz_md5, _) in FILES.items()}, "download"


def split_train_val(
    x: np.ndarray, y: np.ndarray, val_fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded split: the same seed always gives the same split.

    >>> x, y = np.zeros((100, 28, 28), np.uint8), np.arange(100) % 10
    >>> [a.shape[0] for a in split_train_val(x, y, 0.2, seed=1)]
    [80, 80, 20, 20]
    """
    from sklearn.model_selection import train_test_split

    if not 0 < val_fraction < 1:
        raise DataError(f"validation fraction must be between 0 and 1, got {val_fraction}")
    if not 0 <= seed < 2**32:
        raise DataError(f"seed must be in [0, 2**32), got {seed}")
    n_val, classes = math.ceil(val_fraction * len(y)), len(np.unique(y))
    if min(n_val, len(y) - n_val) < classes:  # stratified: each side needs every class
        raise DataError(
            f"validation fraction {val_fraction} leaves {n_val} of {len(y)} images for "
            f"validation; each side of the split needs at least {classes}"
        )
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=val_fraction, random_state=seed, stratify=y
    )
    return x_train, y_train, x_val, y_val


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    limit: int | None = None,
) -> Mnist:
    """Load MNIST, verified, and split off a validation set.

    Args:
        data_dir: folder with the four IDX files (``.gz`` or not). Defaults to
            ``$MNIST_DATA_DIR``, then the Keras cache, then a download.
        val_fraction: share of the 60,000 training images held out for
            validation (early stopping and model selection; never the test set).
        seed: fixes the split.
        limit: keep only this many training images (for quick runs), and the
            same share of the validation images, so that a quick run's epochs
            spend on validation what a full run's do; the test set keeps its size.
    """
    paths, source = locate_files(data_dir)
    arrays = {name: read_idx(paths[name], sha256) for name, (_, sha256) in FILES.items()}
    x_train, y_train, x_val, y_val = split_train_val(
        arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"], val_fraction, seed
    )
    if limit is not None:
        kept = -(-len(x_val) * min(limit, len(x_train)) // len(x_train))  # at least one
        x_val, y_val = x_val[:kept], y_val[:kept]
        x_train, y_train = x_train[:limit], y_train[:limit]
    return Mnist(
        x_train,
        y_train,
        x_val,
        y_val,
        arrays["t10k-images-idx3-ubyte"],
        arrays["t10k-labels-idx1-ubyte"],
        source,
    )


def load_test_set(data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Only the 10,000 test images and labels."""
    paths, _ = locate_files(data_dir)
    names = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    x, y = (read_idx(paths[n], FILES[n][1]) for n in names)
    return x, y


def describe(mnist: Mnist) -> str:
    """A text summary: shape, dtype, pixel statistics and class counts per split."""
    lines = [f"MNIST from {mnist.source}", ""]
    header = f"{'split':<11}{'images':>14}{'dtype':>7}{'min':>5}{'max':>5}{'mean':>8}{'std':>8}"
    lines += [header, "-" * len(header)]
    for split, (x, _) in mnist.splits().items():
        shape = "x".join(map(str, x.shape))
        lines.append(
            f"{split:<11}{shape:>14}{str(x.dtype):>7}{x.min():>5}{x.max():>5}"
            f"{x.mean():>8.2f}{x.std():>8.2f}"
        )
    lines += ["", f"{'class':<11}" + "".join(f"{d:>7}" for d in range(NUM_CLASSES))]
    for split, (_, y) in mnist.splits().items():
        counts = np.bincount(y, minlength=NUM_CLASSES)
        lines.append(f"{split:<11}" + "".join(f"{c:>7}" for c in counts))
    return "\n".join(lines)
