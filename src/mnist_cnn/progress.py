"""A training run's progress: one bar over all its epochs, and a line per epoch.

Keras' own bar starts again every epoch and, when a call runs several steps
(``steps_per_execution``), can count past the epoch's end ("32/24 ... -1s"). A
user wants to know how far the whole run is and when it will end, so `RunProgress`
draws one bar over every step of every epoch, with the time spent, the time left
and the running metrics, and writes a line with the epoch's metrics as each epoch
ends. Where the output is not a terminal (a log file, CI) it writes only those
lines.

>>> import io
>>> out = io.StringIO()
>>> progress = RunProgress(epochs=2, steps=10, bar=False, out=out)
>>> progress.on_train_begin()
>>> progress.on_epoch_begin(0); progress.on_train_batch_end(13, {"loss": 0.5})
>>> progress.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.4})
>>> print(out.getvalue().split(" - ")[0])
epoch 1/2 [10/20 steps, 50%]
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from mnist_cnn.backend import keras

WIDTH = 30  # characters of the bar
INTERVAL = 0.1  # seconds between redraws of the bar


class RunProgress(keras.callbacks.Callback):
    """One progress bar over all `epochs` of `steps` each, and a line per epoch.

    Args:
        epochs: the epochs the run trains for (a resumed run: all of them, done
            ones included).
        steps: training steps per epoch.
        bar: draw the bar (on a terminal); else only a line per epoch.
        out: where to write (default: standard output).
    """

    def __init__(self, epochs: int, steps: int, bar: bool | None = None, out: TextIO | None = None):
        super().__init__()
        self.epochs, self.steps = epochs, steps
        self.out = out or sys.stdout
        self.bar = self.out.isatty() if bar is None else bar
        self.epoch = 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.first = None  # the step this process began at (a resumed run: not 0)
        self.drawn = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if self.first is None:
            self.first = epoch * self.steps

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self.bar and now - self.drawn >= INTERVAL:
            self.drawn = now
            self._write("\r" + self._status(min(batch + 1, self.steps), logs) + "\x1b[K")

    def on_epoch_end(self, epoch, logs=None):
        line = self._status(self.steps, logs)
        self._write(("\r" if self.bar else "") + line + ("\x1b[K" if self.bar else "") + "\n")

    def _status(self, step: int, logs: dict | None) -> str:
        """Where the run is after `step` of the current epoch: the bar or the counts,
        the time spent and left, and `logs`' metrics."""
        done, total = self.epoch * self.steps + step, self.epochs * self.steps
        elapsed = time.perf_counter() - self.start
        rate = (done - (self.first or 0)) / elapsed if elapsed > 0 else 0.0
        left = (total - done) / rate if rate > 0 else None
        if self.bar:
            filled = round(WIDTH * done / total)
            where = f"[{'=' * filled}{'.' * (WIDTH - filled)}] {done / total:4.0%}"
        else:
            where = f"[{done}/{total} steps, {done / total:.0%}]"
        eta = "?" if left is None else _clock(left)
        metrics = " ".join(f"{name} {_number(value)}" for name, value in (logs or {}).items())
        return (
            f"epoch {self.epoch + 1}/{self.epochs} {where} - {_clock(elapsed)} elapsed, "
            f"ETA {eta} - {metrics}"
        )

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


def _clock(seconds: float) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour on.

    >>> _clock(75.4), _clock(3725)
    ('1:15', '1:02:05')
    """
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _number(value) -> str:
    """A metric for a line: 4 significant digits (a learning rate of 3e-05 too)."""
    return f"{float(value):.4g}"
