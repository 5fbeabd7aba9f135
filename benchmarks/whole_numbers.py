"""How well does the reader read whole numbers, touching digits included?

Numbers of 2-8 digits are composed (`mnist_cnn.numbers.make_numbers`) only from
MNIST's 10,000 test digits, which no model trains on, in three spacings: apart,
touching and overlapping (`mnist_cnn.numbers.SPACINGS`). Each number, enlarged
`SCALE` times, is read by `DigitReader.read_batch`, the path of ``mnist-cnn
predict``, in the three renderings of `mnist_cnn.renderings` (plain, photo of
paper, photo of a board), as are strings of 3-6 touching digits made from the
held-out part of the real handwriting of ``benchmarks/real_digits.py``
(scikit-learn's digits 900-1796, each made 28x28 like an MNIST digit). So are
single test digits, one to an image, as most drawings hold: whether a digit alone
is read as one.

What was read is the top class of every digit found, left to right, whatever the
reading's status. A number is read right when that is its text exactly; "sure"
also needs the status "ok". Digit accuracy is 1 - (sum of edit distances between
read and true text) / (sum of true lengths). "Wrong but ok" is a reading with
status "ok" whose prediction is not the number: the one answer that misleads, as a
share of all readings. "Fewer" and "more digits" count readings that found fewer
or more digits than the number has. Latency is that of `DigitReader.read_image`
on a 5-digit plain drawing (and, for comparison, a one-digit one), in this
process. The model runs with LiteRT, as ``mnist-cnn serve`` runs it. The figures
are printed beside their targets, met or not.

    python benchmarks/whole_numbers.py                   # 700 numbers per spacing, shipped model
    python benchmarks/whole_numbers.py --numbers 100 --seed 1 --model runs/cnn-...
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
from PIL import Image

from mnist_cnn import data
from mnist_cnn.ctc import edit_distance
from mnist_cnn.inference import DigitReader, Reading
from mnist_cnn.numbers import SPACINGS, Numbers, NumberStyle, compose, make_numbers
from mnist_cnn.renderings import RENDERINGS, render
from mnist_cnn.runs import cpu_name, library_versions

LENGTHS = (2, 8)  # digits in an MNIST number
# Numbers are rendered this many times MNIST's size (digits about 60 px tall), near the
# 96 px of real_digits.py's digits: blur and JPEG then cost a gap between digits what they
# cost a stroke there, where at MNIST's size they close gaps of 1-2 px.
SCALE = 3
REAL_LENGTHS = (3, 6)  # digits in a string of real handwriting
REAL_STRINGS = 300  # strings of real handwriting (each digit used about 1.5 times)
HELD_OUT = 900  # real_digits.py's split: its digits from here on are for reporting
BATCH = 64  # images per `read_batch` call
LATENCY_CALLS, WARMUP = 100, 10  # readings of a drawing timed, and not timed first
# Targets: whole numbers right (mean over renderings), and at most this many wrong but ok.
TARGET_RIGHT = {"apart": 0.99, "touching": 0.97, "overlapping": 0.95}
TARGET_REAL_RIGHT = 0.90
TARGET_WRONG_OK = 0.01
# `--threshold`s compared: a reading is ok at a threshold when its confidence reaches it.
THRESHOLDS = (0.6, 0.9, 0.95, 0.99)


def read_text(reading: Reading) -> str:
    """The top class of every digit found, left to right ("" for none), whatever the status."""
    return "".join(str(int(np.argmax(d.probabilities))) for d in reading.digits)


def score(readings: list[Reading], truths: list[str]) -> dict:
    """Whole-number and digit accuracy, wrong-but-ok readings and miscounted digits."""
    texts = [read_text(r) for r in readings]
    pairs = list(zip(texts, truths, strict=True))
    right = np.array([text == truth for text, truth in pairs])
    ok = np.array([r.status == "ok" for r in readings])
    return {
        "numbers": len(truths),
        "right": right.mean(),
        "read right": right,
        "confidence": np.array([r.confidence for r in readings]),
        "sure": (right & ok).mean(),
        "digits": 1 - sum(edit_distance(t, truth) for t, truth in pairs) / sum(map(len, truths)),
        "wrong ok": (~right & ok).mean(),
        "fewer": sum(len(t) < len(truth) for t, truth in pairs),
        "more": sum(len(t) > len(truth) for t, truth in pairs),
    }


def read_all(reader: DigitReader, images: list[bytes], truths: list[str]) -> dict:
    """Read the images `BATCH` at a time and `score` them, with the time per image."""
    start = time.perf_counter()
    readings = [
        reading
        for first in range(0, len(images), BATCH)
        for reading in reader.read_batch(images[first : first + BATCH])
    ]
    seconds = time.perf_counter() - start
    return score(readings, truths) | {"ms": 1000 * seconds / len(images)}


def mnist_like(digit: np.ndarray) -> np.ndarray:
    """An 8x8 digit with grey levels 0-16 -> uint8 28x28, white on black, the digit
    scaled to 20x20 in the middle as MNIST's are."""
    levels = np.interp(digit, (0, 16), (0, 255)).astype(np.float32)
    image = Image.fromarray(levels, mode="F").resize((20, 20), Image.BICUBIC)
    field = np.zeros((28, 28), np.uint8)
    field[4:24, 4:24] = np.clip(np.rint(np.asarray(image)), 0, 255)
    return field


