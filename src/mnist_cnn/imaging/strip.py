"""Number style: a line of digits' ink -> a fixed-size strip for the number model.

What MNIST's 28x28 field is to one digit, the strip is to a number: white ink on
black, its ink box scaled to `INK_HEIGHT` pixels high (the width follows, so digits
keep their shape), placed `LEFT` pixels from the left and centred vertically in a
`HEIGHT` x `WIDTH` field. A line too long for the field at that height is scaled
down until it fits. A line that rises or falls can be turned level first (`level`).
Training strips (numbers composed of MNIST digits) and the strips of lines found in
images both go through `to_strip`, so the model sees the same kind of input in both.

>>> line = np.zeros((40, 90)); line[5:35, 10:80] = 255
>>> strip, scale = to_strip(line)
>>> strip.shape, strip.dtype, round(scale, 2)
((32, 256), dtype('uint8'), 0.8)
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from mnist_cnn.imaging.ink import ink_box
from mnist_cnn.imaging.resample import resize

HEIGHT = 32  # the strip's height ...
WIDTH = 256  # ... and width: room for 10 digits written apart
INK_HEIGHT = 24  # the ink box's height in it (MNIST: 20 of 28)
LEFT = 4  # pixels of black before the first stroke
RISE = 0.25  # a line rising or falling by this share of its height is not level
SIZE = (HEIGHT, WIDTH)  # for `mnist_cnn.preprocessing.preprocess`


def to_strip(
    soft: np.ndarray, height: int = HEIGHT, width: int = WIDTH, ink_height: int = INK_HEIGHT
) -> tuple[np.ndarray, float]:
    """A line of digits -> uint8 (height, width), white on black, and the scale applied.

    Args:
        soft: the line's ink, white on black, 0-255 (float or uint8), cropped or not.
        height: the strip's height.
        width: the strip's width.
        ink_height: the height the ink box is scaled to, unless the line is then too
            long for `width`.

    Returns:
        The strip, and the scale from `soft`'s ink box to it: a column x of the strip
        is column ``box_left + (x - LEFT) / scale`` of `soft`. An all-black strip and
        scale 1.0 if there is no ink.

    Example:
        >>> strip, _ = to_strip(np.zeros((10, 10)))
        >>> float(strip.max())
        0.0
    """
    box = ink_box(np.asarray(soft) > 0)
    strip = np.zeros((height, width), np.uint8)
    if box is None:
        return strip, 1.0
    ink = np.asarray(soft, np.float32)[box]
    rows, cols = ink.shape
    scale = min(ink_height / rows, (width - 2 * LEFT) / cols)
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    small = np.clip(np.rint(resize(ink, size, Image.LANCZOS)), 0, 255)
    top = (height - size[1]) // 2
    strip[top : top + size[1], LEFT : LEFT + size[0]] = small
    return strip, scale


def tilt(ink: np.ndarray, rise: float = RISE) -> float:
    """The slope of a line of digits that rises or falls (rows per column; positive:
    downhill), or 0.0 for a line that is level enough as it is.

    The slope is the least-squares line through the ink, each pixel weighted by its
    ink. Lines no wider than tall (a digit alone), and lines whose slope across them
    comes to less than `rise` of their height (digits written a little up or down in
    a level line), count as level.

    Example:
        >>> ink = np.zeros((30, 60), np.float32)
        >>> for x in range(60): ink[x // 3 : x // 3 + 10, x] = 255   # downhill, 1 in 3
        >>> round(tilt(ink), 2), tilt(np.pad(np.ones((6, 60)), 2))      # and a level one
        (0.33, 0.0)
    """
    ink = np.asarray(ink, np.float32)
    rows, cols = ink.shape
    y, x = np.nonzero(ink > 0)
    if cols <= rows or x.size < 2:
        return 0.0
    weight = ink[y, x]
    dx = x - np.average(x, weights=weight)
    slope = float(np.sum(weight * dx * y) / max(float(np.sum(weight * dx * dx)), 1e-9))
    return slope if abs(slope) * (cols - 1) >= rise * rows else 0.0


def level(ink: np.ndarray, slope: float) -> tuple[np.ndarray, int]:
    """A line of digits sloping `slope` rows per column (`tilt`), turned level.

    A line written uphill, or photographed turned, fills a box far taller than its
    digits, which `to_strip` would shrink. Each column is first shifted up or down (a
    shear: every column stays where it was), which levels the line but leaves its
    digits leaning as far as it was turned, further than the number model learned
    slants; each row is then shifted sideways about the middle row, which stands them
    up again. The two make a turn, but for a change of scale of a few percent, and a
    digit's middle row keeps its columns, so the strip's columns still map to the
    line's.

    Returns:
        float32 ink, cropped to its ink box, and how many columns further left it
        begins than `ink` (a column c of it is column c - shift of `ink`).

    Example:
        >>> ink = np.zeros((30, 60), np.float32)
        >>> for x in range(60): ink[x // 3 : x // 3 + 10, x] = 255
        >>> levelled, shift = level(ink, tilt(ink))
        >>> levelled.shape, shift                  # 30 rows down to 10 and the steps
        ((12, 62), 1)
    """
    ink = np.asarray(ink, np.float32)
    rows, cols = ink.shape
    # Output row r of column c is input row r + slope * c + offset.
    offset = min(0.0, -slope * (cols - 1))
    height = rows + int(np.ceil(abs(slope) * (cols - 1))) + 1
    levelled = ndimage.affine_transform(
        ink, [[1.0, slope], [0.0, 1.0]], offset=[offset, 0.0], output_shape=(height, cols), order=1
    )
    held = np.flatnonzero(levelled.max(axis=1) > 0)
    if not held.size:
        return levelled, 0
    levelled = levelled[held[0] : held[-1] + 1]
    # A turn by angle a is this shear of the columns (tan a), then a shear of the rows
    # by sin a cos a = slope / (1 + slope^2) about the middle row, then a scale.
    lean = slope / (1.0 + slope * slope)
    tall = levelled.shape[0]
    pad = int(np.ceil(abs(lean) * tall / 2)) + 1
    # Output column c of row r is input column c - pad - lean * (r - middle).
    upright = ndimage.affine_transform(
        levelled,
        [[1.0, 0.0], [-lean, 1.0]],
        offset=[0.0, lean * (tall - 1) / 2 - pad],
        output_shape=(tall, cols + 2 * pad),
        order=1,
    )
    kept = np.flatnonzero(upright.max(axis=0) > 0)
    return upright[:, kept[0] : kept[-1] + 1], pad - int(kept[0])
