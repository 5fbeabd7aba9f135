"""DigitReader: loading, the Reading it returns, test-time augmentation, pixel validation,
batching, LiteRT."""

import json
import os
import sys

import numpy as np
import pytest

from mnist_cnn import evaluation, inference, models, runs, runtimes
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.imaging import DigitCrop
from mnist_cnn.inference import DigitReader, Reading


@pytest.fixture(scope="module")
def seed_model():
    """An untrained `seed` model: these tests are about plumbing, not accuracy."""
    return models.build("original")


@pytest.fixture(scope="module")
def reader(seed_model):
    return DigitReader(seed_model, name="untrained")


def make_run(folder, model, accuracy=None):
    """A run folder as `mnist-cnn train` leaves it (the parts DigitReader reads)."""
    folder.mkdir(parents=True)
    model.save(folder / runs.MODEL_FILE)
    runs.write_json(folder / runs.CONFIG_FILE, {"model": "original"})
    if accuracy is not None:
        runs.write_json(folder / runs.METRICS_FILE, {"test_accuracy": accuracy})
    return folder


def stroke() -> np.ndarray:
    pixels = np.zeros((28, 28), np.uint8)
    pixels[4:24, 12:16] = 255
    return pixels


def test_load_a_run_folder_or_a_model_file(tmp_path, seed_model):
    run = make_run(tmp_path / "cnn-1", seed_model, accuracy=0.991)
    reader = DigitReader.load(run, threshold=0.8, numbers=None)
    assert reader.info == {
        "name": "cnn-1",
        "path": str(run / "model.keras"),
        "test_accuracy": 0.991,
        "source": "run",
        "description": "cnn-1 (run folder, 99.10% on the MNIST test set)",
        "params": seed_model.count_params(),
        "number_model": None,
        "part_model": None,
        "temperatures": [1.0, 1.0, 1.0],
    }
    assert reader.threshold == 0.8 and reader.name == "cnn-1"
    loose = tmp_path / "mine.keras"
    seed_model.save(loose)
    assert DigitReader.load(loose, numbers=None).info | {"params": 0} == {
        "name": "mine",
        "path": str(loose),
        "test_accuracy": None,
        "source": "file",
        "description": "mine (model file, test accuracy unknown)",
        "params": 0,
        "number_model": None,
        "part_model": None,
        "temperatures": [1.0, 1.0, 1.0],
    }
    json.dumps(reader.info)  # JSON-ready


def test_load_none_picks_the_newest_run(tmp_path, monkeypatch, seed_model):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(inference, "DEFAULT_MODEL", tmp_path / "nowhere" / "model.keras")
    with pytest.raises(MnistCnnError, match="train one with `mnist-cnn train` or pass --model"):
        DigitReader.load()
    older = make_run(tmp_path / "runs" / "zzz-older", seed_model, accuracy=0.97)
    newer = make_run(tmp_path / "runs" / "aaa-newer", seed_model, accuracy=0.99)
    (tmp_path / "runs" / "empty").mkdir()  # a run that never saved a model
    os.utime(older / "model.keras", (1_000_000, 1_000_000))
    reader = DigitReader.load()
    assert reader.info["name"] == "aaa-newer" and reader.info["test_accuracy"] == 0.99
    assert os.path.samefile(reader.info["path"], newer / "model.keras")
    # A newer, complete run of a number model reads strips, not digits: passed over.
    numbers = make_run(tmp_path / "runs" / "numbers-1", seed_model, accuracy=0.98)
    runs.write_json(numbers / runs.METRICS_FILE, {"model": "numbers", "test_accuracy": 0.98})
    assert DigitReader.load().info["name"] == "aaa-newer"
    assert inference.skipped_runs("runs") == []


def test_load_falls_back_to_the_packaged_model(tmp_path, monkeypatch, seed_model):
    packaged = tmp_path / "default_model"
    packaged.mkdir()
    seed_model.save(packaged / "model.keras")
    runs.write_json(packaged / "metrics.json", {"test_accuracy": 0.995})
    monkeypatch.setattr(inference, "DEFAULT_MODEL", packaged / "model.keras")
    monkeypatch.chdir(tmp_path)  # no runs/ here
    assert DigitReader.load().info["test_accuracy"] == 0.995


def test_load_errors(tmp_path):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip archive")
    with pytest.raises(MnistCnnError, match="not a Keras model"):
        DigitReader.load(broken)
    with pytest.raises(MnistCnnError, match="no such run folder or model file"):
        DigitReader.load(tmp_path / "missing")
    with pytest.raises(MnistCnnError, match="threshold must be between 0 and 1"):
        DigitReader(models.build("original"), threshold=1.5)


def test_refuses_a_model_that_is_not_for_mnist():
    from mnist_cnn.backend import keras

    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    with pytest.raises(MnistCnnError, match="expected a 28x28x1 MNIST input"):
        DigitReader(model)


