"""The command line: help, listings and every user-error path (one line, exit 1,
no traceback)."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from mnist_cnn.cli import main


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "mnist_cnn.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(capsys, code, *fragments):
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("mnist-cnn: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def test_help_lists_every_command():
    out = run_cli("--help").stdout
    for command in ("data", "models", "train", "evaluate"):
        assert command in out


def test_train_help_shows_defaults(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "--val-fraction" in out and "default: 0.1" in out and "--runs-dir" in out


def test_models_lists_registry_without_tensorflow_noise():
    result = run_cli("models")
    assert result.returncode == 0
    assert "seed" in result.stdout and "cnn" in result.stdout and "MACs" in result.stdout
    assert result.stderr == ""


@pytest.mark.slow
def test_data_prints_statistics_and_writes_figures(tmp_path, capsys, mnist_dir):
    assert main(["data", "--data-dir", str(mnist_dir), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "54000x28x28" in out and "validation" in out
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {
        "samples.png",
        "class_distribution.png",
        "mean_images.png",
        "pixel_histogram.png",
    }
    assert all((tmp_path / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names)


def test_data_with_missing_folder(capsys, tmp_path):
    code = main(["data", "--data-dir", str(tmp_path / "absent")])
    assert_one_line_error(capsys, code, "does not exist")


@pytest.mark.slow
def test_data_with_corrupt_file(capsys, tmp_path, mnist_dir):
    for name in os.listdir(mnist_dir):
        if name.endswith(".gz"):
            (tmp_path / name).write_bytes((mnist_dir / name).read_bytes())
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"garbage")
    code = main(["data", "--data-dir", str(tmp_path)])
    assert_one_line_error(capsys, code, "t10k-images-idx3-ubyte.gz", "cannot read or decompress")


def test_evaluate_missing_path(capsys, tmp_path):
    code = main(["evaluate", str(tmp_path / "no-such-run")])
    assert_one_line_error(capsys, code, "no such run folder or model file")


def test_evaluate_folder_without_model(capsys, tmp_path):
    assert_one_line_error(capsys, main(["evaluate", str(tmp_path)]), "has no model.keras")


def test_evaluate_corrupt_model_file(capsys, tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"not a zip archive")
    assert_one_line_error(capsys, main(["evaluate", str(bad)]), "not a Keras model")
    with zipfile.ZipFile(bad, "w") as archive:  # a zip archive, but no Keras model
        archive.writestr("notes.txt", "hello")
    assert_one_line_error(capsys, main(["evaluate", str(bad)]), "cannot load the model")


@pytest.mark.parametrize("shapes", [((32, 32, 3), 10), ((28, 28, 1), 3)])
def test_evaluate_and_ensemble_refuse_a_model_for_other_data(capsys, tmp_path, shapes):
    from mnist_cnn.backend import keras

    (shape, classes), other = shapes, tmp_path / "other.keras"
    layers = [keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(classes)]
    keras.Sequential(layers).save(other)
    expected = "expected a 28x28x1 MNIST input and 10 class probabilities"
    assert_one_line_error(capsys, main(["evaluate", str(other)]), expected)
    shutil.copy(other, tmp_path / "copy.keras")
    members = [str(other), str(tmp_path / "copy.keras")]
    code = main(["ensemble", *members, "--runs-dir", str(tmp_path / "runs")])
    assert_one_line_error(capsys, code, expected)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--model", "nope"], "unknown model 'nope'"),
        (["--epochs", "0"], "epochs must be at least 1"),
        (["--lr", "-1"], "learning rate must be a positive number"),
        (["--lr", "nan"], "learning rate must be a positive number, got nan"),
        (["--seed", "-1"], "seed must be in [0, 2**32)"),
        (["--val-fraction", "1.5"], "between 0 and 1"),
        (["--val-fraction", "0.0001"], "each side of the split needs at least 10"),
        (["--name", "../escape"], "plain folder name"),
    ],
)
def test_train_rejects_bad_options(capsys, tmp_path, args, fragment, fake_mnist_dir):
    code = main(["train", "--runs-dir", str(tmp_path), *args])
    assert_one_line_error(capsys, code, fragment)


def test_train_never_overwrites_a_run(capsys, tmp_path, fake_mnist_dir):
    (tmp_path / "mine").mkdir()
    code = main(["train", "--runs-dir", str(tmp_path), "--name", "mine"])
    assert_one_line_error(capsys, code, "already exists")


def test_bad_option_value_is_a_usage_error():
    result = run_cli("train", "--epochs", "many")
    assert result.returncode == 2 and "invalid int value" in result.stderr


def test_full_disk_is_one_line_and_leaves_no_partial_file(
    capsys, tmp_path, monkeypatch, model_file, fake_mnist_dir
):
    import errno
    from pathlib import Path

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", disk_full)
    code = main(["evaluate", str(model_file), "--out", str(tmp_path / "out")])
    assert_one_line_error(capsys, code, "No space left on device")
    assert [p.name for p in (tmp_path / "out").iterdir()] == []  # no temporary leftovers
