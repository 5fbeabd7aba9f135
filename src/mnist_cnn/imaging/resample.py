"""Resampling float images with Pillow: small copies for analysis, the MNIST box.

>>> small, factor = shrink(np.ones((300, 200), np.float32), 100)
>>> small.shape, factor
((100, 67), 3.0)
>>> resize(np.ones((4, 4)), (2, 3), Image.BILINEAR).shape     # size is (width, height)
(3, 2)
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def shrink(values: np.ndarray, longest: int) -> tuple[np.ndarray, float]:
    """A float32 copy box-averaged down so that its longer side is at most `longest`.

    Args:
        values: a 2-D array.
        longest: the longest side wanted, in pixels.

    Returns:
        The copy (never 0 pixels on a side) and the factor from its pixels to the
        original's (1.0 when no shrinking was needed).

    Example:
        >>> shrink(np.zeros((10, 40)), 20)[0].shape
        (5, 20)
    """
    height, width = values.shape
    factor = max(1.0, max(height, width) / longest)
    if factor == 1:
        return values.astype(np.float32), factor
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return resize(values, size, Image.BOX), factor


def resize(values: np.ndarray, size: tuple[int, int], resample: int) -> np.ndarray:
    """Resample a float array to `size` (width, height) with Pillow's `resample` filter.

    Lanczos is box-averaged down to about twice the size first: anti-aliased and fast.

    Example:
        >>> resize(np.full((8, 8), 9.0), (4, 4), Image.LANCZOS)[0, 0]
        np.float32(9.0)
    """
    image = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32), mode="F")
    if resample == Image.LANCZOS:
        return np.asarray(image.resize(size, resample, reducing_gap=2.0), dtype=np.float32)
    return np.asarray(image.resize(size, resample), dtype=np.float32)
