"""Training options as plain data.

>>> TrainConfig(model="seed", epochs=3).batch_size
128
"""

from __future__ import annotations

from dataclasses import dataclass

from mnist_cnn.errors import MnistCnnError


@dataclass
class TrainConfig:
    """Every option of a training run; saved as the run's ``config.json``."""

    model: str = "cnn"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    label_smoothing: float = 0.0
    patience: int = 5  # epochs without a better val_accuracy before stopping
    seed: int = 0
    val_fraction: float = 0.1
    limit: int | None = None  # use only this many training images
    name: str | None = None
    runs_dir: str = "runs"
    data_dir: str | None = None
    tensorboard: bool = False

    def check(self) -> None:
        for field in ("epochs", "batch_size", "patience"):
            if getattr(self, field) < 1:
                raise MnistCnnError(f"{field} must be at least 1, got {getattr(self, field)}")
        if self.lr <= 0:
            raise MnistCnnError(f"learning rate must be positive, got {self.lr}")
        if not 0 <= self.label_smoothing < 1:
            raise MnistCnnError(f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 < self.val_fraction < 1:
            raise MnistCnnError(
                f"validation fraction must be between 0 and 1, got {self.val_fraction}"
            )
        if self.limit is not None and self.limit < 1:
            raise MnistCnnError(f"limit must be at least 1, got {self.limit}")
