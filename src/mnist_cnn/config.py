"""Training options as plain data, named presets of them, and option files.

Each option is one field of `TrainConfig`, with its help text (and choices,
where it has them) in the field's metadata: ``mnist-cnn train`` builds its
command-line options from these fields.

>>> TrainConfig(model="original", epochs=3).batch_size
256
>>> TrainConfig.from_preset("fast", epochs=3).model
'fast'
>>> option_help("epochs")
'most epochs'
"""

from __future__ import annotations

import json
import math
import os
import tomllib
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

from mnist_cnn.errors import MnistCnnError

# How sure a reading must be to be "ok", and a digit to be named, unless a `threshold`
# or `--threshold` says otherwise (`mnist_cnn.inference.DigitReader`); what a stricter
# one buys is in docs/benchmarks.md.
THRESHOLD = 0.6
SCHEDULES = ("plateau", "cosine")
PRECISIONS = ("float32", "mixed_bfloat16", "auto")

# Named starting points for `mnist-cnn train --preset NAME`; each changes only
# what differs from the defaults of `TrainConfig`. README's results table measures them.
PRESETS: dict[str, dict] = {
    # fast24 (a strided network without batch norm), 12 epochs of batches of 256 at
    # a high rate, label smoothing, augmentation 0.7, cosine schedule, bfloat16 where
    # the CPU has it: 99.5% after under two minutes of training on 2 cores.
    "default": {},
    # Its smaller sibling, two epochs, no augmentation: 99.1% after under 10 s.
    "fast": {"model": "fast", "epochs": 2, "augment": 0.0},
    # The design and schedule of the shipped model (`mnist_cnn/default_model`): batch
    # norm and dropout, 15 epochs in float32, about 9 minutes on 2 cores. Its models
    # read real handwriting better than the default's (docs/experiments.md).
    "cnn": {
        "model": "cnn",
        "epochs": 15,
        "batch_size": 128,
        "lr": 2e-3,
        "label_smoothing": 0.0,
        "augment": 1.0,
        "precision": "float32",
    },
    # A wider network trained longer, with label smoothing: for the best single model.
    # It runs all 40 epochs (patience = epochs): the cosine schedule decays the rate
    # to zero, so the loss keeps falling to the end, and stopping early on a small
    # validation split mostly stops on noise. That lets the split shrink to 1%
    # (600 images, still enough to pick the checkpoint) and trains on 5,400 more.
    # bfloat16 makes its epochs 2.3x faster on AVX512_BF16 cores, at no cost in
    # accuracy; on CPUs without it, "auto" trains in float32.
    # Augmentation 0.7 rather than 1.0, and `wide` at 48/96/192 channels rather than
    # 32/64/128, each gave a lower validation loss on every seed tried (README, "What helped").
    "best": {
        "model": "wide",
        "epochs": 40,
        "batch_size": 128,
        "lr": 2e-3,
        "patience": 40,
        "val_fraction": 0.01,
    },
    # The number model: whole numbers of 1-8 digits composed from the training digits
    # (`mnist_cnn.numbers`), new ones every epoch, read by a CTC network. The numbers
    # carry their own variety (slant, size, stroke, spacing), so no image augmentation
    # (for a number model, --augment sends a share of them through the image pipeline).
    "numbers": {
        "model": "numbers",
        "epochs": 16,
        "batch_size": 64,
        "lr": 3e-3,
        "augment": 0.0,
        "patience": 4,
    },
    # The part model (`mnist_cnn/part_model`): the shipped digit model fine-tuned on
    # digits as the reader cuts them out of touching ones (`mnist_cnn.numbers.cut_parts`),
    # with as many training digits again, for its vote on such parts.
    "parts": {
        "model": "cnn",
        "epochs": 4,
        "batch_size": 128,
        "lr": 3e-4,
        "label_smoothing": 0.0,
        "augment": 1.0,
        "precision": "float32",
        "init": "default",
        "parts": 6_000,
    },
}


