"""Reading a number model's output: CTC labels, decoding, and whole-number accuracy.

The number model (`mnist_cnn.models.numbers`) reads a strip left to right in
frames of `FRAME` pixels and gives, for each frame, logits over 11 classes: 0 is
CTC's blank ("no new digit here") and 1-10 are the digits 0-9. A number is read
from the most likely class of each frame: repeats merged, blanks dropped (greedy
CTC decoding, which for a convolutional model is as good as a beam search of the
same output in practice, and costs nothing).

>>> encode(["42", "7"], max_length=3).tolist()
[[5, 3, 0], [8, 0, 0]]
>>> frames = np.full((6, CLASSES), -9.0)
>>> for t, c in enumerate([0, 5, 5, 0, 3, 0]): frames[t, c] = 9.0
>>> [(d.digit, d.frames) for d in decode(frames)]
[(4, (1, 3)), (2, (4, 5))]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_cnn.backend import keras

BLANK = 0
CLASSES = 11  # the blank and the ten digits
MAX_DIGITS = 8  # the longest number trained on
FRAME = 4  # strip pixels per output frame


def encode(texts: list[str], max_length: int = MAX_DIGITS) -> np.ndarray:
    """Numbers as CTC labels: int32 (N, max_length), digit d as d + 1, 0-padded."""
    labels = np.zeros((len(texts), max_length), np.int32)
    for i, text in enumerate(texts):
        if len(text) > max_length:
            raise ValueError(f"{text!r} has over {max_length} digits")
        labels[i, : len(text)] = [int(c) + 1 for c in text]
    return labels


@dataclass(frozen=True)
class FrameDigit:
    """One digit read from a strip.

    digit: 0-9. frames: the frames it was read in, [start, stop).
    probabilities: its ten digit probabilities, from its most confident frame
        (blank left out, the rest renormalised).
    confidence: the probability of the path's class at that frame, blank included.
    """

    digit: int
    frames: tuple[int, int]
    probabilities: np.ndarray
    confidence: float


def decode(logits: np.ndarray) -> list[FrameDigit]:
    """One strip's frame logits (T, 11) -> the digits read, left to right.

    Example:
        >>> decode(np.zeros((5, CLASSES)))   # a tie everywhere: blank wins, no digit
        []
    """
    logits = np.asarray(logits, np.float64)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    best = probabilities.argmax(axis=1)
    digits = []
    t = 0
    while t < len(best):
        if best[t] == BLANK:
            t += 1
            continue
        stop = t + 1
        while stop < len(best) and best[stop] == best[t]:
            stop += 1
        peak = t + int(np.argmax(probabilities[t:stop, best[t]]))
        ten = probabilities[peak, 1:] / probabilities[peak, 1:].sum()
        digits.append(
            FrameDigit(int(best[t]) - 1, (t, stop), ten, float(probabilities[peak, best[t]]))
        )
        t = stop
    return digits


def read(logits: np.ndarray) -> str:
    """The number read from one strip's frame logits (T, 11), e.g. "2025"."""
    return "".join(str(d.digit) for d in decode(logits))


def probability(logits: np.ndarray, text: str) -> float:
    """The model's probability that a strip holds exactly `text`: the sum over every
    frame alignment that reads it (CTC's forward algorithm), not only the best one.

    Example:
        >>> logits = np.full((4, CLASSES), -9.0)
        >>> for t, c in enumerate([0, 3, 0, 0]): logits[t, c] = 9.0
        >>> round(probability(logits, "2"), 4), round(probability(logits, "7"), 4)
        (1.0, 0.0)
    """
    labels = encode([text], max_length=max(len(text), 1))
    return float(np.exp(log_probabilities(np.asarray(logits)[None], labels)[0]))


def log_probabilities(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`probability`'s logarithm for a batch: frame logits (N, T, 11) and CTC labels
    (N, L) as `encode` makes them -> (N,) log-probabilities, all strips at once.

    Example:
        >>> logits = np.zeros((2, 5, CLASSES))     # each class 1/11 in each of 5 frames
        >>> log_probabilities(logits, encode(["1", "123"])).round(2).tolist()
        [-9.28, -8.66]
    """
    logits = np.asarray(logits, np.float64)
    log_p = logits - np.logaddexp.reduce(logits, axis=2, keepdims=True)
    count, frames, _ = log_p.shape
    lengths = (labels > 0).sum(axis=1)
    # Each strip's path: blank, digit, blank, digit, ..., blank (padded with blanks).
    path = np.zeros((count, 2 * labels.shape[1] + 1), np.int64)
    path[:, 1::2] = labels
    # A digit may follow the one two steps back (skipping a blank) unless it repeats it.
    skip = np.zeros(path.shape, bool)
    skip[:, 2:] = (path[:, 2:] != BLANK) & (path[:, 2:] != path[:, :-2])
    # Each frame's log-probability of each step of the path, all frames at once.
    emit = np.take_along_axis(log_p, path[:, None, :], axis=2)  # (N, T, steps)
    alpha = np.full(path.shape, -np.inf)
    alpha[:, :2] = emit[:, 0, :2]
    step, jump = np.full(path.shape, -np.inf), np.full(path.shape, -np.inf)
    for t in range(1, frames):
        step[:, 1:] = alpha[:, :-1]  # from the step before
        jump[:, 2:] = np.where(skip[:, 2:], alpha[:, :-2], -np.inf)  # two back, if allowed
        alpha = np.logaddexp(np.logaddexp(alpha, step), jump) + emit[:, t]
    last = alpha[np.arange(count), 2 * lengths]  # ending on the final blank ...
    digit = alpha[np.arange(count), np.maximum(2 * lengths - 1, 0)]  # ... or the last digit
    return np.where(lengths > 0, np.logaddexp(last, digit), last)


def edit_distance(a: str, b: str) -> int:
    """Digits to insert, delete or change to turn `a` into `b` (Levenshtein).

    >>> edit_distance("2025", "225"), edit_distance("12", "21"), edit_distance("", "7")
    (1, 2, 1)
    """
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


class NumberAccuracy(keras.metrics.Mean):
    """The share of strips whose greedy reading is exactly the number, in the graph,
    so that training's history and model selection see it as ``accuracy``.

    Example::

        model.compile(loss=keras.losses.CTC(), metrics=[NumberAccuracy()])
    """

    def __init__(self, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        ops = keras.ops
        best = ops.argmax(y_pred, axis=-1)  # (B, T)
        previous = ops.pad(best[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
        emitted = ops.logical_and(ops.not_equal(best, BLANK), ops.not_equal(best, previous))
        emitted = ops.cast(emitted, "int32")
        position = ops.cumsum(emitted, axis=1) - 1  # where each emitted digit goes
        length = ops.shape(y_true)[1]
        slots = ops.one_hot(ops.where(emitted > 0, position, -1), length, dtype="int32")
        read = ops.sum(slots * ops.expand_dims(ops.cast(best, "int32") * emitted, -1), axis=1)
        truth = ops.cast(y_true, "int32")
        same_digits = ops.all(ops.equal(read, truth), axis=1)
        same_length = ops.equal(
            ops.sum(emitted, axis=1), ops.sum(ops.cast(truth > 0, "int32"), axis=1)
        )
        right = ops.cast(ops.logical_and(same_digits, same_length), "float32")
        return super().update_state(right, sample_weight=sample_weight)
