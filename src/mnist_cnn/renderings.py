"""Render ink as the files people send: a plain image, a photo of paper, a photo of a board.

Digits and numbers are made as ink coverage (white on black, MNIST style); a person
sends a photo of them. `render` turns coverage into the encoded file, in one of
`RENDERINGS`:

- plain: the image as it is, light on dark, a PNG;
- photo: dark ink on paper, placed at random on a page 1.4-2 times its size,
  under a lighting gradient, with sensor noise, blur and JPEG compression;
- board: light ink (chalk) on a dark, unevenly lit board, also noisy, blurred and JPEG;
- desk (not one of `RENDERINGS`, which every benchmark measures): the photo of paper,
  its sheet turned a little and lying on a darker desk that fills the photo's border.

The benchmarks read real handwriting and composed numbers in these renderings, and
training may show them to a model.

>>> import numpy as np
>>> one = np.zeros((28, 28), np.uint8); one[4:24, 13:16] = 255
>>> [render(one, kind, np.random.default_rng(0))[:4] for kind in RENDERINGS]
[b'\\x89PNG', b'\\xff\\xd8\\xff\\xe0', b'\\xff\\xd8\\xff\\xe0']
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage

RENDERINGS = ("plain", "photo", "board")
PAGE = (1.4, 2.0)  # the page's side, relative to the ink image's
PAPER, INK_ABSORBS = 230.0, 0.8  # grey level of lit paper; share of light that ink absorbs
BOARD, CHALK = 35.0, 190.0  # grey level of the lit board; what chalk adds to it
GRADIENT = (0.2, 0.6)  # strength of the lighting gradient across the page
BLUR = (0.5, 1.5)  # sigma of the blur, pixels
NOISE = (2.0, 8.0)  # sigma of the sensor noise, grey levels
QUALITY = (50, 90)  # JPEG quality, the upper end excluded
DESK = (1.2, 1.7)  # the photo's side, relative to the sheet's, for "desk"
DESK_LEVEL = (50.0, 150.0)  # grey level of the desk
TURN = 10.0  # the sheet lies turned by up to this many degrees either way


def render(ink: np.ndarray, kind: str, rng: np.random.Generator) -> bytes:
    """`ink` as an encoded image file in rendering `kind`.

    Args:
        ink: ink coverage of any size, white on black: float 0-1 or uint8 0-255.
        kind: one of `RENDERINGS`: "plain", "photo" or "board".
        rng: draws the page, light, blur, noise and JPEG quality (unused for "plain").

    Returns:
        PNG bytes for "plain" (the image as it is, uint8 light on dark), JPEG bytes of
        a grey page for "photo" and "board".

    Example:
        >>> ink = np.zeros((20, 60)); ink[5:15, 10:50] = 1.0    # a wide bar
        >>> photo = render(ink, "photo", np.random.default_rng(0))
        >>> page = np.asarray(Image.open(io.BytesIO(photo)))
        >>> 28 <= page.shape[0] <= 40 and 84 <= page.shape[1] <= 120
        True
    """
    if kind not in (*RENDERINGS, "desk"):
        raise ValueError(f"unknown rendering {kind!r}; expected one of {RENDERINGS} or 'desk'")
    if kind == "plain":
        return _encode(_light_on_dark(ink), "PNG")
    if kind == "desk":
        return _encode(_sheet_on_desk(_coverage(ink), rng), "JPEG", rng)
    return _encode(_page_photo(_coverage(ink), rng, dark_ink=kind == "photo"), "JPEG", rng)


def _sheet_on_desk(coverage: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The "photo" page of `coverage` laid on a desk (`on_desk`), as float grey levels."""
    return on_desk(_page_photo(coverage, rng, dark_ink=True), rng)


def on_desk(sheet: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A photo of `sheet` (float grey levels) turned up to `TURN` degrees and laid at
    random on a noisy desk `DESK` times its size, of a grey in `DESK_LEVEL`.

    Example:
        >>> photo = on_desk(np.full((40, 100), 220.0), np.random.default_rng(0))
        >>> photo.shape[1] >= 120 and bool(photo.min() < 160 < photo.max())
        True
    """
    angle = rng.uniform(-TURN, TURN)
    turned = ndimage.rotate(sheet, angle, order=1)
    cover = np.clip(ndimage.rotate(np.ones(sheet.shape), angle, order=1), 0, 1)
    scale = rng.uniform(*DESK)
    rows, cols = (max(int(n * scale), t) for n, t in zip(sheet.shape, turned.shape, strict=True))
    photo = rng.uniform(*DESK_LEVEL) + rng.normal(0, rng.uniform(*NOISE), (rows, cols))
    top = rng.integers(0, rows - turned.shape[0] + 1)
    left = rng.integers(0, cols - turned.shape[1] + 1)
    region = photo[top : top + turned.shape[0], left : left + turned.shape[1]]
    region[...] = cover * turned + (1 - cover) * region
    return photo


def _page_photo(coverage: np.ndarray, rng: np.random.Generator, dark_ink: bool) -> np.ndarray:
    """Coverage (float 0-1) placed at random on a page, lit unevenly, blurred and noisy.

    Args:
        coverage: the ink, float (H, W) in 0-1.
        rng: draws the page size and place, the light, the blur and the noise.
        dark_ink: dark ink on paper; else light ink on a dark board.

    Returns:
        The page as float grey levels (not clipped), each side `PAGE` times the ink's
        (the same factor for both).
    """
    height, width = coverage.shape
    scale = rng.uniform(*PAGE)
    rows, cols = int(height * scale), int(width * scale)
    page = np.zeros((rows, cols))
    top, left = rng.integers(0, np.maximum((rows - height, cols - width), 1))
    page[top : top + height, left : left + width] = coverage
    yy, xx = np.mgrid[0:rows, 0:cols]
    yy, xx = yy / rows - 0.5, xx / cols - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 + 0.5 * rng.uniform(*GRADIENT) * (np.cos(angle) * xx + np.sin(angle) * yy)
    if dark_ink:
        gray = PAPER * light * (1 - INK_ABSORBS * page)
    else:
        gray = BOARD * light + CHALK * light * page
    gray = ndimage.gaussian_filter(gray, rng.uniform(*BLUR))
    return gray + rng.normal(0, rng.uniform(*NOISE), gray.shape)


def _coverage(ink: np.ndarray) -> np.ndarray:
    """Float 0-1 coverage from uint8 0-255 or float 0-1 ink."""
    if ink.dtype == np.uint8:
        return np.interp(ink, (0, 255), (0.0, 1.0))
    return np.clip(np.asarray(ink, np.float64), 0.0, 1.0)


def _light_on_dark(ink: np.ndarray) -> np.ndarray:
    """uint8 0-255 from uint8 or float 0-1 ink."""
    if ink.dtype == np.uint8:
        return ink
    return np.clip(np.rint(np.asarray(ink, np.float64) * 255), 0, 255).astype(np.uint8)


def _encode(gray: np.ndarray, form: str, rng: np.random.Generator | None = None) -> bytes:
    """Grey levels as PNG, or as JPEG at a quality drawn from `QUALITY`."""
    image = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    if form == "JPEG":
        image.save(buffer, "JPEG", quality=int(rng.integers(*QUALITY)))
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()
