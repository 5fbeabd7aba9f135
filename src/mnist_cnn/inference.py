"""Read the digits in real images with a trained model: `DigitReader`.

A `DigitReader` holds one loaded model. It finds the digits in an image with
`mnist_cnn.imaging` and reads their 28x28 versions with test-time augmentation
(`tta_probabilities`: each digit as it is and turned `TTA_DEGREES` either way,
the three readings averaged), all digits in one model call. It returns a
`Reading`: the number read left to right, how sure the model is, and per digit
its label, probabilities and box. ``mnist-cnn predict`` (`mnist_cnn.predict`),
``serve`` and ``board`` read with it.

    reader = DigitReader.load()                  # newest complete run, else the shipped model
    reading = reader.read_image("photo.jpg")     # bytes, a path, a Pillow image or an array
    reading.prediction, reading.status           # ('42', 'ok')
    reading.to_dict()                            # JSON-ready

>>> from mnist_cnn import models
>>> reader = DigitReader(models.build("original"), name="untrained")
>>> reader.read_pixels(np.zeros((28, 28))).to_dict()
{'prediction': None, 'confidence': 0.0, 'status': 'no digit', 'digits': []}
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnist_cnn import imaging, runs, runtimes
from mnist_cnn.calibration import soften
from mnist_cnn.config import THRESHOLD
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.imaging import DigitCrop, ImageSource
from mnist_cnn.imaging.normalise import turn
from mnist_cnn.preprocessing import IMAGE_SIZE, NUM_CLASSES, preprocess

DEFAULT_MODEL = Path(__file__).resolve().parent / "default_model" / runs.MODEL_FILE
RUNS_DIR = Path("runs")
STATUS_OK, STATUS_UNCERTAIN, STATUS_NO_DIGIT = "ok", "uncertain", "no digit"
BATCH = 1024  # digits per model call: bounds memory for a folder of many photos
TTA_DEGREES = 10.0  # test-time augmentation also reads each digit turned this far each way


@dataclass
class Digit:
    """One digit of a reading.

    label: 0-9, or None when the model's top probability is below the reader's threshold.
    confidence: the top probability. probabilities: all ten, digit 0 first.
    box: [x0, y0, x1, y1] in the image's pixels (x1, y1 exclusive).
    """

    label: int | None
    confidence: float
    probabilities: list[float]
    box: list[int]

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
            "box": self.box,
        }


@dataclass
class Reading:
    """What a `DigitReader` read in one image.

    prediction: the digits left to right, row by row ("42"); None unless the status is
        "ok".
    confidence: the product of the digits' top probabilities, i.e. the model's
        probability that the whole number is right (0.0 when there is no digit). Where
        the number model read the lines, each digit's also times the digit model's vote
        on it, and the whole no higher than the number model's probability of it.
    status: "ok"; "uncertain" when some digit, or the whole number's confidence, is
        below the reader's threshold; or "no digit".
    digits: one `Digit` each, in that order; a digit keeps its label when only the
        whole number is uncertain, so what was read can still be shown (`guess`).
    inputs: the uint8 28x28 images the model saw, in the same order.
    """

    prediction: str | None
    confidence: float
    status: str
    digits: list[Digit]
    inputs: list[np.ndarray] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        """The JSON shape: {"prediction", "confidence", "status", "digits": [...]}."""
        return {
            "prediction": self.prediction,
            "confidence": self.confidence,
            "status": self.status,
            "digits": [digit.to_dict() for digit in self.digits],
        }

    @property
    def guess(self) -> str:
        """The digits read, with "?" for uncertain ones ("4?"); "-" for no digit."""
        if not self.digits:
            return "-"
        return "".join("?" if d.label is None else str(d.label) for d in self.digits)


class DigitReader:
    """A loaded model that reads digits in images.

    threshold: a digit whose top probability is below it gets label None, and a
    reading whose digit or whole-number confidence is below it is "uncertain".
    `info` describes the model (JSON-ready): name, path, test accuracy (None if
    unknown), parameter count, source ("package", "run" or "file") and a one-line
    description (`describe_model`, without the path).
    litert: run the model with LiteRT (`mnist_cnn.runtimes.litert_predictor`), where it can: the few
    digits of one image are read several times faster, for 1-2 s more at start.
    `mnist-cnn serve` and `board` do; `engine` says which one runs it.
    numbers: a number model, to read lines of digits with (`mnist_cnn.number_reader`).
    parts: a part model, which votes on the parts cut from touching digits beside the
    digit model (`mnist_cnn.number_reader`); default: none, the digit model votes alone.
    temperatures: the digit model's, the number model's and the part model's, which
    make their confidences honest (`mnist_cnn.calibration`); `load` reads the ones
    training recorded.

    >>> from mnist_cnn import models
    >>> reader = DigitReader(models.build("original"), name="untrained", threshold=0.9)
    >>> reader.info["params"], reader.threshold
    (34826, 0.9)
    """

    def __init__(
        self,
        model,
        name: str = "model",
        threshold: float = THRESHOLD,
        info: dict | None = None,
        litert: bool = False,
        numbers=None,
        parts=None,
        temperatures: tuple[float, float, float] = (1.0, 1.0, 1.0),
    ):
        if not 0.0 <= threshold <= 1.0:
            raise MnistCnnError(f"threshold must be between 0 and 1, got {threshold}")
        runs.check_shapes(model, name)
        self.model = model
        self.name = name
        self.threshold = float(threshold)
        self.info = {
            "name": name,
            "path": None,
            "test_accuracy": None,
            "params": model.count_params(),
            "number_model": None if numbers is None else numbers.name,
            "part_model": None if parts is None else parts.name,
            "temperatures": list(temperatures),
        } | (info or {})
        self.temperature, number_temperature, part_temperature = temperatures
        self._lock = threading.Lock()  # one model call at a time when a server shares us
        self.predict, self.engine = _predictor(model, litert)  # inputs -> probabilities
        # The number model, if any: strips -> frame logits (`mnist_cnn.number_reader`).
        self.numbers = None
        if numbers is not None:
            runs.check_shapes(numbers, "number model", numbers=True)
            logits, _ = _predictor(numbers, litert)
            self.numbers = lambda strips: np.asarray(logits(strips)) / number_temperature
            for size in (1, 2):  # warmed up, as the digit model is below
                self.numbers(np.zeros((size, *numbers.input_shape[1:]), np.float32))
        # The part model, if any: MNIST-style parts -> probabilities, as the digit model.
        self.parts = None
        if parts is not None:
            runs.check_shapes(parts, "part model")
            read, _ = _predictor(parts, litert)
            self.parts = lambda images: soften(tta_probabilities(read, images), part_temperature)
            for size in (1, 2):
                self.parts(np.zeros((size, IMAGE_SIZE, IMAGE_SIZE), np.uint8))
        # Warm up now rather than on the first request: two batch sizes make Keras'
        # compiled function general in the batch size, so no later call recompiles it.
        for size in (1, 2):
            self._probabilities(np.zeros((size, IMAGE_SIZE, IMAGE_SIZE), np.uint8))

    @classmethod
    def load(
        cls,
        path: str | os.PathLike | None = None,
        threshold: float = THRESHOLD,
        litert: bool = False,
        runs_dir: str | os.PathLike = RUNS_DIR,
        numbers: str | os.PathLike | None = "default",
    ) -> DigitReader:
        """Load a model from a run folder or ``.keras`` file.

        Args:
            path: a run folder or ``.keras`` file; "default": the model shipped in
                the package; None: `find_model` (the newest complete run under
                `runs_dir`, else the shipped model). A ``.tflite`` or ``.onnx`` export
                is read by `load_export`.
            threshold: as for `DigitReader`.
            litert: as for `DigitReader`; a LiteRT export of this very model file by
                ``mnist-cnn export`` is used as it is, without exporting again.
            runs_dir: where to look when `path` is None.
            numbers: the number model that reads whole lines with the digit model
                (`mnist_cnn.number_reader`): a run folder or ``.keras`` file;
                "default": the one shipped in the package, if there is one; None: none,
                each digit is then read as segmentation finds it.

        Returns:
            A reader whose `info` names the model and its recorded test accuracy.

        Example:
            >>> DigitReader.load("default").info["name"]  # doctest: +SKIP
            'default_model'
        """
        if path is not None and Path(path).suffix in runtimes.EXPORTED_SUFFIXES:
            return cls.load_export(path, threshold)
        model_file = resolve_model(path, runs_dir)
        from mnist_cnn.export import current_export

        # A LiteRT export of this very file by `mnist-cnn export` runs as it is.
        exported = current_export(model_file, "litert") if litert else None
        model = runtimes.ExportedModel(exported) if exported else runs.load_model(model_file)
        info = model_info(model_file) | {"params": model.count_params()}
        use_litert = litert and not exported
        number_model, number_file = _load_number_model(numbers)
        if number_model is not None:
            info["number_model"] = "number_model" if numbers == "default" else Path(numbers).name
        part_model, part_file = _load_part_model() if number_model is not None else (None, None)
        if part_model is not None:
            info["part_model"] = part_file.parent.name
        temperatures = (model_file, number_file, part_file)
        return cls(
            model,
            name=info["name"],
            threshold=threshold,
            info=info,
            litert=use_litert,
            numbers=number_model,
            parts=part_model,
            temperatures=tuple(recorded_temperature(f) for f in temperatures),
        )

    @classmethod
    def load_export(cls, path: str | os.PathLike, threshold: float = THRESHOLD) -> DigitReader:
        """Load a model exported by ``mnist-cnn export`` (`mnist_cnn.export`): a ``.tflite``
        file, run by LiteRT, or an ``.onnx`` file, run by ONNX Runtime; Keras is not used.

        Args:
            path: the exported file. In a run's ``export/`` folder it is named after the
                run, with the run's recorded test accuracy.
            threshold: as for `DigitReader`.

        Returns:
            A reader whose `engine` names the runtime.

        Example:
            >>> DigitReader.load_export("runs/cnn-1/export/model.tflite").engine  # doctest: +SKIP
            'LiteRT'
        """
        model = runtimes.ExportedModel(path)
        folder = model.path.parent
        in_run = folder.name == runtimes.EXPORT_FOLDER
        name = folder.parent.name if in_run else model.path.stem
        recorded = runs.read_metrics(folder.parent) if in_run else runs.RunMetrics()
        info = {"name": name, "path": str(model.path), "test_accuracy": recorded.test_accuracy}
        temperatures = (recorded.temperature or 1.0, 1.0, 1.0)
        return cls(model, name=name, threshold=threshold, info=info, temperatures=temperatures)

    # -- reading -------------------------------------------------------------------------

    def read_image(self, image: ImageSource) -> Reading:
        """Read the digits in one image: encoded bytes, a file path, a Pillow image or
        a uint8 array. Raises `mnist_cnn.imaging.ImageError` for an unreadable image."""
        return self.read_batch([image])[0]

    def read_batch(self, images: list[ImageSource]) -> list[Reading]:
        """Read several images with one model call for all their digits (and, with a
        number model, one for all their lines)."""
        if self.numbers is None:
            return self.read_crops([imaging.extract_digits(image) for image in images])
        return self.read_lines([imaging.extract_lines(image) for image in images])

    def read_lines(self, lines: list[list[imaging.Line]]) -> list[Reading]:
        """Read lines of digits found by `mnist_cnn.imaging.extract_lines`, one list per
        image, with the number model and the digit model (`mnist_cnn.number_reader`)."""
        from mnist_cnn.number_reader import read_lines

        if self.numbers is None:
            return self.read_crops([[c for line in image for c in line.crops] for image in lines])
        flat = [line for image in lines for line in image]
        with self._lock:
            chosen = read_lines(flat, self.numbers, self.digit_probabilities, self.parts)
        readings, start = [], 0
        for image in lines:
            mine = chosen[start : start + len(image)]
            start += len(image)
            crops = [crop for line in mine for crop in line.crops]
            rows = [row for line in mine for row in line.probabilities]
            votes = [v for line in mine for v in line.vote]
            agreement = min(
                (line.agreement for line in mine if line.agreement is not None), default=1.0
            )
            readings.append(
                self._reading(crops, np.array(rows).reshape(-1, NUM_CLASSES), agreement, votes)
            )
        return readings

    def read_pixels(self, pixels) -> Reading:
        """Read one digit given as 28x28 numbers 0-255, white on black (MNIST style),
        e.g. a nested list from a JSON request. The pixels go to the model as they are:
        for a drawing that is not yet centred and scaled like MNIST use `read_image`."""
        array = validate_pixels(pixels)
        if not array.any():
            return self.read_crops([[]])[0]
        return self.read_crops([[DigitCrop(array, (0, 0, IMAGE_SIZE, IMAGE_SIZE))]])[0]

    def read_crops(self, crops: list[list[DigitCrop]]) -> list[Reading]:
        """Classify digits already found by `mnist_cnn.imaging.extract_digits`, one list
        per image, in one model call."""
        flat = [crop for image in crops for crop in image]
        probabilities = (
            self._probabilities(np.stack([crop.pixels for crop in flat]))
            if flat
            else np.zeros((0, NUM_CLASSES))
        )
        readings, start = [], 0
        for image in crops:
            rows = probabilities[start : start + len(image)]
            start += len(image)
            readings.append(self._reading(image, rows))
        return readings

    def _reading(
        self,
        crops: list[DigitCrop],
        probabilities: np.ndarray,
        agreement: float = 1.0,
        votes: list[float] | None = None,
    ) -> Reading:
        """A reading of `crops` from their probabilities. Its confidence is the chance
        that every digit is right (their top probabilities multiplied, each times the
        digit model's `votes` where the number model read the lines), capped by the
        number model's `agreement` with the digits read."""
        digits = []
        for crop, p in zip(crops, probabilities, strict=True):
            best = int(p.argmax())
            confidence = float(p[best])
            digits.append(
                Digit(
                    label=best if confidence >= self.threshold else None,
                    confidence=round(confidence, 6),
                    probabilities=[round(float(v), 6) for v in p],
                    box=[int(v) for v in crop.box],
                )
            )
        inputs = [crop.pixels for crop in crops]
        if not digits:
            return Reading(None, 0.0, STATUS_NO_DIGIT, [], inputs)
        surest = probabilities.max(axis=1) * (1.0 if votes is None else np.asarray(votes))
        confidence = round(min(float(np.prod(surest)), agreement), 6)
        # Each digit can clear the threshold while the number as a whole does not:
        # four digits at 83% make a number read right less than half the time.
        if any(d.label is None for d in digits) or confidence < self.threshold:
            return Reading(None, confidence, STATUS_UNCERTAIN, digits, inputs)
        prediction = "".join(str(d.label) for d in digits)
        return Reading(prediction, confidence, STATUS_OK, digits, inputs)

    def _probabilities(self, images: np.ndarray) -> np.ndarray:
        with self._lock:
            return self.digit_probabilities(images)

    def digit_probabilities(self, images: np.ndarray) -> np.ndarray:
        """The digit model's probabilities (N, 10) of uint8 MNIST-style digits
        (N, 28, 28), as the reader reads them: turned copies averaged
        (`tta_probabilities`), at the model's temperature. Not locked: a server's
        threads call `read_image`."""
        probabilities = tta_probabilities(self.predict, images)
        return probabilities if self.temperature == 1.0 else soften(probabilities, self.temperature)


def tta_probabilities(
    predict: Callable, images: np.ndarray, degrees: float = TTA_DEGREES
) -> np.ndarray:
    """The model's probabilities for digits, read with test-time augmentation.

    Test-time augmentation reads each digit three times, as it is and turned
    `degrees` anticlockwise and clockwise (`turn`), and averages the three
    probability vectors. People slant digits more than MNIST's writers did; the
    turned views, no further than training's augmentation turns digits, let the
    model see a slanted digit closer to upright. On real handwriting (the dev part
    of ``benchmarks/real_digits.py``) it read 1-4 more digits of 900 right for each
    of five trained models, and none fewer, for three model inputs per digit.
    `DigitReader` reads this way, and ``mnist-cnn evaluate`` reports the test
    accuracy read this way too. Every view goes through
    `mnist_cnn.preprocessing.preprocess`, the one preprocessing path.

    Args:
        predict: runs the model on a batch of preprocessed inputs: its
            `predict_on_batch` (a compiled function: about a millisecond for one
            image, where `model.predict` sets up a data pipeline per call and an
            eager `model(x)` runs layer by layer), or `runtimes.litert_predictor(model)`.
        images: uint8 (N, 28, 28) digits, white on black.
        degrees: how far the two extra views are turned; 0 reads each digit as it is.

    Returns:
        float64 (N, 10): each digit's mean probabilities, digit 0 first.

    Example:
        >>> from mnist_cnn import models
        >>> model = models.build("original")
        >>> tta_probabilities(model.predict_on_batch, np.zeros((2, 28, 28), np.uint8)).shape
        (2, 10)
    """
    parts = []
    for start in range(0, len(images), BATCH):
        batch = images[start : start + BATCH]
        views = np.concatenate([batch, turn(batch, -degrees), turn(batch, degrees)])
        p = np.asarray(predict(preprocess(views)), np.float64)
        parts.append(p.reshape(-1, len(batch), NUM_CLASSES).mean(axis=0))
    return np.concatenate(parts)


def resolve_model(
    model: str | os.PathLike | None = None, runs_dir: str | os.PathLike = RUNS_DIR
) -> Path:
    """The model file a command reads with.

    Args:
        model: a run folder, ``.keras`` file or ``.tflite``/``.onnx`` export;
            "default": the model shipped in the package (`DEFAULT_MODEL`); None:
            `find_model(runs_dir)`.
        runs_dir: where to look when `model` is None.

    Returns:
        The ``.keras`` file, or the export as named.

    Raises:
        MnistCnnError: there is no such model; it says what to do.

    Example:
        >>> resolve_model("default") == DEFAULT_MODEL
        True
    """
    if model is None:
        return find_model(runs_dir)
    if str(model) == "default":
        if not DEFAULT_MODEL.is_file():
            raise MnistCnnError("this installation has no model shipped with the package")
        return DEFAULT_MODEL
    if Path(model).suffix in runtimes.EXPORTED_SUFFIXES:
        if not Path(model).is_file():
            raise MnistCnnError(f"{model}: no such model file")
        return Path(model)
    return runs.resolve_model_file(model)


def _predictor(model, litert: bool) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """`model`'s batch of inputs -> outputs, and the engine that runs it: LiteRT where
    `litert` asks and it converts, else Keras (or the model's own `engine`)."""
    fast = runtimes.litert_predictor(model) if litert else None
    if fast is not None:
        return fast, "LiteRT"
    return model.predict_on_batch, getattr(model, "engine", "Keras")


def _load_number_model(numbers: str | os.PathLike | None) -> tuple[object, Path | None]:
    """The number model `DigitReader.load` was asked for and its file, or (None, None)."""
    from mnist_cnn.number_reader import NUMBER_MODEL

    if numbers is None or (numbers == "default" and not NUMBER_MODEL.is_file()):
        return None, None
    model_file = runs.resolve_model_file(NUMBER_MODEL if numbers == "default" else numbers)
    model = _shared_model(str(model_file.resolve()), model_file.stat().st_mtime_ns)
    if len(model.output_shape) != 3:
        raise MnistCnnError(f"{model_file} is a digit model; a number model reads strips of digits")
    return model, model_file


def _load_part_model() -> tuple[object, Path | None]:
    """The shipped part model and its file, or (None, None). It learned the cuts of the
    shipped number model, and votes as well on another's: on numbers of validation
    digits read with a number model of another design (`docs/experiments.md`), right
    and sure readings rose with it as with the shipped one."""
    from mnist_cnn.number_reader import PART_MODEL

    if not PART_MODEL.is_file():
        return None, None
    return _shared_model(str(PART_MODEL), PART_MODEL.stat().st_mtime_ns), PART_MODEL


def recorded_temperature(model_file: Path | None) -> float:
    """The temperature training recorded for the model in `model_file`'s run folder
    (`mnist_cnn.calibration`); 1.0 (none) for a loose file or an older run.

    Example:
        >>> recorded_temperature(None)
        1.0
    """
    if model_file is None or model_file.name != runs.MODEL_FILE:
        return 1.0
    return runs.read_metrics(model_file.parent).temperature or 1.0


@functools.lru_cache(maxsize=4)
def _shared_model(path: str, modified: int):
    """A number or part model loaded once per process (and again if its file changes):
    every reader of a process, and a test suite's many readers, share it."""
    return runs.load_model(path)


def find_model(runs_dir: str | os.PathLike = RUNS_DIR) -> Path:
    """The model to read with when none is named.

    Args:
        runs_dir: where `mnist-cnn train` writes its run folders.

    Returns:
        The ``model.keras`` of the newest complete run under `runs_dir` (by the
        model file's modification time): one tested on the test set, neither
        interrupted nor trained with ``--limit`` (`runs.RunSummary.incomplete`).
        Else the model shipped with the package (`DEFAULT_MODEL`).

    Raises:
        MnistCnnError: there is neither; it says how to get a model.

    Example:
        >>> find_model("no-runs-here") == DEFAULT_MODEL
        True
    """
    for run in _digit_runs(runs_dir):
        if run.incomplete is None:
            return run.model_file
    if DEFAULT_MODEL.is_file():
        return DEFAULT_MODEL
    raise MnistCnnError(
        f"no model found: no complete run folder with a {runs.MODEL_FILE} under {runs_dir}/ "
        "and no model shipped with the package; train one with `mnist-cnn train` or pass --model"
    )


def skipped_runs(runs_dir: str | os.PathLike = RUNS_DIR) -> list[runs.RunSummary]:
    """The runs with a model that `find_model` passed over, newest first: those
    newer than the one it chose (all of them when it chose the shipped model).

    Example:
        >>> skipped_runs("no-runs-here")
        []
    """
    skipped = []
    for run in _digit_runs(runs_dir):
        if run.incomplete is None:
            break
        if run.model_file is not None:
            skipped.append(run)
    return skipped


def _digit_runs(runs_dir: str | os.PathLike) -> list[runs.RunSummary]:
    """The runs under `runs_dir`, newest first, but those of number models."""
    from mnist_cnn.models import NUMBER_MODELS

    return [run for run in runs.list_runs(runs_dir) if run.model not in NUMBER_MODELS]


def is_shipped(path: str | os.PathLike) -> bool:
    """Whether `path` (a model file or folder, however spelled, links followed) is a
    model shipped in the package (the digit, number or part model), read-only.

    >>> is_shipped(DEFAULT_MODEL.parent), is_shipped("runs/cnn-20260101-120000")
    (True, False)
    """
    from mnist_cnn.number_reader import NUMBER_MODEL, PART_MODEL

    path = Path(path).resolve()
    folder = path.parent if path.suffix == ".keras" else path
    for shipped in (DEFAULT_MODEL.parent, NUMBER_MODEL.parent, PART_MODEL.parent):
        try:
            if folder.samefile(shipped):
                return True
        except OSError:  # one of them does not exist
            continue
    return False


def model_info(model_file: str | os.PathLike) -> dict:
    """What is known about a model file without loading it (JSON-ready).

    Returns:
        name (the run folder's, else the file's stem), path, test_accuracy (None if
        unknown), source ("package", "run" or "file") and `describe_model`'s
        description.

    Example:
        >>> model_info(DEFAULT_MODEL)["source"]
        'package'
    """
    model_file = Path(model_file)
    run = runs.summarize_run(model_file.parent) if model_file.name == runs.MODEL_FILE else None
    if is_shipped(model_file):
        source = "package"
    elif run is not None and runs.run_dir_of(model_file) is not None:
        source = "run"
    else:
        source = "file"
    info = {
        "name": model_file.parent.name if run is not None else model_file.stem,
        "path": str(model_file),
        "test_accuracy": run.test_accuracy if run is not None else None,
        "source": source,
    }
    info["description"] = describe_model(info, run.incomplete if source == "run" else None)
    return info


def announce_model(info: dict) -> None:
    """Say on stderr which model a command reads with: `model_info`'s description and path.

    >>> announce_model(model_info(DEFAULT_MODEL))  # doctest: +SKIP
    mnist-cnn: model default_model (shipped with the package, 99.48% on the MNIST test set): ...
    """
    print(f"mnist-cnn: model {info['description']}: {info['path']}", file=sys.stderr)


def describe_model(info: dict, incomplete: str | None = None) -> str:
    """One line naming a model: its name, where it comes from, why it is incomplete
    (`runs.RunSummary.incomplete`) and its test accuracy; never its path.

    >>> describe_model({"name": "cnn-1", "source": "run", "test_accuracy": 0.9941})
    'cnn-1 (run folder, 99.41% on the MNIST test set)'
    >>> describe_model({"name": "mine", "source": "file", "test_accuracy": None})
    'mine (model file, test accuracy unknown)'
    """
    source = {"package": "shipped with the package", "run": "run folder", "file": "model file"}
    parts = [source[info["source"]]]
    if incomplete is not None:
        parts.append(incomplete)
    accuracy = info.get("test_accuracy")
    parts.append(
        "test accuracy unknown" if accuracy is None else f"{accuracy:.2%} on the MNIST test set"
    )
    return f"{info['name']} ({', '.join(parts)})"


def validate_pixels(pixels) -> np.ndarray:
    """28x28 numbers 0-255 (nested lists or an array) -> uint8 (28, 28), or a
    `MnistCnnError` saying what is wrong.

    >>> validate_pixels([[0] * 28] * 27)
    Traceback (most recent call last):
    ...
    mnist_cnn.errors.MnistCnnError: pixels must be 28x28, got shape (27, 28)
    """
    try:
        array = np.asarray(pixels)
    except ValueError:
        raise MnistCnnError("pixels must be 28 rows of 28 numbers; the rows differ") from None
    if array.dtype.kind not in "iuf":
        raise MnistCnnError(f"pixels must be numbers 0-255, got {array.dtype.name} values")
    if array.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise MnistCnnError(f"pixels must be 28x28, got shape {array.shape}")
    array = array.astype(np.float64)
    if np.isnan(array).any():
        raise MnistCnnError("pixels must be numbers 0-255, got NaN")
    low, high = array.min(), array.max()
    if low < 0 or high > 255:
        raise MnistCnnError(f"pixels must be 0-255, got values from {low:g} to {high:g}")
    return np.rint(array).astype(np.uint8)
