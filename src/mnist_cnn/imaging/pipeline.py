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

from dataclasses import dataclass

import numpy as np

from mnist_cnn.imaging.decode import MAX_PIXELS, ImageSource, load_reduced
from mnist_cnn.imaging.ink import ink_map, ink_mask
from mnist_cnn.imaging.normalise import digit_ink, to_mnist
from mnist_cnn.imaging.params import DEFAULT_PARAMS, ImagingParams
from mnist_cnn.imaging.resample import shrink
from mnist_cnn.imaging.segment import image_box, segment


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
    """Decode an image and return its digits left to right, MNIST style.

    A large image is reduced as it is decoded to about `params.work_size` (the size it
    is analysed at anyway), so the memory and time it takes are bounded.

    Args:
        source: encoded bytes, a file path, a Pillow image or a uint8 array.
        max_pixels: larger images are refused with `ImageError`.
        params: the pipeline's settings.

    Returns:
        One `DigitCrop` per digit, left to right; none for an image without ink.

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
    """Grayscale uint8 (H, W) from `load_image` -> the digits in it, left to right.

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
    gray = np.asarray(gray)
    shape = shape or gray.shape
    # 1. A working copy of bounded size; `factor` maps its pixels back.
    work, factor = shrink(gray, params.work_size)
    factor *= max(shape) / max(gray.shape)
    # 2. The ink, white on black, without the background and its lighting.
    ink = ink_map(work, params)
    # 3. Where the ink is, unless it is only noise.
    found = ink_mask(ink, params)
    if found is None:
        return []
    smooth, mask, threshold = found
    # 4. The digits, left to right, each drawn as MNIST's are.
    return [
        DigitCrop(
            pixels=to_mnist(digit_ink(smooth, threshold, piece, params)),
            box=image_box(piece, factor, shape),
        )
        for piece in segment(mask, params)
    ]
