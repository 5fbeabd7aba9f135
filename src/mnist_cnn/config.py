"""Training options as plain data, and named presets of them.

>>> TrainConfig(model="seed", epochs=3).batch_size
128
>>> TrainConfig.from_preset("fast", epochs=3).model
'fast'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mnist_cnn.errors import MnistCnnError

SCHEDULES = ("plateau", "cosine")
PRECISIONS = ("float32", "mixed_bfloat16", "auto")


@dataclass
class TrainConfig:
    """Every option of a training run; saved as the run's ``config.json``.

    The defaults are the ``default`` preset; `PRESETS` holds the others.
    """

    preset: str = "default"
    model: str = "cnn"
    epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-3  # the peak rate, for the cosine schedule
    label_smoothing: float = 0.0
    augment: float = 1.0  # strength of random rotation, shift and zoom; 0 = off
    schedule: str = "cosine"  # "cosine": warm up, then decay; "plateau": cut when stuck
    patience: int = 5  # epochs without a better val_loss before stopping
    # Momentum of an exponential moving average of the weights (e.g. 0.999), which
    # validation, checkpoints and the saved model then use; 0 = plain weights.
    ema: float = 0.0
    # "mixed_bfloat16": compute in bfloat16, keep weights in float32. Pays off on
    # CPUs with bfloat16 instructions (AVX512_BF16, AMX); elsewhere it is emulated
    # and slow, so "auto" uses it only where those instructions exist.
    precision: str = "float32"
    seed: int = 0
    val_fraction: float = 0.1
    limit: int | None = None  # use only this many training images
    name: str | None = None
    runs_dir: str = "runs"
    data_dir: str | None = None
    tensorboard: bool = False
    report: bool = False  # write report.pdf and report.html at the end

    @classmethod
    def from_preset(cls, preset: str = "default", **overrides) -> TrainConfig:
        """The preset's values, then `overrides` (explicit options win)."""
        if preset not in PRESETS:
            raise MnistCnnError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
        return cls(**(PRESETS[preset] | overrides | {"preset": preset}))

    def check(self) -> None:
        for field in ("epochs", "batch_size", "patience"):
            if getattr(self, field) < 1:
                raise MnistCnnError(f"{field} must be at least 1, got {getattr(self, field)}")
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
        if self.limit is not None and self.limit < 1:
            raise MnistCnnError(f"limit must be at least 1, got {self.limit}")


# Named starting points for `mnist-cnn train --preset NAME`; each changes only
# what differs from the defaults above. README's results table measures them.
PRESETS: dict[str, dict] = {
    # cnn, 15 epochs, augmentation, cosine schedule: >= 99.4% in under 10 minutes.
    "default": {},
    # A small strided network without batch norm, two epochs of large batches at a
    # high rate in bfloat16 (where the CPU has it), no augmentation: 99.1% after
    # under 10 s on 2 cores with bfloat16 instructions.
    "fast": {
        "model": "fast",
        "epochs": 2,
        "batch_size": 256,
        "lr": 0.012,
        "label_smoothing": 0.1,
        "augment": 0.0,
        "precision": "auto",
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
        "label_smoothing": 0.1,
        "augment": 0.7,
        "patience": 40,
        "val_fraction": 0.01,
        "precision": "auto",
    },
}


def describe_presets() -> str:
    """One line per preset: what it changes from the defaults."""
    lines = []
    for name, values in PRESETS.items():
        changes = ", ".join(f"{k}={v}" for k, v in values.items()) or "the defaults"
        lines.append(f"{name:<10}{changes}")
    return "\n".join(lines)
