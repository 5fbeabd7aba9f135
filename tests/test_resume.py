"""Resuming a stopped run: ``mnist-cnn train --resume RUN`` continues from the backup of
its last epoch, with its recorded options, to a complete run folder."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from mnist_cnn import runs, training
from mnist_cnn.cli import main
from mnist_cnn.config import TrainConfig

HEADER = "accuracy,epoch,learning_rate,loss,val_accuracy,val_loss\n"


def stopped_run(folder, epochs_done: int, history_rows: int):
    """A run folder as a killed training leaves it: config.json, history.csv with
    `history_rows` epochs and a backup saying `epochs_done` epochs were done."""
    folder.mkdir()
    config = TrainConfig(model="original", epochs=3, limit=3000, name=folder.name)
    runs.write_json(folder / runs.CONFIG_FILE, {"config": config.__dict__})
    val_losses = [0.5, 0.3, 0.4, 0.2][:history_rows]
    rows = [f"0.9,{i},0.001,0.4,0.9,{loss}\n" for i, loss in enumerate(val_losses)]
    (folder / runs.HISTORY_FILE).write_text(HEADER + "".join(rows))
    backup = folder / training.BACKUP_DIR
    backup.mkdir()
    (backup / training.BACKUP_EPOCH_FILE).write_text(json.dumps({"epoch": epochs_done}))
    return folder


@pytest.fixture
def trained(monkeypatch):
    """What `mnist-cnn train` would train, as (config, resume), instead of training it."""
    calls = []
    monkeypatch.setattr(
        training, "train", lambda config, resume=None: calls.append((config, resume))
    )
    return calls


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("mnist-cnn: error: ") and err.count("\n") == 1, err
    return err


def test_resume_continues_with_the_recorded_options(tmp_path, trained):
    run = stopped_run(tmp_path / "r", epochs_done=1, history_rows=1)
    assert main(["train", "--resume", str(run), "--data-dir", "/data/mnist"]) == 0
    ((config, resume),) = trained
    assert resume == str(run)
    assert (config.model, config.epochs, config.limit) == ("original", 3, 3000)
    assert (config.name, config.runs_dir) == ("r", str(tmp_path))  # the same folder
    assert config.data_dir == "/data/mnist"  # where the files are may change


def test_a_fine_tuned_run_resumes_from_its_backup_not_from_the_model_it_started_from(
    tmp_path, trained
):
    run = stopped_run(tmp_path / "r", epochs_done=1, history_rows=1)
    recorded = json.loads((run / runs.CONFIG_FILE).read_text())
    recorded["config"]["init"] = str(tmp_path / "gone.keras")
    runs.write_json(run / runs.CONFIG_FILE, recorded)
    assert main(["train", "--resume", str(run)]) == 0
    ((config, _),) = trained
    assert config.init is None and config.model == "original"
    assert json.loads((run / runs.CONFIG_FILE).read_text())["config"]["init"].endswith("gone.keras")


@pytest.mark.parametrize(
    "setup, fragment",
    [
        ("missing", "no such run folder"),
        ("no config", "not a run folder (it has no config.json)"),
        ("complete", "is complete (15 epochs, test accuracy 99."),
        ("no backup", "has no backup to resume from"),
    ],
)
def test_resume_refuses_what_cannot_be_resumed(
    tmp_path, capsys, trained, shipped_model_dir, setup, fragment
):
    run = tmp_path / "r"
    if setup == "no config":
        run.mkdir()
    elif setup == "complete":
        shutil.copytree(shipped_model_dir, run)
    elif setup == "no backup":
        stopped_run(run, 1, 1)
        shutil.rmtree(run / training.BACKUP_DIR)
    assert main(["train", "--resume", str(run)]) == 1
    assert fragment in error_line(capsys)
    assert trained == []


def test_resume_takes_no_other_training_options(tmp_path, capsys, trained):
    run = stopped_run(tmp_path / "r", 1, 1)
    assert main(["train", "--resume", str(run), "--epochs", "5", "--lr", "0.1"]) == 1
    assert "leave out --epochs, --lr" in error_line(capsys)
    assert main(["train", "--resume", str(run), "--config", "x.toml"]) == 1
    assert "leave out --config" in error_line(capsys)
    assert trained == []


def test_restore_progress_drops_epochs_after_the_backup_and_keeps_the_best(tmp_path):
    # Killed after history.csv got epoch 3's row but before the backup of epoch 3.
    run = stopped_run(tmp_path / "r", epochs_done=2, history_rows=3)
    callbacks = training.make_callbacks(TrainConfig(ema=0.99), run)
    assert training.restore_progress(run, callbacks) == 2
    assert runs.read_history(run)["epoch"] == [1, 2]
    checkpoint = callbacks["checkpoint"]
    assert (checkpoint.best, checkpoint.best_epoch) == (0.3, 2)  # not epoch 3's 0.4
    assert callbacks["swap_ema_weights"]._ema_weights_in_model  # the backup holds the average


def test_the_backup_comes_after_the_history_and_the_history_appends(tmp_path):
    callbacks = training.make_callbacks(TrainConfig(), tmp_path)
    names = list(callbacks)
    assert names.index("backup") > names.index("history") > names.index("checkpoint")
    assert callbacks["history"].append
    assert callbacks["backup"].backup_dir == str(tmp_path / training.BACKUP_DIR)
    assert not callbacks["backup"].delete_checkpoint  # kept when a run stops


@pytest.mark.slow  # trains on real MNIST in a process it kills, then resumes it
def test_a_run_killed_mid_epoch_resumes_to_a_complete_run_folder(tmp_path, mnist_dir):
    run = tmp_path / "runs" / "killed"
    command = [sys.executable, "-m", "mnist_cnn.cli", "train", "--model", "original"]
    command += ["--epochs", "3", "--limit", "3000", "--name", "killed"]
    command += ["--runs-dir", str(tmp_path / "runs"), "--data-dir", str(mnist_dir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (run / training.BACKUP_DIR / training.BACKUP_EPOCH_FILE).is_file():
            assert process.poll() is None and time.monotonic() < deadline, "no epoch ended"
            time.sleep(0.05)
        time.sleep(0.5)  # into epoch 2
    finally:
        os.kill(process.pid, signal.SIGKILL)  # mid-epoch 2, no chance to clean up
        process.wait()
    assert runs.read_history(run)["epoch"] in ([1], [1, 2])
    assert runs.read_metrics(run).test_accuracy is None  # not tested: incomplete
    assert (run / training.BACKUP_DIR / training.BACKUP_EPOCH_FILE).is_file()

    assert main(["train", "--resume", str(run), "--data-dir", str(mnist_dir)]) == 0
    history = runs.read_history(run)
    assert history["epoch"] == [1, 2, 3]  # continued, not restarted
    # The optimizer state came back: the cosine schedule goes on falling.
    rates = history["learning_rate"]
    assert rates[0] > rates[1] > rates[2]
    metrics = runs.read_metrics(run)
    assert metrics.epochs_run == 3 and not metrics.interrupted
    assert metrics.test_accuracy > 0.85 and 1 <= metrics.best_epoch <= 3
    assert not (run / training.BACKUP_DIR).exists()  # complete: nothing left to resume
    assert runs.load_model(run).count_params() > 0
