"""Numbers composed of digits: labels match the images, spacing means what it says."""

import dataclasses
import itertools

import numpy as np
import pytest
from scipy import ndimage

from mnist_cnn import numbers


def bar() -> np.ndarray:
    """A "1": a vertical bar, white on black, in a 28x28 field."""
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255
    return digit


def ring() -> np.ndarray:
    """A "0": a ring."""
    yy, xx = np.mgrid[0:28, 0:28]
    radius = np.hypot(yy - 14, (xx - 14) * 1.4)
    return ((radius > 6) & (radius < 9)).astype(np.uint8) * 255


STILL = numbers.NumberStyle(slant=(0, 0), scale=(1, 1), digit_scale=0, jitter=0, stroke=(0, 0))


def pieces(image: np.ndarray) -> int:
    return ndimage.label(image >= numbers.INK, structure=np.ones((3, 3)))[1]


@pytest.mark.parametrize("spacing", [-0.10, -0.03, 0.0])
def test_touching_and_overlapping_digits_are_one_piece_of_ink(spacing):
    image, boxes = numbers.compose(
        [ring(), bar(), ring()], [spacing] * 2, np.random.default_rng(0), STILL
    )
    assert pieces(image) == 1
    assert [b[0] for b in boxes] == sorted(b[0] for b in boxes)


@pytest.mark.parametrize("spacing", [0.1, 0.35])
def test_digits_apart_leave_room_between_them(spacing):
    image, boxes = numbers.compose(
        [ring(), bar(), ring()], [spacing] * 2, np.random.default_rng(0), STILL
    )
    assert pieces(image) == 3
    gaps = [b[0] - a[2] for a, b in itertools.pairwise(boxes)]
    assert all(abs(gap - spacing * numbers.DIGIT_WIDTH) <= 1 for gap in gaps), gaps


def test_overlap_grows_as_spacing_falls():
    widths = [
        numbers.compose([ring(), ring()], [s], np.random.default_rng(0), STILL)[0].shape[1]
        for s in (0.3, 0.0, -0.1)
    ]
    assert widths[0] > widths[1] > widths[2]


def test_labels_and_boxes_match_the_digits_drawn():
    # Digit d is drawn as a bar 6 + 2d pixels tall: each box's height gives its label.
    digits = np.zeros((10, 28, 28), np.uint8)
    for d in range(10):
        digits[d, 4 : 10 + 2 * d, 12:16] = 255
    made = numbers.make_numbers(digits, np.arange(10), 40, seed=3, style=STILL)
    for image, text, boxes in zip(made.images, made.texts, made.boxes, strict=True):
        assert 1 <= len(text) <= 8 and len(boxes) == len(text)
        for digit, (x0, y0, x1, y1) in zip(text, boxes, strict=True):
            assert y1 - y0 == 6 + 2 * int(digit)
            assert (image[y0:y1, x0:x1] >= numbers.INK).all()  # the box is the bar's ink


def test_a_thinned_digit_is_thinner_but_as_dark():
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:15] = 120
    digit[4:24, 13] = 255  # a 3-pixel stroke with a dark core
    thin = dataclasses.replace(STILL, stroke=(0.0, 1.0))
    image = numbers.make_numbers(digit[None], [1], 1, seed=0, style=thin).images[0]
    plain = numbers.make_numbers(digit[None], [1], 1, seed=0, style=STILL).images[0]
    assert image.max() == 255  # erosion alone would leave 120
    assert (image >= numbers.INK).sum() < (plain >= numbers.INK).sum()


def test_the_same_seed_gives_the_same_numbers():
    rng = np.random.default_rng(0)
    digits = (rng.random((20, 28, 28)) > 0.7).astype(np.uint8) * 255
    a = numbers.make_numbers(digits, np.arange(20) % 10, 5, seed=7)
    b = numbers.make_numbers(digits, np.arange(20) % 10, 5, seed=7)
    assert a.texts == b.texts
    assert all(np.array_equal(x, y) for x, y in zip(a.images, b.images, strict=True))


def test_lengths_stay_in_range_and_spacings_must_match():
    digits = np.stack([bar()] * 10)
    made = numbers.make_numbers(
        digits, np.arange(10), 50, seed=0, style=numbers.NumberStyle(lengths=(2, 3))
    )
    assert {len(t) for t in made.texts} == {2, 3}
    with pytest.raises(ValueError, match="need 1 spacings"):
        numbers.compose([bar(), bar()], [], np.random.default_rng(0))


def test_a_field_without_ink_keeps_its_place_in_the_number():
    image, boxes = numbers.compose(
        [bar(), np.zeros((28, 28), np.uint8), bar()], [0.0, 0.0], np.random.default_rng(0), STILL
    )
    assert [b[0] for b in boxes] == sorted(b[0] for b in boxes)
    assert boxes[2][0] >= boxes[1][2]  # the last digit comes after the blank field's box


def test_number_strips_are_what_the_number_model_reads():
    from mnist_cnn import ctc
    from mnist_cnn.imaging import strip

    digits = np.stack([bar()] * 10)
    x, y, texts = numbers.number_strips(digits, np.arange(10), 6, seed=1)
    assert x.shape == (6, strip.HEIGHT, strip.WIDTH) and x.dtype == np.uint8
    assert x.max() == 255
    assert y.tolist() == ctc.encode(texts).tolist()


def test_numbers_sent_as_files_are_found_again_by_the_image_pipeline():
    digits = np.stack([bar()] * 10)
    plain, y, texts = numbers.number_strips(digits, np.arange(10), 6, seed=2)
    sent, y_sent, texts_sent = numbers.number_strips(digits, np.arange(10), 6, seed=2, sent=1.0)
    assert texts_sent == texts and (y_sent == y).all()  # the same numbers ...
    assert not (sent == plain).all()  # ... drawn again by the pipeline ...
    for a, b in zip(plain, sent, strict=True):  # ... with their bars where they were
        columns_a, columns_b = a.max(axis=0) > 127, b.max(axis=0) > 127
        assert (columns_a & columns_b).sum() >= 0.6 * max(columns_a.sum(), columns_b.sum())


def test_parts_cut_from_touching_digits_carry_the_digit_in_their_place(digit_images):
    from mnist_cnn.inference import DigitReader

    reader = DigitReader.load("default", litert=True)
    digits, labels = digit_images
    parts, part_labels = numbers.cut_parts(
        digits, labels, 40, 0, reader.numbers, reader.digit_probabilities
    )
    assert parts.dtype == np.uint8 and parts.shape[1:] == (28, 28)
    assert len(parts) == len(part_labels) >= 40  # about half of ~5 digits a number
    # The digit model reads most of the parts as their labels: none is another's.
    read = reader.digit_probabilities(parts).argmax(axis=1)
    assert (read == part_labels).mean() >= 0.5  # 0.65: parts are hard, the reason for them
    assert (read == np.roll(part_labels, 1)).mean() <= 0.25
