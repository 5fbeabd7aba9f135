"""Run folders: where a training run keeps everything it produced.

A run is a folder ``runs/<name>/`` holding

- ``config.json``   every option, the seed and the library versions
- ``model.keras``   the best checkpoint (by validation accuracy)
- ``history.csv``   one row per epoch
- ``metrics.json``  training and test figures
- ``figures/``      learning curves, confusion matrix, mistakes

Files are written atomically (to a temporary name, then renamed), so an
interrupted run or a full disk never leaves a half-written model or JSON file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
import typing
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import INPUT_SHAPE, NUM_CLASSES

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
FIGURES_DIR = "figures"


def create_run_dir(runs_dir: str | os.PathLike, name: str | None, prefix: str) -> Path:
    """Make a new, empty run folder. An explicit `name` that exists is an error;
    an automatic name (``<prefix>-<date>-<time>``) gets a numeric suffix instead."""
    runs_dir = Path(runs_dir)
    if name is not None:
        if "/" in name or name in ("", ".", ".."):
            raise MnistCnnError(f"run name {name!r} must be a plain folder name")
        path = runs_dir / name
        if path.exists():
            raise MnistCnnError(
                f"run folder {path} already exists; choose another --name or delete it first"
            )
        path.mkdir(parents=True)
        return path
    stem = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    for i in range(1, 1000):
        path = runs_dir / (stem if i == 1 else f"{stem}-{i}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise MnistCnnError(f"could not create a new run folder in {runs_dir}")


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp_path)`` then rename it over `path`, so that `path` is
    either the old complete file or the new complete file, never a partial one.
    The temporary name keeps the suffix, as Keras insists on ``.keras``."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def read_json(path: Path) -> dict:
    """The JSON object in `path`; {} if there is no such file."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MnistCnnError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise MnistCnnError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def update_json(path: Path, new: dict) -> dict:
    """Merge `new` into the JSON file at `path` (created if missing)."""
    data = read_json(path) | new
    write_json(path, data)
    return data


# -- metrics.json: one typed record. ------------------------------------------------------------


@dataclass
class RunMetrics:
    """What is known about a run, as kept in its ``metrics.json``.

    Training, evaluation and ensembling each fill in their part and merge it
    into the file (`add_metrics`); a field left None is not written. Reading
    (`read_metrics`) keeps only values of the right type, so a figure that is
    missing or mangled reads as None.

    >>> RunMetrics(model="cnn", test_accuracy=0.995).to_dict()
    {'model': 'cnn', 'test_accuracy': 0.995}
    >>> RunMetrics.from_dict({"test_accuracy": "n/a", "epochs_run": 3, "other": 1})
    RunMetrics(epochs_run=3)
    >>> RunMetrics.from_dict({"test_accuracy_with_turns": 0.99})  # an older run's key
    RunMetrics(test_accuracy_tta=0.99)
    """

    # Written by training (`mnist_cnn.training`).
    model: str | None = None
    params: int | None = None
    macs: int | None = None  # multiply-adds per image
    epochs_run: int | None = None
    best_epoch: int | None = None  # the checkpoint kept, counted from 1
    best_val_accuracy: float | None = None
    best_val_loss: float | None = None
    train_seconds: float | None = None
    interrupted: bool | None = None
    # The best checkpoint's temperature, fitted on the validation split (`mnist_cnn.calibration`).
    temperature: float | None = None
    # Written with every model.keras (`record_model_hash`), checked when it is loaded.
    model_sha256: str | None = None
    # Written by evaluation on the test set (`mnist_cnn.evaluation`).
    test_accuracy: float | None = None
    test_loss: float | None = None
    test_errors: int | None = None
    # Read as `predict` reads, with test-time augmentation (`inference.tta_probabilities`).
    test_accuracy_tta: float | None = None
    test_errors_tta: int | None = None
    # Number models: the digits read right in test numbers, by edit distance.
    test_digit_accuracy: float | None = None
    # digit ("0"-"9") -> precision, recall, f1 and support
    per_class: dict[str, dict[str, float]] | None = None
    # Written by ensembling (`mnist_cnn.ensemble`).
    members: int | None = None
    member_test_accuracy: list[float | None] | None = None

    def __repr__(self) -> str:
        return f"RunMetrics({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"

    def to_dict(self) -> dict:
        """The fields that are set, in the order above, as JSON-ready values."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    @classmethod
    def from_dict(cls, data: dict) -> RunMetrics:
        """The known fields of `data` whose values have the right type; the rest is left out."""
        kinds = typing.get_type_hints(cls)
        data = {RENAMED_KEYS.get(k, k): v for k, v in data.items()}
        return cls(**{k: v for k, v in data.items() if k in kinds and _fits(kinds[k], v)})


# Keys that older run folders spell differently.
RENAMED_KEYS = {
    "test_accuracy_with_turns": "test_accuracy_tta",
    "test_errors_with_turns": "test_errors_tta",
}


def _fits(hint, value) -> bool:
    """Whether `value` suits the field type `hint` (numbers must be finite)."""
    kind = typing.get_origin(typing.get_args(hint)[0]) or typing.get_args(hint)[0]
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float) and math.isfinite(value)
    return isinstance(value, kind)


def read_metrics(folder: str | os.PathLike) -> RunMetrics:
    """The `RunMetrics` in `folder`'s ``metrics.json``; empty if it has none."""
    return RunMetrics.from_dict(read_json(Path(folder) / METRICS_FILE))


