"""Numbers made of MNIST digits: what the number model learns from and is measured on.

`compose` lays MNIST digits (28x28, white on black) side by side on one line, as a
person writes a number: each digit slanted, scaled, thickened or thinned a little,
and shifted up or down, the next one placed at a chosen `spacing` from it. Spacing
is measured from contact, in units of a digit's mean width: 0 puts the next digit
where its ink first touches the previous digit's, a positive spacing leaves that
much room between the closest strokes, a negative one pushes the two into each
other. So "touching" digits really touch, whatever their shapes.

`make_numbers` draws many such numbers from a set of digits: the training set for
training, the test set for the benchmark, never both.

>>> import numpy as np
>>> one = np.zeros((28, 28), np.uint8); one[4:24, 13:16] = 255   # a "1"
>>> canvas, boxes = compose([one, one], [0.0], np.random.default_rng(0))
>>> canvas.dtype, len(boxes)
(dtype('uint8'), 2)
>>> boxes[0][2] <= boxes[1][0] + 1          # the two ones touch, no more
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from mnist_cnn import ctc
from mnist_cnn.imaging.pipeline import Line, extract_lines
from mnist_cnn.imaging.resample import resize
from mnist_cnn.imaging.strip import to_strip
from mnist_cnn.renderings import RENDERINGS, render

DIGIT_WIDTH = 15.0  # mean ink width of an MNIST digit, in pixels: the unit of spacing
MARGIN = 4  # pixels of black around a composed number
INK = 64  # grey level from which a pixel counts as ink for contact and boxes

# Spacing ranges of the benchmark's three conditions (units of DIGIT_WIDTH).
SPACINGS = {"apart": (0.10, 0.35), "touching": (-0.03, 0.0), "overlapping": (-0.10, -0.03)}


@dataclass(frozen=True)
class NumberStyle:
    """How the numbers `make_numbers` draws vary; each range is sampled uniformly.

    lengths: fewest and most digits in a number.
    spacing: room between neighbours, from contact, in units of `DIGIT_WIDTH`.
    slant: horizontal shear of each digit (0.3: the top leans 30% of the height right).
    scale: size of a whole number, then of each digit within +-`digit_scale`.
    jitter: each digit's vertical shift, as a share of its height.
    stroke: chance of thickening a digit, and of thinning it (grey dilation/erosion).

    >>> NumberStyle().lengths
    (1, 8)
    """

    lengths: tuple[int, int] = (1, 8)
    spacing: tuple[float, float] = (-0.10, 0.35)
    slant: tuple[float, float] = (-0.3, 0.3)
    scale: tuple[float, float] = (0.8, 1.25)
    digit_scale: float = 0.06
    jitter: float = 0.08
    stroke: tuple[float, float] = (0.2, 0.15)


# Numbers whose digits touch or overlap, of which `cut_parts` makes parts.
PARTS_STYLE = NumberStyle(lengths=(2, 8), spacing=(SPACINGS["overlapping"][0], 0.0))
PARTS_BATCH = 64  # numbers `cut_parts` reads with one call of each model


@dataclass(frozen=True)
class Numbers:
    """Composed numbers: each an image, its digits as text, and a box per digit.

    images: uint8 (H, W) arrays, white ink on black, of varying width.
    texts: the digits of each, left to right ("0427").
    boxes: per number, (x0, y0, x1, y1) of each digit's ink, x1 and y1 exclusive.
    """

    images: list[np.ndarray]
    texts: list[str]
    boxes: list[list[tuple[int, int, int, int]]]


def make_numbers(
    digits: np.ndarray,
    labels: np.ndarray,
    count: int,
    seed: int | Sequence[int] = 0,
    style: NumberStyle = NumberStyle(),  # noqa: B008 - frozen
) -> Numbers:
    """`count` numbers composed from `digits` (uint8 (N, 28, 28), MNIST style) with
    their `labels`, repeatably for a `seed` (an int, or several as NumPy's
    `default_rng` takes them).

    Example:
        >>> rng = np.random.default_rng(1)
        >>> digits = (rng.random((10, 28, 28)) > 0.8).astype(np.uint8) * 255
        >>> numbers = make_numbers(digits, np.arange(10), 3, seed=0)
        >>> [len(t) for t in numbers.texts] == [len(b) for b in numbers.boxes]
        True
    """
    rng = np.random.default_rng(seed)
    images, texts, boxes = [], [], []
    for _ in range(count):
        length = int(rng.integers(style.lengths[0], style.lengths[1] + 1))
        chosen = rng.integers(0, len(digits), size=length)
        spacings = rng.uniform(*style.spacing, size=length - 1)
        image, number_boxes = compose(digits[chosen], spacings, rng, style)
        images.append(image)
        texts.append("".join(str(int(labels[i])) for i in chosen))
        boxes.append(number_boxes)
    return Numbers(images, texts, boxes)


def number_strips(
    digits: np.ndarray,
    labels: np.ndarray,
    count: int,
    seed: int | Sequence[int] = 0,
    style: NumberStyle = NumberStyle(),  # noqa: B008 - frozen
    sent: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`count` numbers as the number model reads them (`make_numbers`, then
    `mnist_cnn.imaging.strip.to_strip`, as the reader makes strips of real lines).
    A share `sent` of them is first sent as a file and found again (`as_sent`).

    Returns:
        The strips, uint8 (count, height, width) (the model takes them through
        `mnist_cnn.preprocessing.preprocess`); their CTC labels, int32 (count,
        `ctc.MAX_DIGITS`); and their texts.

    Example:
        >>> digits = np.zeros((10, 28, 28), np.uint8); digits[:, 4:24, 12:16] = 255
        >>> x, y, texts = number_strips(digits, np.arange(10), 2, seed=0)
        >>> x.shape, y.shape, len(texts)
        ((2, 32, 256), (2, 8), 2)
    """
    made = make_numbers(digits, labels, count, seed, style)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    strips = [as_sent(im, rng) if rng.random() < sent else to_strip(im)[0] for im in made.images]
    strips = np.stack(strips)
    return strips, ctc.encode(made.texts), made.texts


