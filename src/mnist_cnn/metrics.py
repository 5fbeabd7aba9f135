"""Numbers about a classifier's answers: calibration, errors per class, mistakes.

Every function takes class probabilities (N, classes) or predicted classes
beside the true labels, and returns numbers or arrays; `mnist_cnn.plots` draws
them and `mnist_cnn.report` prints them.

>>> import numpy as np
>>> p = np.array([[0.95, 0.05], [0.75, 0.25]])  # right when 95% sure, wrong when 75% sure
>>> round(expected_calibration_error(p, np.array([0, 1]), bins=10), 4)
0.4
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mnist_cnn.preprocessing import NUM_CLASSES


class CalibrationBins(NamedTuple):
    """Predictions grouped by confidence (their top probability)."""

    edges: np.ndarray  # (bins + 1,) from 0 to 1
    count: np.ndarray  # (bins,) predictions per bin
    confidence: np.ndarray  # (bins,) mean top probability; NaN in empty bins
    accuracy: np.ndarray  # (bins,) share answered right; NaN in empty bins


def calibration_bins(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 15
) -> CalibrationBins:
    """Group predictions into `bins` equal-width confidence bins, each bin
    holding the confidences above its lower edge up to its upper one.

    Args:
        probabilities: class probabilities (N, classes).
        labels: true classes (N,).
        bins: how many bins divide [0, 1].

    Returns:
        The bin edges, and per bin the count, mean confidence and accuracy.

    Example:
        >>> b = calibration_bins(np.array([[0.9, 0.1], [0.3, 0.7]]), np.array([0, 0]), bins=2)
        >>> b.count.tolist(), b.accuracy.tolist()
        ([0, 2], [nan, 0.5])
    """
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, confidence, minlength=bins) / count
        accuracy = np.bincount(which, correct.astype(float), minlength=bins) / count
    return CalibrationBins(edges, count, mean_confidence, accuracy)


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 15
) -> float:
    """ECE: the gap between confidence and accuracy in each confidence bin,
    averaged with each bin weighted by its share of the predictions. 0 means the
    probabilities can be taken at their word; 0.05, that they are 5 points off.

    Args:
        probabilities: class probabilities (N, classes).
        labels: true classes (N,).
        bins: how many equal-width bins divide [0, 1] (`calibration_bins`).

    Returns:
        The expected calibration error, between 0 and 1.

    Example:
        >>> p = np.array([[0.95, 0.05], [0.95, 0.05], [0.25, 0.75], [0.45, 0.55]])
        >>> round(expected_calibration_error(p, np.array([0, 1, 1, 1]), bins=10), 4)
        0.4
    """
    b = calibration_bins(probabilities, labels, bins)
    used = b.count > 0
    gaps = np.abs(b.accuracy[used] - b.confidence[used])
    return float((b.count[used] * gaps).sum() / max(b.count.sum(), 1))


class ClassErrors(NamedTuple):
    """Errors per true class."""

    support: np.ndarray  # (classes,) images of each class
    errors: np.ndarray  # (classes,) of them answered wrong
    rate: np.ndarray  # (classes,) errors / support; 0 for a class without images
    confused_with: np.ndarray  # (classes,) the commonest wrong answer; -1 if none


def class_errors(y_true: np.ndarray, y_pred: np.ndarray, classes: int = NUM_CLASSES) -> ClassErrors:
    """How often each true class is answered wrong, and with what.

    Args:
        y_true: true classes (N,).
        y_pred: predicted classes (N,).
        classes: how many classes there are.

    Returns:
        Per class: images, errors, error rate and the commonest wrong answer.

    Example:
        >>> e = class_errors([0, 0, 1, 1], [0, 1, 1, 1], classes=2)
        >>> e.errors.tolist(), e.rate.tolist(), e.confused_with.tolist()
        ([1, 0], [0.5, 0.0], [1, -1])
    """
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    support = matrix.sum(axis=1)
    wrong = matrix - np.diag(np.diag(matrix))
    errors = wrong.sum(axis=1)
    confused_with = np.where(errors > 0, wrong.argmax(axis=1), -1)
    return ClassErrors(support, errors, errors / np.maximum(support, 1), confused_with)


def confident_mistakes(
    probabilities: np.ndarray, labels: np.ndarray, count: int | None = None
) -> np.ndarray:
    """The indices of the wrong answers, the surest first.

    Args:
        probabilities: class probabilities (N, classes).
        labels: true classes (N,).
        count: keep at most this many; None keeps all.

    Returns:
        Indices into `labels`, by falling probability of the (wrong) answer.

    Example:
        >>> p = np.array([[0.6, 0.4], [0.1, 0.9], [0.8, 0.2]])
        >>> confident_mistakes(p, np.array([1, 1, 1])).tolist()
        [2, 0]
    """
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")]
    return order[:count]