def add_metrics(folder: str | os.PathLike, metrics: RunMetrics) -> dict:
    """Merge the fields set in `metrics` into `folder`'s ``metrics.json`` (created if
    missing) and return the whole file's contents."""
    return update_json(Path(folder) / METRICS_FILE, metrics.to_dict())


def cpuinfo(key: str, path: str = "/proc/cpuinfo") -> list[str]:
    """The values Linux gives `key` in /proc/cpuinfo, one per core ("model name",
    "flags", "cpu MHz"); empty where it does not say.

    >>> cpuinfo("model name", "/no/such/file")
    []
    """
    try:
        with open(path) as lines:
            pairs = (line.split(":", 1) for line in lines if ":" in line)
            return [value.strip() for name, value in pairs if name.strip() == key]
    except OSError:
        return []


def cpu_name() -> str:
    """The CPU's model name, for the benchmarks' figures ("AMD EPYC ...")."""
    return next(iter(cpuinfo("model name")), platform.processor() or platform.machine())


def library_versions() -> dict[str, str]:
    import numpy

    from mnist_cnn import __version__
    from mnist_cnn.backend import keras

    return {
        "mnist_cnn": __version__,
        "python": platform.python_version(),
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "tensorflow": _version_of("tensorflow"),
        "numpy": numpy.__version__,
    }


