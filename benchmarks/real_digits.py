"""How well does a model trained on MNIST read real handwriting that is not MNIST?

The handwriting: scikit-learn's bundled digits (`sklearn.datasets.load_digits`),
1,797 digits written by 43 people (the UCI "optdigits" set), stored as 8x8 grey
levels 0-16. Neither the model nor the image pipeline was tuned on them. Each
digit is upscaled to 96x96 (bicubic) and read by `DigitReader.read_image`, the
same path as ``mnist-cnn predict``, in the three renderings of `mnist_cnn.renderings`
and one more:

- plain: the upscaled digit as it is, light on dark;
- photo: dark ink on paper, placed at random on a page 1.4-2 times its size,
  under a lighting gradient, with sensor noise, blur and JPEG compression;
- board: light ink on a dark, unevenly lit board, also noisy, blurred and JPEG;
- desk: the photo's sheet turned up to 10 degrees, lying on a darker desk (grey
  50-150) that fills the photo's border.

A digit is read right when exactly one digit is found and the model's top class is
the true digit; "sure" also needs the top probability to reach the reader's
threshold (status "ok").

The set is split in two: `dev`, the first 900 digits, is where changes to the
model or the image pipeline may be tried out; `held-out`, the other 897, is for
reporting only and is the default.

    python benchmarks/real_digits.py                        # held-out part, default model
    python benchmarks/real_digits.py --part dev --model runs/cnn-...
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
from PIL import Image

from mnist_cnn.inference import DigitReader
from mnist_cnn.renderings import render
from mnist_cnn.runs import library_versions

SIZE = 96  # upscaled side in pixels
DEV = 900  # the first DEV digits are for development, the rest for reporting


def upscale(digit: np.ndarray) -> np.ndarray:
    """An 8x8 digit with grey levels 0-16 -> uint8 96x96 0-255, light on dark."""
    levels = np.interp(digit, (0, 16), (0, 255)).astype(np.float32)
    image = Image.fromarray(levels, mode="F").resize((SIZE, SIZE), Image.BICUBIC)
    return np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8)


def run(reader: DigitReader, images: list, labels: np.ndarray) -> dict:
    right = sure = none = several = 0
    start = time.perf_counter()
    for image, label in zip(images, labels, strict=True):
        reading = reader.read_image(image)
        if not reading.digits:
            none += 1
        elif len(reading.digits) > 1:
            several += 1
        elif int(np.argmax(reading.digits[0].probabilities)) == label:
            right += 1
            sure += reading.status == "ok"
    seconds = time.perf_counter() - start
    return {
        "images": len(images),
        "right": right,
        "sure": sure,
        "no digit": none,
        "several": several,
        "ms": 1000 * seconds / max(1, len(images)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default="default",
        help="run folder, .keras file or 'default', the model shipped with the package "
        "(the default)",
    )
    parser.add_argument(
        "--part",
        choices=("held-out", "dev", "all"),
        default="held-out",
        help="held-out: digits 900-1796, for reporting (default); dev: digits 0-899, "
        "for trying out changes; all: both",
    )
    parser.add_argument(
        "--number-model",
        default="default",
        help="the number model read with: 'default', the one shipped with the package "
        "(if any); a run folder or .keras file; or 'none', digits as segmentation finds them",
    )
    parser.add_argument("--seed", type=int, default=0, help="for the photo renderings")
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits

    digits = load_digits()
    part = {"dev": slice(0, DEV), "held-out": slice(DEV, None), "all": slice(None)}[args.part]
    x, y = digits.images[part], digits.target[part]
    reader = DigitReader.load(
        args.model, numbers=None if args.number_model == "none" else args.number_model
    )
    rng = np.random.default_rng(args.seed)
    conditions = {
        "plain (96x96, light on dark)": [render(upscale(d), "plain", rng) for d in x],
        "photo (dark ink on paper, JPEG)": [render(upscale(d), "photo", rng) for d in x],
        "board (light ink on dark, JPEG)": [render(upscale(d), "board", rng) for d in x],
        "desk (a sheet on a desk, JPEG)": [render(upscale(d), "desk", rng) for d in x],
    }

    versions = library_versions()
    info = reader.info
    accuracy = info["test_accuracy"]
    print(
        f"model: {info['name']} ({info['path']}), {info['params']:,} parameters, MNIST test "
        f"accuracy {'unknown' if accuracy is None else f'{accuracy:.2%}'}"
    )
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPU cores, Python "
        f"{versions['python']}, Keras {versions['keras']} on {versions['keras_backend']} "
        f"{versions['tensorflow']}"
    )
    print(
        f"data: sklearn load_digits, {args.part} part, {len(y)} digits, "
        f"threshold {reader.threshold}\n"
    )
    header = (
        f"| {'condition':<32} | images | read right | sure (ok) | no digit | several | ms/image |"
    )
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for name, images in conditions.items():
        r = run(reader, images, y)
        print(
            f"| {name:<32} | {r['images']:>6} | {r['right'] / r['images']:>10.2%} "
            f"| {r['sure'] / r['images']:>9.2%} | {r['no digit']:>8} | {r['several']:>7} "
            f"| {r['ms']:>8.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
