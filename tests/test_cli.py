"""The command line: help, listings, option files and every user-error path (one
line, exit 1, no traceback)."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from mnist_cnn.cli import main
from mnist_cnn.config import TrainConfig, option_help, read_options


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
    if err.startswith("mnist-cnn: model "):  # which model was read, before the error
        err = err.split("\n", 1)[1]
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


def test_train_has_one_option_per_config_field_with_its_help(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # unwrapped
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        assert f"{flag} " in text or f"{flag}," in text, flag
        assert " ".join(option_help(field.name).split()) in text, field.name
    assert "--batch-size BATCH_SIZE images per training step (default: 256)" in text
    assert "--schedule {plateau,cosine}" in text and "--tensorboard, --no-tensorboard" in text
    assert "--config FILE" in text


@pytest.mark.slow  # a new process that imports TensorFlow
def test_models_lists_registry_without_tensorflow_noise():
    result = run_cli("models")
    assert result.returncode == 0
    assert "original" in result.stdout and "cnn" in result.stdout and "MACs" in result.stdout
    assert "seed " not in result.stdout  # the former name works, but is not listed
    assert result.stderr == ""


@pytest.mark.slow  # draws every figure of `mnist-cnn data`
def test_data_prints_statistics_and_writes_figures(tmp_path, capsys, fake_mnist_dir):
    assert main(["data", "--data-dir", str(fake_mnist_dir), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "540x28x28" in out and "validation" in out
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


def test_data_with_corrupt_file(capsys, tmp_path, fake_mnist_dir):
    for name in os.listdir(fake_mnist_dir):
        if name.endswith(".gz"):
            (tmp_path / name).write_bytes((fake_mnist_dir / name).read_bytes())
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


def test_former_model_name_warns_in_one_line(capsys, tmp_path, monkeypatch, fake_mnist_dir):
    from mnist_cnn import models

    monkeypatch.setattr(models, "_warned", set())
    (tmp_path / "mine").mkdir()
    code = main(["train", "--model", "seed", "--runs-dir", str(tmp_path), "--name", "mine"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.splitlines() == [
        "mnist-cnn: warning: model 'seed' is deprecated: it is now called 'original'",
        f"mnist-cnn: error: run folder {tmp_path / 'mine'} already exists; "
        "choose another --name or delete it first",
    ]


# -- Option files: train --config FILE. ---------------------------------------------------------


@pytest.fixture
def trained_configs(monkeypatch):
    """The configs `mnist-cnn train` would train, instead of training them."""
    from mnist_cnn import training

    configs = []
    monkeypatch.setattr(training, "train", configs.append)
    return configs


@pytest.mark.parametrize(
    "name, text",
    [
        ("options.toml", 'preset = "fast"\nepochs = 3\nbatch_size = 64\nlr = 1\n'),
        ("options.json", '{"preset": "fast", "epochs": 3, "batch_size": 64, "lr": 1}'),
    ],
)
def test_config_file_overrides_the_preset_and_the_command_line_overrides_it(
    tmp_path, trained_configs, name, text
):
    file = tmp_path / name
    file.write_text(text)
    assert main(["train", "--config", str(file), "--epochs", "5", "--tensorboard"]) == 0
    (config,) = trained_configs
    assert config.preset == "fast" and config.model == "fast"  # from the preset
    assert config.batch_size == 64 and config.lr == 1.0  # from the file
    assert isinstance(config.lr, float)
    assert config.epochs == 5 and config.tensorboard  # from the command line
    assert main(["train", "--config", str(file), "--preset", "best"]) == 0
    assert trained_configs[1].model == "wide" and trained_configs[1].epochs == 3


@pytest.mark.parametrize(
    "name, text, fragments",
    [
        ("o.toml", "epoch = 3\n", ["unknown option 'epoch'; known options: preset, model, epochs"]),
        ("o.toml", 'epochs = "many"\n', ["epochs must be int, got 'many'"]),
        ("o.json", '{"augment": true}', ["augment must be float, got True"]),
        ("o.toml", "epochs = \n", ["not valid TOML"]),
        ("o.json", "[1, 2]", ["expected options by name, found list"]),
        ("o.yaml", "epochs: 3\n", ["an options file must be .toml or .json"]),
        ("absent.toml", None, ["no such options file"]),
        ("o.json", b"\xff\xfe", ["not valid JSON"]),
    ],
)
def test_config_file_errors_are_one_line(capsys, tmp_path, trained_configs, name, text, fragments):
    file = tmp_path / name
    if isinstance(text, bytes):
        file.write_bytes(text)
    elif text is not None:
        file.write_text(text)
    code = main(["train", "--config", str(file)])
    assert_one_line_error(capsys, code, *fragments)
    assert trained_configs == []


def test_a_run_config_json_gives_its_options_without_name_and_records(shipped_model_dir):
    recorded = json.loads((shipped_model_dir / "config.json").read_text())
    options = read_options(shipped_model_dir / "config.json")
    assert options == {k: v for k, v in recorded["config"].items() if k != "name"}
    assert "data_source" in recorded and "versions" in recorded  # left out


@pytest.mark.slow  # it trains (one small epoch): the fast tier trains nothing
def test_train_again_from_a_run_config_json(tmp_path, capsys, shipped_model_dir, fake_mnist_dir):
    """Rerun the shipped model's recorded options, made small: a new, complete run folder."""
    args = ["--model", "original", "--epochs", "1", "--limit", "200", "--augment", "0"]
    code = main(
        [
            "train",
            "--config",
            str(shipped_model_dir / "config.json"),
            *args,
            "--runs-dir",
            str(tmp_path),
        ]
    )
    assert code == 0, capsys.readouterr().err
    (run,) = tmp_path.iterdir()
    assert run.name.startswith("original-")  # not the recorded name "default-model"
    assert {"model.keras", "metrics.json", "history.csv"} <= {p.name for p in run.iterdir()}
    expected = TrainConfig.from_preset(
        **read_options(shipped_model_dir / "config.json")
        | {
            "model": "original",
            "epochs": 1,
            "limit": 200,
            "augment": 0.0,
            "runs_dir": str(tmp_path),
        }
    )
    assert read_options(run / "config.json") == {
        k: v for k, v in dataclasses.asdict(expected).items() if k != "name"
    }
