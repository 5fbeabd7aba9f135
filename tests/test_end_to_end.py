"""Real runs on real MNIST through the command line: train, evaluate, interrupt."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mnist_cnn import models, runs
from mnist_cnn.cli import main

pytestmark = pytest.mark.slow


def test_train_then_evaluate_on_real_mnist(tmp_path, capsys):
    code = main(
        [
            "train",
            "--model",
            "cnn",
            "--limit",
            "6000",
            "--epochs",
            "3",
            "--runs-dir",
            str(tmp_path),
            "--name",
            "e2e",
        ]
    )
    assert code == 0
    run = tmp_path / "e2e"
    assert {p.name for p in run.iterdir()} == {
        "config.json",
        "model.keras",
        "history.csv",
        "metrics.json",
        "confusion_matrix.json",
        "figures",
    }
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["model"] == "cnn" and config["config"]["limit"] == 6000
    assert config["versions"]["keras_backend"] == "tensorflow"
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and {"accuracy", "val_accuracy", "learning_rate"} <= rows[0].keys()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.9  # chance is 0.1
    # Also read as `predict` reads, with turned views: a separate count of errors.
    turned, turned_errors = metrics["test_accuracy_tta"], metrics["test_errors_tta"]
    assert turned > 0.9 and turned_errors == round((1 - turned) * 10000)
    assert metrics["epochs_run"] == 3 and 1 <= metrics["best_epoch"] <= 3
    assert metrics["params"] == models.build("cnn").count_params() and metrics["train_seconds"] > 0
    assert sum(c["support"] for c in metrics["per_class"].values()) == 10000
    matrix = np.array(json.loads((run / "confusion_matrix.json").read_text())["matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 10000
    assert np.trace(matrix) == round(metrics["test_accuracy"] * 10000)
    figures = {p.name for p in (run / "figures").iterdir()}
    assert figures == {"learning_curves.png", "confusion_matrix.png", "confident_mistakes.png"}
    capsys.readouterr()

    # Evaluating the saved checkpoint again gives the same figures.
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"test accuracy {metrics['test_accuracy']:.2%}" in out
    assert f"{turned:.2%} ({turned_errors} errors)" in out
    # A loose model file evaluates without writing anything beside it.
    loose = tmp_path / "loose.keras"
    loose.write_bytes((run / "model.keras").read_bytes())
    assert main(["evaluate", str(loose)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e2e", "loose.keras"]


def start_training(tmp_path, *options: str) -> subprocess.Popen:
    """`mnist-cnn train` of the original network on 3,000 images, in a process of its
    own (for Ctrl-C), into the run folder ``tmp_path / "stopped"``."""
    command = [sys.executable, "-m", "mnist_cnn.cli", "train", "--model", "original"]
    command += ["--limit", "3000", "--batch-size", "32", *options]
    command += ["--runs-dir", str(tmp_path), "--name", "stopped"]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_ctrl_c_keeps_the_best_checkpoint_usable(tmp_path):
    proc = start_training(tmp_path, "--epochs", "200", "--patience", "200")
    run = tmp_path / "stopped"
    deadline = time.monotonic() + 120
    while not (run / "model.keras").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # land somewhere inside a later epoch
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Interrupted" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["best_epoch"] >= 1
    model = runs.load_model(run)
    assert model.count_params() == 34826
    assert not list(run.glob(".checkpoint-*")) and not list(run.glob(".model.*"))


def test_two_ctrl_c_in_the_first_epoch_exit_130_and_leave_nothing(tmp_path):
    """The second Ctrl-C lands before the first checkpoint: nothing to keep, still 130."""
    # A long validation at the end of epoch 1 (2,700 images, after 300 to train on): the
    # presses land before it ends, however fast the machine.
    proc = start_training(tmp_path, "--val-fraction", "0.9")
    run = tmp_path / "stopped"
    deadline = time.monotonic() + 120
    while not (run / "history.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the history is opened as training begins
    proc.send_signal(signal.SIGINT)
    # The second press only once the first is handled: two signals that arrive while
    # TensorFlow holds the main thread are handled as one.
    said = ""
    while "Ctrl-C again" not in said and proc.poll() is None:
        said = proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Stopping after this step" in said  # the first press, said at once
    assert "Traceback" not in err and "nothing was saved" in out
    assert not run.exists()


def test_a_short_number_model_training_reads_digits_better_than_chance(tmp_path, capsys):
    """The number model's preset trained briefly on composed numbers (new ones every
    epoch) into an ordinary run folder: it already reads a fair share of the test
    numbers' digits, where an untrained one reads none."""
    args = ["train", "--preset", "numbers", "--numbers", "16000", "--epochs", "2"]
    assert main([*args, "--runs-dir", str(tmp_path), "--name", "numbers"]) == 0
    run = tmp_path / "numbers"
    assert {"config.json", "model.keras", "history.csv", "metrics.json"} <= {
        p.name for p in run.iterdir()
    }
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and float(rows[-1]["loss"]) < float(rows[0]["loss"])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == "numbers" and metrics["test_digit_accuracy"] > 0.3
    assert "Test numbers read right" in capsys.readouterr().out
