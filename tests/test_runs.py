"""Run folders: which model a command reads with (the automatic choice, --model default,
--runs-dir, `mnist-cnn runs`), the model hash recorded in a run, and the shipped model
kept read-only."""

import hashlib
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from mnist_cnn import inference, models, runs
from mnist_cnn.cli import main
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.inference import DEFAULT_MODEL, DigitReader

HOUR = 3600


def make_run(folder, source, accuracy=0.99, limit=None, interrupted=False, hours_ago=0):
    """A run folder as `mnist-cnn train` leaves it, its model a copy of `source`."""
    folder.mkdir(parents=True)
    shutil.copy(source, folder / runs.MODEL_FILE)
    config = {"model": "original", "limit": limit, "name": folder.name}
    runs.write_json(folder / runs.CONFIG_FILE, {"config": config})
    metrics = runs.RunMetrics(
        model="original",
        epochs_run=2 if limit else 15,
        interrupted=interrupted,
        test_accuracy=accuracy,
    )
    runs.add_metrics(folder, metrics)
    stamp = 1_800_000_000 - hours_ago * HOUR
    os.utime(folder / runs.MODEL_FILE, (stamp, stamp))
    return folder


@pytest.fixture
def runs_dir(tmp_path, tiny_model_file):
    """A complete run, and three newer ones predict must not pick by itself."""
    folder = tmp_path / "experiments"
    make_run(folder / "full", tiny_model_file, accuracy=0.9941, hours_ago=4)
    make_run(folder / "untested", tiny_model_file, accuracy=None, hours_ago=3)
    make_run(folder / "stopped", tiny_model_file, interrupted=True, hours_ago=2)
    make_run(folder / "smoke", tiny_model_file, accuracy=0.479, limit=2000, hours_ago=1)
    (folder / "notes").mkdir()  # not a run folder
    return folder


@pytest.fixture
def digit_png(tmp_path):
    pixels = np.zeros((60, 40), np.uint8)
    pixels[10:50, 17:23] = 255
    path = tmp_path / "one.png"
    Image.fromarray(pixels).save(path)
    return path


def package_files() -> dict[str, str]:
    """Every file in the shipped model's folder and its SHA-256."""
    folder = DEFAULT_MODEL.parent
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- The automatic choice. ------------------------------------------------------------------


def test_the_automatic_choice_skips_incomplete_runs(runs_dir):
    assert inference.find_model(runs_dir) == runs_dir / "full" / "model.keras"
    skipped = inference.skipped_runs(runs_dir)
    assert [(r.folder.name, r.incomplete) for r in skipped] == [
        ("smoke", "trained on --limit 2000 images"),
        ("stopped", "interrupted"),
        ("untested", "no test accuracy recorded"),
    ]
    shutil.rmtree(runs_dir / "full")  # only incomplete runs: the shipped model
    assert inference.find_model(runs_dir) == DEFAULT_MODEL
    assert len(inference.skipped_runs(runs_dir)) == 3
    # Named, an incomplete run is used all the same.
    reader = DigitReader.load(runs_dir / "smoke")
    assert reader.info["name"] == "smoke" and reader.info["source"] == "run"
    assert "trained on --limit 2000 images" in reader.info["description"]


def test_predict_says_which_model_reads_and_what_it_skipped(runs_dir, digit_png, capsys):
    assert main(["predict", str(digit_png), "--runs-dir", str(runs_dir)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"mnist-cnn: skipped {runs_dir / 'smoke'} (trained on --limit 2000")
    assert "name it with --model" in err[0] and len(err) == 4
    assert err[3] == (
        "mnist-cnn: model full (run folder, 99.41% on the MNIST test set): "
        f"{runs_dir / 'full' / 'model.keras'}"
    )
    # --model default: the shipped model, whatever the runs folder holds.
    assert main(["predict", str(digit_png), "--runs-dir", str(runs_dir), "--model", "default"]) == 0
    (line,) = capsys.readouterr().err.splitlines()
    accuracy = runs.read_metrics(DEFAULT_MODEL.parent).test_accuracy
    assert line == (
        f"mnist-cnn: model default_model (shipped with the package, {accuracy:.2%} on the "
        f"MNIST test set): {DEFAULT_MODEL}"
    )


def test_serve_and_board_take_the_same_choice(runs_dir, monkeypatch, capsys):
    chosen = []
    thresholds = []
    monkeypatch.setattr(
        "mnist_cnn.server.serve",
        lambda host, port, model, *limits: (chosen.append(model), thresholds.append(limits[-1])),
    )
    monkeypatch.setattr(
        "mnist_cnn.board.run_board",
        lambda model, threshold: (chosen.append(model), thresholds.append(threshold)),
    )
    monkeypatch.setattr("mnist_cnn.board.require_pygame", lambda: None)
    assert main(["serve", "--runs-dir", str(runs_dir)]) == 0
    assert main(["board", "--runs-dir", str(runs_dir), "--threshold", "0.95"]) == 0
    assert main(["board", "--model", "default"]) == 0
    full = str(runs_dir / "full" / "model.keras")
    assert chosen == [full, full, str(DEFAULT_MODEL)]
    assert thresholds == [0.6, 0.95, 0.6]
    err = capsys.readouterr().err
    assert err.count("mnist-cnn: model full (run folder, 99.41%") == 2
    assert "mnist-cnn: model default_model (shipped with the package" in err


def test_the_reader_describes_its_model_for_the_api():
    info = DigitReader.load("default").info
    accuracy = runs.read_metrics(DEFAULT_MODEL.parent).test_accuracy
    assert info["source"] == "package" and info["test_accuracy"] == accuracy
    assert info["description"] == (
        f"default_model (shipped with the package, {accuracy:.2%} on the MNIST test set)"
    )
    assert str(DEFAULT_MODEL.parent) not in info["description"]  # the API shows no path
    json.dumps(info)


def test_runs_lists_the_run_folders_newest_first(runs_dir, capsys):
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "name", "model", "test", "acc", "epochs", "limit", "interrupted", "date"
    ]  # fmt: skip
    names = [line.split()[0] for line in lines[1:5]]
    assert names == ["smoke", "stopped", "untested", "*"]
    assert lines[4].split()[:7] == ["*", "full", "original", "99.41%", "15", "-", "no"]
    assert lines[1].split()[1:6] == ["original", "47.90%", "2", "2000", "no"]
    assert lines[2].split()[5] == "yes" and lines[3].split()[2] == "-"
    assert "2027-01-15" in lines[4] or "2027-01-14" in lines[4]  # the model file's date
    assert "* read by predict, serve and board without --model" in lines[-1]
    # No complete run: the shipped model reads, and the listing says so.
    shutil.rmtree(runs_dir / "full")
    main(["runs", "--runs-dir", str(runs_dir)])
    out = capsys.readouterr().out
    assert "*" not in out.split("\n\n")[0]
    assert "No complete run: predict, serve and board read with default_model" in out
    assert main(["runs", "--runs-dir", str(runs_dir / "none")]) == 0
    assert capsys.readouterr().out.startswith(f"no run folders under {runs_dir / 'none'}/")


