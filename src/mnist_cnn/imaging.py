"""Real images -> MNIST inputs: decode, clean, segment, size-normalise, centre.

An MNIST digit is white on black, its longer side scaled to 20 pixels with
anti-aliasing (so the stroke edges are grey) and placed in a 28x28 field with
its centre of mass at the centre. A photo of a digit is nothing like that: dark
ink on unevenly lit paper, JPEG noise, any size and position, often several
digits in a row. `extract_digits` turns any such image into MNIST-style 28x28
uint8 arrays, one per digit, left to right:

1. decode with Pillow (PNG, JPEG, BMP, WebP, GIF, ...), apply the EXIF
   orientation, composite transparency over white, convert to grayscale;
2. polarity: the image's border is mostly background; a plane fitted to it
   (lighting gradient included) tells whether the ink is darker or lighter;
3. lighting: divide by (dark ink) or subtract (light ink) a smooth estimate of
   the background, so that shadows and gradients cancel out;
4. threshold: Otsu's method on a slightly blurred copy; an image whose "ink" does
   not stand out from the background noise has no digit;
5. segment: connected components of the ink; tiny specks are dropped, pieces
   that overlap horizontally (a broken stroke) are one digit, short pieces join
   a digit they touch (else they are dots or dashes, and dropped, as are a lone
   speck or dash), a blob much wider than tall (touching digits) is cut at the
   thinnest column of ink;
6. normalise each digit as MNIST was made: hairlines thickened to MNIST's stroke
   width, longer side to 20 px with anti-aliasing, grey levels kept, centre of
   mass at (14, 14) of a 28x28 field.

The 28x28 arrays then go through `mnist_cnn.preprocessing.preprocess`, like
every other model input.

>>> page = np.full((120, 200), 230, np.uint8)            # light paper
>>> page[30:90, 44:52] = 25                              # a dark "1"
>>> page[30:90, 120:160] = 25; page[40:80, 130:150] = 230  # a "0"
>>> digits = extract_digits(page)
>>> [d.box for d in digits]
[(44, 30, 52, 90), (120, 30, 160, 90)]
>>> digits[0].pixels.shape, digits[0].pixels.dtype
((28, 28), dtype('uint8'))
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from mnist_cnn.errors import MnistCnnError

ImageSource = bytes | str | os.PathLike | Image.Image | np.ndarray

MAX_PIXELS = 40_000_000  # a 40-megapixel photo is fine; a decompression bomb is not
MAX_FILE_BYTES = 256 * 1024 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")

FIELD = 28  # MNIST: a 28x28 field ...
BOX = 20  # ... with the digit's longer side scaled to 20 pixels ...
CENTRE = (14.0, 14.0)  # ... and its centre of mass here (row, column), as measured on MNIST
# Stroke width / longer side of the digit: median over MNIST 0.125, 90% of digits
# between 0.084 and 0.194. Hairlines thinner than HAIRLINE are thickened to the
# median, since MNIST has next to none; bold digits are left as they are, since
# eroding a bold, blurred digit closes its loops and breaks its thin joins.
MNIST_STROKE = 0.125
HAIRLINE = 0.07

EDGE = 0.5  # grey levels kept below the ink threshold, as a share of it
CORE = 75  # percentile of a digit's ink level that becomes full white (255)
MIN_WINDOW = 0.2  # the background window: 3 stroke widths, at least this share of the side
WORK_SIZE = 1024  # larger images are analysed at this longer side (boxes are mapped back)
MIN_CONTRAST = 32.0  # ink weaker than this (0-255 scale) is paper texture, not ink
MIN_SEPARATION = 6.0  # ink must stand this many noise deviations above the background
SPECK = 0.04  # components smaller than this share of the largest one are dirt
OVERLAP = 0.5  # pieces overlapping this much of the narrower one's width are one digit
FRAGMENT = 0.5  # pieces shorter than this share of the tallest are parts of a digit ...
NEAR = 0.2  # ... when this close to it (share of the tallest height), else dropped
MIN_SIDE = 6  # pixels: a lone blob smaller than this (a speck, a dot) is no digit ...
LINE = 1.5  # ... nor one wider than tall and under this many stroke widths tall (a dash)
# Touching digits: a blob wider than WIDE times its height is cut where its column of
# ink is thinner than THIN times the typical column, or anyway beyond VERY_WIDE. On
# MNIST 2.4% of single digits are wider than 1.3 times their height, 0.2% than 1.8.
WIDE = 1.3
THIN = 0.5
VERY_WIDE = 1.8

_SIGNATURES = {
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}


class ImageError(MnistCnnError):
    """An image that cannot be read: not an image, truncated, too large, ..."""


class ImageTooLarge(ImageError):
    """More pixels or bytes than allowed (a decompression bomb, say)."""


class NotAnImage(ImageError):
    """Bytes in no image format at all (text, say)."""


@dataclass(frozen=True)
class DigitCrop:
    """One digit found in an image.

    pixels: uint8 (28, 28), white digit on black, MNIST style.
    box: (x0, y0, x1, y1) of the digit in the original image's pixels (x1, y1 exclusive).
    """

    pixels: np.ndarray
    box: tuple[int, int, int, int]


# -- 1. decoding ---------------------------------------------------------------------------


def load_image(source: ImageSource, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image to grayscale uint8 (H, W), upright, transparency over white.

    `source` is encoded bytes, a file path, a Pillow image or a uint8 array of shape
    (H, W), (H, W, 3) or (H, W, 4). Anything unreadable raises `ImageError` with a
    one-line reason.

    >>> load_image(np.zeros((2, 3, 4), np.uint8)).tolist()  # fully transparent -> white
    [[255, 255, 255], [255, 255, 255]]
    >>> load_image(b"hello")
    Traceback (most recent call last):
    ...
    mnist_cnn.imaging.NotAnImage: not an image file (it looks like text)
    """
    if isinstance(source, np.ndarray):
        image = _image_from_array(source, max_pixels)
    elif isinstance(source, Image.Image):
        image = source
    elif isinstance(source, (bytes, bytearray, memoryview)):
        image = _open(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        image = _open(_read_file(Path(source)))
    else:
        raise ImageError(f"cannot read an image from a {type(source).__name__}")
    _check_size(image.size, max_pixels)
    try:
        image.load()
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(_bomb_message(e, max_pixels)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        if "truncated" in str(e).lower():
            raise ImageError("image is truncated") from None
        raise ImageError(f"cannot decode the image ({e})") from None
    with contextlib.suppress(Exception):  # a broken EXIF block must not hide a readable image
        image = ImageOps.exif_transpose(image)
    return _to_gray(image)


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ImageError("is a folder, not an image file")
        if size > MAX_FILE_BYTES:
            raise ImageTooLarge(
                f"file has {size:,} bytes, more than the {MAX_FILE_BYTES:,} allowed"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except OSError as e:
        raise ImageError(f"cannot read the file ({e.strerror or e})") from None


def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        # Pillow warns above 89 megapixels; our own `max_pixels` check decides.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as e:
            raise ImageTooLarge(_bomb_message(e, MAX_PIXELS)) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            message = _not_an_image(data)
            kind = NotAnImage if message.startswith("not an image") else ImageError
            raise kind(message) from None


def _not_an_image(data: bytes) -> str:
    """Why `data` could not be opened, in a few words."""
    if not data:
        return "empty file"
    head = data[:16]
    kind = next((k for magic, k in _SIGNATURES.items() if head.startswith(magic)), None)
    if kind is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "WebP"
    if kind is not None:
        return f"image is truncated or corrupt ({kind} data that cannot be decoded)"
    sample = data[:1024]
    try:
        sample.decode("utf-8")
        is_text = b"\x00" not in sample
    except UnicodeDecodeError:
        is_text = False
    if is_text and b"<svg" in sample.lower():
        return "not an image file we read (an SVG drawing; send PNG, JPEG, BMP, WebP or GIF)"
    if is_text:
        return "not an image file (it looks like text)"
    return "not an image file (unknown format; PNG, JPEG, BMP, WebP or GIF expected)"


def _bomb_message(error: Exception, max_pixels: int) -> str:
    found = re.search(r"\((\d+) pixels\)", str(error))
    pixels = f"{int(found.group(1)):,}" if found else "too many"
    return f"image has {pixels} pixels, more than the {max_pixels:,} allowed"


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image has {width * height:,} pixels, more than the {max_pixels:,} allowed"
        )
    if width * height == 0:
        raise ImageError("image is empty (0 pixels)")


def _image_from_array(array: np.ndarray, max_pixels: int) -> Image.Image:
    if array.dtype == bool:
        array = array.astype(np.uint8) * np.uint8(255)
    if array.dtype != np.uint8:
        raise ImageError(f"expected a uint8 array (0-255), got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ImageError(
            f"expected an array of shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}"
        )
    _check_size((array.shape[1], array.shape[0]), max_pixels)
    return Image.fromarray(np.ascontiguousarray(array))


def _to_gray(image: Image.Image) -> np.ndarray:
    """Grayscale uint8, with any transparency composited over white paper."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float: stretch to 0-255
        values = np.asarray(image, dtype=np.float64)
        top = values.max()
        if top > 255 or (image.mode == "F" and 0 < top <= 1):  # float images are often 0-1
            values = values * (255.0 / top)
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    try:
        if image.has_transparency_data:
            rgba = image.convert("RGBA")
            paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(paper, rgba)
        return np.asarray(image.convert("L"), dtype=np.uint8)
    except ValueError as e:  # colour modes Pillow cannot convert, such as LAB
        raise ImageError(f"cannot read {image.mode} images ({e})") from None


# -- 2-4. ink ------------------------------------------------------------------------------


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Grayscale (H, W) -> ink strength float32 (H, W), 0-255, white ink on black.

    First the polarity (`_border`), then the background is removed: dark ink on
    paper is a reflectance, so dividing by the local paper brightness cancels uneven
    lighting; light ink on a dark ground adds light, so the local background level
    is subtracted.

    >>> page = np.full((7, 7), 200, np.uint8)
    >>> page[1:6, 3] = 50                                   # a dark stroke on paper
    >>> ink_map(page)[:, 3].round().tolist()                # 150/200 of the light absorbed
    [0.0, 191.0, 191.0, 191.0, 191.0, 191.0, 0.0]
    >>> ink_map(255 - page)[:, 3].round().tolist()          # a light stroke on a dark board
    [0.0, 150.0, 150.0, 150.0, 150.0, 150.0, 0.0]
    """
    gray = np.asarray(gray, dtype=np.float32)
    dark_ink, plane = _border(gray)
    return _remove_background(gray, dark_ink, plane)


def _border(gray: np.ndarray) -> tuple[bool, np.ndarray]:
    """Whether the ink is darker than the background, and the background's plane.

    The border of an image is mostly background, even when a tight crop lets the
    digit touch it. A plane fitted to the border pixels (ignoring outliers such as
    ink) models the background with its lighting gradient; the ink is then the
    side, darker or lighter than that plane, with more far-out pixels. Fitted on a
    small copy, for speed; the plane (a, b, c) is the level a + b * row + c * column
    in the image's own pixels.

    >>> paper = np.linspace(120, 240, 80)[None, :].repeat(60, axis=0)  # strong gradient
    >>> paper[10:50, 30:40] = 20
    >>> _border(paper)[0], _border(255 - paper)[0]
    (True, False)
    >>> level, per_row, per_column = _border(paper)[1]     # 120 + 1.52 per column
    >>> print(f"{level:.0f}, {abs(per_row):.2f}, {per_column:.2f}")
    120, 0.00, 1.51
    """
    small, factor = _shrink(gray, 128)
    if min(small.shape) > 8:
        small = ndimage.gaussian_filter(small, 1.0)
    rows, cols = np.indices(small.shape)
    edge = np.zeros(small.shape, bool)
    edge[[0, -1], :] = edge[:, [0, -1]] = True
    design = np.stack([np.ones(edge.sum()), rows[edge], cols[edge]], axis=1)
    values = small[edge]

    def fit(keep: np.ndarray, rounds: int, accept, plane=None):
        """Least squares on the kept border pixels, then again on those `accept`ed
        given their residuals and the kept ones' spread (a robust noise level);
        `plane` stays if too few are kept."""
        residual = spread = None
        for _ in range(rounds):
            if keep.sum() < 3:
                break
            plane = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
            residual = values - design @ plane
            spread = 1.4826 * float(np.median(np.abs(residual[keep]))) + 1.0
            keep = accept(residual, spread)
        return plane, residual, spread

    # Both sides' outliers (ink) left out.
    plane, residual, spread = fit(np.ones(len(values), bool), 3, lambda r, s: np.abs(r) <= 3 * s)
    detail = small - (plane[0] + plane[1] * rows + plane[2] * cols)
    far = max(8.0, 4 * float(spread))  # well beyond the noise of the background
    darker = -detail[detail < -far].sum()
    lighter = detail[detail > far].sum()
    if darker == lighter == 0:
        # Nothing stands that far out: a tight crop, whose ink on every side widens
        # the spread. The plane still follows the background on most of the border,
        # so the ink is on the side of the larger excursions from it.
        darker, lighter = -np.percentile(detail, 1), np.percentile(detail, 99)
    dark_ink = bool(darker > lighter)
    # Ink along the border pulls the plane towards it. The background is the level
    # the pixels on the other side of the ink follow: refit on those within the
    # noise of the pixels kept so far, until only the background is left.
    side = -1.0 if dark_ink else 1.0  # the ink's side of the plane
    plane, _, _ = fit(side * residual <= 0, 6, lambda r, s: side * r <= 2 * s, plane)
    return dark_ink, plane / np.array([1.0, factor, factor])


def _remove_background(gray: np.ndarray, dark_ink: bool, plane: np.ndarray) -> np.ndarray:
    """Ink strength 0-255 with the background, lighting included, taken out."""
    background = _background(gray, dark_ink, plane)
    if not dark_ink:  # light ink adds light to the background
        return np.clip(gray - background, 0, 255)
    # Dark ink absorbs a share of the light that falls on the paper there.
    return np.clip((background - gray) * 255.0 / np.maximum(background, 1.0), 0, 255)


def _background(gray: np.ndarray, dark_ink: bool, plane: np.ndarray) -> np.ndarray:
    """A smooth estimate of the background level without the ink.

    A morphological closing (dark ink) or opening (light ink) removes every stroke
    narrower than its window and keeps gradients and shadows; a light blur follows.
    The window must be wider than the strokes, but the smaller it is the closer it
    follows uneven lighting. So a first estimate with a window as wide as the image
    finds the strokes, and the final window is a few times their width. Computed on
    a small copy, since lighting varies slowly.

    Beyond the image's border the background goes on as the border's `plane`. A
    bold digit cropped tight then meets background past the border, and a window up
    to the image's size removes it like any other, where a mirrored image would
    double a stroke along the border and a smaller window would keep its blobs.
    """
    height, width = gray.shape
    small, factor = _shrink(gray, 96)
    close = ndimage.grey_closing if dark_ink else ndimage.grey_opening
    longer = max(small.shape)
    pad = longer // 2 + 1  # half the widest window: the image's longer side
    rows, cols = (np.indices(np.add(small.shape, 2 * pad)) - pad + 0.5) * factor
    framed = np.clip(plane[0] + plane[1] * rows + plane[2] * cols, 0, 255).astype(np.float32)
    framed[pad:-pad, pad:-pad] = small

    def level(size: int) -> np.ndarray:
        inside = close(framed, size=size)[pad:-pad, pad:-pad]
        return ndimage.uniform_filter(inside, max(3, size // 2), mode="nearest")

    first = level(longer)
    ink = np.abs(small - first)
    mask = ink > max(otsu_threshold(ink), MIN_CONTRAST / 2)
    size = np.clip(3 * stroke_width(mask), MIN_WINDOW * longer, longer)
    return _resize(level(max(3, round(float(size)))), (width, height), Image.BILINEAR)


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold for values in 0-255: the level that best splits them into two
    classes (largest between-class variance). Pixels above it are ink.

    >>> otsu_threshold(np.array([10, 12, 11, 200, 210, 205]))
    12.0
    """
    counts = np.bincount(np.clip(values, 0, 255).astype(np.uint8).ravel(), minlength=256)
    share = counts / max(1, counts.sum())
    below = np.cumsum(share)  # share of pixels at or below each level
    mass = np.cumsum(share * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mass[-1] * below - mass) ** 2 / (below * (1.0 - below))
    return float(np.nanargmax(np.nan_to_num(between, nan=-1.0)))


def ink_box(ink: np.ndarray, margin: int = 0) -> tuple[slice, slice] | None:
    """Rows and columns of the smallest box around the nonzero pixels of `ink`, grown
    by `margin` on each side within the image; None if all are zero.

    >>> ink = np.zeros((5, 6), bool); ink[1:3, 2:4] = True
    >>> ink_box(ink)
    (slice(1, 3, None), slice(2, 4, None))
    >>> ink_box(ink, margin=2)
    (slice(0, 5, None), slice(0, 6, None))
    """
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    return (
        slice(max(0, int(rows[0]) - margin), min(ink.shape[0], int(rows[-1]) + 1 + margin)),
        slice(max(0, int(cols[0]) - margin), min(ink.shape[1], int(cols[-1]) + 1 + margin)),
    )


def _ink_mask(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Smoothed ink, its thresholded mask and the threshold; None if there is no ink."""
    sigma = float(np.clip(max(ink.shape) / 400, 0.5, 1.5))  # JPEG and sensor noise
    smooth = ndimage.gaussian_filter(ink, sigma)
    if smooth.max() < MIN_CONTRAST:
        return None
    threshold = max(otsu_threshold(smooth), MIN_CONTRAST / 2)
    mask = smooth > threshold
    # Noise such as random pixels has an Otsu threshold too; real ink stands far out
    # of the background, measured away from the strokes' soft edges. (Dilating only
    # the box around the ink gives the same edges, faster.)
    edges = np.zeros_like(mask)
    box = ink_box(mask, margin=2)
    if box is not None:
        edges[box] = ndimage.binary_dilation(mask[box], iterations=2)
    paper = smooth[~edges]
    if paper.size < 16:
        paper = smooth[~mask]
    if paper.size:
        level = float(np.median(paper))
        spread = 1.4826 * float(np.median(np.abs(paper - level))) + 1.0
        if (float(np.median(smooth[mask])) - level) / spread < MIN_SEPARATION:
            return None
    return smooth, mask, threshold


# -- 5. segmentation -----------------------------------------------------------------------


Piece = tuple[slice, slice, np.ndarray]  # rows, columns, the piece's own ink mask there


def _segment(mask: np.ndarray) -> list[Piece]:
    """Ink mask -> digits left to right."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        return []
    areas = np.bincount(labels.ravel())[1:]
    boxes = ndimage.find_objects(labels)
    pieces = [
        (rows, cols, labels[rows, cols] == i + 1)
        for i, (rows, cols) in enumerate(boxes)
        if areas[i] >= max(4, SPECK * areas.max())
    ]
    if not pieces:  # specks only
        return []
    # Pieces that overlap horizontally are one digit: the bar of a 5, a gap in a stroke.
    pieces.sort(key=lambda p: p[1].start)
    merged = True
    while merged:
        merged = False
        for a in range(len(pieces) - 1):
            if _one_digit(pieces[a], pieces[a + 1]):
                pieces[a : a + 2] = [_union(pieces[a], pieces[a + 1])]
                merged = True
                break
    # Pieces much shorter than the tallest are fragments of a nearby digit, or
    # else dots and dashes that are no digit at all.
    tallest = max(rows.stop - rows.start for rows, _, _ in pieces)
    digits = [p for p in pieces if p[0].stop - p[0].start >= FRAGMENT * tallest]
    for piece in pieces:
        if piece[0].stop - piece[0].start >= FRAGMENT * tallest:
            continue
        gaps = [_gap(piece, digit) for digit in digits]
        nearest = int(np.argmin(gaps))
        if gaps[nearest] <= NEAR * tallest:
            digits[nearest] = _union(digits[nearest], piece)
    digits = [digit for digit in digits if _digit_shaped(digit[2])]
    return sorted(
        (part for digit in digits for part in _split_wide(*digit)), key=lambda p: p[1].start
    )


def _one_digit(a: Piece, b: Piece) -> bool:
    """Whether two pieces are parts of one digit: they overlap over much of the narrower
    one's width, or their boxes overlap and together they are no wider than a digit."""
    (ra, ca, _), (rb, cb, _) = a, b
    columns = min(ca.stop, cb.stop) - max(ca.start, cb.start)
    if columns >= OVERLAP * min(ca.stop - ca.start, cb.stop - cb.start):
        return True
    rows = min(ra.stop, rb.stop) - max(ra.start, rb.start)
    width = max(ca.stop, cb.stop) - min(ca.start, cb.start)
    height = max(ra.stop, rb.stop) - min(ra.start, rb.start)
    return columns > 0 and rows > 0 and width <= height


def _digit_shaped(own: np.ndarray) -> bool:
    """Whether a piece of ink, all that is left of it, can be a digit: a speck cannot,
    nor can a single stroke lying on its side (a dash, an underline, a ruled line),
    which would otherwise be cut into many "touching digits"."""
    height, width = own.shape
    if max(height, width) < MIN_SIDE:
        return False
    return width <= WIDE * height or height >= LINE * stroke_width(own)


def _union(a: Piece, b: Piece) -> Piece:
    rows = slice(min(a[0].start, b[0].start), max(a[0].stop, b[0].stop))
    cols = slice(min(a[1].start, b[1].start), max(a[1].stop, b[1].stop))
    own = np.zeros((rows.stop - rows.start, cols.stop - cols.start), bool)
    for r, c, m in (a, b):
        own[
            r.start - rows.start : r.stop - rows.start, c.start - cols.start : c.stop - cols.start
        ] |= m
    return rows, cols, own


def _gap(a: Piece, b: Piece) -> float:
    """Distance between two pieces' boxes (0 if they overlap)."""
    dy = max(0, a[0].start - b[0].stop, b[0].start - a[0].stop)
    dx = max(0, a[1].start - b[1].stop, b[1].start - a[1].stop)
    return float(np.hypot(dx, dy))


def _split_wide(rows: slice, cols: slice, own: np.ndarray) -> list[Piece]:
    """Cut a blob much wider than tall (touching digits) at its thinnest column of ink
    near the middle, and the halves again if still too wide. A wide single digit has no
    thin column there (a flat 0) or one whose parts are not both digit-sized (the long
    bar of a 5), so it stays whole."""
    inked_rows, inked_cols = ink_box(own)
    own = own[inked_rows, inked_cols]
    rows = slice(rows.start + inked_rows.start, rows.start + inked_rows.stop)
    cols = slice(cols.start + inked_cols.start, cols.start + inked_cols.stop)
    height, width = own.shape
    if width <= WIDE * height or width < 4:
        return [(rows, cols, own)]
    profile = ndimage.uniform_filter1d(own.sum(axis=0).astype(float), max(1, height // 10))
    lo, hi = round(0.25 * width), round(0.75 * width)
    # The thinnest column; among equally thin ones the most central.
    centred = np.abs(np.arange(lo, hi) - width / 2) / width
    cut = lo + int(np.argmin(profile[lo:hi] + 1e-3 * centred))
    thin = profile[cut] <= THIN * np.median(profile[profile > 0])
    parts = [
        (rows, slice(cols.start + c0, cols.start + c1), own[:, c0:c1])
        for c0, c1 in ((0, cut), (cut, width))
    ]
    digit_like = all(
        p[2].any(axis=1).sum() >= FRAGMENT * height and p[2].any(axis=0).sum() >= 0.2 * height
        for p in parts
    )
    if not digit_like or (not thin and width <= VERY_WIDE * height):
        return [(rows, cols, own)]
    return [piece for part in parts for piece in _split_wide(*part)]


# -- 6. MNIST normalisation ----------------------------------------------------------------


def stroke_width(mask: np.ndarray) -> float:
    """The typical width in pixels of the strokes in a binary image.

    For a stroke w pixels wide the mean distance of its pixels to the background is
    about (w + 2) / 4, so w = 4 * mean - 2.

    >>> bar = np.zeros((40, 40), bool); bar[5:35, 18:24] = True   # 6 wide, 30 long
    >>> round(stroke_width(bar), 1)
    5.6
    """
    box = ink_box(mask)
    if box is None:
        return 0.0
    mask = mask[box]  # the distances need only the ink's box, in a frame of background
    depth = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    return max(0.0, 4.0 * float(depth[mask].mean()) - 2.0)


def stroke_ratio(mask: np.ndarray) -> float:
    """Stroke width / longer side of a binary digit: how bold it is, whatever its size."""
    box = ink_box(mask)
    if box is None:
        return 0.0
    rows, cols = box
    return stroke_width(mask[box]) / float(max(rows.stop - rows.start, cols.stop - cols.start))


def _thicken_hairline(soft: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Thicken a hairline digit to MNIST's usual stroke width: a classifier trained on
    MNIST has next to no hairlines."""
    ratio = stroke_ratio(mask)
    if ratio >= HAIRLINE or ratio == 0:
        return soft
    radius = (MNIST_STROKE - ratio) * max(mask.shape) / 2  # pixels to add on each side
    outside = ndimage.distance_transform_edt(~mask)
    return np.maximum(soft, np.clip(radius + 0.5 - outside, 0.0, 1.0) * 255.0)


def _shrink(values: np.ndarray, longest: int) -> tuple[np.ndarray, float]:
    """Float32 copy box-averaged down so that the longer side is at most `longest`
    (never 0 pixels), and the factor from its pixels to the original's."""
    height, width = values.shape
    factor = max(1.0, max(height, width) / longest)
    if factor == 1:
        return values.astype(np.float32), factor
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return _resize(values, size, Image.BOX), factor


def _resize(values: np.ndarray, size: tuple[int, int], resample) -> np.ndarray:
    """Resample a float array to size (width, height) with Pillow."""
    image = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32), mode="F")
    if resample == Image.LANCZOS:
        # Box-average down to about twice the size first: anti-aliased and fast.
        return np.asarray(image.resize(size, resample, reducing_gap=2.0), dtype=np.float32)
    return np.asarray(image.resize(size, resample), dtype=np.float32)


def to_mnist(soft: np.ndarray) -> np.ndarray:
    """One digit's ink (float, white on black, 0-255, cropped or not) -> uint8 (28, 28)
    as MNIST was made: longer side 20 px, anti-aliased, centre of mass at (14, 14).

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
    small = np.clip(_resize(soft, size, Image.LANCZOS), 0, 255)
    # Whole-pixel shift: the centre of mass lands within half a pixel of the centre.
    com_row, com_col = ndimage.center_of_mass(small)
    top = int(np.clip(round(CENTRE[0] - com_row), 0, FIELD - size[1]))
    left = int(np.clip(round(CENTRE[1] - com_col), 0, FIELD - size[0]))
    field = np.zeros((FIELD, FIELD), np.float32)
    field[top : top + size[1], left : left + size[0]] = small
    return np.clip(np.rint(field), 0, 255).astype(np.uint8)


# -- all together --------------------------------------------------------------------------


def find_digits(gray: np.ndarray) -> list[DigitCrop]:
    """Grayscale uint8 (H, W) from `load_image` -> the digits in it, left to right.

    An image without ink (blank paper, noise) gives an empty list.
    """
    gray = np.asarray(gray)
    height, width = gray.shape
    work, factor = _shrink(gray, WORK_SIZE)  # factor: working pixel -> original pixels
    found = _ink_mask(ink_map(work))
    if found is None:
        return []
    smooth, mask, threshold = found
    floor = EDGE * threshold  # keep the anti-aliased edges between this and the threshold
    margin = 1 + round(float(np.clip(max(work.shape) / 400, 0.5, 1.5)) * 2)

    digits = []
    for rows, cols, own in _segment(mask):
        # The digit's own ink with its soft edges, without the neighbours' strokes.
        r0, r1 = max(0, rows.start - margin), min(work.shape[0], rows.stop + margin)
        c0, c1 = max(0, cols.start - margin), min(work.shape[1], cols.stop + margin)
        region = np.zeros((r1 - r0, c1 - c0), bool)
        region[rows.start - r0 : rows.stop - r0, cols.start - c0 : cols.stop - c0] = own
        near = ndimage.binary_dilation(region, iterations=margin)
        values = smooth[r0:r1, c0:c1]
        core = max(float(np.percentile(values[region], CORE)), floor + 1.0)
        soft = np.clip((values - floor) / (core - floor), 0.0, 1.0) * 255.0 * near
        soft = _thicken_hairline(soft, region)

        box = (  # the thresholded strokes, in the original image's pixels
            int(np.floor(cols.start * factor)),
            int(np.floor(rows.start * factor)),
            min(width, int(np.ceil(cols.stop * factor))),
            min(height, int(np.ceil(rows.stop * factor))),
        )
        digits.append(DigitCrop(to_mnist(soft), box))
    return digits


def extract_digits(source: ImageSource, max_pixels: int = MAX_PIXELS) -> list[DigitCrop]:
    """Decode an image and return its digits left to right as MNIST-style 28x28 arrays
    with their boxes in the image. See the module docstring for the steps."""
    return find_digits(load_image(source, max_pixels))
