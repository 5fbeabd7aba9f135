"""Numbers photographed as people photograph them: turned, small, shadowed, on a desk.

A number written on a sheet and photographed is rarely level and rarely fills the
photo. This script measures how the reader copes: numbers of 2-5 MNIST test digits
drawn apart (`mnist_cnn.numbers`, 3 times MNIST's size, digits about 60 px tall),
photographed (light grey paper, sensor noise, JPEG) as

- level, as a reference;
- turned 10 or 20 degrees either way (a line written uphill, a photo taken askew);
- small on a page: the number shrunk to digits about 36 px tall, somewhere on a
  1500x1125 or a 3000x2250 photo of paper lit unevenly (a page photographed whole);
- in a shadow: the page 45% darker from a column somewhere across the number on,
  its edge soft (a Gaussian of 3-20 px), as a hand or a phone casts;
- in a shadow along a side: the top or the foot of the photo, 15-35% of its height,
  45% darker, its edge sharp or soft (a Gaussian of 0.5-5 px), as the phone taking
  the photo casts when held over the page; or a narrow one, 5-15% of its height, on
  paper lit unevenly;
- dim: taken in poor light, paper 90 and pen 30 with sensor noise of s.d. 8 and JPEG
  quality 70 (the noise's blotches as large as a stroke is wide);
- glare: a flash's reflection, a bright spot over the number (up to 120 levels,
  falling to a third at 0.3 of the photo's sides, half as strong on ink) on paper
  exposed at 200, so that the paper under it is blown out to white;
- on a desk: the number on a slip of paper just larger than it (30 px of margin: up
  to 2.8 times as long as wide, as a cheque or a note), turned up to 10 degrees, lying
  on a desk of grey 50-150 that fills a photo 1.2-1.7 times the slip's size (as
  `mnist_cnn.renderings` lays a sheet on a desk);
- written with a broad marker: each stroke 12 px wider (a grey dilation by a disc), about
  a third of the digits' height (real handwriting's strokes are a fifth to a quarter);
- vignetted: lit brightest near the middle, the light falling off as 1 - v r^2 (r is 1
  at the middles of the sides, v 0.2-0.35), so that the corners get 30-60% of the
  middle's light, as under a desk lamp or through a cheap lens.

A number is read right when its digits are exactly the truth; "wrong but ok" counts
readings that are wrong and say ok anyway.

    python benchmarks/photos.py                     # 200 numbers per condition
    python benchmarks/photos.py --numbers 50 --seed 1
"""

from __future__ import annotations

import io
import sys

import numpy as np
from PIL import Image
from ruled_paper import MARGIN, measure
from scipy import ndimage

from mnist_cnn.imaging.normalise import disc
from mnist_cnn.renderings import on_desk

CONDITIONS = (
    "level",
    "turned 10",
    "turned 20",
    "small, 1500 px",
    "small, 3000 px",
    "shadow",
    "dim",
    "glare",
    "on a desk",
    "broad marker",
    "vignetted",
    "shadow along a side",
    "narrow shadow along a side",
)
SMALL = 0.6  # the small numbers' scale: digits about 36 px tall
MARKER = 6  # px the broad marker adds to each side of a stroke


def photograph(ink: np.ndarray, condition: str, rng: np.random.Generator) -> bytes:
    """Ink coverage (0-1, digits about 60 px tall) -> JPEG of it photographed so."""
    if condition == "broad marker":
        ink = ndimage.grey_dilation(ink, footprint=disc(MARKER))
    if condition.startswith("turned"):
        angle = float(condition.split()[1]) * rng.choice([-1, 1])
        page = np.clip(ndimage.rotate(np.pad(ink, MARGIN), angle, order=1), 0, 1)
    elif condition.startswith("small"):
        width = int(condition.split()[1])
        small = np.asarray(
            Image.fromarray(ink.astype(np.float32), mode="F").resize(
                (round(ink.shape[1] * SMALL), round(ink.shape[0] * SMALL)), Image.BILINEAR
            )
        )
        page = np.zeros((width * 3 // 4, width), np.float32)
        top = rng.integers(0, page.shape[0] - small.shape[0])
        left = rng.integers(0, page.shape[1] - small.shape[1])
        page[top : top + small.shape[0], left : left + small.shape[1]] = small
    else:
        page = np.pad(ink, MARGIN)
    # Paper lit unevenly: up to 15% darker towards one side; or in a shadow from a column on.
    light = 1.0 - 0.15 * np.linspace(0, 1, page.shape[1])[None, :: 1 if rng.random() < 0.5 else -1]
    if condition == "vignetted":
        middle = rng.uniform(0.4, 0.6, size=2)
        rows, cols = np.indices(page.shape) / np.array(page.shape)[:, None, None]
        r2 = ((rows - middle[0]) / 0.5) ** 2 + ((cols - middle[1]) / 0.5) ** 2
        light = light * np.clip(1.0 - rng.uniform(0.2, 0.35) * r2, 0.0, 1.0)
    if condition == "shadow":
        shade = np.ones(page.shape[1])
        shade[int(rng.integers(page.shape[1] // 4, 3 * page.shape[1] // 4)) :] = 0.55
        light = ndimage.gaussian_filter1d(shade, rng.uniform(3, 20))[None, :]
    if condition.endswith("shadow along a side"):
        shade = np.ones(page.shape[0])
        deep = (0.05, 0.15) if condition.startswith("narrow") else (0.15, 0.35)
        depth = round(rng.uniform(*deep) * page.shape[0])
        shade[slice(None, depth) if rng.random() < 0.5 else slice(-depth, None)] = 0.55
        shade = ndimage.gaussian_filter1d(shade, rng.uniform(0.5, 5))[:, None]
        light = light * shade if condition.startswith("narrow") else shade
    paper, pen, noise, quality = {
        "dim": (90.0, 30.0, 8.0, 70),
        "glare": (200.0, 20.0, 3.0, 85),
    }.get(condition, (235.0, 20.0, 3.0, 85))
    page = np.clip(page, 0, 1)
    gray = light * (paper - (paper - pen) * page)
    if condition == "glare":
        rows, cols = np.indices(page.shape) / np.array(page.shape)[:, None, None]
        spot = np.exp(
            -((rows - rng.uniform(0.2, 0.8)) ** 2 + (cols - rng.uniform(0.2, 0.8)) ** 2) / 0.09
        )
        gray += 120.0 * spot * (1 - 0.5 * page)
    if condition == "on a desk":
        gray = on_desk(gray, rng)
    gray += rng.normal(0, noise, gray.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    return measure(CONDITIONS, photograph, "photo", argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
