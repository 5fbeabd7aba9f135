"""Numbers written on ruled or squared paper, in a box or underlined: are they read?

People write numbers in notebooks and on forms. A line that touches the digits joins
them into one blob of ink, so the image pipeline takes such lines out first
(`mnist_cnn.imaging.rules`). This script measures what that gives: numbers of 2-5
MNIST test digits drawn apart (`mnist_cnn.numbers`, 3 times MNIST's size) on

- plain paper, as a reference;
- ruled paper, lines every 30 or 45 px (half to three quarters of a digit's height)
  and as dark as a pencil (35-50% of the pen); and the same photographed turned 5-10
  degrees either way;
- squared paper, lines both ways every 25-45 px;
- a notebook's margin: one line down, top to bottom, 10-25 px left of the number;
- a box drawn round the number with the pen, 5-15 px off its ink;
- an underline drawn with the pen, touching the lowest digit.

Each is photographed: light grey paper, the lines under the ink, sensor noise and JPEG.
A number is read right when its digits are exactly the truth; "wrong but ok" counts
readings that are wrong and say ok anyway.

    python benchmarks/ruled_paper.py                     # 200 numbers per kind of paper
    python benchmarks/ruled_paper.py --numbers 50 --seed 1
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage
from whole_numbers import SCALE, enlarge, print_header

from mnist_cnn import data
from mnist_cnn.inference import DigitReader
from mnist_cnn.numbers import NumberStyle, make_numbers

MARGIN = 30  # paper around the number, px
PAPERS = ("plain", "ruled", "ruled, turned", "squared", "margin", "box", "underline")


def lines(ink: np.ndarray, paper: str, rng: np.random.Generator) -> np.ndarray:
    """The coverage of the lines of `paper` for a page holding `ink` (with margins)."""
    height, width = ink.shape
    drawn = np.zeros_like(ink)
    rows = np.flatnonzero(ink.max(axis=1) > 0.5)
    cols = np.flatnonzero(ink.max(axis=0) > 0.5)
    if paper in ("ruled", "ruled, turned", "squared"):
        step = int(rng.choice([30, 45])) if paper == "ruled" else int(rng.integers(25, 46))
        dark = rng.uniform(0.35, 0.5)
        start = int(rng.integers(0, step))
        for row in range(start, height, step):
            drawn[row : row + 2] = dark
        if paper == "squared":
            for col in range(int(rng.integers(0, step)), width, step):
                drawn[:, col : col + 2] = dark
    elif paper == "margin":
        col = max(0, cols[0] - int(rng.integers(10, 26)))
        drawn[:, col : col + 2] = rng.uniform(0.35, 0.5)
    elif paper == "box":
        gap = int(rng.integers(5, 16))
        top, bottom = max(0, rows[0] - gap), min(height - 4, rows[-1] + gap)
        left, right = max(0, cols[0] - gap), min(width - 4, cols[-1] + gap)
        drawn[top : top + 4, left:right] = drawn[bottom : bottom + 4, left:right] = 1.0
        drawn[top : bottom + 4, left : left + 4] = drawn[top : bottom + 4, right : right + 4] = 1.0
    elif paper == "underline":
        row = rows[-1] - 2
        reach = int(rng.integers(10, MARGIN))
        drawn[row : row + 4, max(0, cols[0] - reach) : cols[-1] + reach] = 1.0
    return drawn


def photograph(ink: np.ndarray, paper: str, rng: np.random.Generator) -> bytes:
    """Ink coverage -> JPEG of the number on `paper`: pen 20 on paper 235, noise."""
    ink = np.pad(ink, MARGIN)
    coverage = np.maximum(ink, lines(ink, paper, rng))
    if paper == "ruled, turned":
        angle = rng.uniform(5, 10) * rng.choice([-1, 1])
        coverage = np.clip(ndimage.rotate(coverage, angle, order=1), 0, 1)
    gray = 235.0 - 215.0 * coverage + rng.normal(0, 3, coverage.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def measure(
    kinds: tuple[str, ...],
    photograph: Callable[[np.ndarray, str, np.random.Generator], bytes],
    column: str,
    argv: list[str] | None,
    doc: str,
) -> int:
    """Read numbers photographed each of `kinds` of ways (`photograph(ink, kind, rng)`,
    the ink 0-1 at `SCALE` times MNIST's size) and print a table row per kind, its
    first column headed `column`; `argv` and the script's `doc` make the command line."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=200, help="numbers of each kind")
    parser.add_argument("--seed", type=int, default=0, help="for the numbers and the photos")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    reader = DigitReader.load("default", litert=True)
    x_test, y_test = data.load_test_set()
    style = NumberStyle(lengths=(2, 5), spacing=(0.1, 0.35))
    numbers = make_numbers(x_test, y_test, args.numbers, seed=args.seed, style=style)
    print_header(
        reader,
        f"{args.numbers} numbers of 2-5 MNIST test digits drawn apart, {SCALE} times "
        f"MNIST's size, each of {len(kinds)} ways; seed {args.seed}\n",
    )
    print(f"| {column} | numbers | read right | sure (ok) | wrong but ok | ms/number |")
    print("|---|---|---|---|---|---|")
    for kind in kinds:
        rng = np.random.default_rng([args.seed, kinds.index(kind)])
        right = sure = wrong_ok = 0
        spent = 0.0  # reading, decoding included; not making the photo
        for image, text in zip(numbers.images, numbers.texts, strict=True):
            photo = photograph(enlarge(image) / 255.0, kind, rng)
            start = time.perf_counter()
            reading = reader.read_image(photo)
            spent += time.perf_counter() - start
            read = "".join("?" if d.label is None else str(d.label) for d in reading.digits)
            ok = reading.status == "ok"
            right += read == text
            sure += read == text and ok
            wrong_ok += read != text and ok
        n = len(numbers.texts)
        print(
            f"| {kind} | {n} | {right / n:.2%} | {sure / n:.2%} | {wrong_ok / n:.2%} "
            f"| {spent * 1000 / n:.1f} |"
        )
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0


def main(argv: list[str] | None = None) -> int:
    return measure(PAPERS, photograph, "paper", argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
