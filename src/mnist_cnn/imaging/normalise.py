"""MNIST style: one digit's ink -> a 28x28 uint8 field like MNIST's own digits.

An MNIST digit is white on black, its longer side scaled to 20 pixels with
anti-aliasing (so the stroke edges are grey) and placed in a 28x28 field with its
centre of mass at the centre. A digit found in an image keeps its grey edges, its
stroke cores become full white, hairlines are thickened to MNIST's stroke width,
and it is scaled and centred in the same way.

>>> digit = np.zeros((50, 30)); digit[5:45, 10:20] = 255
>>> field = to_mnist(digit)
>>> field.shape, field.dtype, int(field.max())
((28, 28), dtype('uint8'), 255)
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from scipy import ndimage

from mnist_cnn.imaging.ink import ink_box, joined, noise_sigma, stroke_width
from mnist_cnn.imaging.params import DEFAULT_PARAMS, ImagingParams
from mnist_cnn.imaging.resample import resize, shrink
from mnist_cnn.imaging.segment import Piece

FIELD = 28  # MNIST: a 28x28 field ...
BOX = 20  # ... with the digit's longer side scaled to 20 pixels ...
CENTRE = (14.0, 14.0)  # ... and its centre of mass here (row, column), as measured on MNIST
# Stroke width / longer side of the digit: median over MNIST. Hairlines are
# thickened to it; bold digits are left as they are, since eroding a bold, blurred
# digit breaks its thin joins (and real handwriting is often bold).
MNIST_STROKE = 0.125
# A line of digits bolder than `ImagingParams.bold` (a broad marker) is thinned to
# this for the number model, not to MNIST's median: thinned further, joins break.
BOLD_STROKE = 0.2
# The largest radius (pixels) of the disc a line is eroded with in one step (the broad
# marker's photos need up to 7), and the most steps before it is eroded on a smaller copy.
MAX_ERODE = 8
ERODE_STEPS = 4


def digit_ink(
    smooth: np.ndarray,
    threshold: float,
    piece: Piece,
    params: ImagingParams = DEFAULT_PARAMS,
    width: float | None = None,
    faint: bool = False,
) -> np.ndarray:
    """One digit's ink with its soft edges, without its neighbours' strokes.

    Args:
        smooth: the smoothed ink map of the whole image (see `ink.ink_mask`).
        threshold: the ink threshold found for it.
        piece: the digit, from `segment.segment`.
        params: `edge` (grey levels kept below the threshold), `core` (the
            percentile that becomes full white) and `hairline`; with `faint`, `weak`
            and `min_separation`.
        width: the piece's stroke width, if measured already (`thicken_hairline`).
        faint: keep the fainter strokes that join the piece's ink too (`ink.joined`):
            for a line of digits, whose faint digits segmentation may have missed.

    Returns:
        Float 0-255, white on black, in the digit's box grown by a small margin.

    Example:
        >>> smooth = np.zeros((20, 20), np.float32); smooth[5:15, 8:12] = 200
        >>> own = np.ones((10, 4), bool)
        >>> soft = digit_ink(smooth, 90.0, (slice(5, 15), slice(8, 12), own))
        >>> soft.shape, float(soft.max())
        ((14, 8), 255.0)
    """
    rows, cols, own = piece
    floor = params.edge * threshold  # keep the anti-aliased edges between this and threshold
    r0, r1, c0, c1 = ink_region(piece, smooth.shape)
    region = np.zeros((r1 - r0, c1 - c0), bool)
    region[rows.start - r0 : rows.stop - r0, cols.start - c0 : cols.stop - c0] = own
    values = smooth[r0:r1, c0:c1]
    held = joined(values, region, threshold, params) if faint else region
    near = ndimage.binary_dilation(held, iterations=blur_reach(smooth.shape))
    core = max(float(np.percentile(values[region], params.core)), floor + 1.0)
    soft = np.clip((values - floor) / (core - floor), 0.0, 1.0) * 255.0 * near
    return thicken_hairline(soft, region, params.hairline, width=width)


def blur_reach(shape: tuple[int, int]) -> int:
    """How far in pixels the blur of an ink map of `shape` spreads a stroke's soft
    edges (`ink.noise_sigma`): how far around its mask a digit's ink reaches.

    Example:
        >>> blur_reach((20, 20))
        2
    """
    return 1 + round(noise_sigma(shape) * 2)


def ink_region(piece: Piece, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """The rows r0:r1 and columns c0:c1 that `digit_ink` returns for `piece` in an ink
    map of `shape`: its box grown by the blur's reach, within the image.

    Example:
        >>> ink_region((slice(5, 15), slice(8, 12), None), (20, 20))
        (3, 17, 6, 14)
    """
    rows, cols, _ = piece
    margin = blur_reach(shape)
    r0, r1 = max(0, rows.start - margin), min(shape[0], rows.stop + margin)
    c0, c1 = max(0, cols.start - margin), min(shape[1], cols.stop + margin)
    return r0, r1, c0, c1


def thicken_hairline(
    soft: np.ndarray,
    mask: np.ndarray,
    hairline: float,
    size: float | None = None,
    width: float | None = None,
) -> np.ndarray:
    """Thicken a hairline digit to MNIST's usual stroke width: a classifier trained on
    MNIST has next to no hairlines.

    Args:
        soft: the digit's ink, float 0-255.
        mask: its thresholded strokes.
        hairline: stroke width / size below which the digit is thickened.
        size: the digit's size in pixels; default: the longer side of its ink (a
            line of several digits passes its height).
        width: the strokes' width in pixels, if measured already; default: measured
            here (`stroke_width`).

    Returns:
        `soft`, with full-white ink added around the strokes of a hairline digit.

    Example:
        >>> mask = np.zeros((100, 100), bool); mask[10:90, 50] = True   # 1 px wide
        >>> thick = thicken_hairline(mask * 255.0, mask, hairline=0.07)
        >>> int((thick[50] > 127).sum())                                # about 10 px wide
        11
    """
    box = ink_box(mask)
    if box is None or hairline <= 0:
        return soft
    if width is None:
        width = stroke_width(mask[box])
    if size is None:
        rows, cols = box
        ratio, size = width / max(rows.stop - rows.start, cols.stop - cols.start), max(mask.shape)
    else:
        ratio = width / size
    if ratio >= hairline:
        return soft
    radius = (MNIST_STROKE - ratio) * size / 2  # pixels to add on each side
    outside = ndimage.distance_transform_edt(~mask)
    return np.maximum(soft, np.clip(radius + 0.5 - outside, 0.0, 1.0) * 255.0)


def thin_bold(soft: np.ndarray, bold: float, size: float, width: float) -> np.ndarray:
    """Thin strokes written with a broad marker to `BOLD_STROKE` of the digits' size:
    the number model, which learnt MNIST's strokes (a tenth to a fifth of a digit),
    reads strokes a third of a digit's height as blobs, their loops nearly shut.

    Args:
        soft: the ink, float 0-255, white on black.
        bold: stroke width / size above which the strokes are thinned.
        size: the digits' height in pixels.
        width: the strokes' width in pixels (`stroke_width`).

    Returns:
        `soft`, its strokes narrowed on each side by a grey erosion (a disc); as it
        is if they are not bolder than `bold`.

    Example:
        >>> bar = np.zeros((100, 100)); bar[10:90, 35:65] = 255.0        # 30 px of 80
        >>> thin = thin_bold(bar, bold=0.3, size=80, width=30)
        >>> int((thin[50] > 127).sum())                                  # 0.2 of 80 px
        16
    """
    radius = (width / size - BOLD_STROKE) * size / 2  # pixels to take off each side
    if width / size <= bold or radius < 1:
        return soft
    # Eroding with a disc costs its area a pixel: seconds for a blot hundreds of pixels
    # wide. So a broad disc's erosion is made of several with narrower discs, one after
    # another (a disc's erosion after another's is nearly the erosion with the disc as
    # wide as both), on a copy scaled down where even that would be slow.
    scale = min(1.0, MAX_ERODE * ERODE_STEPS / radius)
    thin = soft if scale == 1 else shrink(soft, max(1, round(max(soft.shape) * scale)))[0]
    steps = math.ceil(radius * scale / MAX_ERODE)
    step = disc(radius * scale / steps)
    for _ in range(steps):
        thin = ndimage.grey_erosion(thin, footprint=step, mode="constant", cval=0.0)
    if scale == 1:
        return thin
    rows, cols = soft.shape
    return resize(thin, (cols, rows), Image.BILINEAR).astype(soft.dtype, copy=False)


def disc(radius: float) -> np.ndarray:
    """A round footprint for grey erosion or dilation: the pixels within `radius`.

    Example:
        >>> disc(1).astype(int).tolist()
        [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    """
    reach = int(radius)
    y, x = np.ogrid[-reach : reach + 1, -reach : reach + 1]
    return x * x + y * y <= radius * radius


def turn(images: np.ndarray, degrees: float) -> np.ndarray:
    """uint8 (N, 28, 28) images turned `degrees` anticlockwise about their centre, kept
    28x28 (black where nothing turned in).

    Example:
        >>> bar = np.zeros((1, 28, 28), np.uint8); bar[0, 4:24, 13:15] = 255   # upright
        >>> lying = turn(bar, 90)[0]
        >>> int(lying[14].sum() > lying[:, 14].sum())
        1
    """
    return ndimage.rotate(images, degrees, axes=(2, 1), reshape=False, order=1)


def upright(images: np.ndarray, slope: float) -> np.ndarray:
    """uint8 (N, 28, 28) digits of a line sloping `slope` rows per column
    (`mnist_cnn.imaging.strip.tilt`; positive: downhill), turned as far back: a line
    photographed turned leans its digits as far, further than MNIST's writers slanted
    theirs.

    Example:
        >>> bar = np.zeros((1, 28, 28), np.uint8); bar[0, 4:24, 13:15] = 255
        >>> upright(bar, 0.0) is bar                            # a level line's
        True
        >>> leaning = turn(bar, -20)                            # turned 20 degrees clockwise
        >>> back = upright(leaning, math.tan(math.radians(20)))  # ... its line downhill
        >>> int(np.abs(back.astype(int) - bar).mean() < np.abs(leaning.astype(int) - bar).mean())
        1
    """
    return turn(images, math.degrees(math.atan(slope))) if slope else images


def to_mnist(soft: np.ndarray) -> np.ndarray:
    """One digit's ink -> uint8 (28, 28) as MNIST was made.

    Args:
        soft: float, white on black, 0-255, cropped or not.

    Returns:
        The digit with its longer side 20 px, anti-aliased, its centre of mass at
        (14, 14); all black if there is no ink.

    Example:
        >>> digit = np.zeros((50, 30)); digit[5:45, 10:20] = 255
        >>> out = to_mnist(digit)
        >>> out.shape, [round(float(v), 1) for v in ndimage.center_of_mass(out)]  # within 0.5 px
        ((28, 28), [13.5, 14.0])
    """
    box = ink_box(soft > 0)
    if box is None:
        return np.zeros((FIELD, FIELD), np.uint8)
    soft = soft[box]
    height, width = soft.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = np.clip(resize(soft, size, Image.LANCZOS), 0, 255)
    # Whole-pixel shift: the centre of mass lands within half a pixel of the centre.
    com_row, com_col = ndimage.center_of_mass(small)
    top = int(np.clip(round(CENTRE[0] - com_row), 0, FIELD - size[1]))
    left = int(np.clip(round(CENTRE[1] - com_col), 0, FIELD - size[0]))
    field = np.zeros((FIELD, FIELD), np.float32)
    field[top : top + size[1], left : left + size[0]] = small
    return np.clip(np.rint(field), 0, 255).astype(np.uint8)
