"""Real images -> MNIST inputs, step by step: decode, ink, segment, MNIST style.

>>> page = np.full((120, 200), 230, np.uint8)              # light paper
>>> page[30:90, 44:52] = 25                                # a dark "1"
>>> page[30:90, 120:160] = 25; page[40:80, 130:150] = 230  # a "0"
>>> digits = extract_digits(page)
>>> [d.box for d in digits]
[(44, 30, 52, 90), (120, 30, 160, 90)]
>>> digits[0].pixels.shape, digits[0].pixels.dtype
((28, 28), dtype('uint8'))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mnist_cnn.imaging.decode import MAX_PIXELS, ImageSource, load_reduced
from mnist_cnn.imaging.ink import (
    ink_box,
    ink_map,
    ink_mask,
    joined,
    noise_sigma,
    plain_level,
    stroke_depth,
    stroke_width,
)
from mnist_cnn.imaging.normalise import (
    BOLD_STROKE,
    blur_reach,
    digit_ink,
    ink_region,
    thicken_hairline,
    thin_bold,
    to_mnist,
    upright,
)
from mnist_cnn.imaging.page import paper_only
from mnist_cnn.imaging.params import DEFAULT_PARAMS, ImagingParams
from mnist_cnn.imaging.resample import shrink
from mnist_cnn.imaging.rules import remove_rules, taken_out
from mnist_cnn.imaging.segment import Piece, group_lines, image_box, segment, union
from mnist_cnn.imaging.strip import tilt

# The fewest digits of a line whose slope turns them upright (`find_lines`). On numbers of
# validation digits photographed turned 20 degrees, 740 -> 756 of 770 digits read right
# by the digit model (757 from two digits); level photos 951 of 962 as before (950 from
# two). From one, a tenth of lone digits were turned and 0.7% fewer read right.
UPRIGHT = 3


@dataclass(frozen=True)
class DigitCrop:
    """One digit found in an image.

    pixels: uint8 (28, 28), white digit on black, MNIST style.
    box: (x0, y0, x1, y1) of the digit in the original image's pixels (x1, y1 exclusive).
    """

    pixels: np.ndarray
    box: tuple[int, int, int, int]


def extract_digits(
    source: ImageSource, max_pixels: int = MAX_PIXELS, params: ImagingParams = DEFAULT_PARAMS
) -> list[DigitCrop]:
    """Decode an image and return its digits in reading order (row by row, each left
    to right), MNIST style.

    A large image is reduced as it is decoded to about `params.work_size` (the size it
    is analysed at anyway), so the memory and time it takes are bounded.

    Args:
        source: encoded bytes, a file path, a Pillow image or a uint8 array.
        max_pixels: larger images are refused with `ImageError`.
        params: the pipeline's settings.

    Returns:
        One `DigitCrop` per digit; none for an image without ink.

    Example:
        >>> extract_digits(np.full((50, 50), 255, np.uint8))     # blank paper
        []
    """
    gray, shape = load_reduced(source, params.work_size, max_pixels)
    return find_digits(gray, params, shape)


def find_digits(
    gray: np.ndarray,
    params: ImagingParams = DEFAULT_PARAMS,
    shape: tuple[int, int] | None = None,
) -> list[DigitCrop]:
    """Grayscale uint8 (H, W) from `load_image` -> the digits in it, in reading order.

    Args:
        gray: the decoded image.
        params: the pipeline's settings.
        shape: the (height, width) of the image `gray` was reduced from (by
            `load_reduced`), whose pixels the boxes are then given in; None: `gray`'s.

    Returns:
        One `DigitCrop` per digit; an image without ink (blank paper, noise) gives
        an empty list.

    Example:
        >>> gray = np.full((40, 40), 200, np.uint8); gray[8:32, 18:22] = 0
        >>> [crop.box for crop in find_digits(gray)]
        [(17, 7, 23, 33)]
    """
    result = _find(gray, params, shape)
    if result is None:
        return []
    _, crops = result
    return crops


@dataclass(frozen=True)
class _Found:
    """What steps 1-3 and the pieces of step 4 found in one image, for `find_digits`
    and `find_lines`."""

    smooth: np.ndarray  # the smoothed ink map, working pixels
    mask: np.ndarray  # where its ink is
    threshold: float  # its ink threshold
    factor: float  # original pixels per working pixel
    shape: tuple[int, int]  # the original image's (height, width)
    pieces: list[Piece]  # the digits' ink, in reading order
    depth: np.ndarray  # each ink pixel's distance to the background (`stroke_depth`)


def _find(
    gray: np.ndarray, params: ImagingParams, shape: tuple[int, int] | None
) -> tuple[_Found, list[DigitCrop]] | None:
    """Steps 1-4 of `find_digits`: what was found and the digits' crops, one per
    piece; None for an image without ink. A large image is analysed small first, and
    that kept if its digits are bold and large even there; digits small at the working
    size are found again closer (`_closer`)."""
    gray = np.asarray(gray)
    shape = shape or gray.shape
    found = None
    if max(gray.shape) ** 2 > 2 * params.quick_size**2:  # it has at least twice the pixels
        # (Digits small enough there to be found again less blurred are not kept.)
        found = _analyse(gray, params.quick_size, params, shape, sharpen=False)
        if found is not None and not _bold(found, params):
            found = None
    if found is None:
        found = _analyse(gray, params.work_size, params, shape)
    if found is None:
        return None
    if found.pieces and max(gray.shape) > max(found.mask.shape):
        found = _closer(gray, found, params, shape)
    # 4. Each digit drawn as MNIST's are; one distance transform gave every digit's
    # stroke width (hairlines are thickened).
    crops = []
    for piece in found.pieces:
        rows, cols, own = piece
        width = stroke_width(own, found.depth[rows, cols])
        soft = digit_ink(found.smooth, found.threshold, piece, params, width)
        crops.append(DigitCrop(to_mnist(soft), image_box(piece, found.factor, shape)))
    return found, crops


def _bold(found: _Found, params: ImagingParams) -> bool:
    """Whether every digit `found` is `params.quick_height` tall and the strokes are
    `params.quick_stroke` wide: enough to read them at that size."""
    if not found.pieces:  # digits too small to be found at all: look closer
        return False
    tall = all(rows.stop - rows.start >= params.quick_height for rows, _, _ in found.pieces)
    return tall and stroke_width(found.mask, found.depth) >= params.quick_stroke


def _closer(
    gray: np.ndarray, found: _Found, params: ImagingParams, shape: tuple[int, int]
) -> _Found:
    """`found`, or, where its digits are under `params.small_height` working pixels
    tall, what the region around them holds at `gray`'s own resolution (a number
    small on a page photographed whole: in a 3000x2250 photo, digits 36 px tall are 12
    at the working size, 18 in `gray`)."""
    tall = _median_height(found.pieces)
    if tall >= params.small_height:
        return found
    scale = max(gray.shape) / max(found.mask.shape)  # `gray`'s pixels per working pixel
    top, bottom, left, right = _around(found.pieces, 3 * tall, gray.shape, scale)
    if max(bottom - top, right - left) > params.work_size:
        return found  # digits spread over a page: as many pixels as the whole
    per_pixel = max(shape) / max(gray.shape)  # original pixels per `gray` pixel
    again = _analyse(gray[top:bottom, left:right], params.work_size, params, shape, per_pixel)
    if again is None or not again.pieces:
        return found
    return _placed(again, (top, left), gray.shape)


def _median_height(pieces: list[Piece]) -> float:
    return float(np.median([rows.stop - rows.start for rows, _, _ in pieces]))


def _around(
    pieces: list[Piece], margin: float, shape: tuple[int, int], scale: float = 1.0
) -> tuple[int, int, int, int]:
    """The rows top:bottom and columns left:right of the box around `pieces` grown by
    `margin` on each side, in an image of `shape` whose pixels are `scale` times finer."""
    rows, cols, _ = union(pieces)
    top, left = (max(0, int((start - margin) * scale)) for start in (rows.start, cols.start))
    bottom = min(shape[0], int(np.ceil((rows.stop + margin) * scale)))
    right = min(shape[1], int(np.ceil((cols.stop + margin) * scale)))
    return top, bottom, left, right


def _analyse(
    gray: np.ndarray,
    size: int,
    params: ImagingParams,
    shape: tuple[int, int],
    per_pixel: float | None = None,
    sharpen: bool = True,
) -> _Found | None:
    """Steps 1-3 and the pieces of step 4 at `size` pixels on the longer side (or less,
    if `gray` is smaller); digits small for the image found again less blurred if
    `sharpen`. `per_pixel`: original pixels per pixel of `gray` (default: `gray` is the
    whole image, reduced from `shape`)."""
    # 1. A working copy of bounded size; `factor` maps its pixels back.
    work, factor = shrink(gray, size)
    factor *= max(shape) / max(gray.shape) if per_pixel is None else per_pixel
    # 2. The ink, white on black, without the background and its lighting (and
    # without the desk around a photographed sheet of paper). A drawing's background
    # is one level out to its border: there is nothing to estimate, and no desk.
    plain = plain_level(work, params)
    ink = ink_map(work if plain is not None else paper_only(work, params), params, plain)
    # 3. Where the ink is, unless it is only noise, and 4. the digits in it.
    blur = noise_sigma(ink.shape)
    found = _digits(ink, params, blur, factor, shape)
    if found is None or not found.pieces or not sharpen:
        return found
    # Digits small for the image (a large photo of a page) are found again less
    # blurred, in the region around them: a blur sized for the image melts them.
    height = _median_height(found.pieces)
    sharper = noise_sigma(ink.shape, height)
    if sharper < blur - 0.1:
        top, bottom, left, right = _around(found.pieces, round(2 * height), ink.shape)
        again = _digits(ink[top:bottom, left:right], params, sharper, factor, shape)
        if again is not None:
            found = _placed(again, (top, left), ink.shape)
    return found


def _digits(
    ink: np.ndarray, params: ImagingParams, blur: float, factor: float, shape: tuple[int, int]
) -> _Found | None:
    """Steps 3-4 of `_analyse`, the ink map smoothed by a Gaussian of `blur` pixels."""
    found = ink_mask(ink, params, blur)
    if found is None:
        return None
    smooth, mask, threshold = found
    depth = stroke_depth(mask)
    # The lines of ruled or squared paper, a box or an underline, out of the ink.
    smooth, kept = remove_rules(smooth, mask, threshold, params, stroke_width(mask, depth))
    if kept is not mask:
        mask, depth = kept, stroke_depth(kept)
    # The digits, in reading order, and their strokes' depth. The marks between them
    # out of the ink: the number model reads all the ink of a line.
    pieces, marks = segment(mask, params)
    if marks:
        rows, cols, own = union(marks)
        out = np.zeros(mask.shape, bool)
        out[rows, cols] = own
        smooth, mask = taken_out(smooth, mask, out)
    return _Found(smooth, mask, threshold, factor, shape, pieces, depth)


def _placed(found: _Found, origin: tuple[int, int], shape: tuple[int, int]) -> _Found:
    """What was found in a region of an image whose top left corner is at `origin`, as
    if found in the whole image of `shape` (working pixels)."""
    top, left = origin
    region = np.s_[top : top + found.mask.shape[0], left : left + found.mask.shape[1]]
    smooth, mask, depth = np.zeros(shape, np.float32), np.zeros(shape, bool), np.zeros(shape)
    smooth[region], mask[region], depth[region] = found.smooth, found.mask, found.depth
    pieces = [
        (slice(rows.start + top, rows.stop + top), slice(cols.start + left, cols.stop + left), own)
        for rows, cols, own in found.pieces
    ]
    return dataclasses.replace(found, smooth=smooth, mask=mask, pieces=pieces, depth=depth)


@dataclass(frozen=True)
class Line:
    """A line of digits found in an image: what the number model reads.

    crops: the digits segmentation found on it, left to right (`DigitCrop`), turned
        upright where the line leans (`lean`).
    ink: float32, 0-255, white on black: the line's ink (its digits' strokes, with
        their soft edges), cropped to its ink box, in working pixels.
    origin: (x, y) of ``ink[0, 0]`` in the original image's pixels.
    factor: original image pixels per working pixel.
    shape: the original image's (height, width).
    slope: how far the line rises or falls, rows per column (`strip.tilt` of its ink:
        positive downhill; 0.0 for a line level enough).
    lean: the slope its crops were turned back by (`slope`, by `stand_up`), else 0.0.
    """

    crops: list[DigitCrop]
    ink: np.ndarray
    origin: tuple[float, float]
    factor: float
    shape: tuple[int, int]
    slope: float = 0.0
    lean: float = 0.0


def extract_lines(
    source: ImageSource, max_pixels: int = MAX_PIXELS, params: ImagingParams = DEFAULT_PARAMS
) -> list[Line]:
    """Decode an image and return its lines of digits, top to bottom, each with its
    digits as `extract_digits` finds them and its ink for the number model.

    Example:
        >>> page = np.full((60, 120), 230, np.uint8)
        >>> page[10:50, 20:26] = 20; page[10:50, 40:46] = 20     # "11"
        >>> [(len(line.crops), line.ink.shape) for line in extract_lines(page)]
        [(2, (42, 28))]
    """
    gray, shape = load_reduced(source, params.work_size, max_pixels)
    return find_lines(gray, params, shape)


def _thinned(
    soft: np.ndarray,
    origin: tuple[int, int],
    pieces: list[Piece],
    found: _Found,
    bold: float,
    width: float,
) -> np.ndarray:
    """A line's ink (`soft`, its [0, 0] at `origin` in working pixels) thinned where
    its strokes (`width` wide) are bolder than `bold` of its digits' median height
    (`thin_bold`), but for strokes no bolder than the thinned ones will be, about half
    a stroke width or more from any bolder: a thin 0 beside a blot is not eroded
    away."""
    tall = _median_height(pieces)
    thin = thin_bold(soft, bold, tall, width)
    if thin is soft:
        return soft
    top, left = origin
    depth = found.depth[top : top + soft.shape[0], left : left + soft.shape[1]]
    deepest = ndimage.maximum_filter(depth, size=2 * round(width / 2) + 3)  # the deepest near
    keep = (depth > 0) & (2 * deepest - 1 <= BOLD_STROKE * tall)
    if not keep.any():
        return thin
    keep = ndimage.binary_dilation(keep, iterations=blur_reach(found.smooth.shape))
    return np.where(keep, soft, thin)


def _faint_ends(
    found: _Found,
    rows: slice,
    cols: slice,
    params: ImagingParams,
    reach: float = 1.0,
    tall: float = 0.4,
    wide: float = 0.15,
) -> slice:
    """A line's columns `cols`, taken further where a faint digit joins either end.

    A faint digit pressed against the first or last of darker ones keeps only specks
    above their common threshold, which segmentation drops, so the line's box ends
    before it and the number model never sees it. Its fainter strokes that join the
    line's ink (`ink.joined`) within `reach` line heights past an end count where they
    are `tall` of the line's height tall and reach `wide` of it past the end: a digit,
    where a rule's remnant is flat and a speck short. The soft edges the line's ink
    keeps anyway (`blur_reach`) are not measured: they are as tall as the digits.
    """
    height = rows.stop - rows.start
    w0 = max(0, cols.start - round(reach * height))
    w1 = min(found.smooth.shape[1], cols.stop + round(reach * height))
    seeds = np.zeros((height, w1 - w0), bool)
    seeds[:, cols.start - w0 : cols.stop - w0] = found.mask[rows, cols]
    held = joined(found.smooth[rows, w0:w1], seeds, found.threshold, params)
    margin = blur_reach(found.smooth.shape)
    held[:, max(0, cols.start - w0 - margin) : cols.stop - w0 + margin] = False
    start, stop = cols.start, cols.stop
    labels, _ = ndimage.label(held, structure=np.ones((3, 3), bool))
    for piece_rows, piece_cols in ndimage.find_objects(labels):
        left, right = w0 + piece_cols.start, w0 + piece_cols.stop
        past = cols.start - left if right <= cols.start else right - cols.stop
        if piece_rows.stop - piece_rows.start >= tall * height and past >= wide * height:
            start, stop = min(start, left), max(stop, right)
    return slice(start, stop)


def find_lines(
    gray: np.ndarray,
    params: ImagingParams = DEFAULT_PARAMS,
    shape: tuple[int, int] | None = None,
) -> list[Line]:
    """Grayscale uint8 (H, W) -> its lines of digits (`Line`), top to bottom; see
    `find_digits` for the arguments."""
    result = _find(gray, params, shape)
    if result is None:
        return []
    found, found_crops = result
    lines = []
    for pieces in group_lines(found.pieces):
        # All the ink in the box around the line's digits, as `find_digits` draws a
        # digit: strokes segmentation set aside (a faint part of a digit it merged with
        # another) are the number model's to read, and so are the fainter strokes that
        # join its ink, unless it is one digit alone (a faint digit pressed against
        # darker ones, of which the mask holds only specks: `ink.joined`), the box
        # reaching such a digit at either end (`_faint_ends`). Hairlines
        # are thickened for the line's height, since a piece of several digits is
        # wider than tall; a broad marker's strokes are thinned (`_thinned`).
        rows, cols, _ = union(pieces)
        several = len(pieces) > 1 or cols.stop - cols.start > rows.stop - rows.start
        if several:
            cols = _faint_ends(found, rows, cols, params)
        line_piece = (rows, cols, found.mask[rows, cols])
        r0, _, c0, _ = ink_region(line_piece, found.smooth.shape)
        as_drawn = dataclasses.replace(params, hairline=0.0)
        soft = digit_ink(found.smooth, found.threshold, line_piece, as_drawn, faint=several)
        mask = np.zeros(soft.shape, bool)
        mask[rows.start - r0 : rows.stop - r0, cols.start - c0 : cols.stop - c0] = line_piece[2]
        width = stroke_width(line_piece[2], found.depth[rows, cols])
        soft = thicken_hairline(soft, mask, params.hairline, rows.stop - rows.start, width)
        soft = _thinned(soft, (r0, c0), pieces, found, params.bold, width)
        box = ink_box(soft > 0)
        if box is None:
            continue
        top, left = r0 + box[0].start, c0 + box[1].start
        mine = {id(piece) for piece in pieces}
        crops = [c for c, p in zip(found_crops, found.pieces, strict=True) if id(p) in mine]
        ink = soft[box].astype(np.float32)
        origin = (left * found.factor, top * found.factor)
        line = Line(crops, ink, origin, found.factor, found.shape, tilt(ink))
        # `UPRIGHT` pieces or more; touching digits, one piece, the reader counts.
        lines.append(stand_up(line) if len(crops) >= UPRIGHT else line)
    return lines


def stand_up(line: Line) -> Line:
    """`line` with its digits turned upright by its slope (`lean`).

    A line photographed turned leans its digits as far. For lines of `UPRIGHT` digits
    or more (`find_lines` counts pieces; the reader, in a line of touching digits, those
    the number model reads, one more): a lone digit's shape alone can slope its ink (a
    2's foot; a 5 beside a 1).

    Example:
        >>> page = np.full((110, 140), 230, np.uint8)
        >>> page[20:70, 30:36] = 20; page[40:90, 100:106] = 20   # "11", falling
        >>> (line,) = extract_lines(page)                          # two: not turned
        >>> line.lean, stand_up(line).lean == line.slope > 0
        (0.0, True)
    """
    if not line.slope or line.lean:
        return line
    turned = upright(np.stack([crop.pixels for crop in line.crops]), line.slope)
    crops = [DigitCrop(t, crop.box) for t, crop in zip(turned, line.crops, strict=True)]
    return dataclasses.replace(line, crops=crops, lean=line.slope)