def as_sent(
    image: np.ndarray, rng: np.random.Generator, larger: tuple[float, float] = (1, 4)
) -> np.ndarray:
    """A composed number's strip as the reader makes it from a file someone sent: the
    number enlarged `larger` times, in one of the renderings of `mnist_cnn.renderings`
    (a plain image, a photo of paper or of a board), its line found again by the image
    pipeline (`mnist_cnn.imaging.extract_lines`). So the number model learns the
    strokes the pipeline draws, not only MNIST's. Where the pipeline finds other than
    one line, the number's own strip.

    Example:
        >>> one = np.zeros((28, 28), np.uint8); one[4:24, 13:16] = 255
        >>> image, _ = compose([one, one], [0.2], np.random.default_rng(0))
        >>> as_sent(image, np.random.default_rng(0)).shape
        (32, 256)
    """
    lines = _sent(image, rng, larger)
    return to_strip(lines[0].ink if len(lines) == 1 else image)[0]


def cut_parts(
    digits: np.ndarray,
    labels: np.ndarray,
    count: int,
    seed: int | Sequence[int],
    number_logits: Callable[[np.ndarray], np.ndarray],
    digit_probabilities: Callable[[np.ndarray], np.ndarray],
    style: NumberStyle = PARTS_STYLE,
) -> tuple[np.ndarray, np.ndarray]:
    """Digits as the reader cuts them out of touching ones, with their labels: what
    a part model learns from (`mnist_cnn.number_reader`).

    `count` numbers are composed from `digits` (`make_numbers`), sent as images and
    found again (as `as_sent` does), and read by `mnist_cnn.number_reader.read_lines`
    with the two models given (a reader's `numbers` and `digit_probabilities`). The
    parts it cut out of touching digits are kept where it read as many digits as the
    number holds, each labelled with the digit in its place, read right or not. The
    digit model reads 80% of such parts right: a digit with a slice of its neighbour,
    or a slice of it missing.

    Returns:
        The parts, uint8 (N, 28, 28) MNIST style, and their digits, int (N,).

    Example:
        >>> from mnist_cnn.inference import DigitReader
        >>> reader = DigitReader.load("default")  # doctest: +SKIP
        >>> read = reader.numbers, reader.digit_probabilities  # doctest: +SKIP
        >>> parts, labels = cut_parts(x_train, y_train, 100, 0, *read)  # doctest: +SKIP
    """
    from mnist_cnn.number_reader import read_lines

    made = make_numbers(digits, labels, count, seed, style)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    parts, part_digits = [], []
    for first in range(0, count, PARTS_BATCH):
        found, texts = [], []
        batch = slice(first, first + PARTS_BATCH)
        for image, text in zip(made.images[batch], made.texts[batch], strict=True):
            lines = _sent(image, rng)
            if len(lines) == 1:
                found += lines
                texts.append(text)
        for line, reading, text in zip(
            found, read_lines(found, number_logits, digit_probabilities), texts, strict=True
        ):
            pieces = {id(crop) for crop in line.crops}
            if len(reading.crops) == len(text):
                for crop, digit in zip(reading.crops, text, strict=True):
                    if id(crop) not in pieces:
                        parts.append(crop.pixels)
                        part_digits.append(int(digit))
    return np.array(parts, np.uint8).reshape(-1, 28, 28), np.array(part_digits, np.int64)


