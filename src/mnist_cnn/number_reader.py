"""Reading a line of digits with two models: the number model and the digit model.

Segmentation alone reads two touching zeros as one "0", sure of it. So each line of
ink (`mnist_cnn.imaging.extract_lines`) is read twice:

1. by segmentation: the digits it found, each read by the digit model;
2. by the number model (`mnist_cnn.models.numbers`): the whole line at once, which
   also says where each digit is. The line's ink is cut between those places, at
   the faintest column, and the digit model reads the pieces too.

Each reading is then scored by both models: the number model's probability of its
digits (over every alignment, `mnist_cnn.ctc.probability`) times the digit model's
probability of each digit in its piece. The best reading wins. Its confidence is
the lower of the two models' probabilities, so a number is sure ("ok") only when
both models are sure of it.

>>> scores = [Candidate("8", [], np.zeros((1, 10)), 0.9, 0.2),
...           Candidate("00", [], np.zeros((2, 10)), 0.7, 0.6)]
>>> best(scores).text
'00'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_cnn import ctc
from mnist_cnn.imaging import DigitCrop, Line, ink_box, to_mnist
from mnist_cnn.imaging.strip import LEFT, SIZE, to_strip
from mnist_cnn.preprocessing import preprocess

NUMBER_MODEL = Path(__file__).resolve().parent / "number_model" / "model.keras"


@dataclass(frozen=True)
class Candidate:
    """One way to read a line.

    text: the digits. crops: their pieces of the image, left to right.
    probabilities: the digit model's ten probabilities for each piece.
    number_probability: the number model's probability of `text`.
    digit_probability: the digit model's probability of `text`, piece by piece.
    """

    text: str
    crops: list[DigitCrop]
    probabilities: np.ndarray
    number_probability: float
    digit_probability: float

    @property
    def score(self) -> float:
        return self.number_probability * self.digit_probability

    @property
    def confidence(self) -> float:
        """Sure only as far as both models are."""
        return min(self.number_probability, self.digit_probability)


def best(candidates: list[Candidate]) -> Candidate:
    """The candidate both models together find likeliest (the first of equals)."""
    return max(candidates, key=lambda c: c.score)


def line_strips(lines: list[Line]) -> tuple[np.ndarray, list[float]]:
    """The number model's inputs for `lines`: preprocessed strips (N, H, W, 1) and the
    scale of each (`mnist_cnn.imaging.strip.to_strip`)."""
    made = [to_strip(line.ink) for line in lines]
    strips = preprocess(np.stack([strip for strip, _ in made]), SIZE)
    return strips, [scale for _, scale in made]


def split_line(line: Line, read: list[ctc.FrameDigit], scale: float) -> list[DigitCrop]:
    """The line's ink cut into one piece per digit the number model read.

    Each cut is at the column with the least ink between two neighbouring digits'
    frames; each piece is cropped to its ink and drawn MNIST style (`to_mnist`).

    Args:
        line: the line, from `mnist_cnn.imaging.extract_lines`.
        read: the digits the number model read in its strip (`ctc.decode`).
        scale: the strip's scale (`to_strip`): strip pixels per ink pixel.

    Returns:
        One `DigitCrop` per digit read, left to right; a piece without ink is left out.
    """
    width = line.ink.shape[1]
    # Where each digit was read, in the ink's columns.
    centres = [(ctc.FRAME * (d.frames[0] + d.frames[1]) / 2 - LEFT) / scale for d in read]
    columns = line.ink.sum(axis=0)
    cuts = [0]
    for left, right in zip(centres, centres[1:], strict=False):
        a, b = int(np.clip(np.ceil(left), 0, width)), int(np.clip(np.floor(right), 0, width))
        cuts.append(a + int(np.argmin(columns[a:b])) if b > a else a)
    cuts.append(width)
    crops = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        piece = line.ink[:, a:b]
        box = ink_box(piece > 0)
        if box is None:
            continue
        x0, y0 = line.origin
        f = line.factor
        image_box = (
            int(np.floor(x0 + a * f)),
            int(np.floor(y0 + box[0].start * f)),
            min(line.shape[1], int(np.ceil(x0 + b * f))),
            min(line.shape[0], int(np.ceil(y0 + box[0].stop * f))),
        )
        crops.append(DigitCrop(to_mnist(piece), image_box))
    return crops


def read_lines(
    lines: list[Line],
    number_logits: Callable[[np.ndarray], np.ndarray],
    digit_probabilities: Callable[[np.ndarray], np.ndarray],
) -> list[Candidate]:
    """The best reading of each line (`best`), with two model calls for all of them.

    Args:
        lines: lines of ink, from `mnist_cnn.imaging.extract_lines`.
        number_logits: the number model: strips (N, H, W, 1) -> frame logits (N, T, 11).
        digit_probabilities: the digit model: uint8 (N, 28, 28) -> probabilities (N, 10).

    Returns:
        One `Candidate` per line.
    """
    if not lines:
        return []
    strips, scales = line_strips(lines)
    logits = np.asarray(number_logits(strips), np.float64)
    split = [
        split_line(line, ctc.decode(frames), scale)
        for line, frames, scale in zip(lines, logits, scales, strict=True)
    ]
    pieces = [crop for line, cut in zip(lines, split, strict=True) for crop in line.crops + cut]
    probabilities = digit_probabilities(np.stack([crop.pixels for crop in pieces]))
    chosen, start = [], 0
    for line, cut, frames in zip(lines, split, logits, strict=True):
        found = probabilities[start : start + len(line.crops)]
        start += len(line.crops)
        cut_probabilities = probabilities[start : start + len(cut)]
        start += len(cut)
        candidates = [
            _candidate(line.crops, found, frames),
            _candidate(cut, cut_probabilities, frames),
            _candidate(cut, cut_probabilities, frames, ctc.read(frames)),
        ]
        chosen.append(best([c for c in candidates if c is not None]))
    return chosen


def _candidate(
    crops: list[DigitCrop], probabilities: np.ndarray, frames: np.ndarray, text: str | None = None
) -> Candidate | None:
    """Reading `crops` as `text` (default: each piece's likeliest digit); None if the
    two disagree in length, or there is nothing to read."""
    if text is None:
        text = "".join(str(int(p.argmax())) for p in probabilities)
    if not crops or len(text) != len(crops):
        return None
    digit_probability = float(
        np.prod([p[int(c)] for p, c in zip(probabilities, text, strict=True)])
    )
    return Candidate(text, crops, probabilities, ctc.probability(frames, text), digit_probability)
