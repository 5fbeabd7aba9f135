"""The real-image pipeline: decoding, cleaning, segmentation and MNIST normalisation.

Photos are simulated from 28x28 MNIST-style digits (printed ones in the fast tier,
real MNIST test digits in the slow one): upscaled to a few hundred pixels, thickened
or thinned, printed dark on light paper or light on a dark board, under uneven
light, with sensor noise, blur and JPEG compression. Each module also has a test of
its own on tiny arrays.
"""

import dataclasses
import io
import os
import struct
import threading
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from mnist_cnn import data, imaging
from mnist_cnn.imaging import (
    ImageError,
    ImagingParams,
    decode,
    extract_digits,
    extract_lines,
    ink,
    load_image,
    normalise,
    resample,
    segment,
)
from mnist_cnn.imaging.page import _hull, find_page, paper_only
from mnist_cnn.imaging.strip import tilt
from mnist_cnn.inference import DigitReader


@pytest.fixture(scope="module")
def mnist_digits(mnist_dir):
    """Real MNIST test digits (uint8 28x28) and labels."""
    return data.load_test_set(mnist_dir)


# -- simulated photos ----------------------------------------------------------------------


def disk(radius: float) -> np.ndarray:
    n = int(np.ceil(radius))
    yy, xx = np.mgrid[-n : n + 1, -n : n + 1]
    return xx**2 + yy**2 <= radius**2 + 0.5


def coverage(digit: np.ndarray, height: int, thickness: float = 0.0) -> np.ndarray:
    """An MNIST-style digit as ink coverage 0-1, its 20-px box scaled to `height` pixels;
    `thickness` MNIST pixels added to (or, negative, removed from) each side of a stroke."""
    scale = height / 20
    size = round(28 * scale)
    alpha = np.asarray(Image.fromarray(digit).resize((size, size), Image.BICUBIC), np.float32)
    alpha = np.interp(alpha, (0, 255), (0.0, 1.0))
    if thickness:
        morph = ndimage.grey_dilation if thickness > 0 else ndimage.grey_erosion
        alpha = morph(alpha, footprint=disk(abs(thickness) * scale))
    return alpha