def enlarge(image: np.ndarray, factor: int = SCALE) -> np.ndarray:
    """A uint8 image `factor` times as large each way (bicubic)."""
    height, width = image.shape
    levels = Image.fromarray(image.astype(np.float32), mode="F")
    larger = levels.resize((width * factor, height * factor), Image.BICUBIC)
    return np.clip(np.rint(np.asarray(larger)), 0, 255).astype(np.uint8)


def real_strings(count: int, seed: int) -> Numbers:
    """`count` strings of touching digits from the held-out real handwriting."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.stack([mnist_like(d) for d in digits.images[HELD_OUT:]])
    style = NumberStyle(lengths=REAL_LENGTHS, spacing=SPACINGS["touching"])
    return make_numbers(x, digits.target[HELD_OUT:], count, seed, style)


def latency(reader: DigitReader, image: bytes, calls: int) -> tuple[float, float, str]:
    """p50 and p99 in ms of `calls` readings of `image` after `WARMUP`, and what was read."""
    for _ in range(WARMUP):
        reading = reader.read_image(image)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        reader.read_image(image)
        times.append(1000 * (time.perf_counter() - start))
    return float(np.percentile(times, 50)), float(np.percentile(times, 99)), reading.guess


def print_latency(
    reader: DigitReader,
    digits: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    calls: int,
) -> None:
    """`latency` of a plain drawing of 5 of `digits` apart, as a number is drawn, and of one."""
    print("\n| digits drawn (plain PNG) | size | read as | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for length in (5, 1):
        chosen = rng.integers(0, len(digits), size=length)
        image, _ = compose(digits[chosen], rng.uniform(*SPACINGS["apart"], size=length - 1), rng)
        image = enlarge(image)
        p50, p99, guess = latency(reader, render(image, "plain", rng), calls)
        truth = "".join(str(int(labels[i])) for i in chosen)
        size = f"{image.shape[1]}x{image.shape[0]}"
        print(f"| {length}: {truth} | {size} | {guess} | {p50:.2f} | {p99:.2f} |")


def verdict(met: bool) -> str:
    return "met" if met else "not met"


def print_table(title: str, results: dict[tuple[str, str], dict]) -> None:
    """One row per (set, rendering) of `read_all`'s figures."""
    print(f"\n{title}\n")
    header = (
        "| numbers | rendering | count | whole number right | sure (ok) | digits right "
        "| wrong but ok | fewer digits | more digits | ms/number |"
    )
    print(header)
    print("|" + "|".join("---" for _ in header.split("|")[1:-1]) + "|")
    for (name, kind), r in results.items():
        print(
            f"| {name} | {kind} | {r['numbers']} | {r['right']:.2%} | {r['sure']:.2%} "
            f"| {r['digits']:.2%} | {r['wrong ok']:.2%} | {r['fewer']} | {r['more']} "
            f"| {r['ms']:.1f} |"
        )


def print_targets(results: dict[tuple[str, str], dict], real: dict[tuple[str, str], dict]) -> None:
    """Each target beside its figure, met or not."""
    print("\n| target | figure | |\n|---|---|---|")
    for name, least in TARGET_RIGHT.items():
        mean = np.mean([results[name, kind]["right"] for kind in RENDERINGS])
        print(
            f"| {name}: whole numbers right >= {least:.1%} (mean of renderings) | {mean:.2%} "
            f"| {verdict(mean >= least)} |"
        )
    everything = results | real
    worst = max(everything, key=lambda key: everything[key]["wrong ok"])
    most = everything[worst]["wrong ok"]
    print(
        f"| wrong but ok <= {TARGET_WRONG_OK:.1%} in every condition | {most:.2%} "
        f"({' '.join(worst)}) | {verdict(most <= TARGET_WRONG_OK)} |"
    )
    mean = np.mean([r["right"] for r in real.values()])
    print(
        f"| real touching strings: whole numbers right >= {TARGET_REAL_RIGHT:.0%} "
        f"(mean of renderings) | {mean:.2%} | {verdict(mean >= TARGET_REAL_RIGHT)} |"
    )


