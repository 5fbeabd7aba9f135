"""benchmarks/whole_numbers.py: its scoring on hand-made readings, and its quick mode end to end
on printed digits with the shipped model."""

import re

import numpy as np
import pytest

from mnist_cnn.inference import Digit, Reading


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("whole_numbers")


def reading(text: str, status: str = "ok", confidence: float = 0.99) -> Reading:
    """A reading of `text`, one digit per character, each `text`'s digit at `confidence`;
    an uncertain reading keeps its top classes, as the reader's does."""
    digits = []
    for char in text:
        probabilities = [(1 - confidence) / 9] * 10
        probabilities[int(char)] = confidence
        label = int(char) if status == "ok" else None
        digits.append(Digit(label, confidence, probabilities, [0, 0, 1, 1]))
    if not digits:
        return Reading(None, 0.0, "no digit", [])
    return Reading(text if status == "ok" else None, confidence, status, digits)


def test_what_was_read_is_the_top_class_of_every_digit_whatever_the_status(bench):
    assert bench.read_text(reading("042")) == "042"
    assert bench.read_text(reading("042", "uncertain", 0.4)) == "042"
    assert bench.read_text(reading("")) == ""


def test_scores_whole_numbers_digits_and_readings_wrong_but_ok(bench):
    truths = ["17", "17", "305", "305", "88"]
    readings = [
        reading("17"),  # right and sure
        reading("1"),  # two touching digits read as one, and sure of it: wrong but ok
        reading("305", "uncertain", 0.5),  # right, not sure
        reading("3005", "uncertain", 0.5),  # a digit too many, not sure: wrong, not ok
        reading(""),  # nothing found
    ]
    score = bench.score(readings, truths)
    assert score["numbers"] == 5
    assert score["right"] == pytest.approx(2 / 5)
    assert score["sure"] == pytest.approx(1 / 5)
    assert score["wrong ok"] == pytest.approx(1 / 5)
    # Edit distances 0 + 1 + 0 + 1 + 2 over 2 + 2 + 3 + 3 + 2 = 12 true digits.
    assert score["digits"] == pytest.approx(1 - 4 / 12)
    assert (score["fewer"], score["more"]) == (2, 1)


def test_a_real_digit_is_made_mnist_like(bench):
    digit = np.zeros((8, 8))
    digit[:, 3:5] = 16  # a "1" as tall as its 8x8 box
    image = bench.mnist_like(digit)
    assert image.shape == (28, 28) and image.dtype == np.uint8
    rows = np.flatnonzero(image.max(axis=1) >= 128)
    assert rows[0] >= 4 and rows[-1] < 24 and rows[-1] - rows[0] >= 17  # about 20 px tall
    assert image[:4].max() == 0 and image[24:].max() == 0


def test_real_strings_are_touching_held_out_digits_of_the_lengths_asked(bench):
    strings = bench.real_strings(6, seed=0)
    assert all(3 <= len(text) <= 6 for text in strings.texts)
    assert all(image.dtype == np.uint8 for image in strings.images)
    again = bench.real_strings(6, seed=0)
    assert strings.texts == again.texts  # a seed makes them repeatable


@pytest.mark.slow  # both shipped models reading every table's numbers: seconds, not a unit
def test_quick_mode_prints_every_table_with_the_shipped_model(
    bench, fake_mnist_dir, model_file, capsys
):
    # `fake_mnist_dir` serves printed digits as the MNIST test set.
    assert bench.main(["--quick", "--model", str(model_file), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ")]
    conditions = [
        (r[0].strip(), r[1].strip()) for r in rows if len(r) == 10 and r[2].strip().isdigit()
    ]
    spacings = ("apart", "touching", "overlapping", "touching real", "alone")
    assert conditions == [(s, k) for s in spacings for k in ("plain", "photo", "board")]
    for row in (r for r in rows if len(r) == 10 and r[2].strip().isdigit()):
        assert int(row[2]) == 4
        assert all(0 <= float(cell.strip().rstrip("%")) <= 100 for cell in row[3:7])
    targets = [r for r in rows if len(r) == 3 and r[2].strip() in ("met", "not met")]
    assert len(targets) == 5
    # What each --threshold buys: a stricter one is never ok more often, right or wrong.
    table = [r for r in rows if len(r) == 3 and re.fullmatch(r" 0\.\d+ ", r[0])]
    assert [float(r[0]) for r in table] == list(bench.THRESHOLDS)
    right, wrong = ([float(r[i].strip().rstrip("%")) for r in table] for i in (1, 2))
    assert right == sorted(right, reverse=True) and wrong == sorted(wrong, reverse=True)
    drawings = [r for r in rows if len(r) == 5 and re.match(r" [15]: \d+ ", r[0])]
    assert [r[0].split(":")[0].strip() for r in drawings] == ["5", "1"]
    assert all(0 < float(r[3]) <= float(r[4]) for r in drawings)  # p50 <= p99
    assert "seed 3" in out and "MNIST test accuracy 99.48%" in out


def test_numbers_are_enlarged_whole(bench):
    image = np.zeros((10, 30), np.uint8)
    image[2:8, 5:25] = 255
    larger = bench.enlarge(image, 3)
    assert larger.shape == (30, 90) and larger.dtype == np.uint8
    assert larger[15, 45] == 255 and larger[0, 0] == 0
