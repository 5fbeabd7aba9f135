"""The renderings keep what a digit is: ink stays where it was, darker or lighter than
the page as the rendering says, and the files decode."""

import io

import numpy as np
import pytest
from PIL import Image

from mnist_cnn import renderings
from mnist_cnn.imaging import load_image


def bar_number(height: int = 40, width: int = 120) -> np.ndarray:
    """A wide uint8 image, white on black, with three thick bars: a "111"."""
    ink = np.zeros((height, width), np.uint8)
    for left in (20, 55, 90):
        ink[8 : height - 8, left : left + 8] = 255
    return ink


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)), np.float64)


def test_plain_is_the_image_itself_as_png():
    ink = bar_number()
    data = renderings.render(ink, "plain", np.random.default_rng(0))
    assert data.startswith(b"\x89PNG")
    np.testing.assert_array_equal(load_image(data), ink)


def test_plain_takes_float_coverage_too():
    ink = bar_number()
    data = renderings.render(ink / 255.0, "plain", np.random.default_rng(0))
    np.testing.assert_array_equal(load_image(data), ink)


@pytest.mark.parametrize("kind, ink_darker", [("photo", True), ("board", False)])
def test_ink_is_darker_on_paper_and_lighter_on_a_board(kind, ink_darker):
    for seed in range(5):
        page = decode(renderings.render(bar_number(), kind, np.random.default_rng(seed)))
        # The bars are the image's darkest (photo) or lightest (board) columns.
        columns = page.mean(axis=0)
        extreme = np.sort(np.argsort(columns)[:8] if ink_darker else np.argsort(columns)[-8:])
        contrast = np.median(page) - columns[extreme].mean()
        assert (contrast if ink_darker else -contrast) > 40, (seed, contrast)
        assert extreme[-1] - extreme[0] >= 16  # more than one bar among them


@pytest.mark.parametrize("kind", ["photo", "board"])
def test_the_page_is_larger_than_the_ink_by_the_same_factor_each_way(kind):
    for seed in range(10):
        page = decode(renderings.render(bar_number(30, 150), kind, np.random.default_rng(seed)))
        rows, cols = page.shape
        assert 1.4 * 30 - 1 <= rows < 2.0 * 30 and 1.4 * 150 - 1 <= cols < 2.0 * 150
        assert abs(rows / 30 - cols / 150) < 0.05


@pytest.mark.parametrize("kind", renderings.RENDERINGS)
def test_the_same_seed_renders_the_same_file_and_another_seed_another(kind):
    ink = bar_number()
    one, two, other = (
        renderings.render(ink, kind, np.random.default_rng(seed)) for seed in (3, 3, 4)
    )
    assert one == two
    assert (one != other) == (kind != "plain")


def read(reader, images: list) -> list[str]:
    """What the reader read in each image: its digits' top classes, left to right."""
    readings = reader.read_batch(images)
    return ["".join(str(np.argmax(d.probabilities)) for d in r.digits) for r in readings]


def test_the_shipped_model_reads_the_rendered_digits_it_reads_as_arrays(model_file, digit_images):
    from mnist_cnn.inference import DigitReader

    reader = DigitReader.load(model_file)
    images, labels = digit_images[0][:40], digit_images[1][:40]
    as_arrays = read(reader, list(images))
    known = [i for i, label in enumerate(labels) if as_arrays[i] == str(label)]
    assert len(known) >= 25
    rng = np.random.default_rng(0)
    for kind, least in (("plain", 1.0), ("photo", 0.8), ("board", 0.8)):
        texts = read(reader, [renderings.render(images[i], kind, rng) for i in known])
        right = sum(t == str(labels[i]) for t, i in zip(texts, known, strict=True))
        assert right >= least * len(known), (kind, right, len(known))


def test_an_unknown_rendering_is_refused():
    with pytest.raises(ValueError, match="plain"):
        renderings.render(bar_number(), "sketch", np.random.default_rng(0))
