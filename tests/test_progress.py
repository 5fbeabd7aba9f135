"""The run's progress: one bar over all epochs that never counts past the end."""

import io
import re

from mnist_cnn.progress import RunProgress


def fit_tiny(progress: RunProgress, epochs: int = 3, steps: int = 10, per_call: int = 4):
    """Call `progress` as `keras.Model.fit` does for `epochs` of `steps`, running
    `per_call` steps per call (``steps_per_execution``): it reports the last step of
    each call, past the epoch's end in the last one (what made Keras' own bar overshoot)."""
    progress.on_train_begin()
    for epoch in range(epochs):
        progress.on_epoch_begin(epoch)
        for last in range(per_call - 1, steps + per_call - 1, per_call):
            progress.on_train_batch_end(last, {"loss": 1.0 / (last + 1)})
        progress.on_epoch_end(epoch, {"loss": 0.1, "val_loss": 0.2})


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_line_per_epoch_where_the_output_is_no_terminal():
    out = io.StringIO()
    fit_tiny(RunProgress(epochs=3, steps=10, out=out))
    lines = out.getvalue().splitlines()
    assert [line.split(" [")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "[30/30 steps, 100%]" in lines[-1] and "\r" not in out.getvalue()
    assert all("elapsed, ETA" in line and "loss" in line for line in lines)


def test_one_bar_over_all_epochs_that_never_passes_its_end(monkeypatch):
    monkeypatch.setattr("mnist_cnn.progress.INTERVAL", 0.0)  # draw at every call
    out = Terminal()
    fit_tiny(RunProgress(epochs=3, steps=10, out=out))
    shares = [int(share) for share in re.findall(r"\]\s+(\d+)%", out.getvalue())]
    assert shares == sorted(shares) and shares[-1] == 100 and max(shares) <= 100
    assert out.getvalue().count("\n") == 3  # the bar is redrawn in place, a line per epoch
    assert "-" not in re.findall(r"ETA ([^ ]+)", out.getvalue())[-1]


def test_a_resumed_run_counts_its_done_epochs_and_times_only_its_own():
    out = io.StringIO()
    progress = RunProgress(epochs=4, steps=10, out=out)
    progress.on_train_begin()
    progress.on_epoch_begin(2)  # epochs 1-2 were done before
    progress.on_train_batch_end(4, {"loss": 1.0})
    progress.on_epoch_end(2, {"loss": 1.0})
    assert out.getvalue().startswith("epoch 3/4 [30/40 steps, 75%]")