def _version_of(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    for name in (package, f"{package}-cpu"):
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "not installed"


def resolve_model_file(path: str | os.PathLike) -> Path:
    """A run folder or a ``.keras`` file -> the model file, or a clear error."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
        if not path.is_file():
            raise MnistCnnError(
                f"{path.parent} has no {MODEL_FILE}: not a run folder, or the run "
                "stopped before its first checkpoint"
            )
    elif not path.exists():
        raise MnistCnnError(f"{path}: no such run folder or model file")
    elif path.suffix != ".keras":
        raise MnistCnnError(f"{path}: expected a run folder or a .keras model file")
    return path


def run_dir_of(model_file: Path) -> Path | None:
    """The run folder a model file belongs to, or None for a loose model file."""
    folder = model_file.parent
    return folder if (folder / CONFIG_FILE).is_file() else None


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_model_hash(run_dir: str | os.PathLike) -> None:
    """Record the SHA-256 of the run's ``model.keras`` in its ``metrics.json``; called
    whenever the model file is written, so that `verify_model_file` can tell a file
    changed since."""
    run_dir = Path(run_dir)
    add_metrics(run_dir, RunMetrics(model_sha256=file_sha256(run_dir / MODEL_FILE)))


def verify_model_file(model_file: str | os.PathLike) -> None:
    """A one-line error if a run's ``model.keras`` is not the file its ``metrics.json``
    records (a flipped bit, a copy over it). A model file whose folder records no
    hash, such as a loose ``.keras`` file, has nothing to check.

    Example:
        >>> verify_model_file("runs/cnn-20260101-120000/model.keras")  # doctest: +SKIP
    """
    model_file = Path(model_file).resolve()  # a link is checked against its run
    if model_file.name != MODEL_FILE:
        return
    try:
        recorded = read_metrics(model_file.parent).model_sha256
    except MnistCnnError:  # a mangled metrics.json records nothing to check against
        return
    if recorded is not None and file_sha256(model_file) != recorded:
        raise MnistCnnError(
            f"{model_file} changed since training: its SHA-256 is not the one recorded in "
            f"{model_file.parent / METRICS_FILE}; train it again, or, if you changed it on "
            'purpose, remove "model_sha256" from that file'
        )


def load_model(path: str | os.PathLike):
    """Load a model from a run folder or ``.keras`` file, with a clear error if the
    file is corrupt, not a Keras model, neither a digit model (28x28x1 -> 10) nor a
    number model (`check_shapes`), or not the file its run recorded
    (`verify_model_file`)."""
    from mnist_cnn.backend import keras

    model_file = resolve_model_file(path)
    if not zipfile.is_zipfile(model_file):
        raise MnistCnnError(f"{model_file}: not a Keras model (a .keras file is a zip archive)")
    try:
        model = keras.models.load_model(model_file, compile=False)
    except Exception as e:  # Keras raises many types for a bad archive
        raise MnistCnnError(
            f"{model_file}: cannot load the model ({type(e).__name__}: {e})"
        ) from None
    check_shapes(model, str(model_file), numbers=True)
    verify_model_file(model_file)
    return model


def check_shapes(model, name: str, numbers: bool = False) -> None:
    """A clear error unless `model` takes 28x28x1 images and gives 10 probabilities,
    or, if `numbers`, is a number model instead: strips in, frame logits out."""
    from mnist_cnn import ctc
    from mnist_cnn.imaging import strip

    input_shape = tuple(getattr(model, "input_shape", ()) or ())[1:]
    output_shape = tuple(getattr(model, "output_shape", ()) or ())[1:]
    if input_shape == INPUT_SHAPE and output_shape == (NUM_CLASSES,):
        return
    reads_numbers = input_shape == (strip.HEIGHT, strip.WIDTH, 1) and output_shape == (
        strip.WIDTH // ctc.FRAME,
        ctc.CLASSES,
    )
    if numbers and reads_numbers:
        return
    expected = "a 28x28x1 MNIST input and 10 class probabilities"
    if numbers:
        expected += f", or a {strip.HEIGHT}x{strip.WIDTH}x1 strip and frame logits"
    raise MnistCnnError(
        f"model {name!r} takes {input_shape} and gives {output_shape}; expected {expected}"
    )


def export_for_inference(run_dir: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Copy a run's best model without its optimizer state (a third of the size),
    with its config.json and metrics.json, into the folder `dest`.

    This is how the models shipped inside the package were made (see their READMEs).
    A model trained in bfloat16 is copied in float32 (its weights are float32 already):
    LiteRT then runs it too.
    """
    model_file = resolve_model_file(run_dir)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    model = load_model(model_file)  # loads uncompiled: no optimizer
    architecture = read_json(model_file.parent / CONFIG_FILE).get("config", {}).get("model")
    # A functional model's own policy is float32 whatever its layers compute in.
    in_bfloat16 = any(layer.dtype_policy.name != "float32" for layer in model.layers)
    if in_bfloat16 and architecture is not None:
        from mnist_cnn import models

        float32 = models.build(architecture, "float32")
        float32.set_weights(model.get_weights())
        model = float32
    atomic_write(dest / MODEL_FILE, model.save)
    for name in (CONFIG_FILE, METRICS_FILE):
        write_json(dest / name, read_json(model_file.parent / name))
    record_model_hash(dest)  # the copy without optimizer state is another file
    return dest / MODEL_FILE


# -- Listing runs: `mnist-cnn runs` and the automatic choice of a model. ----------------------


@dataclass
class RunSummary:
    """One run folder as `list_runs` finds it.

    folder: the run folder. model_file: its ``model.keras``, None if it has none.
    model: the architecture. test_accuracy, epochs_run, interrupted: from its
    ``metrics.json``. limit: the ``--limit`` it was trained with (from ``config.json``).
    modified: when its model file (else the folder) last changed, in seconds since 1970.
    """

    folder: Path
    model_file: Path | None
    model: str | None
    test_accuracy: float | None
    epochs_run: int | None
    limit: int | None
    interrupted: bool
    modified: float

    @property
    def incomplete(self) -> str | None:
        """Why the run is not a finished, tested model ("interrupted", ...); None if it is.

        >>> run = RunSummary(Path("r"), Path("r/model.keras"), "cnn", 0.99, 2, 2000, False, 0.0)
        >>> run.incomplete
        'trained on --limit 2000 images'
        """
        if self.model_file is None:
            return f"no {MODEL_FILE}"
        if self.interrupted:
            return "interrupted"
        if self.limit is not None:
            return f"trained on --limit {self.limit} images"
        if self.test_accuracy is None:
            return "no test accuracy recorded"
        return None


def summarize_run(folder: str | os.PathLike) -> RunSummary:
    """What `folder`'s files say about its run; a mangled file counts as missing."""
    folder = Path(folder)
    model_file = folder / MODEL_FILE
    try:
        metrics = read_metrics(folder)
    except MnistCnnError:
        metrics = RunMetrics()
    try:
        config = read_json(folder / CONFIG_FILE).get("config")
    except MnistCnnError:
        config = None
    limit = config.get("limit") if isinstance(config, dict) else None
    return RunSummary(
        folder=folder,
        model_file=model_file if model_file.is_file() else None,
        model=metrics.model or (config.get("model") if isinstance(config, dict) else None),
        test_accuracy=metrics.test_accuracy,
        epochs_run=metrics.epochs_run,
        limit=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
        interrupted=bool(metrics.interrupted),
        modified=(model_file if model_file.is_file() else folder).stat().st_mtime,
    )


def list_runs(runs_dir: str | os.PathLike) -> list[RunSummary]:
    """The run folders under `runs_dir` (those holding a ``model.keras`` or a
    ``config.json``), newest first; [] if there is no such folder.

    Example:
        >>> list_runs("no-runs-here")
        []
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    folders = [
        p
        for p in runs_dir.iterdir()
        if p.is_dir() and ((p / MODEL_FILE).is_file() or (p / CONFIG_FILE).is_file())
    ]
    summaries = [summarize_run(p) for p in folders]
    return sorted(summaries, key=lambda r: (r.modified, str(r.folder)), reverse=True)


def read_history(run_dir: str | os.PathLike) -> dict[str, list[float]]:
    """The run's ``history.csv`` (one row per epoch, as Keras' CSVLogger writes it)
    as {column: values}, epochs counted from 1; {} if the run has none.

    Example:
        >>> history = read_history("runs/cnn-20260101-120000")  # doctest: +SKIP
        >>> history["epoch"][:3], history["val_accuracy"][:1]  # doctest: +SKIP
        ([1, 2, 3], [0.9871])
    """
    import csv

    try:
        with open(Path(run_dir) / HISTORY_FILE, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        return {}
    history = {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else [])}
    if "epoch" in history:
        history["epoch"] = [int(e) + 1 for e in history["epoch"]]
    return history
