"""Numbers photographed as people photograph them: turned, small, or in a shadow.

A number written on a sheet and photographed is rarely level and rarely fills the
photo. This script measures how the reader copes: numbers of 2-5 MNIST test digits
drawn apart (`mnist_cnn.numbers`, 3 times MNIST's size, digits about 60 px tall),
photographed (light grey paper, sensor noise, JPEG) as

- level, as a reference;
- turned 10 or 20 degrees either way (a line written uphill, a photo taken askew);
- small on a page: the number shrunk to digits about 36 px tall, somewhere on a
  1500x1125 or a 3000x2250 photo of paper lit unevenly (a page photographed whole);
- in a shadow: the page 45% darker from a column somewhere across the number on,
  its edge soft (a Gaussian of 3-20 px), as a hand or a phone casts.

A number is read right when its digits are exactly the truth; "wrong but ok" counts
readings that are wrong and say ok anyway.

    python benchmarks/photos.py                     # 200 numbers per condition
    python benchmarks/photos.py --numbers 50 --seed 1
"""

from __future__ import annotations

import argparse
import io
import sys
import time

import numpy as np
from PIL import Image
from ruled_paper import MARGIN
from scipy import ndimage
from whole_numbers import SCALE, enlarge, print_header

from mnist_cnn import data
from mnist_cnn.inference import DigitReader
from mnist_cnn.numbers import NumberStyle, make_numbers

CONDITIONS = ("level", "turned 10", "turned 20", "small, 1500 px", "small, 3000 px", "shadow")
SMALL = 0.6  # the small numbers' scale: digits about 36 px tall


def photograph(ink: np.ndarray, condition: str, rng: np.random.Generator) -> bytes:
    """Ink coverage (0-1, digits about 60 px tall) -> JPEG of it photographed so."""
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
    if condition == "shadow":
        shade = np.ones(page.shape[1])
        shade[int(rng.integers(page.shape[1] // 4, 3 * page.shape[1] // 4)) :] = 0.55
        light = ndimage.gaussian_filter1d(shade, rng.uniform(3, 20))[None, :]
    gray = light * (235.0 - 215.0 * np.clip(page, 0, 1)) + rng.normal(0, 3, page.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=200, help="numbers per condition")
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
        f"MNIST's size, photographed each way; seed {args.seed}\n",
    )
    print("| photo | numbers | read right | sure (ok) | wrong but ok | ms/number |")
    print("|---|---|---|---|---|---|")
    for condition in CONDITIONS:
        rng = np.random.default_rng([args.seed, CONDITIONS.index(condition)])
        right = sure = wrong_ok = 0
        spent = 0.0
        for image, text in zip(numbers.images, numbers.texts, strict=True):
            photo = photograph(enlarge(image) / 255.0, condition, rng)
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
            f"| {condition} | {n} | {right / n:.2%} | {sure / n:.2%} | {wrong_ok / n:.2%} "
            f"| {spent * 1000 / n:.1f} |"
        )
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
