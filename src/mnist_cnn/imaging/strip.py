"""Number style: a line of digits' ink -> a fixed-size strip for the number model.

What MNIST's 28x28 field is to one digit, the strip is to a number: white ink on
black, its ink box scaled to `INK_HEIGHT` pixels high (the width follows, so digits
keep their shape), placed `LEFT` pixels from the left and centred vertically in a
`HEIGHT` x `WIDTH` field. A line too long for the field at that height is scaled
down until it fits. Training strips (numbers composed of MNIST digits) and the
strips of lines found in images both go through `to_strip`, so the model sees the
same kind of input in both.

>>> line = np.zeros((40, 90)); line[5:35, 10:80] = 255
>>> strip, scale = to_strip(line)
>>> strip.shape, strip.dtype, round(scale, 2)
((32, 256), dtype('uint8'), 0.8)
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from mnist_cnn.imaging.ink import ink_box
from mnist_cnn.imaging.resample import resize

HEIGHT = 32  # the strip's height ...
WIDTH = 256  # ... and width: room for 10 digits written apart
INK_HEIGHT = 24  # the ink box's height in it (MNIST: 20 of 28)
LEFT = 4  # pixels of black before the first stroke
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