def option(default, help: str, choices: typing.Iterable[str] | None = None):
    """A `TrainConfig` field: its default, its help text and its allowed values."""
    metadata = {"help": help} | ({"choices": tuple(choices)} if choices is not None else {})
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Every option of a training run; saved as the run's ``config.json``.

    The defaults are the ``default`` preset; `PRESETS` holds the others.
    """

    preset: str = option(
        "default", "a named set of the options below; `mnist-cnn models` lists them", PRESETS
    )
    model: str = option("fast24", "architecture, see `mnist-cnn models`")
    epochs: int = option(12, "most epochs")
    batch_size: int = option(256, "images per training step")
    lr: float = option(0.012, "Adam's (peak) learning rate")
    schedule: str = option(
        "cosine",
        "learning rate: cosine warms up, then decays it along a cosine; "
        "plateau keeps it constant and cuts it when the validation loss stalls",
        SCHEDULES,
    )
    augment: float = option(
        0.7,
        "strength of random rotation (10 degrees), shift and zoom (10%) per unit; 0 turns it "
        "off. Number models: the share of numbers drawn as a photo or an image and found "
        "again by the image pipeline",
    )
    label_smoothing: float = option(0.1, "for the categorical crossentropy")
    ema: float = option(
        0.0,
        "validate and save an exponential moving average of the weights with this "
        "momentum, e.g. 0.999; 0 turns it off",
    )
    precision: str = option(
        "auto",
        "mixed_bfloat16 computes in bfloat16, faster on CPUs with bfloat16 instructions "
        "(AVX512_BF16, AMX) and slower elsewhere, where it is emulated; auto uses it only "
        "where they exist",
        PRECISIONS,
    )
    patience: int = option(5, "stop after this many epochs without a better validation loss")
    seed: int = option(0, "fixes the split, the initial weights, the order and the augmentation")
    val_fraction: float = option(0.1, "share of the training set held out for validation")
    limit: int | None = option(
        None,
        "train on only this many images, and validate on the same share of the validation "
        "split, for quick runs (default: all)",
    )
    numbers: int = option(
        40_000,
        "number models only: numbers composed from the training digits in each epoch, "
        "new ones every epoch (the validation digits make a tenth as many, fixed)",
    )
    parts: int = option(
        0,
        "digit models only: numbers of touching digits composed from the training digits "
        "and read by the shipped reader, whose parts cut between digits join the training "
        "digits (a tenth as many from the validation digits join those); 0: none",
    )
    init: str | None = option(
        None,
        "start from the weights of this model (a run folder, .keras file, or 'default': the "
        "shipped digit model) of the same architecture, to fine-tune it (default: new weights)",
    )
    name: str | None = option(
        None, "run folder name (default: <model>-<date>-<time>); an existing one is never reused"
    )
    runs_dir: str = option("runs", "where run folders go")
    data_dir: str | None = option(
        None,
        "folder with the four MNIST IDX files "
        "(default: $MNIST_DATA_DIR, else the Keras cache, else a download)",
    )
    tensorboard: bool = option(False, "also write TensorBoard logs to the run folder")
    report: bool = option(False, "end by writing report.pdf and report.html")

    @classmethod
    def from_preset(cls, preset: str = "default", **overrides) -> TrainConfig:
        """The preset's values, then `overrides` (explicit options win)."""
        if preset not in PRESETS:
            raise MnistCnnError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
        return cls(**(PRESETS[preset] | overrides | {"preset": preset}))

    def check(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise MnistCnnError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.lr < math.inf:  # NaN fails both
            raise MnistCnnError(f"learning rate must be a positive number, got {self.lr}")
        if not 0 <= self.seed < 2**32:
            raise MnistCnnError(f"seed must be in [0, 2**32), got {self.seed}")
        if not 0 <= self.label_smoothing < 1:
            raise MnistCnnError(f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.ema < 1:
            raise MnistCnnError(f"ema momentum must be in [0, 1), got {self.ema}")
        if not 0 <= self.augment <= 3:
            raise MnistCnnError(f"augment strength must be in [0, 3], got {self.augment}")
        if self.schedule not in SCHEDULES:
            raise MnistCnnError(
                f"unknown schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}"
            )
        if self.precision not in PRECISIONS:
            raise MnistCnnError(
                f"unknown precision {self.precision!r}; choose one of: {', '.join(PRECISIONS)}"
            )
        if not 0 < self.val_fraction < 1:
            raise MnistCnnError(
                f"validation fraction must be between 0 and 1, got {self.val_fraction}"
            )
        if self.numbers < 10:
            raise MnistCnnError(f"numbers must be at least 10, got {self.numbers}")
        if self.parts < 0:
            raise MnistCnnError(f"parts must be at least 0, got {self.parts}")
        if self.limit is not None and self.limit < 1:
            raise MnistCnnError(f"limit must be at least 1, got {self.limit}")


def option_help(name: str) -> str:
    """The help text of the `TrainConfig` option `name`."""
    return TrainConfig.__dataclass_fields__[name].metadata["help"]


def option_type(name: str) -> type:
    """The type of the `TrainConfig` option `name`, without its ``| None``.

    >>> option_type("limit"), option_type("lr")
    (<class 'int'>, <class 'float'>)
    """
    hint = typing.get_type_hints(TrainConfig)[name]
    return next((t for t in typing.get_args(hint) if t is not type(None)), hint)


def describe_presets() -> str:
    """One line per preset: what it changes from the defaults (for the defaults
    themselves, the options the other presets change)."""
    defaults = TrainConfig()
    changed = dict.fromkeys(key for values in PRESETS.values() for key in values)
    lines = []
    for name, values in PRESETS.items():
        values = values or {key: getattr(defaults, key) for key in changed}
        lines.append(f"{name:<10}" + ", ".join(f"{k}={v}" for k, v in values.items()))
    return "\n".join(lines)


# -- Option files: `mnist-cnn train --config FILE`. ----------------------------------------------


def read_options(path: str | os.PathLike) -> dict:
    """The training options in a TOML or JSON file, checked against `TrainConfig`.

    The file holds options by their field names (``batch_size = 64``). A run
    folder's ``config.json`` works too: its recorded options are used, without
    the run's name (a rerun gets a new folder) and without its other entries
    (data source, library versions).

    Args:
        path: a ``.toml`` or ``.json`` file.

    Returns:
        The options it sets, for `TrainConfig.from_preset`.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     file = Path(folder) / "quick.toml"
        ...     _ = file.write_text('preset = "fast"\\nepochs = 1\\n')
        ...     read_options(file)
        {'preset': 'fast', 'epochs': 1}
    """
    path = Path(path)
    options = parse_file(path)
    recorded = options.get("config")
    if isinstance(recorded, dict):  # a run folder's config.json
        options = {k: v for k, v in recorded.items() if k != "name"}
    known = [f.name for f in fields(TrainConfig)]
    for key in options:
        if key not in known:
            raise MnistCnnError(
                f"{path}: unknown option {key!r}; known options: {', '.join(known)}"
            )
    return {key: checked_option(path, key, value) for key, value in options.items()}


def parse_file(path: Path) -> dict:
    """The object in a TOML or JSON file, or a one-line error."""
    if path.suffix not in (".toml", ".json"):
        raise MnistCnnError(f"{path}: an options file must be .toml or .json")
    try:
        text = path.read_text()
        options = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except FileNotFoundError:
        raise MnistCnnError(f"{path}: no such options file") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise MnistCnnError(f"{path}: not valid {path.suffix[1:].upper()} ({e})") from None
    if not isinstance(options, dict):
        raise MnistCnnError(f"{path}: expected options by name, found {type(options).__name__}")
    return options


def checked_option(path: Path, key: str, value):
    """`value` if it suits the option `key` (an int also serves as a float), else an error."""
    kind = option_type(key)
    if value is None and TrainConfig.__dataclass_fields__[key].default is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise MnistCnnError(f"{path}: {key} must be {kind.__name__}, got {value!r}")
