"""``mnist-cnn export``: a trained model as a LiteRT, ONNX or TensorFlow SavedModel export, checked.

    mnist-cnn export RUN --format litert|onnx|saved_model [--out DIR]

Keras writes the export (``keras.Model.export``) into the run's ``export/`` folder:
``model.tflite``, ``model.onnx`` or ``saved_model/``. It is then read back with its own
runtime (LiteRT, ONNX Runtime, TensorFlow) and checked against Keras on the MNIST test
images: on how many the top class is the same, and the largest difference of any
probability. An export that gives another top class than Keras on more than
1 image in 10,000 is not kept. The figures go to ``export/checks.json``, under the
format's name, with the SHA-256 of the model file and of the export: `current_export`
uses them to tell whether an export still belongs to the run's ``model.keras``.

Each export is written under a temporary name and renamed when checked, so a failed or
interrupted export leaves the previous one, or nothing, never half a file.

    check = export_run("runs/cnn-1", "onnx")
    check["same_top_class"], check["images"]     # (10000, 10000)

`mnist-cnn predict` and `serve` read ``.tflite`` and ``.onnx`` exports directly
(`mnist_cnn.inference.DigitReader.load_export`), and ``serve`` runs a run's current
LiteRT export instead of converting the model again.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnist_cnn import data, runs
from mnist_cnn.backend import quiet_stderr
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.evaluation import predict_probabilities
from mnist_cnn.inference import BATCH, DEFAULT_MODEL
from mnist_cnn.preprocessing import preprocess
from mnist_cnn.runtimes import EXPORT_CHECKS, EXPORT_FOLDER, exported_predictor

if TYPE_CHECKING:
    import keras

MIN_AGREEMENT = 0.9999  # share of test images on which an export must give Keras' top class


@dataclass(frozen=True)
class Format:
    """An export format: the file (or folder) it writes, Keras' name for it and the
    runtime that reads it back."""

    file: str
    keras_format: str
    runtime: str


FORMATS = {
    "litert": Format("model.tflite", "litert", "LiteRT"),
    "onnx": Format("model.onnx", "onnx", "ONNX Runtime"),
    "saved_model": Format("saved_model", "tf_saved_model", "TensorFlow"),
}
ONNX_PACKAGES = "onnx, onnxruntime and tf2onnx"


def export_run(
    path: str | os.PathLike,
    format: str,
    out: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
) -> dict:
    """Export a run's model and check it against Keras on the MNIST test set.

    Args:
        path: a run folder or ``.keras`` file.
        format: "litert", "onnx" or "saved_model" (`FORMATS`).
        out: the folder to write into (default: ``export/`` beside the model).
        data_dir: where the MNIST files are, as for `mnist_cnn.data.load_test_set`.

    Returns:
        The check, as saved in ``checks.json`` (format, file, images, same_top_class,
        max_abs_difference, export_seconds, params, model_sha256, sha256), and the
        export's path.

    Example:
        >>> export_run("runs/cnn-1", "litert")["same_top_class"]  # doctest: +SKIP
        10000
    """
    if format not in FORMATS:
        raise MnistCnnError(
            f"unknown export format {format!r}; choose one of: {', '.join(FORMATS)}"
        )
    model_file = runs.resolve_model_file(path)
    if out is None and model_file.resolve() == DEFAULT_MODEL.resolve():
        raise MnistCnnError(
            "the model shipped in the package is read-only; export it with --out DIR"
        )
    model = runs.load_model(model_file)
    if len(model.output_shape) != 2:
        raise MnistCnnError(
            f"{path} holds a number model; export takes digit models (28x28 in, ten "
            "probabilities out)"
        )
    images, _ = data.load_test_set(data_dir)
    folder = Path(out) if out is not None else model_file.parent / EXPORT_FOLDER
    return export_model(model, format, folder, images, model_sha256=runs.file_sha256(model_file))


def export_model(
    model: keras.Model,
    format: str,
    folder: Path,
    images: np.ndarray,
    model_sha256: str | None = None,
) -> dict:
    """Export `model` into `folder` as `format`, check it on `images` and record the check.

    The export is written under a temporary name, read back, checked and only then
    renamed into place; on any failure nothing of it is left (nor `folder`, if this
    call made it).

    Args:
        model: a Keras model taking 28x28x1 images and giving 10 probabilities.
        format: a key of `FORMATS`.
        folder: where the export and ``checks.json`` go.
        images: uint8 (N, 28, 28) digits to check the export on.
        model_sha256: the SHA-256 of the ``.keras`` file `model` was loaded from.

    Returns:
        The check (see `export_run`).
    """
    spec = FORMATS[format]
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / spec.file
    temporary = folder / f".{target.stem}.{os.getpid()}.tmp{target.suffix}"
    model(preprocess(images[:1]), training=False)  # Keras exports only a model once called
    try:
        start = time.perf_counter()
        _write(model, spec, temporary)
        seconds = time.perf_counter() - start
        same, difference = check_export(model, load_export(temporary, format), images)
        if same < MIN_AGREEMENT * len(images):
            raise MnistCnnError(
                f"the {format} export gives another top class than Keras on "
                f"{len(images) - same} of {len(images)} test images; it was not kept"
            )
        _publish(temporary, target)
    except BaseException:
        _remove(temporary)
        if made and not any(folder.iterdir()):
            folder.rmdir()
        raise
    check = {
        "format": format,
        "file": spec.file,
        "images": len(images),
        "same_top_class": same,
        "max_abs_difference": difference,
        "export_seconds": round(seconds, 2),
        "params": model.count_params(),
        "model_sha256": model_sha256,
        "sha256": runs.file_sha256(target) if target.is_file() else None,
    }
    runs.update_json(folder / EXPORT_CHECKS, {format: check})
    return check | {"path": str(target)}


def check_export(
    model: keras.Model, predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray
) -> tuple[int, float]:
    """How closely an export follows Keras on `images`.

    Args:
        model: the Keras model.
        predict: the export, as a function like `model.predict_on_batch` (`load_export`).
        images: uint8 (N, 28, 28) digits.

    Returns:
        (the number of images on which both give the same top class, the largest
        absolute difference of any probability).

    Example:
        >>> from mnist_cnn import models
        >>> model = models.build("original")
        >>> check_export(model, model.predict_on_batch, np.zeros((3, 28, 28), np.uint8))
        (3, 0.0)
    """
    expected = predict_probabilities(model, images)
    x = preprocess(images)
    got = np.concatenate(
        [np.asarray(predict(x[i : i + BATCH]), np.float64) for i in range(0, len(x), BATCH)]
    )
    same = int((got.argmax(axis=1) == expected.argmax(axis=1)).sum())
    return same, float(np.abs(got - expected).max(initial=0.0))


def load_export(path: Path, format: str) -> Callable[[np.ndarray], np.ndarray]:
    """An export read back by its runtime, as a function like `model.predict_on_batch`:
    LiteRT and ONNX files as `mnist_cnn.runtimes.exported_predictor` reads them, a
    SavedModel folder with TensorFlow (its ``serve`` endpoint)."""
    if format != "saved_model":
        return exported_predictor(path)
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # held: its endpoint needs its variables
    return lambda inputs: loaded.serve(np.asarray(inputs, np.float32)).numpy()


def current_export(model_file: Path, format: str) -> Path | None:
    """The export of `model_file` in ``export/`` beside it, if ``checks.json`` says it was
    made from this very file and the export is unchanged since; else None.

    Example:
        >>> current_export(Path("no/such/model.keras"), "litert") is None
        True
    """
    folder = model_file.parent / EXPORT_FOLDER
    try:
        check = runs.read_json(folder / EXPORT_CHECKS).get(format)
    except MnistCnnError:
        return None
    target = folder / FORMATS[format].file
    if not isinstance(check, dict) or not target.is_file():
        return None
    if check.get("sha256") != runs.file_sha256(target):
        return None
    if check.get("model_sha256") != runs.file_sha256(model_file):
        return None
    return target


def _write(model: keras.Model, spec: Format, path: Path) -> None:
    """Keras' export of `model` to `path`, its failures as one-line errors."""
    try:
        with warnings.catch_warnings(), quiet_stderr():
            # Keras' tf2onnx shim tests for numpy's removed `np.object`, which warns.
            warnings.filterwarnings("ignore", "In the future `np.object`", FutureWarning)
            model.export(str(path), format=spec.keras_format, verbose=False)
    except ImportError as e:
        if spec.keras_format != "onnx":
            raise
        raise MnistCnnError(
            f"ONNX export needs {ONNX_PACKAGES} (Keras converts through tf2onnx and the "
            f"check runs ONNX Runtime); {e.name or 'one of them'} is missing: "
            "pip install 'mnist-cnn[export]'"
        ) from None
    except Exception as e:  # the converters raise many types
        raise MnistCnnError(
            f"Keras could not export the model as {spec.keras_format} ({type(e).__name__}: {e})"
        ) from None


def _publish(temporary: Path, target: Path) -> None:
    """Rename `temporary` to `target`. A folder replaces the old one in two renames, the
    old one moved aside first, as a folder cannot be renamed over a full one."""
    if temporary.is_dir() and target.exists():
        old = target.with_name(f".{target.name}.{os.getpid()}.old")
        os.replace(target, old)
        os.replace(temporary, target)
        shutil.rmtree(old)
    else:
        os.replace(temporary, target)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