def print_thresholds(results: dict[tuple[str, str], dict]) -> None:
    """What a stricter `--threshold` buys: readings wrong but ok in the worst condition,
    against readings right and ok, mean over the conditions (one reading of each image:
    ok at a threshold is a confidence at least as high)."""
    print("\n| --threshold | right and ok (mean of conditions) | wrong but ok (worst) |")
    print("|---|---|---|")
    for threshold in THRESHOLDS:
        right, wrong = [], []
        for r in results.values():
            ok = r["confidence"] >= threshold
            right.append((ok & r["read right"]).mean())
            wrong.append((ok & ~r["read right"]).mean())
        print(f"| {threshold} | {np.mean(right):.2%} | {max(wrong):.2%} |")


def print_header(reader: DigitReader, description: str) -> None:
    """The model, the machine and the libraries the figures were measured with."""
    versions = library_versions()
    info = reader.info
    accuracy = "unknown" if info["test_accuracy"] is None else f"{info['test_accuracy']:.2%}"
    print(
        f"model: {info['name']} ({info['path']}), {info['params']:,} parameters, run by "
        f"{reader.engine}, MNIST test accuracy {accuracy}, threshold {reader.threshold}"
    )
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} CPU cores, {platform.system()}, Python "
        f"{versions['python']}, Keras {versions['keras']} on {versions['keras_backend']} "
        f"{versions['tensorflow']}, numpy {versions['numpy']}"
    )
    print(f"data: {description}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default="default",
        help="run folder, .keras file or 'default', the model shipped with the package "
        "(the default)",
    )
    parser.add_argument(
        "--numbers", type=int, default=700, help="MNIST numbers per spacing (700: 2,100 in all)"
    )
    parser.add_argument(
        "--number-model",
        default="default",
        help="the number model read with: 'default', the one shipped with the package "
        "(if any); a run folder or .keras file; or 'none', digits as segmentation finds them",
    )
    parser.add_argument("--seed", type=int, default=0, help="for the numbers and the renderings")
    parser.add_argument(
        "--quick", action="store_true", help="a few numbers and readings, to try the script out"
    )
    args = parser.parse_args(argv)
    count, strings, calls = (
        (4, 4, 10) if args.quick else (args.numbers, REAL_STRINGS, LATENCY_CALLS)
    )

    started = time.perf_counter()
    numbers = None if args.number_model == "none" else args.number_model
    # With LiteRT, as `mnist-cnn serve` and `board` read.
    reader = DigitReader.load(args.model, litert=True, numbers=numbers)
    x_test, y_test = data.load_test_set()
    # One seed each for the three spacings' numbers, the real strings and the renderings.
    *number_seeds, real_seed, render_seed = np.random.default_rng(args.seed).integers(2**31, size=5)
    sets = {
        name: make_numbers(
            x_test, y_test, count, int(seed), NumberStyle(lengths=LENGTHS, spacing=spacing)
        )
        for (name, spacing), seed in zip(SPACINGS.items(), number_seeds, strict=True)
    }
    real = real_strings(strings, int(real_seed))
    rng = np.random.default_rng(render_seed)
    print_header(
        reader,
        f"{count} numbers of {LENGTHS[0]}-{LENGTHS[1]} digits per spacing from the MNIST test "
        f"set; {strings} strings of {REAL_LENGTHS[0]}-{REAL_LENGTHS[1]} touching digits from "
        f"sklearn load_digits {HELD_OUT}-1796; seed {args.seed}",
    )

    results = {}
    for name, numbers in sets.items():
        for kind in RENDERINGS:
            images = [render(enlarge(image), kind, rng) for image in numbers.images]
            results[name, kind] = read_all(reader, images, numbers.texts)
    print_table("MNIST test digits composed into numbers", results)
    real_results = {}
    for kind in RENDERINGS:
        images = [render(enlarge(image), kind, rng) for image in real.images]
        real_results["touching real", kind] = read_all(reader, images, real.texts)
    print_table("Real handwriting, touching strings", real_results)
    # Single digits, as most drawings hold: test digits as they are, one to an image.
    chosen = np.random.default_rng((args.seed, 1)).choice(len(x_test), count, replace=False)
    alone = {}
    for kind in RENDERINGS:
        images = [render(enlarge(x_test[i]), kind, rng) for i in chosen]
        alone["alone", kind] = read_all(reader, images, [str(y_test[i]) for i in chosen])
    print_table("MNIST test digits alone, one to an image", alone)
    print_targets(results, real_results)
    print_thresholds(results | real_results)

    print_latency(reader, x_test, y_test, np.random.default_rng(args.seed), calls)
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
