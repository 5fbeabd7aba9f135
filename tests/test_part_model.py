"""The part model shipped inside the package: present, recorded, voting on parts cut from
touching digits, and reading them better than the digit model does."""

import pytest

from mnist_cnn import runs
from mnist_cnn.inference import DigitReader
from mnist_cnn.number_reader import NUMBER_MODEL, PART_MODEL
from mnist_cnn.numbers import cut_parts


def test_shipped_part_model_records_its_hash_and_is_a_digit_model():
    assert runs.read_metrics(PART_MODEL.parent).model_sha256 == runs.file_sha256(PART_MODEL)
    model = runs.load_model(PART_MODEL)  # checks the hash too
    assert model.output_shape == (None, 10)
    config = runs.read_json(PART_MODEL.parent / runs.CONFIG_FILE)["config"]
    assert config["preset"] == "parts" and config["parts"] > 0
    assert runs.read_metrics(PART_MODEL.parent).temperature > 0


def test_the_reader_loads_it_with_any_number_model_and_not_without_one(model_file):
    reader = DigitReader.load(model_file)
    assert reader.info["part_model"] == "part_model" and reader.parts is not None
    temperature = runs.read_metrics(PART_MODEL.parent).temperature
    assert reader.info["temperatures"][2] == temperature
    other = DigitReader.load(model_file, numbers=NUMBER_MODEL.parent)  # as a user names one
    assert other.info["part_model"] == "part_model" and other.parts is not None
    # No number model: nothing is cut, so no part model.
    alone = DigitReader.load(model_file, numbers=None)
    assert alone.info["part_model"] is None and alone.parts is None


@pytest.mark.slow
def test_it_reads_parts_of_validation_numbers_better_than_the_digit_model(mnist):
    reader = DigitReader.load("default", litert=True)
    parts, labels = cut_parts(
        mnist.x_val, mnist.y_val, 300, 5, reader.numbers, reader.digit_probabilities
    )
    digit_model = (reader.digit_probabilities(parts).argmax(axis=1) == labels).mean()
    part_model = (reader.parts(parts).argmax(axis=1) == labels).mean()
    assert part_model >= digit_model + 0.05  # 75.76% -> 86.89% on the parts of 600 numbers