def photograph(alpha: np.ndarray, rng, dark_ink=True, light=0.25, noise=5.0, blur=1.0):
    """Ink coverage -> a grayscale 'photo': paper (or board) under a lighting gradient
    that varies by +-`light`, sensor noise and lens blur."""
    h, w = alpha.shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    lighting = 1 - light + 2 * light * (np.cos(angle) * xx + np.sin(angle) * yy + 0.5)
    if dark_ink:
        image = 235 * lighting * (1 - 0.85 * alpha)
    else:
        image = 30 * lighting + 200 * alpha * lighting
    image = ndimage.gaussian_filter(image, blur) + rng.normal(0, noise, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def place(alphas: list[np.ndarray], canvas: tuple[int, int], xs: list[int], ys: list[int]):
    """Put ink patches on a blank canvas; returns the canvas and each digit's box."""
    page = np.zeros(canvas, np.float32)
    boxes = []
    for alpha, x, y in zip(alphas, xs, ys, strict=True):
        h, w = alpha.shape
        page[y : y + h, x : x + w] = np.maximum(page[y : y + h, x : x + w], alpha)
        rows = np.flatnonzero((alpha > 0.5).any(axis=1))
        cols = np.flatnonzero((alpha > 0.5).any(axis=0))
        boxes.append((x + cols[0], y + rows[0], x + cols[-1] + 1, y + rows[-1] + 1))
    return page, boxes


def encode(gray: np.ndarray, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, fmt, **options)
    return buffer.getvalue()


def single_photo(digit, rng, height, **options):
    """One digit somewhere on a page 1.3-2.2 times its size; returns JPEG bytes and box."""
    thickness = options.pop("thickness", 0.0)
    alpha = coverage(digit, height, thickness)
    h, w = int(height * rng.uniform(1.6, 2.2)), int(height * rng.uniform(1.6, 2.2))
    x, y = int(rng.integers(0, w - alpha.shape[1])), int(rng.integers(0, h - alpha.shape[0]))
    page, boxes = place([alpha], (h, w), [x], [y])
    quality = options.pop("quality", 80)
    return encode(photograph(page, rng, **options), quality=quality), boxes[0]


def strip(digits, rng, dark_ink=True):
    """Digits side by side with 20 px margins on one photo; the JPEG and their boxes."""
    alphas = [coverage(d, int(rng.integers(90, 130))) for d in digits]
    xs = list(np.cumsum([20] + [a.shape[1] - 20 for a in alphas[:-1]]))
    ys = [int(rng.integers(5, 40)) for _ in alphas]
    page, boxes = place(alphas, (220, xs[-1] + alphas[-1].shape[1] + 20), xs, ys)
    return encode(photograph(page, rng, dark_ink=dark_ink)), boxes


def drawing(strokes, size=(200, 300), width=12):
    """White paper with black pen strokes: lines [(x0, y0, x1, y1), ...], ellipses
    ("ellipse", box) and boxes ("box", box, width)."""
    image = Image.new("L", (size[1], size[0]), 255)
    pen = ImageDraw.Draw(image)
    for stroke in strokes:
        if stroke[0] == "ellipse":
            pen.ellipse(stroke[1], outline=0, width=width)
        elif stroke[0] == "box":
            pen.rectangle(stroke[1], outline=0, width=stroke[2])
        else:
            pen.line(stroke, fill=0, width=width)
    return np.asarray(image)


CONDITIONS = [  # (height in px, options)
    (80, {}),
    (240, {"dark_ink": False}),
    (160, {"thickness": 1.0}),
    (300, {"thickness": -0.4, "light": 0.35}),
    (120, {"noise": 12.0, "quality": 40}),
    (200, {"blur": 2.5, "dark_ink": False}),
]


# -- the whole pipeline --------------------------------------------------------------------


def test_photos_become_mnist_style_inputs(digit_images):
    """One digit per photo, its longer side 20 px and its centre of mass at (14, 14)."""
    rng = np.random.default_rng(0)
    x, _ = digit_images
    offsets = []
    for i, (height, options) in enumerate(CONDITIONS * 3):
        found = extract_digits(single_photo(x[i], rng, height, **dict(options))[0])
        assert len(found) == 1, (i, height, options)
        pixels = found[0].pixels
        assert pixels.shape == (28, 28) and pixels.dtype == np.uint8
        rows = np.flatnonzero(pixels.any(axis=1))
        cols = np.flatnonzero(pixels.any(axis=0))
        longer = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
        assert 18 <= longer <= 20, (i, longer)
        assert pixels.max() == 255  # stroke cores saturate, as in MNIST
        assert 0 < (pixels > 0).mean() < 0.5 and ((pixels > 0) & (pixels < 255)).any()  # grey
        offsets.append(np.subtract(ndimage.center_of_mass(pixels.astype(float)), 14.0))
    offsets = np.abs(np.array(offsets))
    assert offsets.max() <= 1.5 and offsets.mean() <= 0.6


def test_several_digits_left_to_right_with_boxes(digit_images):
    x, _ = digit_images
    rng = np.random.default_rng(2)
    for trial, dark_ink in enumerate([True, False, True]):
        chosen = rng.choice(len(x), 3 + trial, replace=False)
        photo, boxes = strip(x[chosen], rng, dark_ink)
        found = extract_digits(photo)
        assert len(found) == len(chosen)
        for digit, box in zip(found, boxes, strict=True):
            assert np.abs(np.subtract(digit.box, box)).max() <= 5, (digit.box, box)


def test_small_digits_on_a_large_page_are_found_sharp(digit_images):
    """A page photographed whole: digits 20 px tall on a 1000x750 photo (and on a
    2000x1500 one, analysed at half size). A blur sized for the page would melt their
    strokes into blobs: their inputs are compared with those of the same digits drawn
    large and clean."""
    x, _ = digit_images
    rng = np.random.default_rng(4)
    distances = []
    for width in (1000, 2000):
        height = 20 * width // 1000
        chosen = rng.choice(len(x), 4, replace=False)
        alphas = [coverage(d, height) for d in x[chosen]]
        left, top = int(rng.integers(50, width // 2)), int(rng.integers(50, width // 2))
        xs = [left + i * (alphas[0].shape[1] - height // 4) for i in range(4)]
        page, boxes = place(alphas, (width * 3 // 4, width), xs, [top] * 4)
        found = extract_digits(encode(photograph(page, rng, light=0.1, noise=3.0, blur=0.5)))
        assert len(found) == 4, (width, [d.box for d in found], boxes)
        for digit, box, drawn in zip(found, boxes, x[chosen], strict=True):
            assert np.abs(np.subtract(digit.box, box)).max() <= 3 * width // 1000, (digit.box, box)
            large = np.kron(np.pad(255 - drawn, 10, constant_values=255), np.ones((4, 4), np.uint8))
            (clean,) = extract_digits(large)
            distances.append(np.abs(digit.pixels.astype(float) - clean.pixels).mean())
    # (Blurred as for the page: 18-21 grey levels of 255 away on average.)
    assert np.mean(distances) < 15, distances


def test_small_digits_on_a_photo_decoded_larger_are_found_at_its_resolution(digit_images):
    """Digits 36 px tall on a 3000x2250 photo: 12 px at the working size (1024 px), 18
    in the photo as decoded (1500 px), where the region around them is looked at again.
    Their inputs come closer to those of the same digits photographed large than the
    working size's (`small_height` 0: the code before)."""
    x, _ = digit_images
    rng = np.random.default_rng(8)
    chosen = x[[3, 25, 47, 69]]
    alphas = [coverage(d, 36) for d in chosen]
    page, _ = place(alphas, (2250, 3000), [1400 + i * 40 for i in range(4)], [1100] * 4)
    photo = encode(photograph(page, rng))
    (line,) = extract_lines(photo)
    (coarse,) = extract_lines(photo, params=ImagingParams(small_height=0))
    assert len(line.crops) == len(coarse.crops) == 4
    assert line.factor == 2.0 and coarse.factor > 2.9  # original pixels per working pixel
    for fine, before in zip(line.crops, coarse.crops, strict=True):
        assert np.abs(np.subtract(fine.box, before.box)).max() <= 4, (fine.box, before.box)
    large = []
    for digit in chosen:
        alone, _ = place([coverage(digit, 100)], (200, 200), [30], [30])
        (crop,) = extract_digits(encode(photograph(alone, rng)))
        large.append(crop.pixels.astype(float))
    distance = [np.abs(c.pixels - big).mean() for c, big in zip(line.crops, large, strict=True)]
    before = [np.abs(c.pixels - big).mean() for c, big in zip(coarse.crops, large, strict=True)]
    assert np.mean(distance) < np.mean(before) - 2, (distance, before)  # (11 against 14)


def test_digits_in_a_shadow_across_the_page_are_found(digit_images):
    """A shadow (a hand, a phone) darkens part of the page by 45%: a broad dark blob,
    not ink; the background estimate must follow it rather than take it for a stroke."""
    x, _ = digit_images
    rng = np.random.default_rng(8)
    for trial in range(3):
        alphas = [coverage(d, 100) for d in x[rng.choice(len(x), 4, replace=False)]]
        xs = [30 + i * (alphas[0].shape[1] - 20) for i in range(4)]
        page, boxes = place(alphas, (220, xs[-1] + alphas[-1].shape[1] + 30), xs, [40] * 4)
        gray = photograph(page, rng, light=0.0, noise=3.0).astype(np.float32)
        shade = np.ones(gray.shape[1])
        shade[boxes[1 + trial % 2][2] + 10 :] = 0.55  # from beside the second or third digit
        gray *= ndimage.gaussian_filter1d(shade, 3 + 8 * trial)[None, :]
        assert_found_at(gray, boxes, trial)


def two_digits_photographed(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Two of the printed digits `x`, 70 px tall, photographed on a page 150 px tall with
    room beside and below them: the photo (float) and the digits' boxes."""
    alphas = [coverage(d, 70) for d in x[rng.choice(len(x), 2, replace=False)]]
    xs = [30, 30 + alphas[0].shape[1] - 10]
    page, boxes = place(alphas, (150, xs[-1] + alphas[-1].shape[1] + 60), xs, [25, 25])
    return photograph(page, rng, light=0.0, noise=3.0).astype(np.float32), boxes


def assert_found_at(gray: np.ndarray, boxes: list, *context) -> None:
    """The digits found in `gray` are those in `boxes`, each within 6 px."""
    found = extract_digits(encode(gray.astype(np.uint8)))
    assert len(found) == len(boxes), (*context, [d.box for d in found], boxes)
    for digit, box in zip(found, boxes, strict=True):
        assert np.abs(np.subtract(digit.box, box)).max() <= 6, (*context, digit.box, box)


@pytest.mark.parametrize("side", ["right", "left"])
def test_a_shadow_beside_the_digits_reaching_the_border_is_not_ink(digit_images, side):
    """A shadow that falls beside the digits, over the border, is background beyond the
    border too: framed by the paper's level, it was a dark band that the background
    estimate took away, and then one large piece of ink."""
    x, _ = digit_images
    rng = np.random.default_rng(3)
    for trial in range(3):
        gray, boxes = two_digits_photographed(x, rng)
        shade = np.ones(gray.shape[1])
        if side == "right":
            shade[boxes[-1][2] + 8 :] = 0.55
        else:
            shade[: boxes[0][0] - 8] = 0.55
        gray *= ndimage.gaussian_filter1d(shade, 4 + 4 * trial)[None, :]
        assert_found_at(gray, boxes, side, trial)


def test_a_sharp_shadow_below_the_digits_does_not_join_them(digit_images):
    """A shadow with a sharp edge across the foot of the photo, 8-22 px below the
    digits: the background estimate, blurred, smeared the edge up the shadow's side,
    and the smear was ink that joined the digits above it."""
    x, _ = digit_images
    rng = np.random.default_rng(3)
    for trial in range(4):
        gray, boxes = two_digits_photographed(x, rng)
        for depth, edge in ((30, 3.0), (40, 1.5), (40, 3.0)):
            shade = np.ones(gray.shape[0])
            shade[-depth:] = 0.55
            shaded = gray * ndimage.gaussian_filter1d(shade, edge)[:, None]
            assert_found_at(shaded, boxes, trial, depth, edge)


@pytest.mark.parametrize("side", ["top", "foot"])
@pytest.mark.parametrize(
    ("seed", "height", "light", "bands"),
    [(5, 160, 0.0, ((20, 0.5), (14, 2.0))), (8, 120, 0.1, ((11, 1.5), (18, 3.0)))],
    ids=["sharp", "narrow, uneven light"],
)
def test_a_shadow_along_a_wide_photos_side_is_neither_light_ink_nor_a_stroke(
    digit_images, side, seed, height, light, bands
):
    """A shadow across the whole top or foot of a wide photo, sharp, or a narrow band
    on paper lit unevenly. A plane fitted through all of the border tilted to meet
    both levels, or held the long top and foot rows and missed the sides: the lit
    paper past the edge stood out like light ink, and the digits were read as the
    paper between light strokes. And the frame past the border looked for lit paper
    deeper than a narrow band, so the band was a stroke joined to the digits."""
    x, _ = digit_images
    rng = np.random.default_rng(seed)
    size = round(0.44 * height)
    for trial in range(3):
        alphas = [coverage(d, size) for d in x[rng.choice(len(x), 6, replace=False)]]
        xs = [40 + i * (alphas[0].shape[1] + 15) for i in range(6)]
        canvas = (height, xs[-1] + alphas[-1].shape[1] + 40)
        page, boxes = place(alphas, canvas, xs, [(height - size) // 2] * 6)
        gray = photograph(page, rng, light=light, noise=3.0).astype(np.float32)
        for depth, edge in bands:
            shade = np.ones(height)
            shade[slice(None, depth) if side == "top" else slice(-depth, None)] = 0.55
            shaded = gray * ndimage.gaussian_filter1d(shade, edge)[:, None]
            assert ink.polarity(shaded)[0], (side, trial, depth)
            assert_found_at(shaded, boxes, side, trial, depth, edge)


def test_a_line_written_uphill_is_one_line(digit_images):
    x, _ = digit_images
    rng = np.random.default_rng(6)
    for degrees in (-20, 12, 20):
        alphas = [coverage(d, 100) for d in x[rng.choice(len(x), 5, replace=False)]]
        xs = [40 + i * (alphas[0].shape[1] - 20) for i in range(5)]
        page, _ = place(alphas, (240, xs[-1] + alphas[-1].shape[1] + 40), xs, [40] * 5)
        turned = np.clip(ndimage.rotate(page, degrees, order=1), 0, 1)
        (line,) = imaging.extract_lines(encode(photograph(turned, rng)))
        assert len(line.crops) == 5, degrees
        # Its slope, about the tangent of the angle (a photo turned anticlockwise: uphill).
        assert abs(tilt(line.ink) + np.tan(np.radians(degrees))) < 0.1


def test_a_short_line_photographed_turned_is_one_line():
    # The boxes of the digits of "5086" photographed turned 20 degrees, as found: the 0,
    # smaller than the 5 and 0.45 of its height lower, shares under half of its rows.
    boxes = [(59, 116, 69, 102), (96, 137, 108, 172), (106, 159, 164, 208), (119, 171, 204, 245)]
    pieces = [(slice(top, foot), slice(left, right), None) for top, foot, left, right in boxes]
    (line,) = segment.group_lines(pieces)
    assert [piece[1].start for piece in line] == [69, 108, 164, 204]
    # A digit that shares a third of its neighbour's rows is on a line of its own.
    apart = [(slice(0, 60), slice(0, 40), None), (slice(40, 100), slice(50, 90), None)]
    assert len(segment.group_lines(apart)) == 2


def lean(pixels: np.ndarray) -> float:
    """How far a digit leans from upright, in degrees (positive: its top to the right):
    the least-squares line through its ink's columns, row by row."""
    rows, cols = np.nonzero(pixels > 127)
    return -float(np.degrees(np.arctan(np.polyfit(rows, cols, 1)[0])))


@pytest.mark.parametrize("degrees", [-20, 15, 20])
def test_the_digits_of_a_line_photographed_turned_are_upright(degrees):
    # Four 1s in a line: turned, each leans as far as the line, further than MNIST's
    # writers slanted theirs, and is read turned back.
    page = np.full((200, 420), 230, np.uint8)
    for x in (60, 150, 240, 330):
        page[50:150, x : x + 14] = 20
    turned = ndimage.rotate(page, degrees, order=1, cval=230)
    (line,) = imaging.extract_lines(turned)
    assert len(line.crops) == 4 and line.lean == line.slope == tilt(line.ink)
    assert abs(line.lean + np.tan(np.radians(degrees))) < 0.05
    leans = [lean(crop.pixels) for crop in line.crops]
    assert max(map(abs, leans)) < 5, leans
    # A level line's digits are left as they are; so are two digits', whose shapes
    # alone can slope their ink.
    (level,) = imaging.extract_lines(page)
    assert level.lean == 0.0
    assert [crop.pixels.tolist() for crop in level.crops] == [
        crop.pixels.tolist() for crop in imaging.extract_digits(page)
    ]
    (two,) = imaging.extract_lines(turned[:, : turned.shape[1] // 2])
    assert len(two.crops) == 2 and two.lean == 0.0
    assert min(abs(lean(crop.pixels)) for crop in two.crops) > abs(degrees) - 3


def test_broken_strokes_are_one_digit():
    # A 5 whose top bar does not touch its body, and a 7 broken in the middle.
    five = [(120, 40, 180, 40), ("ellipse", (100, 90, 180, 160)), (110, 52, 110, 110)]
    seven = [(60, 40, 120, 40), (120, 40, 100, 95), (97, 108, 80, 160)]
    for strokes in (five, seven):
        assert len(extract_digits(drawing(strokes))) == 1


@pytest.mark.parametrize("gap", [40, 8])  # half and a tenth of the digits' height
def test_digits_in_two_rows_are_two_lines_each_digit_whole(gap):
    # "10" written above "10": each 1 above the other is not one tall digit.
    below = 100 + gap
    strokes = [(60, 20, 60, 100), ("ellipse", (100, 20, 160, 100))]
    strokes += [(60, below, 60, below + 80), ("ellipse", (100, below, 160, below + 80))]
    gray = drawing(strokes, size=(240, 220))
    lines = imaging.extract_lines(gray)
    assert [len(line.crops) for line in lines] == [2, 2]
    tops = [[crop.box[1] for crop in line.crops] for line in lines]
    assert np.abs(np.subtract(tops, [[20, 20], [below, below]])).max() <= 8, tops
    # Without lines too, the digits come in reading order: row by row, left to right.
    corners = [crop.box[:2] for crop in extract_digits(gray)]
    assert np.abs(np.subtract(corners, [[54, 20], [94, 20], [54, below], [94, below]])).max() <= 8


def ruled(page: np.ndarray, kind: str, boxes: list, rng) -> np.ndarray:
    """Ink coverage with rules drawn over it: the lines of "ruled" or "squared" paper
    or a notebook's "margin" (half as dark as the pen, 2-3 px), or a "box" round the
    digits or an "underline" touching each of them, drawn with the pen."""
    lines = np.zeros_like(page)
    if kind in ("ruled", "squared"):
        lines[int(rng.integers(5, 30)) :: 45] = 0.5
        lines[1:] = np.maximum(lines[1:], lines[:-1])
    if kind == "squared":
        lines[:, int(rng.integers(5, 30)) :: 45] = 0.5
        lines[:, 1:] = np.maximum(lines[:, 1:], lines[:, :-1])
    if kind == "margin":
        lines[:, 12:15] = 0.5
    if kind == "box":
        lines[12:16, 12:-12] = lines[-16:-12, 12:-12] = 0.9
        lines[12:-12, 12:16] = lines[12:-12, -16:-12] = 0.9
    if kind == "underline":
        bottom = min(box[3] for box in boxes) - 3
        lines[bottom : bottom + 5, 8:-8] = 0.9
    return np.maximum(page, lines)


@pytest.mark.parametrize("kind", ["ruled", "margin", "box", "underline"])
def test_digits_on_ruled_paper_in_a_box_or_underlined_are_found_whole(digit_images, kind):
    """A line that touches digits would join them into one blob: rules are taken out
    (`imaging.rules`), each digit found whole with its own box."""
    x, _ = digit_images
    rng = np.random.default_rng(5)
    for trial in range(3):
        chosen = rng.choice(len(x), 3 + trial, replace=False)
        alphas = [coverage(d, int(rng.integers(90, 130))) for d in x[chosen]]
        xs = list(np.cumsum([30] + [a.shape[1] - 15 for a in alphas[:-1]]))
        ys = [int(rng.integers(20, 50)) for _ in alphas]
        page, boxes = place(alphas, (240, xs[-1] + alphas[-1].shape[1] + 30), xs, ys)
        # (Under light uneven enough to lift only parts of the lines above the
        # threshold, the parts left are shorter than a rule and stay.)
        found = extract_digits(encode(photograph(ruled(page, kind, boxes, rng), rng, light=0.1)))
        assert len(found) == len(chosen), (kind, trial, [d.box for d in found], boxes)
        for digit, box in zip(found, boxes, strict=True):
            # (An underline hides what of a digit's base runs along it.)
            off = np.abs(np.subtract(digit.box, box))
            assert np.all(off <= [8, 8, 8, 15 if kind == "underline" else 8]), (digit.box, box)


def test_a_box_round_two_bold_digits_is_taken_out():
    """A box round two digits is less than twice as wide as they are tall, and its
    sides shorter than the run that finds a line of bold strokes; a "1" just inside a
    side is a digit, not the side."""
    for one in (60, 50):
        box = ("box", (32, 32, 188, 168), 5)
        gray = drawing([(one, 50, one, 150), ("ellipse", (100, 50, 170, 150)), box], (200, 220), 16)
        found = extract_digits(gray)
        assert len(found) == 2, [d.box for d in found]
        off = np.subtract(
            [d.box for d in found], [(one - 8, 50, one + 8, 150), (100, 50, 170, 150)]
        )
        assert np.abs(off).max() <= 6, [d.box for d in found]
        # Photographed turned a few degrees, its lines turned too.
        turned = ndimage.rotate(255 - gray.astype(np.float32), 6, order=1, cval=0)
        found = extract_digits((255 - np.clip(turned, 0, 255)).astype(np.uint8))
        assert len(found) == 2, [d.box for d in found]


def test_digits_in_a_form_s_boxes_one_each_are_found_and_a_square_zero_stays():
    """A form's boxes, one digit in each, narrower than tall and nearly filled: each box
    is a piece of ink that runs along all four sides of its own bounding box with ink
    inside. A square "0" runs along them too, but holds nothing."""
    boxes = [("box", (20 + 70 * k, 20, 80 + 70 * k, 120), 4) for k in range(3)]
    one, zero = (50, 35, 50, 105), ("ellipse", (100, 35, 140, 105))
    seven = [(165, 35, 200, 35), (200, 35, 180, 105)]
    found = extract_digits(drawing([*boxes, one, zero, *seven], (140, 240), 10))
    expected = [(45, 30, 55, 110), (100, 35, 140, 105), (160, 30, 205, 110)]
    assert len(found) == 3, [d.box for d in found]
    assert np.abs(np.subtract([d.box for d in found], expected)).max() <= 8, found
    square = extract_digits(drawing([("box", (60, 30, 130, 120), 12)], (150, 190)))
    assert [d.box for d in square] == [(60, 30, 131, 121)]


def test_an_underline_a_stroke_width_past_both_ends_is_taken_out():
    """An underline under two digits reaching just past them (by a stroke width, not by
    a quarter of their height): no digit's bar reaches past both ends of the digits."""
    seven, one = [(40, 50, 110, 50), (110, 50, 70, 150)], [(150, 50, 150, 150)]
    gray = drawing([*seven, *one, (22, 153, 172, 153)], size=(200, 200))
    found = extract_digits(gray)
    assert len(found) == 2, [d.box for d in found]
    off = np.subtract([d.box for d in found], [(40, 44, 116, 150), (144, 44, 156, 150)])
    assert np.all(np.abs(off) <= [8, 8, 8, 12]), [d.box for d in found]
    # Under one digit, an underline as long as the digit is tall is enough.
    found = extract_digits(drawing([*seven, (20, 153, 140, 153)], size=(200, 170)))
    assert len(found) == 1 and np.all(np.abs(np.subtract(found[0].box, (40, 44, 116, 150))) <= 12)


def test_a_bar_that_reaches_past_one_end_of_the_digits_stays():
    """The tops of two 7s joined into one long bar reach past the digits' left end
    only (at the right, the second 7's stem meets the bar): they stay the 7s' ink."""
    gray = drawing([(20, 40, 200, 40), (100, 40, 70, 160), (200, 40, 170, 160)], (200, 230))
    found = extract_digits(gray)
    assert found and all(d.box[1] <= 36 for d in found), [d.box for d in found]
    assert min(d.box[0] for d in found) <= 22, [d.box for d in found]


def test_rules_of_a_page_photographed_turned_are_taken_out(digit_images):
    """A page photographed a few degrees turned: its rules cross the digits aslant and
    are taken out as level ones are; the digits are found as on the page without them."""
    x, _ = digit_images
    rng = np.random.default_rng(7)
    for trial in range(8):
        chosen = rng.choice(len(x), 4, replace=False)
        alphas = [coverage(d, int(rng.integers(60, 90))) for d in x[chosen]]
        xs = list(np.cumsum([40] + [a.shape[1] - 10 for a in alphas[:-1]]))
        page, boxes = place(alphas, (200, xs[-1] + alphas[-1].shape[1] + 40), xs, [60] * 4)
        lined = ruled(page, "ruled", boxes, rng)
        angle = (-8, 6)[trial % 2]
        turned = [np.clip(ndimage.rotate(p, angle), 0, 1) for p in (page, lined)]
        found = [extract_digits(encode(photograph(p, rng, light=0.1))) for p in turned]
        assert len(found[1]) == len(found[0]) == 4, [[d.box for d in f] for f in found]
        off = np.abs(np.subtract([d.box for d in found[1]], [d.box for d in found[0]]))
        assert off.max() <= 8, (trial, off)


def test_a_digit_written_lightly_beside_dark_ones_is_found():
    gray = drawing([(50, 40, 50, 160), ("ellipse", (100, 40, 170, 160))]).copy()  # "10" ...
    light = drawing([(240, 40, 240, 160)], width=6)  # ... and a thin, light "1"
    gray[light < 128] = 190
    found = extract_digits(gray)
    assert len(found) == 3 and 230 <= found[2].box[0] < found[2].box[2] <= 250
    # Paper texture and noise are not raised with it.
    noisy = np.clip(gray + np.random.default_rng(0).normal(0, 6, gray.shape), 0, 255)
    assert len(extract_digits(noisy.astype(np.uint8))) == 3


def test_digits_in_a_dim_noisy_photo_are_found_and_its_noise_is_not(digit_images):
    """Poor light: grey paper, ink only 60 levels darker, sensor noise in blotches
    (JPEG). The ink map is blurred more until its threshold stands clear of the noise."""
    x, _ = digit_images
    rng = np.random.default_rng(3)
    for trial in range(6):
        chosen = rng.choice(len(x), 3, replace=False)
        alphas = [coverage(d, 60) for d in x[chosen]]
        page, boxes = place(alphas, (150, 316), [20, 92, 164], [30] * 3)
        dim = 90 - 60 * page + rng.normal(0, 8, page.shape)
        found = extract_digits(encode(np.clip(dim, 0, 255).astype(np.uint8), quality=70))
        assert len(found) == 3, (trial, [d.box for d in found], boxes)
        off = np.abs(np.subtract([d.box for d in found], boxes))
        assert off.max() <= 8, (trial, off)


def test_digits_under_a_glare_are_found(digit_images):
    """A flash's reflection over the digits blows the paper out to white: lighter than
    the border by far more pixels than the ink is darker, yet broad, so no ink. Thin
    strokes hold the least ink against it (half the trials)."""
    x, _ = digit_images
    rng = np.random.default_rng(4)
    rows, cols = np.indices((150, 316)) / np.array([150, 316])[:, None, None]
    for trial in range(12):
        chosen = rng.choice(len(x), 3, replace=False)
        alphas = [coverage(d, 60, -0.5 * (trial % 2)) for d in x[chosen]]
        page, boxes = place(alphas, (150, 316), [20, 92, 164], [30] * 3)
        centre = rng.uniform(0.3, 0.7, 2)
        spot = np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / 0.09)
        photo = 200 - 180 * page + 120 * spot * (1 - page / 2) + rng.normal(0, 3, page.shape)
        found = extract_digits(encode(np.clip(photo, 0, 255).astype(np.uint8)))
        assert len(found) == 3, (trial, [d.box for d in found], boxes)
        off = np.abs(np.subtract([d.box for d in found], boxes))
        assert off.max() <= 8, (trial, off)


@pytest.mark.parametrize("dark_ink", [True, False])
def test_digits_in_a_vignetted_photo_are_found(digit_images, dark_ink):
    """Light falling off from the middle to the corners (30-40% of it there): a plane
    through the border misses the middle by more than the ink's depth, and the
    brighter middle was once taken for light ink: no digit at all."""
    x, _ = digit_images
    rng = np.random.default_rng(6)
    rows, cols = np.indices((150, 316)) / np.array([150, 316])[:, None, None]
    light = 1 - 0.32 * (((rows - 0.5) / 0.5) ** 2 + ((cols - 0.5) / 0.5) ** 2)
    for trial in range(4):
        chosen = rng.choice(len(x), 3, replace=False)
        alphas = [coverage(d, 60) for d in x[chosen]]
        page, boxes = place(alphas, (150, 316), [20, 92, 164], [30] * 3)
        ink = 1 - 0.85 * page if dark_ink else 0.15 + 0.85 * page
        photo = 235 * light * ink + rng.normal(0, 3, page.shape)
        found = extract_digits(encode(np.clip(photo, 0, 255).astype(np.uint8)))
        assert len(found) == 3, (trial, [d.box for d in found], boxes)
        off = np.abs(np.subtract([d.box for d in found], boxes))
        assert off.max() <= 8, (trial, off)


def test_a_tight_crop_keeps_the_plane_and_a_vignette_gets_a_curved_fit():
    """The border of a tight crop, a quarter of it ink, fits a quadratic surface far
    closer than a plane too, but not all of it: its background stays a plane."""
    from sklearn.datasets import load_digits

    for index in (133, 372, 488):  # bold real handwriting, upscaled as real_digits.py does
        levels = np.interp(load_digits().images[index], (0, 16), (0, 255)).astype(np.float32)
        big = Image.fromarray(levels, mode="F").resize((96, 96), Image.BICUBIC)
        tight = np.clip(np.rint(np.asarray(big)), 0, 255).astype(np.uint8)
        dark_ink, fit = ink.polarity(tight.astype(np.float32))
        assert not dark_ink and len(fit) == 3, (index, fit)
    rows, cols = np.indices((150, 316)) / np.array([150, 316])[:, None, None]
    vignette = 235 * (1 - 0.32 * (((rows - 0.5) / 0.5) ** 2 + ((cols - 0.5) / 0.5) ** 2))
    vignette[50:100, 150:158] = 40  # a "1"
    dark_ink, fit = ink.polarity(vignette)
    assert dark_ink and len(fit) == 6


def test_specks_and_dots_are_dropped():
    gray = drawing([(150, 40, 150, 160)]).copy()  # a 1 ...
    gray[20:23, 30:33] = 0  # ... with two specks of dirt ...
    gray[180:183, 250:253] = 0
    gray[150:160, 190:200] = 0  # ... and a full stop
    (box,) = [d.box for d in extract_digits(gray)]
    assert np.abs(np.subtract(box, (144, 40, 157, 161))).max() <= 2


MARKS = {  # written between a 1 (columns 54-66) and a 0 (130-200), 120 px tall
    "colon": [("ellipse", (90, 75, 104, 89)), ("ellipse", (90, 140, 104, 154))],
    "dash": [(84, 100, 110, 100)],
}


@pytest.mark.parametrize("mark", MARKS)
def test_marks_between_digits_are_no_digit_nor_ink_of_the_line(mark):
    # "1:0", "1-0": a time, a range. A colon's dots, one above the other, were merged
    # into a digit, and the number model read a mark in the line's ink as one more.
    gray = drawing([(60, 40, 60, 160), ("ellipse", (130, 40, 200, 160)), *MARKS[mark]])
    (line,) = extract_lines(gray)
    boxes = [crop.box for crop in line.crops]
    assert np.abs(np.subtract(boxes, [(54, 40, 67, 161), (130, 40, 201, 161)])).max() <= 3
    columns = line.origin[0] + line.factor * np.arange(line.ink.shape[1])
    between = (columns > 72) & (columns < 124)
    assert line.ink[:, between].max() == 0


def _dots(mask: np.ndarray, hollow: bool) -> None:
    for top in (18, 36):
        mask[top : top + 9, 31:40] = True
        if hollow:
            mask[top + 1 : top + 8, 32:39] = False


@pytest.mark.parametrize(
    "mark, marks",
    [
        (lambda m: m[28:33, 25:45].fill(True), 1),  # a dash as wide as the digits' strokes
        (lambda m: m[29:31, 25:45].fill(True), 0),  # a thin one
        (lambda m: _dots(m, hollow=False), 2),  # a colon
        (lambda m: _dots(m, hollow=True), 0),  # two rings
    ],
    ids=["dash", "thin dash", "colon", "rings"],
)
def test_marks_are_solid_or_drawn_with_the_digits_pen(mark, marks):
    # A "1" and a "0" with strokes 6 px wide, and between them a dash or a colon: marks.
    # Parts of a digit that a thin pen broke are thinner, or curved: they stay pieces
    # (two rings, one above the other, make one).
    mask = np.zeros((60, 100), bool)
    mask[10:50, 10:16] = True
    mask[10:50, 60:90] = True
    mask[16:44, 66:84] = False
    mark(mask)
    digits, found = segment.segment(mask)
    assert len(found) == marks
    assert {10, 60} <= {cols.start for _, cols, _ in digits}


def touching(digits: np.ndarray, i: int, j: int):
    """Digits i and j at 100 px, widened 1.5 times (print is narrower than handwriting),
    the second one's ink overlapping the first one's by 3 px."""

    def wide(alpha):
        size = (round(alpha.shape[1] * 1.5), alpha.shape[0])
        return np.asarray(Image.fromarray(alpha).resize(size, Image.BICUBIC))

    a, b = wide(coverage(digits[i], 100)), wide(coverage(digits[j], 100))
    right_of_a = np.flatnonzero((a > 0.5).any(axis=0))[-1]
    left_of_b = np.flatnonzero((b > 0.5).any(axis=0))[0]
    xb = 10 + right_of_a - left_of_b - 3
    return place([a, b], (160, xb + b.shape[1] + 10), [10, xb], [10, 10])


@pytest.mark.parametrize("pair", [(1, 8), (0, 9), (12, 13)])
def test_touching_digits_are_cut(digit_images, pair):
    page, boxes = touching(digit_images[0], *pair)
    assert ndimage.label(page > 0.5)[1] == 1  # one blob of ink
    photo = photograph(page, np.random.default_rng(7))
    found = extract_digits(photo)
    assert len(found) == 2
    (a0, _, cut, _), (cut_, _, b1, _) = found[0].box, found[1].box
    assert abs(a0 - boxes[0][0]) <= 3 and abs(b1 - boxes[1][2]) <= 3
    centres = [(box[0] + box[2]) / 2 for box in boxes]
    assert centres[0] < cut <= cut_ < centres[1]
    # Allowed to be wider, the blob is one digit.
    assert len(extract_digits(photo, params=ImagingParams(wide=2.0, very_wide=3.0))) == 1


def test_a_wide_single_digit_is_not_cut():
    gray = drawing([("ellipse", (40, 40, 200, 160))])  # a flat 0, 1.6 times wider than tall
    assert len(extract_digits(gray)) == 1
    five = drawing([(60, 60, 260, 60), (60, 60, 60, 100), ("ellipse", (50, 90, 130, 160))])
    assert len(extract_digits(five)) == 1  # a 5 with a very long bar


def test_hairlines_are_thickened_and_bold_strokes_kept():
    """A 2 px pen line on a 300 px digit would shrink to a faint tenth of a pixel;
    it comes out with MNIST's stroke width. A bold marker digit keeps its width."""
    seven = [(100, 40, 200, 40), (200, 40, 130, 260)]
    thin = extract_digits(drawing(seven, size=(300, 300), width=2))[0].pixels
    bold = extract_digits(drawing(seven, size=(300, 300), width=60))[0].pixels
    ratio_thin = imaging.stroke_ratio(thin > 127)
    assert 0.09 <= ratio_thin <= 0.2, ratio_thin
    assert imaging.stroke_ratio(bold > 127) > 0.18  # thinned, it would be about 0.125
    # No digit is a hairline to this setting: the line stays thin.
    kept = extract_digits(
        drawing(seven, size=(300, 300), width=2), params=ImagingParams(hairline=0)
    )
    assert imaging.stroke_ratio(kept[0].pixels > 127) < 0.09


def test_no_ink_no_digit():
    rng = np.random.default_rng(3)
    blank = np.full((200, 300), 240, np.uint8)
    paper = photograph(np.zeros((300, 400)), rng, noise=8.0)  # shading and noise only
    static = rng.integers(0, 256, (200, 300), dtype=np.uint8)  # random pixels
    black = np.zeros((50, 50), np.uint8)
    speck = np.full((10, 10), 255, np.uint8)
    speck[5, 5] = 100  # smaller than any digit
    strips = [np.full(shape, 255, np.uint8) for shape in ((1, 300), (3, 5000), (5000, 3))]
    dot = np.full((100, 100), 230, np.uint8)
    dot[50, 50] = 20  # one dark pixel on noiseless paper
    dashes = [np.full(shape, 255, np.uint8) for shape in ((4, 1200), (40, 1200))]
    dashes[0][1:3, 100:1100] = 0  # a rule across a thin strip: once "23 digits"
    dashes[1][15:25, 100:1100] = 0
    for gray in (blank, paper, static, black, speck, *strips, dot, *dashes):
        assert extract_digits(gray) == []
    assert extract_digits(encode(paper, quality=30)) == []


@pytest.mark.parametrize("size", [(140, 280), (300, 100), (400, 600)])
def test_a_gradient_to_black_is_no_digit(size):
    # Its black edge was once dark ink absorbing all of the few grey levels of light
    # the background estimate saw there: a "1" read as sure.
    height, width = size
    ramp = np.linspace(0, 255, width)[None, :].repeat(height, axis=0).astype(np.uint8)
    for gray in (ramp, ramp[:, ::-1], ramp.T):
        assert extract_digits(gray) == []
    digit = ramp.copy()  # ink on its bright half is found
    digit[height // 4 : 3 * height // 4, 3 * width // 4 : 3 * width // 4 + max(4, width // 40)] = 30
    assert len(extract_digits(digit)) == 1


def test_polarity_of_tight_crops(digit_images):
    """A crop that the digit touches on every side: its border is mostly, not all, paper."""
    x, _ = digit_images
    right = 0
    for digit in x:
        crop = digit[imaging.ink_box(digit > 0)].astype(np.float32)
        right += ink.polarity(255 - crop)[0] + (not ink.polarity(crop)[0])
    assert right >= 0.98 * 2 * len(x)


def test_bold_digits_cropped_tight_read_as_with_a_margin(digit_images):
    """A marker digit cropped to its ink, so that its strokes run along the border and
    most of the border may be ink: the same input as with a margin of background."""
    x, _ = digit_images
    for dark_ink in (False, True):
        distances = []
        for digit in x[:40]:
            alpha = coverage(digit, 80, thickness=2.5)  # strokes over a quarter of the height
            alpha = alpha[imaging.ink_box(alpha > 0.5)]
            tight, framed = (
                np.clip(230 * (1 - 0.8 * a) if dark_ink else 255 * a, 0, 255).astype(np.uint8)
                for a in (alpha, np.pad(alpha, 48))
            )
            found, reference = extract_digits(tight), extract_digits(framed)
            assert len(found) == len(reference) == 1  # once, some were found as no digit
            distances.append(np.abs(found[0].pixels.astype(float) - reference[0].pixels).mean())
        assert np.mean(distances) < 1.0, (dark_ink, np.mean(distances))  # once 1.5-6


def test_otsu_and_ink_map():
    values = np.r_[np.full(90, 20), np.full(10, 220)]
    assert 20 <= imaging.otsu_threshold(values) < 220
    # The same digit under a strong shadow: the ink map cancels the lighting.
    gray = np.full((100, 100), 220.0)
    gray[30:70, 45:55] = 40
    shade = np.linspace(1.0, 0.45, 100)[None, :]
    flat, shaded = imaging.ink_map(gray), imaging.ink_map(gray * shade)
    assert np.abs(flat - shaded)[flat > 100].max() < 30
    assert shaded[:, :40].max() < 25 and shaded[40:60, 46:54].min() > 150


def test_a_drawing_on_a_plain_background_gets_its_ink_without_a_background_estimate():
    # The page's drawings (light on black) and drawings on white: the background is the
    # border's level, and the ink is what the estimate of it gave.
    board = 255 - drawing([(60, 20, 100, 20, 70, 80)], size=(100, 200), width=7)
    assert ink.plain_level(board) == 0.0
    assert np.array_equal(ink.ink_map(board, plain=0.0), ink.ink_map(board))
    paper = 255 - board
    assert ink.plain_level(paper) == 255.0
    assert np.abs(ink.ink_map(paper, plain=255.0) - ink.ink_map(paper)).max() < 1.0
    # Not where the background may be lit unevenly or hold more than ink: a photo
    # pasted on a plain canvas, a stroke out to the border, marks on both sides of it.
    pasted = board.copy()
    pasted[20:90, 120:190] = np.random.default_rng(0).normal(120, 8, (70, 70)).clip(0, 255)
    to_border = board.copy()
    to_border[50:, 150:156] = 255
    both = board.copy()
    both[0, :], both[-1, :], both[:, 0], both[:, -1] = 40, 40, 40, 40
    assert ink.plain_level(pasted) is None and ink.plain_level(to_border) is None
    assert ink.plain_level(both) is None


# -- the settings --------------------------------------------------------------------------


def test_params_are_frozen_and_reach_every_step():
    params = ImagingParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.speck = 0.5  # type: ignore[misc]
    page = drawing([(150, 40, 150, 160)])  # a 1, 121 px tall
    assert len(extract_digits(page, params=params)) == 1
    assert extract_digits(page, params=ImagingParams(min_contrast=256.0)) == []  # ink: too faint
    assert extract_digits(page, params=ImagingParams(min_side=200)) == []  # segment: too small
    eleven = drawing([(100, 40, 100, 160), (200, 40, 200, 160)])
    with pytest.raises(ImageError, match="2 pieces of ink, more than the 1 "):  # bounded work
        extract_digits(eleven, params=ImagingParams(max_pieces=1))
    # A working copy of at most 50 px: the box is still in the image's pixels, coarser.
    (coarse,) = extract_digits(page, params=ImagingParams(work_size=50))
    assert np.abs(np.subtract(coarse.box, (144, 40, 157, 161))).max() <= 8
    # normalise: with the core at the 0th percentile, more of the ink is full white.
    softer, harder = (
        extract_digits(page, params=ImagingParams(core=core))[0].pixels for core in (100, 0)
    )
    assert (harder == 255).sum() > (softer == 255).sum()


def test_a_large_bold_drawing_is_analysed_smaller_and_read_the_same(monkeypatch):
    from mnist_cnn.imaging import pipeline

    sizes = []
    analyse = pipeline._analyse

    def spy(gray, size, *args, **kwargs):
        sizes.append(size)
        return analyse(gray, size, *args, **kwargs)

    monkeypatch.setattr(pipeline, "_analyse", spy)
    strokes = [(60, 40, 60, 200), ("ellipse", (130, 40, 230, 200)), (300, 40, 300, 200)]  # "101"
    params = ImagingParams()
    for width, analysed in ((24, [256]), (3, [256, 1024])):  # a thick brush; a thin pen
        sizes.clear()
        quick = extract_digits(drawing(strokes, size=(240, 600), width=width))
        assert sizes == analysed
        full = extract_digits(
            drawing(strokes, size=(240, 600), width=width),
            params=dataclasses.replace(params, quick_size=10**6),
        )
        assert len(quick) == len(full) == 3
        for a, b in zip(quick, full, strict=True):
            assert np.abs(np.subtract(a.box, b.box)).max() <= 3, (a.box, b.box)
            assert np.abs(a.pixels.astype(int) - b.pixels).mean() < 4  # grey levels
    sizes.clear()
    extract_digits(drawing(strokes, size=(200, 340), width=24))  # under twice the pixels
    assert sizes == [1024]


# -- each module on tiny arrays ------------------------------------------------------------


def test_decode_tiny_arrays():
    assert decode.load_image(np.eye(2, dtype=bool)).tolist() == [[255, 0], [0, 255]]
    assert decode.load_image(np.full((1, 2, 1), 7, np.uint8)).tolist() == [[7, 7]]
    rgb = np.zeros((1, 1, 3), np.uint8)
    rgb[..., 0] = 255  # pure red: Pillow's luma weights
    assert decode.load_image(rgb).tolist() == [[76]]
    wide = Image.fromarray(np.array([[0, 1000]], np.int32), "I")  # 16-bit: stretched
    assert decode.load_image(wide).tolist() == [[0, 255]]
    with pytest.raises(decode.ImageTooLarge):
        decode.load_image(np.zeros((3, 3), np.uint8), max_pixels=8)
    assert ".png" in decode.IMAGE_SUFFIXES and decode.MAX_PIXELS == imaging.MAX_PIXELS


def test_resample_tiny_arrays():
    small, factor = resample.shrink(np.arange(16, dtype=float).reshape(4, 4), 2)
    assert factor == 2.0 and small.tolist() == [[2.5, 4.5], [10.5, 12.5]]  # box averages
    same, factor = resample.shrink(np.ones((3, 5)), 10)
    assert factor == 1.0 and same.dtype == np.float32 and same.shape == (3, 5)


def test_ink_tiny_arrays():
    paper = np.full((9, 9), 200.0)
    paper[2:7, 4] = 20
    dark, plane = ink.polarity(paper)
    assert dark and np.allclose(plane, [200, 0, 0], atol=1)
    assert not ink.polarity(255 - paper)[0]
    assert ink.otsu_threshold(np.array([0, 0, 0, 255])) == 0.0
    bar = np.zeros((12, 12), bool)
    bar[1:11, 4:7] = True  # 3 px wide
    assert 2.5 <= ink.stroke_width(bar) <= 3.5 and ink.stroke_width(~np.ones((3, 3), bool)) == 0
    assert ink.ink_mask(np.zeros((12, 12), np.float32)) is None  # no ink at all
    smooth, mask, threshold = ink.ink_mask(bar * np.float32(200))
    assert mask[5, 5] and not mask[5, 0] and threshold >= 16


def test_one_depth_map_measures_each_digit_as_its_own_would():
    page = np.zeros((40, 90), bool)
    page[5:35, 10:13] = True  # a thin 1, 3 px wide
    page[5:35, 40:49] = True  # a bold 1, 9 px wide
    page[5:35, 60:66] = page[5:8, 60:85] = True  # a 7-like stroke, touching the image's edge
    page[5:8, 85:90] = True
    depth = ink.stroke_depth(page)
    for cols in (slice(8, 15), slice(38, 51), slice(58, 90)):
        own = page[:, cols]
        assert ink.stroke_width(own, depth[:, cols]) == pytest.approx(ink.stroke_width(own))
    assert (
        ink.stroke_width(page[:, 8:15], depth[:, 8:15])
        < 4
        < 8
        < ink.stroke_width(page[:, 38:51], depth[:, 38:51])
    )


def test_faint_ink_is_raised_but_not_the_paper_level_of_a_dim_photo():
    smooth = np.full((60, 120), 25, np.float32)  # a dim, noisy photo's paper stands above zero
    smooth[10:50, 20:26] = 200  # a dark stroke
    smooth[10:50, 90:96] = 90  # a faint one, far from it
    evened = ink.even_out(smooth)
    assert evened[30, 93] > 150  # the faint stroke raised towards the dark one
    # Around it the paper keeps its level: raised, it made a band that joined the strokes.
    np.testing.assert_array_equal(evened[smooth == 25], 25)


def test_a_faint_digit_beside_darker_ones_is_kept_whole():
    smooth = np.zeros((40, 100), np.float32)
    smooth[5:35, 10:14] = smooth[5:35, 40:44] = 220  # two dark 1s ...
    smooth[4:36, 9:15] = np.maximum(smooth[4:36, 9:15], 60)  # ... one with soft edges
    smooth[5:35, 75:79] = 60  # a faint 1, above the threshold only in two specks
    smooth[8:12, 75:79] = smooth[28:32, 75:79] = 150
    mask = smooth > 100
    found = ink.faint_digits(smooth, mask, low=40)
    assert found[5:35, 75:79].all()
    assert not found[:, :60].any()  # the dark digits' edges are not taken in
    mask = ink.ink_mask(smooth)[1]  # and the whole step finds it
    assert mask[5:35, 75:79].mean() > 0.9
    only_dark = smooth[:, :60]
    assert not ink.faint_digits(only_dark, only_dark > 100, low=40).any()


def test_a_faint_digit_beside_touching_darker_ones_is_kept_whole():
    smooth = np.zeros((40, 100), np.float32)
    smooth[5:35, 10:14] = smooth[5:35, 40:44] = smooth[18:22, 14:40] = 220  # "H": one dark piece
    smooth[5:35, 75:79] = 60  # a faint 1 in two specks
    smooth[8:12, 75:79] = smooth[28:32, 75:79] = 150
    assert ink.faint_digits(smooth, smooth > 100, low=40)[5:35, 75:79].all()
    lone = smooth[:, 5:20].copy()  # a lone dark stroke (no wider than tall) keeps its specks
    lone[8:12, 12:14] = 150
    assert not ink.faint_digits(lone, lone > 100, low=40).any()


def test_a_line_keeps_the_faint_strokes_that_join_its_ink():
    # A faint digit pressed against a darker one keeps only specks above their common
    # threshold: the line's ink for the number model holds the rest of it too.
    smooth = np.zeros((40, 80), np.float32)
    smooth[5:35, 10:16] = 200  # a dark stroke ...
    smooth[17:23, 16:60] = 60  # ... and a faint one pressed against it, under the threshold
    smooth[5:35, 70:74] = 60  # a faint stroke that joins nothing
    line = (slice(5, 35), slice(10, 76), smooth[5:35, 10:76] > 100)
    as_drawn = ImagingParams(hairline=0.0)
    alone = normalise.digit_ink(smooth, 100.0, line, as_drawn)
    with_faint = normalise.digit_ink(smooth, 100.0, line, as_drawn, faint=True)
    assert with_faint.sum() > alone.sum()
    assert (with_faint > 0).sum() - (alone > 0).sum() >= 6 * 30  # most of the faint stroke
    assert not with_faint[:, -12:].any()  # the stroke that joins nothing stays out
    # Where the paper is as noisy as the faint stroke is faint, it is noise: not joined.
    noisy = smooth + np.random.default_rng(0).normal(0, 12, smooth.shape).astype(np.float32)
    mask = noisy > 100
    assert ink.joined(noisy, mask, 100.0).sum() == mask.sum()
    assert ink.joined(smooth, smooth > 100, 100.0)[17:23, 16:60].all()


def test_a_line_reaches_a_faint_digit_pressed_against_its_end():
    # Two dark 1s and a faint 0 pressed against the second, of which only an arc is
    # above their common threshold: the line's box ended at the arc, and the number
    # model never saw the rest of the 0 (overlapping numbers read a digit short).
    def ones() -> np.ndarray:
        page = np.zeros((70, 170), np.uint8)
        page[12:56, 20:26] = page[12:56, 50:56] = 230
        return page

    def right_end(page: np.ndarray) -> float:
        (line,) = extract_lines(page)
        return line.origin[0] + line.ink.shape[1] * line.factor

    with_zero = ones()
    rows, cols = np.mgrid[:70, :170]
    ring = np.hypot((rows - 34) / 21, (cols - 76) / 13)
    with_zero[(ring > 0.75) & (ring < 1.05) & (with_zero == 0)] = 60
    assert right_end(with_zero) >= 88  # the 0's right side
    # As faint and as joined, but flat (a rule's remnant) or narrow: not a digit.
    flat, narrow = ones(), ones()
    flat[50:53, 56:110] = 60
    narrow[12:56, 56:58] = 60
    assert max(right_end(flat), right_end(narrow)) <= right_end(ones()) + 2  # soft edges


def test_segment_tiny_masks():
    mask = np.zeros((20, 40), bool)
    mask[2:18, 30:33] = True  # a 1 on the right ...
    mask[2:9, 5:8] = mask[10:18, 5:8] = True  # ... a broken 1 on the left ...
    mask[0, 20] = True  # ... and a speck
    pieces, _ = segment.segment(mask)
    assert [(p[0].start, p[0].stop, p[1].start, p[1].stop) for p in pieces] == [
        (2, 18, 5, 8),
        (2, 18, 30, 33),
    ]
    assert pieces[0][2].sum() == 3 * 15  # its own ink: both halves, not the gap
    dash = np.zeros((20, 40), bool)
    dash[9:11, 5:35] = True
    assert segment.segment(dash) == ([], [])  # a stroke on its side is no digit
    assert segment.image_box(pieces[0], 2.0, (35, 100)) == (10, 4, 16, 35)  # clipped


def test_normalise_tiny_arrays():
    block = np.full((4, 2), 255.0)
    field = normalise.to_mnist(block)
    rows = np.flatnonzero(field.any(axis=1))
    assert rows[-1] - rows[0] + 1 == normalise.BOX and field.shape == (28, 28)
    assert np.allclose(ndimage.center_of_mass(field.astype(float)), normalise.CENTRE, atol=0.5)
    assert not normalise.to_mnist(np.zeros((3, 3))).any()
    line = np.zeros((100, 100), bool)
    line[10:90, 50] = True  # 1 px wide, 80 px long: a hairline
    thick = normalise.thicken_hairline(line * 255.0, line, hairline=0.07)
    assert 9 <= (thick[50] > 127).sum() <= 13 and thick[50, :40].max() == 0
    assert np.array_equal(normalise.thicken_hairline(line * 255.0, line, 0.0), line * 255.0)


def test_thin_bold_narrows_only_broad_strokes():
    """Strokes over `bold` of the digit's size lose the same on each side, down to
    `BOLD_STROKE` of it; others are returned as they are."""
    ring = np.zeros((100, 100), bool)
    yy, xx = np.ogrid[:100, :100]
    distance = np.hypot(yy - 50, xx - 50)
    ring[(distance <= 45) & (distance > 45 - 36)] = True  # a "0", strokes 36 px of 90
    width = ink.stroke_width(ring)
    thin = normalise.thin_bold(ring * 255.0, bold=0.3, size=90, width=width)
    kept = thin > 127
    assert kept[50, 50] == 0 and kept[50, 5:95].any()  # its hole open, still ink
    ratio = ink.stroke_width(kept) / 90
    assert abs(ratio - normalise.BOLD_STROKE) < 0.04, ratio
    # Symmetric: the ring's centre stays where it was.
    assert np.allclose(ndimage.center_of_mass(kept), (49.5, 49.5), atol=1.0)
    assert thin.max() == 255.0
    for bold in (0.45, np.inf):  # not bold enough for that setting
        same = normalise.thin_bold(ring * 255.0, bold, size=90, width=width)
        assert np.array_equal(same, ring * 255.0)


def test_thin_bold_erodes_a_broad_blot_on_a_smaller_copy(monkeypatch):
    """A blot hundreds of pixels wide is thinned as much, but never with a disc of radius
    over `MAX_ERODE`: the erosion's cost grows with the disc's area (seconds for this
    ring, eroded with one disc as wide as its strokes are to lose)."""
    ring = np.zeros((700, 700), bool)
    yy, xx = np.ogrid[:700, :700]
    distance = np.hypot(yy - 350, xx - 350)
    ring[(distance <= 330) & (distance > 330 - 280)] = True  # strokes 280 px of 660
    footprints = []
    erode = ndimage.grey_erosion

    def spy(values, footprint, **kwargs):
        footprints.append(footprint.shape)
        return erode(values, footprint=footprint, **kwargs)

    monkeypatch.setattr(normalise.ndimage, "grey_erosion", spy)
    thin = normalise.thin_bold(ring * 255.0, bold=0.3, size=660, width=ink.stroke_width(ring))
    assert footprints and max(max(shape) for shape in footprints) <= 2 * normalise.MAX_ERODE + 1
    kept = thin > 127
    assert thin.shape == ring.shape and not kept[350, 350]
    assert abs(ink.stroke_width(kept) / 660 - normalise.BOLD_STROKE) < 0.03
    assert np.allclose(ndimage.center_of_mass(kept), (349.5, 349.5), atol=2.0)


def test_line_of_marker_digits_is_thinned_for_the_number_model():
    """The number model reads a line's ink: a broad marker's strokes are thinned for
    the line's digit height, so its loops stay open."""
    zeros = drawing(
        [("ellipse", (30, 30, 150, 230)), ("ellipse", (190, 30, 310, 230))],
        size=(260, 340),
        width=60,
    )
    (line,) = extract_lines(zeros)
    (as_drawn,) = extract_lines(zeros, params=ImagingParams(bold=np.inf))
    height = line.ink.shape[0]
    assert ink.stroke_width(line.ink > 127) / height < 0.25
    assert ink.stroke_width(as_drawn.ink > 127) / height > 0.27
    # A thin 0 beside a bold one: the thin one keeps its strokes.
    thin = drawing([("ellipse", (30, 30, 150, 230))], size=(260, 360), width=12)
    bold = drawing([("ellipse", (190, 30, 330, 230))], size=(260, 360), width=70)
    (line,) = extract_lines(np.minimum(thin, bold))
    assert len(line.crops) == 2 and line.ink.shape[1] >= 0.9 * (330 - 30)  # both kept
    left = line.ink[:, : line.ink.shape[1] // 3] > 127
    assert 8 <= ink.stroke_width(left) <= 16  # as drawn, 12 px


# -- decoding ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "WEBP", "GIF", "TIFF"])
def test_formats(digit_images, fmt):
    rng = np.random.default_rng(4)
    alpha = coverage(digit_images[0][0], 100)
    page, boxes = place([alpha], (180, 200), [40], [20])
    gray = photograph(page, rng, noise=2.0)
    decoded = load_image(encode(gray, fmt))
    assert decoded.shape == gray.shape and decoded.dtype == np.uint8
    found = extract_digits(encode(gray, fmt))
    assert len(found) == 1 and np.abs(np.subtract(found[0].box, boxes[0])).max() <= 4


def test_transparency_is_composited_over_white_or_black_under_light_strokes():
    # A canvas export: transparent everywhere except black strokes.
    rgba = np.zeros((100, 80, 4), np.uint8)
    rgba[20:80, 35:45, 3] = 255
    gray = load_image(encode(rgba, "PNG"))
    assert gray[0, 0] == 255 and gray[50, 40] == 0
    (box,) = [d.box for d in extract_digits(rgba)]
    assert np.abs(np.subtract(box, (35, 20, 45, 80))).max() <= 1
    # White strokes on a transparent ground, which white paper would hide: over black,
    # in the large image's strip-by-strip reduction too.
    light = rgba.copy()
    light[..., :3] = 255
    for image in (light, np.kron(light, np.ones((30, 30, 1), np.uint8))):
        gray = load_image(encode(image, "PNG"))
        assert gray[0, 0] == 0 and gray[gray.shape[0] // 2, gray.shape[1] // 2] == 255
        (box,) = [d.box for d in extract_digits(image)]
        assert (
            np.abs(np.subtract(box, np.multiply((35, 20, 45, 80), image.shape[0] // 100))).max()
            <= image.shape[0] // 100
        )
    # A white page with a transparent margin, black strokes on it: over white, as before.
    page = np.zeros((100, 80, 4), np.uint8)
    page[10:90, 10:70] = 255
    page[20:80, 35:45, :3] = 0
    assert load_image(encode(page, "PNG"))[0, 0] == 255
    # A palette GIF with a transparent colour.
    paletted = Image.fromarray(rgba[..., 3]).convert("P")
    buffer = io.BytesIO()
    paletted.save(buffer, "GIF", transparency=255)
    assert load_image(buffer.getvalue())[50, 40] == 255


def test_exif_orientation_is_applied():
    gray = np.full((60, 100), 255, np.uint8)
    gray[10:20, 70:90] = 0  # a mark near the top right of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    upright = load_image(encode(gray, "JPEG", exif=exif, quality=95))
    assert upright.shape == (100, 60)
    assert upright[80, 45] < 100 and upright[20, 15] > 200  # the mark is now bottom right


def bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_decompression_bombs_are_refused():
    with pytest.raises(ImageError, match=r"^image has 400,000,000 pixels, more than the 40,000"):
        load_image(bomb(20000, 20000))
    with pytest.raises(ImageError, match=r"^image has 60,000,000 pixels, more than the 40,000"):
        load_image(bomb(10000, 6000))
    with pytest.raises(ImageError, match="image has 10,000 pixels, more than the 5,000 allowed"):
        load_image(np.zeros((100, 100), np.uint8), max_pixels=5000)


def test_unreadable_images(tmp_path):
    png = encode(np.full((64, 64), 200, np.uint8), "PNG")
    jpeg = encode(np.random.default_rng(5).integers(0, 255, (64, 64), np.uint8), quality=90)
    text = tmp_path / "notes.png"
    text.write_text("these are not the pixels you are looking for\n")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    cases = [
        (png[: len(png) // 2], "^image is truncated"),
        (jpeg[: len(jpeg) // 2], "^image is truncated$"),
        (png[:20], r"^image is truncated or corrupt \(PNG data"),
        (np.random.default_rng(6).bytes(5000), r"^not an image file \(unknown format"),
        (text, r"^not an image file \(it looks like text\)$"),
        (b'<?xml version="1.0"?><svg width="9"/>', r"^not an image file we read \(an SVG"),
        (str(empty), "^empty file$"),
        (tmp_path / "missing.png", "^no such file$"),
        (tmp_path, "^is a folder"),
        (np.zeros((10, 10), np.float32), "expected a uint8 array"),
        (np.zeros((10, 10, 2), np.uint8), r"expected an array of shape \(H, W\)"),
        (12, "cannot read an image from a int"),
    ]
    for source, message in cases:
        with pytest.raises(ImageError, match=message):
            extract_digits(source)


def test_float_and_unusual_modes():
    page = np.full((60, 80), 230, np.uint8)
    page[10:50, 36:44] = 25
    expected = [d.box for d in extract_digits(page)]
    as_float = Image.fromarray(page.astype(np.float32) / 255, "F")  # float images in 0-1
    assert [d.box for d in extract_digits(as_float)] == expected
    with pytest.raises(ImageError, match="LAB"):
        extract_digits(Image.new("LAB", (50, 50)))


# -- reading real handwriting (slow: real MNIST and the trained model) ---------------------


@pytest.mark.slow
def test_photos_are_read_right(mnist_digits, model_file):
    rng = np.random.default_rng(1)
    x, y = mnist_digits
    reader = DigitReader.load(model_file)
    chosen = rng.choice(len(x), 48, replace=False)
    images, boxes = [], []
    for k, i in enumerate(chosen):
        height, options = CONDITIONS[k % len(CONDITIONS)]
        image, box = single_photo(x[i], rng, height, **dict(options))
        images.append(image)
        boxes.append(box)
    readings = reader.read_batch(images)
    labels = [int(np.argmax(r.digits[0].probabilities)) if r.digits else -1 for r in readings]
    assert np.mean(np.array(labels) == y[chosen]) >= 0.9
    for reading, box in zip(readings, boxes, strict=True):
        assert len(reading.digits) == 1
        # Within 6 px, or 2.5% of the digit's height for the largest (300 px) ones: faint
        # ink is raised before the threshold (`ink.even_out`), which can take in a little
        # more of a thin stroke's blurred edge.
        tolerance = max(6, 0.025 * (box[3] - box[1]))
        assert np.abs(np.subtract(reading.digits[0].box, box)).max() <= tolerance


@pytest.mark.slow
def test_several_digits_are_read_left_to_right(mnist_digits, model_file):
    x, y = mnist_digits
    reader = DigitReader.load(model_file)
    raw = reader.read_crops([[imaging.DigitCrop(d, (0, 0, 28, 28))] for d in x[:200]])
    # The digits are drawn at random but not by the model, so the layout is always
    # the same; labels are checked where the model reads the digit surely on its own
    # (90% or more): the test is about segmentation.
    sure = {
        i for i, r in enumerate(raw) if r.digits[0].label == y[i] and r.digits[0].confidence >= 0.9
    }
    assert len(sure) >= 150
    rng = np.random.default_rng(2)
    for trial, dark_ink in enumerate([True, False, True]):
        chosen = rng.choice(len(raw), 3 + trial, replace=False)
        photo, boxes = strip(x[chosen], rng, dark_ink)
        reading = reader.read_image(photo)
        assert len(reading.digits) == len(chosen)
        for digit, i in zip(reading.digits, chosen, strict=True):
            if i in sure:
                assert int(np.argmax(digit.probabilities)) == y[i], (i, digit.probabilities)
        for digit, box in zip(reading.digits, boxes, strict=True):
            assert np.abs(np.subtract(digit.box, box)).max() <= 5, (digit.box, box)


@pytest.mark.slow
def test_ambiguous_digit_is_uncertain(mnist_digits, model_file):
    x, y = mnist_digits
    blend = np.mean([x[np.flatnonzero(y == d)[0]] for d in range(10)], axis=0)
    reading = DigitReader.load(model_file, threshold=0.999).read_image(blend.astype(np.uint8))
    assert reading.status == "uncertain" and reading.prediction is None
    assert reading.digits[0].label is None and reading.confidence < 0.999


# -- hostile inputs: tiny images, other formats, special files, large images ---------------


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "1", "I;16", "F", "LA", "CMYK"])
def test_images_too_small_for_a_digit_have_none(mode):
    rng = np.random.default_rng(7)
    for height in range(1, 5):
        for width in range(1, 5):
            gray = Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8))
            image = gray.convert("I").convert(mode) if mode == "I;16" else gray.convert(mode)
            assert extract_digits(image) == [], (mode, width, height)
            assert extract_digits(encode(np.asarray(gray), "PNG")) == []
    for shape in [(1, 1), (1, 2), (2, 1)]:  # too few border pixels to fit a plane
        assert ink.ink_map(np.zeros(shape, np.uint8)).shape == shape


def test_only_the_documented_formats_are_decoded():
    page = Image.fromarray(np.full((64, 64), 200, np.uint8))
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n0 0 moveto showpage\n"
    cases = [(eps, "a PostScript or EPS file"), (b"8BPS\x00\x01" + bytes(40), "a Photoshop file")]
    for fmt, named in [("ICO", "a Windows icon"), ("PDF", "a PDF document"), ("TGA", None)]:
        buffer = io.BytesIO()
        page.save(buffer, fmt)
        cases.append((buffer.getvalue(), named))
    for encoded, named in cases:
        with pytest.raises(imaging.NotAnImage, match="PNG, JPEG, BMP, WebP, GIF or TIFF") as e:
            load_image(encoded)
        assert named is None or named in str(e.value)
    # Every suffix a folder is searched for is one of the formats decoded.
    extensions = Image.registered_extensions()
    assert {extensions[suffix] for suffix in imaging.IMAGE_SUFFIXES} == set(imaging.FORMATS)


def test_only_regular_files_are_read(tmp_path):
    with pytest.raises(ImageError, match="^is a character device, not an image file$"):
        load_image("/dev/zero")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    errors = []
    thread = threading.Thread(
        target=lambda: errors.append(pytest.raises(ImageError, load_image, fifo))
    )
    thread.start()
    thread.join(timeout=1.0)
    if thread.is_alive():  # unblock the reader before failing
        with open(fifo, "wb"):
            pass
    assert not thread.is_alive() and "named pipe" in str(errors[0].value)
    sparse = tmp_path / "huge.png"
    with open(sparse, "wb") as file:
        file.truncate(imaging.MAX_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(imaging.ImageTooLarge, match=r"^file has 268,435,457 bytes, more than"):
        load_image(sparse)
    small = tmp_path / "small.png"
    small.write_bytes(bytes(100))
    with pytest.raises(imaging.ImageTooLarge, match="more than the 50 allowed"):
        imaging.read_file(small, max_bytes=50)
    assert imaging.read_file(small, max_bytes=100) == bytes(100)


def test_large_images_are_reduced_as_they_are_decoded():
    rng = np.random.default_rng(8)
    rgba = rng.integers(0, 256, (2300, 2100, 4), dtype=np.uint8)
    palette = Image.fromarray(rgba[..., :3]).convert("P")
    palette.info["transparency"] = 3
    sixteen = Image.fromarray(rgba[..., 0].astype(np.uint16) * 200)
    for image in [Image.fromarray(rgba), palette, sixteen]:
        reduced, shape = imaging.load_reduced(image, 1024)
        whole = Image.fromarray(load_image(image)).reduce(2)
        assert shape == (2300, 2100) and np.array_equal(reduced, np.asarray(whole)), image.mode
    # Boxes are in the full image's pixels; a JPEG is decoded at a reduced scale.
    page = np.full((3000, 4200), 220, np.uint8)
    page[600:2400, 2000:2300] = 30
    jpeg = encode(page, quality=90)
    assert imaging.load_reduced(jpeg, 1024)[0].shape == (750, 1050)  # 1/4 scale
    for source in (page, jpeg):
        (box,) = [d.box for d in extract_digits(source)]
        assert np.allclose(box, (2000, 600, 2300, 2400), atol=12), box


def test_a_large_image_takes_no_full_size_copy():
    buffer = io.BytesIO()
    Image.new("RGBA", (4000, 4000), (0, 0, 0, 0)).save(buffer, "PNG")  # 60 KB, 16 MP
    tracemalloc.start()  # arrays only (Pillow's own pixels are not traced)
    try:
        assert extract_digits(buffer.getvalue()) == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20  # a full-size float copy alone would be 64 MB


def test_a_page_of_squared_paper_is_read_in_bounded_memory():
    """Hundreds of grid lines are each a rule candidate: each keeps only its own band."""
    page = np.full((1024, 1024), 235, np.uint8)
    for k in range(3):  # lines 3 px wide every 16 px, both ways
        page[k::16] = page[:, k::16] = 40
    page[300:700, 480:520] = 20  # a "1"
    tracemalloc.start()
    try:
        found = extract_digits(encode(page, "PNG"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(found) == 1
    assert peak < 160 * 2**20  # two full-size masks a line: over 400 MB


def sheet_on_desk(digit: np.ndarray, seed: int, desk: bool = True) -> tuple[np.ndarray, tuple]:
    """A photo of `digit` written on a white sheet lying on a grey desk (or, with
    `desk` False, the same photo with the sheet filling the frame): the sheet anywhere
    in the frame, turned a little, lit unevenly, noisy. Returns the photo and the
    digit's box."""
    rng = np.random.default_rng(seed)
    height, width = 480, 640
    desk_level, paper = rng.uniform(50, 150), rng.uniform(190, 240)
    photo = np.full((height, width), desk_level if desk else paper)
    top, left = rng.integers(10, 90), rng.integers(10, 150)
    bottom, right = height - rng.integers(10, 90), width - rng.integers(10, 150)
    # The sheet turned up to 12 degrees about its middle.
    turn = np.radians(rng.uniform(-12, 12))
    yy, xx = (
        np.mgrid[0:height, 0:width]
        - np.array([(top + bottom) / 2, (left + right) / 2])[:, None, None]
    )
    along, across = xx * np.cos(turn) + yy * np.sin(turn), yy * np.cos(turn) - xx * np.sin(turn)
    photo[(np.abs(along) < 0.45 * (right - left)) & (np.abs(across) < 0.45 * (bottom - top))] = (
        paper
    )
    big = np.asarray(Image.fromarray(digit).resize((120, 120), Image.BICUBIC), float) / 255
    y, x = (top + bottom) // 2 - 60, (left + right) // 2 - 60
    photo[y : y + 120, x : x + 120] *= 1 - 0.85 * big
    photo *= 1 + rng.uniform(-0.3, 0.3) * (np.arange(width) / width - 0.5)
    photo += rng.normal(0, 3, photo.shape)
    rows, cols = np.flatnonzero(big.max(axis=1) > 0.5), np.flatnonzero(big.max(axis=0) > 0.5)
    box = (x + cols[0], y + rows[0], x + cols[-1] + 1, y + rows[-1] + 1)
    return np.clip(photo, 0, 255).astype(np.uint8), box


def test_a_sheet_photographed_on_a_darker_desk_is_read_as_paper(digit_images, model_file):
    """The desk around a sheet is not ink: the digit on it is found where it is and
    read as if the paper filled the photo, where the sheet's outline was once read as
    a big "0", sure of it."""
    x, _ = digit_images
    reader = DigitReader.load(model_file, numbers=None)
    same = 0
    for i in range(12):
        photo, box = sheet_on_desk(x[i], seed=i)
        assert find_page(photo) is not None
        (found,) = extract_digits(encode(photo, quality=85))
        assert np.abs(np.subtract(found.box, box)).max() <= 12, (found.box, box)
        paper, _ = sheet_on_desk(x[i], seed=i, desk=False)
        assert find_page(paper) is None
        on_desk, on_paper = (r.digits[0].probabilities for r in reader.read_batch([photo, paper]))
        same += on_desk == pytest.approx(on_paper, abs=0.05)
    assert same >= 11


def test_the_desk_is_painted_as_the_paper_it_meets():
    """A sheet lit from one side (here 120 grey levels on the left, 230 on the right)
    meets the painted desk without a step: painted the sheet's one median level, the
    desk stood 50 levels above the dim side, a stroke along the edge read as a "1"."""
    rng = np.random.default_rng(0)
    sheet = np.linspace(120, 230, 300)[None, :].repeat(220, axis=0)
    sheet[60:160, 130:140] = 30  # a "1" on it
    turned = ndimage.rotate(sheet, 6, order=1, cval=-1)  # -1: beyond the sheet
    photo = np.full((360, 440), 70.0)
    top, left = (np.subtract(photo.shape, turned.shape) // 2).astype(int)
    inside = photo[top : top + turned.shape[0], left : left + turned.shape[1]]
    inside[turned >= 0] = turned[turned >= 0]
    photo += rng.normal(0, 2, photo.shape)
    painted = paper_only(photo)
    assert painted[:, :20].min() > 100  # no desk left ...
    middle = painted[150:210]  # ... and across the sheet's left edge, no step:
    assert np.abs(np.diff(ndimage.uniform_filter(middle, 5)[:, : left + 60], axis=1)).max() < 6
    assert len(extract_digits(np.clip(photo, 0, 255).astype(np.uint8))) == 1


def test_a_slip_of_paper_with_a_number_on_a_desk_is_read_as_paper(digit_images):
    """A slip or a cheque is longer than a sheet for its width (3 to 1 here), as a bold
    white "1" is; it holds writing, which the "1" does not."""
    x, _ = digit_images
    rng = np.random.default_rng(6)
    for trial in range(4):
        alphas = [coverage(d, 50) for d in x[rng.choice(len(x), 4, replace=False)]]
        ink, boxes = place(alphas, (110, 330), [20, 95, 170, 245], [25] * 4)
        slip = 225 * (1 - 0.85 * ink)
        turn = rng.uniform(-8, 8)
        turned = ndimage.rotate(slip, turn, order=1, cval=-1)  # -1: beyond the slip
        photo = np.full((260, 480), rng.uniform(60, 140))
        top, left = (np.subtract(photo.shape, turned.shape) // 2).astype(int)
        inside = photo[top : top + turned.shape[0], left : left + turned.shape[1]]
        inside[turned >= 0] = turned[turned >= 0]
        photo += rng.normal(0, 3, photo.shape)
        gray = np.clip(photo, 0, 255).astype(np.uint8)
        assert find_page(gray) is not None, trial
        assert len(extract_digits(encode(gray, quality=85))) == 4, trial


def test_the_convex_hull_fills_the_region_to_its_outline():
    region = np.zeros((40, 60), bool)
    region[5:35, 10:14] = True  # an L: a bar down ...
    region[31:35, 10:50] = True  # ... and one along the bottom
    hull = _hull(region)
    rows, cols = np.indices(region.shape)
    # Its outline's long side runs from (5, 13) to (31, 49): the hull is what lies below
    # it (inside the L's box), to a pixel.
    below = (rows - 5) * (49 - 13) - (cols - 13) * (31 - 5)
    box = (rows >= 5) & (rows < 35) & (cols >= 10) & (cols < 50)
    assert hull[box & (below > 40)].all() and not hull[below < -40].any()
    assert hull[region].all() and not hull[~box].any()
    flat = np.zeros((10, 10), bool)
    flat[5, 2:8] = True
    assert (_hull(flat) == flat).all()  # a line has no inside


def test_no_sheet_is_seen_where_there_is_none(digit_images):
    x, _ = digit_images
    rng = np.random.default_rng(5)
    lit = np.linspace(110, 240, 400)[None, :].repeat(300, axis=0)  # paper, a strong gradient
    white_on_black = np.pad(x[0], 20)  # MNIST style
    board = np.full((200, 300), 40.0) + rng.normal(0, 4, (200, 300))  # chalk on a board
    board[50:150, 140:150] = 200
    one = np.full((100, 70), 40.0) + rng.normal(0, 4, (100, 70))  # a bold "1", cropped
    one[10:90, 23:47] = 200  # a third of the image, 3.3 times as long as wide
    ruled = np.full((120, 300), 220.0)  # the paper between two rules: long, written on
    ruled[20:23] = ruled[97:100] = 60
    ruled[40:80, 100:106] = ruled[40:80, 150:156] = 30
    zeros = np.full((120, 240), 40.0) + rng.normal(0, 4, (120, 240))  # bold white 0s ...
    zeros[30:90, 40:200] = 200  # ... that touch: long, with holes inside ...
    for left in range(40, 200, 40):
        zeros[54:66, left + 14 : left + 26] = 40
    for left in range(70, 190, 40):
        zeros[30:40, left : left + 20] = zeros[80:90, left : left + 20] = 40  # ... and notches
    for image in (lit, white_on_black, board, 255 - lit, one, ruled, zeros):
        assert find_page(image) is None
