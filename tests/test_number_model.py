"""The number model shipped inside the package: present, recorded, and reading touching digits."""

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from mnist_cnn import evaluation, runs
from mnist_cnn.inference import DigitReader
from mnist_cnn.number_reader import NUMBER_MODEL
from mnist_cnn.server import create_app


def touching_zeros(width: int = 260) -> bytes:
    """Two zeros drawn with a marker, touching: a PNG of dark ink on white."""
    yy, xx = np.mgrid[0:140, 0:width]
    gray = np.full((140, width), 255, np.uint8)
    for x in (95, 150):  # overlapping: segmentation alone reads one wide 0
        radius = np.hypot((yy - 70) / 45, (xx - x) / 30)
        gray[(radius > 0.72) & (radius < 1.0)] = 0
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG")
    return buffer.getvalue()


def test_shipped_number_model_records_its_hash_and_is_a_number_model():
    assert runs.read_metrics(NUMBER_MODEL.parent).model_sha256 == runs.file_sha256(NUMBER_MODEL)
    model = runs.load_model(NUMBER_MODEL)  # checks the hash too
    assert len(model.output_shape) == 3
    assert runs.read_json(NUMBER_MODEL.parent / runs.CONFIG_FILE)["config"]["preset"] == "numbers"
    # It trained in bfloat16 but ships in float32, which LiteRT runs without TensorFlow ops.
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}


def test_the_server_reads_two_touching_zeros_as_two_digits(model_file):
    reader = DigitReader.load(model_file)  # with the shipped number model
    assert reader.info["number_model"] == "number_model"
    alone = DigitReader.load(model_file, numbers=None).read_image(touching_zeros())
    assert len(alone.digits) == 1  # segmentation alone: one blob, one digit
    with TestClient(create_app(reader)) as client:
        answer = client.post("/api/predict", files={"file": ("00.png", touching_zeros())}).json()
    assert [d["label"] for d in answer["digits"]] == [0, 0]
    (x0, _, x1, _), (x2, _, x3, _) = (d["box"] for d in answer["digits"])
    assert x0 < x2 and x1 < x3  # side by side, the boxes overlapping no more than the zeros
    assert x1 - x2 <= 0.2 * min(x1 - x0, x3 - x2)


@pytest.mark.slow
def test_shipped_number_model_reads_test_numbers_as_recorded(mnist):
    recorded = runs.read_metrics(NUMBER_MODEL.parent)
    scores = evaluation.score_numbers(runs.load_model(NUMBER_MODEL), mnist.x_test, mnist.y_test)
    assert scores.test_accuracy == pytest.approx(recorded.test_accuracy, abs=1e-9)
    assert scores.test_digit_accuracy == pytest.approx(recorded.test_digit_accuracy, abs=1e-9)