def test_reading_to_dict_has_the_json_shape(reader):
    reading = reader.read_pixels(stroke().tolist())
    data = reading.to_dict()
    assert list(data) == ["prediction", "confidence", "status", "digits"]
    (digit,) = data["digits"]
    assert list(digit) == ["label", "confidence", "probabilities", "box"]
    assert digit["box"] == [0, 0, 28, 28] and len(digit["probabilities"]) == 10
    assert json.loads(json.dumps(data)) == data  # plain Python types only
    assert isinstance(data["confidence"], float) and type(digit["box"][0]) is int
    assert abs(sum(digit["probabilities"]) - 1) < 1e-4
    assert reading.inputs[0].dtype == np.uint8 and reading.inputs[0].shape == (28, 28)


def test_status_prediction_and_confidence(seed_model):
    sure = DigitReader(seed_model, threshold=0.0).read_pixels(stroke())
    assert sure.status == "ok" and sure.prediction == str(sure.digits[0].label)
    unsure = DigitReader(seed_model, threshold=1.0).read_pixels(stroke())
    assert unsure.status == "uncertain" and unsure.prediction is None
    assert unsure.digits[0].label is None and unsure.guess == "?"
    # Confidence of a number: the product of its digits' top probabilities.
    page = np.zeros((60, 120), np.uint8)
    page[10:50, 20:28] = 255
    page[10:50, 80:88] = 255
    two = DigitReader(seed_model, threshold=0.0).read_image(page)
    assert len(two.digits) == 2 and len(two.prediction) == 2
    product = two.digits[0].confidence * two.digits[1].confidence
    assert two.confidence == pytest.approx(product, abs=1e-5)
    empty = DigitReader(seed_model).read_image(np.zeros((60, 120), np.uint8))
    assert empty == Reading(None, 0.0, "no digit", [], [])


