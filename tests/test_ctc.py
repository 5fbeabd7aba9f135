"""CTC labels, greedy decoding and the whole-number accuracy metric."""

import numpy as np
import pytest

from mnist_cnn import ctc


def frames(classes: list[int], sure: float = 9.0) -> np.ndarray:
    """Logits of frames whose best classes are `classes`."""
    logits = np.full((len(classes), ctc.CLASSES), -sure)
    logits[np.arange(len(classes)), classes] = sure
    return logits


def test_encode_shifts_digits_past_the_blank_and_pads():
    assert ctc.encode(["0", "90"], max_length=3).tolist() == [[1, 0, 0], [10, 1, 0]]
    with pytest.raises(ValueError, match="over 2 digits"):
        ctc.encode(["123"], max_length=2)


def test_decode_merges_repeats_and_needs_a_blank_between_equal_digits():
    # 1 1 _ 1 -> "11": a repeat is one digit unless a blank separates it.
    read = ctc.decode(frames([2, 2, 0, 2, 0]))
    assert [d.digit for d in read] == [1, 1]
    assert [d.frames for d in read] == [(0, 2), (3, 4)]
    assert [d.digit for d in ctc.decode(frames([0, 4, 5, 6, 0]))] == [3, 4, 5]


def test_decoded_probabilities_are_the_ten_digits_of_the_peak_frame():
    logits = frames([0, 8, 8, 0])
    logits[1, 8], logits[1, 4] = 9.5, 8.0  # the surer of the two frames, with some "3"
    logits[2, 8], logits[2, 6] = 9.0, 8.5  # the other, with more of a "5"
    (digit,) = ctc.decode(logits)
    assert digit.digit == 7 and digit.probabilities.shape == (10,)
    assert np.isclose(digit.probabilities.sum(), 1.0)
    assert np.argsort(digit.probabilities)[-2] == 3  # the runner-up comes from the surer frame
    assert 0.5 < digit.confidence < 1.0


def number_accuracy(texts: list[str], logits: np.ndarray) -> float:
    metric = ctc.NumberAccuracy()
    metric.update_state(ctc.encode(texts, 4), logits.astype("float32"))
    return float(metric.result())


def test_number_accuracy_counts_exact_readings_only():
    right = frames([0, 5, 0, 3, 3, 0])  # "42"
    wrong_digit = frames([0, 5, 0, 4, 0, 0])  # "43"
    too_short = frames([0, 5, 5, 5, 0, 0])  # "4"
    too_long = frames([5, 0, 3, 0, 3, 0])  # "422"
    logits = np.stack([right, wrong_digit, too_short, too_long])
    assert number_accuracy(["42"] * 4, logits) == pytest.approx(0.25)
    assert number_accuracy(
        ["11", "", "0000", "9"],
        np.stack(
            [
                frames([2, 0, 2, 0, 0, 0]),
                frames([0] * 6),
                frames([1, 0, 1, 0, 1, 0]),
                frames([10] * 6),
            ]
        ),
    ) == pytest.approx(0.75)  # "0000" needs 4 digits and 7 frames: only 3 were read


@pytest.mark.parametrize("text", ["7", "12", "11", "3333", "90210"])
def test_probability_is_what_the_ctc_loss_says(text):
    from mnist_cnn.backend import keras

    logits = np.random.default_rng(len(text)).normal(0, 2, (64, ctc.CLASSES)).astype("float32")
    labels = ctc.encode([text], len(text))
    loss = keras.ops.ctc_loss(labels, logits[None], np.array([len(text)]), np.array([64]))
    assert ctc.probability(logits, text) == pytest.approx(np.exp(-float(loss[0])), rel=1e-3)


def test_a_batch_of_labels_of_every_length_is_scored_as_each_alone():
    from mnist_cnn.backend import keras

    texts = ["", "7", "11", "2025", "31415926"]
    logits = np.random.default_rng(3).normal(0, 2, (len(texts), 64, ctc.CLASSES))
    labels = ctc.encode(texts)
    batch = ctc.log_probabilities(logits, labels)
    alone = [
        np.log(ctc.probability(frames, text)) for frames, text in zip(logits, texts, strict=True)
    ]
    assert batch == pytest.approx(alone, rel=1e-9)
    lengths = np.array([len(t) for t in texts])
    loss = keras.ops.ctc_loss(labels, logits.astype("float32"), lengths, np.full(len(texts), 64))
    assert batch[1:] == pytest.approx(-np.asarray(loss)[1:], rel=1e-3)


def test_probabilities_of_all_readings_add_up_to_at_most_one():
    logits = frames([0, 2, 0, 3, 0])
    logits[1, 0] = 8.0  # the first digit is nearly a blank: "2" and "12" share the mass
    total = sum(ctc.probability(logits, t) for t in ["", "1", "2", "12", "21", "11", "22"])
    assert 0.99 < total <= 1.0 + 1e-9
    assert ctc.probability(logits, "12") > ctc.probability(logits, "2") > 0.1


@pytest.mark.parametrize(
    "a, b, distance",
    [
        ("", "", 0),
        ("123", "123", 0),
        ("", "42", 2),
        ("4271", "", 4),
        ("4271", "471", 1),  # a digit lost: two touching digits read as one
        ("4271", "42871", 1),  # a digit too many: one split in two
        ("4271", "4277", 1),
        ("4271", "2417", 3),
        ("12", "21", 2),
        ("90210", "9210", 1),
    ],
)
def test_edit_distance_counts_insertions_deletions_and_substitutions(a, b, distance):
    assert ctc.edit_distance(a, b) == distance
    assert ctc.edit_distance(b, a) == distance
