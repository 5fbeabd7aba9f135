"""Calibration and error counts against cases worked out by hand."""

import numpy as np
import pytest

from mnist_cnn import metrics

# Four answers, worked by hand with 10 bins of width 0.1 (a bin holds its upper edge):
#   confidence 0.95 right, 0.95 wrong -> bin (0.9, 1.0]: accuracy 0.5, confidence 0.95
#   confidence 0.75 right             -> bin (0.7, 0.8]: accuracy 1.0, confidence 0.75
#   confidence 0.55 right             -> bin (0.5, 0.6]: accuracy 1.0, confidence 0.55
# ECE = (2 * |0.5 - 0.95| + 1 * |1 - 0.75| + 1 * |1 - 0.55|) / 4 = (0.9 + 0.25 + 0.45) / 4 = 0.4
PROBABILITIES = np.array([[0.95, 0.05], [0.95, 0.05], [0.25, 0.75], [0.45, 0.55]])
LABELS = np.array([0, 1, 1, 1])


def test_calibration_bins_of_a_hand_worked_case():
    b = metrics.calibration_bins(PROBABILITIES, LABELS, bins=10)
    assert b.edges == pytest.approx(np.linspace(0, 1, 11))
    assert b.count.tolist() == [0, 0, 0, 0, 0, 1, 0, 1, 0, 2]
    used = b.count > 0
    assert b.accuracy[used] == pytest.approx([1.0, 1.0, 0.5])
    assert b.confidence[used] == pytest.approx([0.55, 0.75, 0.95])
    assert np.isnan(b.accuracy[~used]).all() and np.isnan(b.confidence[~used]).all()


def test_expected_calibration_error_of_a_hand_worked_case():
    assert metrics.expected_calibration_error(PROBABILITIES, LABELS, bins=10) == pytest.approx(0.4)
    # With 2 bins all four fall in (0.5, 1]: accuracy 3/4, mean confidence 0.8 -> 0.05.
    assert metrics.expected_calibration_error(PROBABILITIES, LABELS, bins=2) == pytest.approx(0.05)


def test_certain_and_right_is_calibrated_and_overconfident_is_not():
    labels = np.array([0, 1, 0, 1])
    assert metrics.expected_calibration_error(np.eye(2)[labels], labels) == 0.0
    # 99% sure every time but right only half the time: a gap of 0.49.
    overconfident = np.tile([0.99, 0.01], (4, 1))
    assert metrics.expected_calibration_error(overconfident, labels) == pytest.approx(0.49)
    assert metrics.calibration_bins(overconfident, labels, bins=10).count[-1] == 4


def test_a_confidence_on_an_edge_goes_to_the_lower_bin():
    p = np.array([[0.5, 0.5], [0.0, 1.0]])  # 0.5 sits on the edge between 2 bins
    assert metrics.calibration_bins(p, np.array([0, 1]), bins=2).count.tolist() == [1, 1]


def test_ece_matches_its_definition_on_random_answers():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10) * 0.3, size=500)
    labels = rng.integers(0, 10, 500)
    confidence, correct = p.max(axis=1), p.argmax(axis=1) == labels
    expected = 0.0
    for low, high in zip(np.linspace(0, 1, 16)[:-1], np.linspace(0, 1, 16)[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            gap = abs(correct[inside].mean() - confidence[inside].mean())
            expected += inside.mean() * gap
    assert metrics.expected_calibration_error(p, labels) == pytest.approx(expected)


def test_class_errors_of_a_hand_worked_case():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 2, 2, 1, 0, 2]  # two zeros read as 2, one one read as 0
    e = metrics.class_errors(y_true, y_pred, classes=4)
    assert e.support.tolist() == [3, 2, 1, 0]
    assert e.errors.tolist() == [2, 1, 0, 0]
    assert e.rate == pytest.approx([2 / 3, 0.5, 0.0, 0.0])  # no images: 0, not NaN
    assert e.confused_with.tolist() == [2, 0, -1, -1]


def test_confident_mistakes_come_surest_first():
    p = np.array([[0.6, 0.4], [0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    labels = np.array([1, 1, 1, 0])  # rows 0, 2 and 3 are wrong, at 0.6, 0.8 and 0.7
    assert metrics.confident_mistakes(p, labels).tolist() == [2, 3, 0]
    assert metrics.confident_mistakes(p, labels, 2).tolist() == [2, 3]
    assert metrics.confident_mistakes(np.eye(2), np.array([0, 1])).tolist() == []