def _sent(
    image: np.ndarray, rng: np.random.Generator, larger: tuple[float, float] = (1, 4)
) -> list[Line]:
    """The lines found again in a composed number enlarged `larger` times and rendered
    (`mnist_cnn.renderings`)."""
    factor = rng.uniform(*larger)
    height, width = image.shape
    size = (round(width * factor), round(height * factor))
    ink = np.clip(np.rint(resize(image.astype(np.float32), size, Image.BICUBIC)), 0, 255)
    return extract_lines(render(ink.astype(np.uint8), RENDERINGS[rng.integers(3)], rng))


def compose(
    digits: Sequence[np.ndarray],
    spacings: Sequence[float],
    rng: np.random.Generator,
    style: NumberStyle = NumberStyle(),  # noqa: B008 - frozen
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Lay `digits` (uint8 28x28, white on black) out left to right as one number.

    Args:
        digits: the digits, in reading order.
        spacings: one per neighbouring pair, from contact, in units of `DIGIT_WIDTH`.
        rng: draws each digit's slant, size, stroke and vertical shift.
        style: the ranges those are drawn from.

    Returns:
        The number as uint8 (H, W), white on black with a `MARGIN`, and each digit's
        ink box (x0, y0, x1, y1) in it.
    """
    if len(spacings) != len(digits) - 1:
        raise ValueError(f"{len(digits)} digits need {len(digits) - 1} spacings")
    size = rng.uniform(*style.scale)
    shapes = [_restyle(d, size, rng, style) for d in digits]
    height = max(s.shape[0] for s in shapes)
    tops = [
        int(round((height - s.shape[0]) / 2 + rng.uniform(-1, 1) * style.jitter * s.shape[0]))
        for s in shapes
    ]
    low = min(tops)
    tops = [t - low + MARGIN for t in tops]
    rows = max(t + s.shape[0] for t, s in zip(tops, shapes, strict=True)) + MARGIN
    lefts = [MARGIN]
    # The rightmost ink on each row so far: where the next digit may touch.
    right_edge = np.full(rows, -np.inf)
    _extend_edge(right_edge, shapes[0], tops[0], MARGIN)
    for shape, top, spacing in zip(shapes[1:], tops[1:], spacings, strict=True):
        left_edge = np.full(rows, np.inf)
        ink_rows = np.flatnonzero(shape.max(axis=1) >= INK)
        first_ink = np.argmax(shape[ink_rows] >= INK, axis=1)
        left_edge[top + ink_rows] = first_ink
        contact = np.max(right_edge - left_edge + 1)  # the left at which ink first touches
        if not np.isfinite(contact):  # no row of ink in common: the boxes touch instead
            previous = lefts[-1] + shapes[len(lefts) - 1].shape[1]
            contact = previous - (first_ink.min() if first_ink.size else 0)
        left = int(round(contact + spacing * DIGIT_WIDTH * size))
        lefts.append(max(left, lefts[-1] + 1))
        _extend_edge(right_edge, shape, top, lefts[-1])
    width = max(left + s.shape[1] for left, s in zip(lefts, shapes, strict=True)) + MARGIN
    canvas = np.zeros((rows, width), np.uint8)
    boxes = []
    for shape, top, left in zip(shapes, tops, lefts, strict=True):
        region = canvas[top : top + shape.shape[0], left : left + shape.shape[1]]
        np.maximum(region, shape, out=region)  # overlapping strokes: the darker ink wins
        boxes.append((left, top, left + shape.shape[1], top + shape.shape[0]))
    return canvas, boxes


def _restyle(
    digit: np.ndarray, size: float, rng: np.random.Generator, style: NumberStyle
) -> np.ndarray:
    """One digit slanted, scaled, thickened or thinned, and cropped to its ink."""
    image = np.asarray(digit, np.float32)
    grow, shrink = style.stroke
    kind = rng.random()
    if kind < grow:
        image = ndimage.grey_dilation(image, size=(2, 2))
    elif kind < grow + shrink:
        thinner = ndimage.grey_erosion(image, size=(2, 2))
        # A thinner pen writes as dark: the eroded strokes, whose cores erosion also
        # dimmed, brought back to the digit's own darkest ink. A hairline that
        # vanished keeps the digit as it was.
        if thinner.max() >= 64:
            image = thinner * (image.max() / thinner.max())
    scale = size * (1 + rng.uniform(-style.digit_scale, style.digit_scale))
    shear = rng.uniform(*style.slant)
    # Output (row, col) <- input: rows scaled, columns scaled and sheared about the middle.
    out_rows = int(np.ceil(28 * scale))
    out_cols = int(np.ceil(28 * scale + abs(shear) * 28 * scale))
    matrix = np.array([[1 / scale, 0.0], [-shear / scale, 1 / scale]])
    centre_in = np.array([14.0, 14.0])
    centre_out = np.array([out_rows / 2, out_cols / 2])
    offset = centre_in - matrix @ centre_out
    image = ndimage.affine_transform(image, matrix, offset, (out_rows, out_cols), order=1)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    rows = np.flatnonzero(image.max(axis=1) >= INK)
    cols = np.flatnonzero(image.max(axis=0) >= INK)
    if rows.size == 0:  # a blank digit: a small empty box keeps the layout going
        return np.zeros((int(20 * size), int(10 * size)), np.uint8)
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _extend_edge(edge: np.ndarray, shape: np.ndarray, top: int, left: int) -> None:
    """Record `shape`'s rightmost ink per row, placed at (`top`, `left`), in `edge`."""
    ink_rows = np.flatnonzero(shape.max(axis=1) >= INK)
    if ink_rows.size == 0:  # no ink to touch (a blank field): its box stands in for it
        np.maximum(
            edge[top : top + shape.shape[0]],
            left + shape.shape[1] - 1,
            out=edge[top : top + shape.shape[0]],
        )
        return
    last_ink = shape.shape[1] - 1 - np.argmax(shape[ink_rows, ::-1] >= INK, axis=1)
    np.maximum.at(edge, top + ink_rows, left + last_ink)
