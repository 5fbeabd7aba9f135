"""Temperature scaling: confidences that mean what they say.

A network trained to minimise crossentropy is often surer than it is right. Dividing
its logits by one number, the temperature T, chosen to minimise the negative
log-likelihood of the validation split (never the test set), makes its probabilities
match how often it is right there without changing any answer (Guo et al. 2017, "On
Calibration of Modern Neural Networks"). T above 1 softens, below 1 sharpens.

Training fits T for each run and records it in ``metrics.json`` (``temperature``);
the reader applies it: the digit model's probabilities through `soften`, the number
model's frame logits divided by T before CTC reads them.

>>> p = np.array([[0.9, 0.1]])
>>> soften(p, 1.0).round(3).tolist(), soften(p, 2.0).round(3).tolist()
([[0.9, 0.1]], [[0.75, 0.25]])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize_scalar

from mnist_cnn import ctc

BOUNDS = (0.25, 8.0)  # the temperatures searched


def soften(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities (N, C) as if their logits had been divided by `temperature`:
    softmax(log p / T), each row adding up to one."""
    log_p = np.log(np.clip(np.asarray(probabilities, np.float64), 1e-30, 1.0)) / temperature
    log_p -= log_p.max(axis=1, keepdims=True)
    p = np.exp(log_p)
    return p / p.sum(axis=1, keepdims=True)


def fit_temperature(nll: Callable[[float], float], bounds: tuple[float, float] = BOUNDS) -> float:
    """The temperature in `bounds` that minimises `nll` (searched on a log scale).

    Example:
        >>> round(fit_temperature(lambda t: (np.log(t) - np.log(2.0)) ** 2), 3)
        2.0
    """
    low, high = np.log(bounds[0]), np.log(bounds[1])
    found = minimize_scalar(lambda s: nll(float(np.exp(s))), bounds=(low, high), method="bounded")
    return round(float(np.exp(found.x)), 4)


def digit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """T for a digit model, from its probabilities (N, 10) for validation digits.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> labels = rng.integers(0, 10, 2000)
        >>> right = rng.random(2000) < 0.8        # right 80% of the time ...
        >>> answers = np.where(right, labels, (labels + 1) % 10)
        >>> p = np.full((2000, 10), 0.001); p[np.arange(2000), answers] = 0.991  # ... sure 99%
        >>> digit_temperature(p, labels) > 1                                      # so soften
        True
    """

    def nll(t: float) -> float:
        p = soften(probabilities, t)[np.arange(len(labels)), labels]
        return float(-np.log(np.clip(p, 1e-30, 1.0)).mean())

    return fit_temperature(nll)


def number_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """T for a number model, from its frame logits (N, T, 11) for validation strips and
    their CTC labels (`mnist_cnn.ctc.encode`), by CTC's likelihood of each label."""
    logits = np.asarray(logits, np.float64)

    def nll(t: float) -> float:
        return float(-ctc.log_probabilities(logits / t, labels).mean())

    return fit_temperature(nll)
