import re
from pathlib import Path

import numpy as np
import pytest

from mnist_cnn import evaluation, models
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import one_hot, preprocess

SRC = Path(__file__).resolve().parents[1] / "src" / "mnist_cnn"


@pytest.mark.parametrize("shape", [(28, 28), (3, 28, 28), (3, 28, 28, 1)])
def test_preprocess_shapes_and_range(shape):
    x = preprocess(np.full(shape, 51, np.uint8))
    assert x.dtype == np.float32 and x.shape[1:] == (28, 28, 1)
    assert np.allclose(x, 0.2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_preprocess_refuses_anything_but_uint8(dtype):
    with pytest.raises(MnistCnnError, match="expected uint8 pixels 0-255"):
        preprocess(np.zeros((1, 28, 28), dtype))


@pytest.mark.parametrize("shape", [(28,), (1, 28, 27), (1, 28, 28, 3), (2, 2, 28, 28)])
def test_preprocess_refuses_wrong_shapes(shape):
    with pytest.raises(MnistCnnError, match="shape"):
        preprocess(np.zeros(shape, np.uint8))


def test_one_hot():
    assert one_hot(np.array([0, 9])).argmax(axis=1).tolist() == [0, 9]
    with pytest.raises(MnistCnnError):
        one_hot(np.array([10]))


def test_nothing_else_scales_pixels():
    """The scaling lives in preprocess alone: no other module divides by 255."""
    offenders = [
        path.name
        for path in SRC.rglob("*.py")
        if path.name != "preprocessing.py" and re.search(r"/\s*255", path.read_text())
    ]
    assert offenders == []


def test_evaluation_path_matches_the_model_on_preprocessed_input(digit_images):
    model = models.build("original")
    images = digit_images[0][:64]
    direct = model.predict(preprocess(images), verbose=0)
    assert np.allclose(evaluation.predict_probabilities(model, images), direct, atol=1e-6)


@pytest.mark.slow
def test_training_feeds_the_model_through_preprocess(monkeypatch, mnist_dir, tmp_path):
    """Spy on the function training uses: every image it fits on went through preprocess."""
    from mnist_cnn import training
    from mnist_cnn.config import TrainConfig

    seen = []

    def spy(images):
        seen.append(len(images))
        return preprocess(images)

    monkeypatch.setattr(training, "preprocess", spy)
    monkeypatch.setattr(training.evaluation, "preprocess", spy)
    config = TrainConfig(model="original", epochs=1, limit=256, runs_dir=str(tmp_path))
    training.train(config, verbose=0)
    # Train; validation, the same share of it as --limit keeps of training; test.
    assert seen == [256, 29, 10000]
