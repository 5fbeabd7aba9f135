"""Temperature scaling (`mnist_cnn.calibration`) and the reader applying what training
recorded: answers unchanged, confidences softened or sharpened as the validation
split says."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mnist_cnn import calibration, ctc, runs
from mnist_cnn.inference import DigitReader, recorded_temperature


def test_soften_keeps_every_answer_and_only_changes_how_sure():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(10, 0.3), size=50)
    for t in (0.5, 1.0, 3.0):
        q = calibration.soften(p, t)
        assert np.allclose(q.sum(axis=1), 1) and (q.argmax(axis=1) == p.argmax(axis=1)).all()
    assert np.allclose(calibration.soften(p, 1.0), p)
    assert (calibration.soften(p, 3.0).max(axis=1) < p.max(axis=1) + 1e-12).all()
    assert (calibration.soften(p, 0.5).max(axis=1) > p.max(axis=1) - 1e-12).all()


@pytest.mark.parametrize("sure, right, softer", [(0.999, 0.8, True), (0.6, 0.99, False)])
def test_a_digit_model_surer_than_right_is_softened_and_the_other_way_round(sure, right, softer):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 3000)
    answers = np.where(rng.random(3000) < right, labels, (labels + 1) % 10)
    p = np.full((3000, 10), (1 - sure) / 9)
    p[np.arange(3000), answers] = sure
    t = calibration.digit_temperature(p, labels)
    assert (t > 1.2) if softer else (t < 0.8)
    # Calibrated, its mean confidence is about how often it is right.
    assert calibration.soften(p, t).max(axis=1).mean() == pytest.approx(right, abs=0.02)


def test_a_number_model_sure_of_wrong_readings_is_softened():
    rng = np.random.default_rng(2)
    texts = ["".join(map(str, rng.integers(0, 10, rng.integers(1, 6)))) for _ in range(300)]
    logits = np.full((300, 64, ctc.CLASSES), -8.0, np.float32)
    logits[:, :, ctc.BLANK] = 8.0
    for i, text in enumerate(texts):
        wrong = rng.random() < 0.3  # three in ten read with their first digit changed
        for k, c in enumerate(text):
            digit = (int(c) + 1) % 10 if wrong and k == 0 else int(c)
            logits[i, 4 + 6 * k] = -8.0
            logits[i, 4 + 6 * k, digit + 1] = 8.0
    t = calibration.number_temperature(logits, ctc.encode(texts))
    assert t > 2
    read_right = np.mean(
        [ctc.probability(frames / t, text) for frames, text in zip(logits, texts, strict=True)]
    )
    assert 0.5 < read_right < 0.9  # about the 70% it reads right, not the ~100% it claims


def test_the_reader_applies_the_recorded_temperature(model_file, tmp_path, digit_images):
    images = list(digit_images[0][:20])
    plain = DigitReader.load(model_file, numbers=None)
    assert plain.info["temperatures"] == [1.0, 1.0, 1.0]  # the shipped folder records none
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "model.keras").write_bytes(model_file.read_bytes())
    (folder / "metrics.json").write_text(
        json.dumps(runs.read_json(model_file.parent / "metrics.json") | {"temperature": 3.0})
    )
    assert recorded_temperature(folder / "model.keras") == 3.0
    soft = DigitReader.load(folder, numbers=None)
    assert soft.info["temperatures"] == [3.0, 1.0, 1.0]
    for a, b in zip(plain.read_batch(images), soft.read_batch(images), strict=True):
        top = [[int(np.argmax(d.probabilities)) for d in r.digits] for r in (a, b)]
        assert top[0] == top[1] and len(top[0]) == 1  # the same answers ...
        assert b.confidence < a.confidence  # ... less sure
    assert recorded_temperature(tmp_path / "loose.keras") == 1.0


def test_calibrate_records_a_runs_temperature_and_refuses_the_shipped_models(
    run_folder, fake_mnist_dir, capsys
):
    from mnist_cnn.cli import main

    assert main(["calibrate", str(run_folder)]) == 0
    temperature = runs.read_metrics(run_folder).temperature
    assert calibration.BOUNDS[0] <= temperature <= calibration.BOUNDS[1]
    assert f"temperature {temperature:.3f}" in capsys.readouterr().out
    reader = DigitReader.load(run_folder, numbers=None)
    assert reader.info["temperatures"] == [temperature, 1.0, 1.0]
    for shipped in ("default_model", "number_model", "part_model"):
        folder = Path(calibration.__file__).parent / shipped
        assert main(["calibrate", str(folder)]) == 1
        assert "read-only" in capsys.readouterr().err


@pytest.fixture
def run_folder(shipped_model_dir, tmp_path):
    """A run folder of one's own: a copy of the shipped model's."""
    return shutil.copytree(shipped_model_dir, tmp_path / "run")