def test_status_follows_the_whole_numbers_confidence(seed_model):
    """Four digits each read at 83% make a number right 47% of the time: uncertain,
    though every digit clears the threshold; the digits keep their labels."""
    reader = DigitReader(seed_model, threshold=0.6)
    year = [2, 0, 2, 5]
    rows = np.full((4, 10), 0.17 / 9)
    rows[np.arange(4), year] = 0.83

    def stand_in(inputs):  # the same probabilities for each digit's three views
        return np.tile(rows[: len(inputs) // 3], (3, 1))

    reader.predict = stand_in
    crops = [DigitCrop(stroke(), (28 * i, 0, 28 * i + 28, 28)) for i in range(4)]
    (reading,) = reader.read_crops([crops])
    assert reading.confidence == pytest.approx(0.83**4, abs=1e-5)  # 47.5%
    assert reading.status == "uncertain" and reading.prediction is None
    assert [d.label for d in reading.digits] == year and reading.guess == "2025"
    assert list(reading.to_dict()) == ["prediction", "confidence", "status", "digits"]
    # Two of those digits make 69%: above the threshold, the number is read.
    (pair,) = reader.read_crops([crops[:2]])
    assert pair.status == "ok" and pair.prediction == "20"
    assert pair.confidence == pytest.approx(0.83**2, abs=1e-5)
    # Where the number model read them, the digit model's votes count, and its
    # agreement caps the whole.
    voted = reader._reading(crops[:2], rows[:2], agreement=0.99, votes=[0.7, 1.0])
    assert voted.confidence == pytest.approx(0.83**2 * 0.7, abs=1e-5)
    assert voted.status == "uncertain" and voted.guess == "20"
    capped = reader._reading(crops[:2], rows[:2], agreement=0.5, votes=[1.0, 1.0])
    assert capped.confidence == pytest.approx(0.5)


def test_read_pixels_reads_with_test_time_augmentation(reader, seed_model):
    pixels = stroke()
    views = np.stack([pixels, *(inference.turn(pixels[None], a)[0] for a in (-10, 10))])
    expected = evaluation.predict_probabilities(seed_model, views).mean(axis=0)
    got = reader.read_pixels(pixels).digits[0].probabilities
    assert np.allclose(got, expected, atol=1e-5)
    alone = evaluation.predict_probabilities(seed_model, pixels[None])[0]
    assert not np.allclose(got, alone, atol=1e-5)  # the turns do count


def test_tta_probabilities_is_what_the_reader_reads(reader, seed_model):
    images = np.stack([stroke(), stroke().T, np.zeros((28, 28), np.uint8)])
    got = inference.tta_probabilities(seed_model.predict_on_batch, images)
    assert got.shape == (3, 10) and got.dtype == np.float64
    assert np.allclose(got.sum(axis=1), 1, atol=1e-5)
    for image, row in zip(images[:2], got[:2], strict=True):
        assert np.allclose(reader.read_pixels(image).digits[0].probabilities, row, atol=1e-5)


def test_tta_probabilities_turned_0_degrees_is_the_plain_reading(seed_model):
    images = np.stack([stroke(), stroke().T])
    plain = evaluation.predict_probabilities(seed_model, images)
    got = inference.tta_probabilities(seed_model.predict_on_batch, images, degrees=0)
    assert np.allclose(got, plain, atol=1e-5)
    wider = inference.tta_probabilities(seed_model.predict_on_batch, images, degrees=30)
    assert not np.allclose(wider, got, atol=1e-4)


def test_tta_probabilities_reads_many_digits_in_batches(seed_model, monkeypatch):
    images = np.stack([stroke(), stroke().T, np.roll(stroke(), 5, axis=1)] * 2)
    whole = inference.tta_probabilities(seed_model.predict_on_batch, images)
    calls = []

    def spy(x):
        calls.append(len(x))
        return seed_model.predict_on_batch(x)

    monkeypatch.setattr(inference, "BATCH", 4)
    assert np.allclose(inference.tta_probabilities(spy, images), whole, atol=1e-6)
    assert calls == [3 * 4, 3 * 2]  # each batch's three views in one call


def test_turn_leans_the_top_left_for_positive_degrees():
    bar = stroke()[None]
    assert np.array_equal(inference.turn(bar, 0), bar)
    turned = inference.turn(bar, inference.TTA_DEGREES)[0]
    assert turned.dtype == np.uint8 and turned.shape == (28, 28)
    columns = [np.flatnonzero(turned[row] > 127).mean() for row in (5, 22)]
    assert columns[0] < 13.5 < columns[1]  # top moved left, bottom right
    assert abs(int(turned.sum()) - int(bar.sum())) < 0.05 * bar.sum()  # ink kept


@pytest.mark.parametrize(
    "pixels, message",
    [
        (np.zeros((28, 27)), r"pixels must be 28x28, got shape \(28, 27\)"),
        (np.zeros(784), r"pixels must be 28x28, got shape \(784,\)"),
        ([[0] * 28] * 27 + [[0] * 27], "28 rows of 28 numbers; the rows differ"),
        (np.full((28, 28), np.nan), "got NaN"),
        (np.full((28, 28), 256.0), "pixels must be 0-255, got values from 256 to 256"),
        (np.full((28, 28), -1), "pixels must be 0-255, got values from -1 to -1"),
        ([["a"] * 28] * 28, "pixels must be numbers 0-255, got str"),
        (None, "pixels must be numbers 0-255"),
    ],
)
def test_read_pixels_validation(reader, pixels, message):
    with pytest.raises(MnistCnnError, match=message):
        reader.read_pixels(pixels)


def test_read_pixels_accepts_numbers_0_to_255(reader):
    assert reader.read_pixels(np.zeros((28, 28), np.float32)).status == "no digit"
    assert len(reader.read_pixels((stroke() * 0.5).tolist()).digits) == 1  # grey, as floats


def test_read_batch_makes_one_model_call(reader, monkeypatch):
    pages = []
    for count in (1, 0, 3):
        page = np.zeros((80, 200), np.uint8)
        for k in range(count):
            page[20:60, 20 + 60 * k : 28 + 60 * k] = 255
        pages.append(page)
    calls = []
    original = reader.predict

    def spy(x):
        calls.append(len(x))
        return original(x)

    monkeypatch.setattr(reader, "predict", spy)
    readings = reader.read_batch(pages)
    assert calls == [4 * 3]  # four digits, each as it is and turned both ways
    assert [len(r.digits) for r in readings] == [1, 0, 3]
    assert [r.status for r in readings][1] == "no digit"
    single = reader.read_image(pages[2])
    assert [d.probabilities for d in single.digits] == [d.probabilities for d in readings[2].digits]


@pytest.mark.slow  # converts the model to LiteRT: a second
def test_litert_reads_the_same_probabilities_as_keras(seed_model, reader):
    fast = DigitReader(seed_model, name="untrained", litert=True)
    assert (fast.engine, reader.engine) == ("LiteRT", "Keras")
    page = np.zeros((60, 200), np.uint8)
    page[10:50, 20:28] = page[10:50, 90:130] = 255
    page[20:40, 100:120] = 0  # a "1" and a "0"
    for pages in ([page], [page, page.T, np.zeros((9, 9), np.uint8)]):  # new batch sizes
        for a, b in zip(fast.read_batch(pages), reader.read_batch(pages), strict=True):
            assert [d.box for d in a.digits] == [d.box for d in b.digits]
            for da, db in zip(a.digits, b.digits, strict=True):
                assert np.allclose(da.probabilities, db.probabilities, atol=1e-5)


@pytest.mark.slow  # a bfloat16 model converted for LiteRT
def test_litert_is_not_used_where_it_cannot_run_the_model(monkeypatch):
    # bfloat16 layers export to TensorFlow ops that LiteRT does not ship.
    bf16 = models.build("original", precision="mixed_bfloat16")
    assert runtimes.litert_predictor(bf16) is None
    reader = DigitReader(bf16, name="bf16", litert=True)
    assert reader.engine == "Keras" and reader.read_pixels(stroke()).digits
    # LiteRT not installed.
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    assert runtimes.litert_predictor(models.build("original")) is None
