"""The model shipped inside the package: present, loadable, as accurate as recorded."""

import json

import numpy as np
import pytest

from mnist_cnn import evaluation, runs
from mnist_cnn.config import TrainConfig, read_options
from mnist_cnn.inference import DEFAULT_MODEL, DigitReader


def test_shipped_model_records_its_hash():
    recorded = runs.read_metrics(DEFAULT_MODEL.parent).model_sha256
    assert recorded == runs.file_sha256(DEFAULT_MODEL)
    runs.verify_model_file(DEFAULT_MODEL)  # what loading it checks


def test_the_cnn_preset_trains_the_shipped_model_again():
    # Its config.json predates some options; the preset must give those their values then.
    recorded = read_options(DEFAULT_MODEL.parent / "config.json")
    preset = TrainConfig.from_preset("cnn")
    assert {k: getattr(preset, k) for k in recorded} == recorded
    assert (preset.precision, preset.ema) == ("float32", 0.0)


@pytest.mark.slow
def test_shipped_model_has_the_recorded_test_accuracy(mnist):
    recorded = json.loads((DEFAULT_MODEL.parent / "metrics.json").read_text())
    model = runs.load_model(DEFAULT_MODEL)
    probabilities = evaluation.predict_probabilities(model, mnist.x_test)
    accuracy = float((probabilities.argmax(axis=1) == mnist.y_test).mean())
    assert accuracy == recorded["test_accuracy"]
    assert accuracy >= 0.99
    config = json.loads((DEFAULT_MODEL.parent / "config.json").read_text())
    assert config["config"]["preset"] == "cnn"


@pytest.mark.slow
def test_reader_falls_back_to_the_shipped_model(tmp_path, monkeypatch, mnist):
    monkeypatch.chdir(tmp_path)  # no runs/ here
    reader = DigitReader.load()
    assert reader.info["path"] == str(DEFAULT_MODEL)
    reading = reader.read_pixels(mnist.x_test[0])
    assert reading.prediction == str(mnist.y_test[0])
    assert np.isclose(sum(reading.digits[0].probabilities), 1, atol=1e-3)