# -- The model's hash. ----------------------------------------------------------------------


def test_a_model_file_changed_since_training_is_refused(
    tmp_path, model_file, digit_png, capsys, fake_mnist_dir
):
    run = tmp_path / "run"
    shutil.copytree(model_file.parent, run)
    assert runs.load_model(run).count_params() == 262826  # the recorded hash matches
    model = runs.load_model(run)
    weights = model.get_weights()
    weights[0] = -weights[0]  # as a flipped sign bit would: the file still loads
    model.set_weights(weights)
    model.save(run / "model.keras")
    message = f"{run / 'model.keras'} changed since training"
    with pytest.raises(MnistCnnError, match=message):
        runs.load_model(run)
    with pytest.raises(MnistCnnError, match="train it again, or, if you changed it on purpose"):
        DigitReader.load(run / "model.keras")
    for command in (["evaluate", str(run)], ["predict", str(digit_png), "--model", str(run)]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert f"mnist-cnn: error: {message}" in err and "Traceback" not in err
    # A loose .keras file has no run to check it against.
    shutil.copy(run / "model.keras", tmp_path / "loose.keras")
    assert runs.load_model(tmp_path / "loose.keras").count_params() == 262826
    # Without the recorded hash the run loads again.
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["model_sha256"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    assert runs.load_model(run).count_params() == 262826


def test_every_written_model_records_its_hash(tmp_path, model_file):
    exported = runs.export_for_inference(model_file.parent, tmp_path / "export")
    recorded = runs.read_metrics(exported.parent).model_sha256
    assert recorded == hashlib.sha256(exported.read_bytes()).hexdigest()
    assert recorded != runs.read_metrics(model_file.parent).model_sha256  # another file
    assert runs.load_model(exported).count_params() == 262826


def test_a_model_trained_in_bfloat16_is_exported_in_float32(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    models.build("numbers", "mixed_bfloat16").save(run / "model.keras")
    runs.write_json(run / "config.json", {"config": {"model": "numbers"}})
    runs.write_json(run / "metrics.json", {})
    exported = runs.load_model(runs.export_for_inference(run, tmp_path / "export"))
    assert {layer.dtype_policy.name for layer in exported.layers} == {"float32"}


def test_the_hash_check_follows_links_to_a_run(tmp_path, tiny_model_file):
    run = make_run(tmp_path / "run", tiny_model_file)
    runs.record_model_hash(run)
    link = tmp_path / "link.keras"
    link.symlink_to(run / "model.keras")
    models.build("original").save(tmp_path / "other.keras")  # new random weights
    shutil.copy(tmp_path / "other.keras", run / "model.keras")
    with pytest.raises(MnistCnnError, match="changed since training"):
        runs.load_model(link)


# -- The shipped model is read-only. --------------------------------------------------------


@pytest.mark.slow  # evaluates the shipped model on the whole (printed) test set several ways
def test_evaluating_the_shipped_model_writes_nothing_into_the_package(
    tmp_path, monkeypatch, capsys, fake_mnist_dir
):
    before = package_files()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "link").symlink_to(DEFAULT_MODEL.parent)
    spellings = [
        DEFAULT_MODEL.parent,
        DEFAULT_MODEL,
        os.path.relpath(DEFAULT_MODEL.parent / ".." / "default_model"),
        "link",
    ]
    for path in spellings:
        assert main(["evaluate", str(path)]) == 0
        out, err = capsys.readouterr()
        assert "test accuracy" in out and "Results written" not in out
        assert "the model shipped with the package is read-only" in err
        assert package_files() == before, path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]
    # --out writes there, and only there.
    assert main(["evaluate", "link", "--out", "results"]) == 0
    assert "read-only" not in capsys.readouterr().err
    written = runs.read_metrics(tmp_path / "results")
    assert written.test_accuracy is not None and (tmp_path / "results" / "figures").is_dir()
    assert package_files() == before
    # Not even when --out names the package's folder.
    assert main(["evaluate", "link", "--out", "link/figures"]) == 1
    assert "read-only; choose another folder" in capsys.readouterr().err
    assert package_files() == before
