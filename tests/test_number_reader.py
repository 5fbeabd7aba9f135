"""Reading a line with the number model and the digit model together (stand-ins for both)."""

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from mnist_cnn import ctc, number_reader
from mnist_cnn.imaging import extract_lines
from mnist_cnn.imaging.normalise import upright
from mnist_cnn.imaging.pipeline import stand_up
from mnist_cnn.imaging.strip import LEFT, tilt, to_strip


def page(*rings_at: int, width: int = 260, half_width: int = 24, lean: float = 0.0) -> np.ndarray:
    """Dark rings ("0"s) on light paper, centred at the given columns, their tops
    `lean` of their height to the right of their feet."""
    yy, xx = np.mgrid[0:120, 0:width]
    gray = np.full((120, width), 230, np.uint8)
    for x in rings_at:
        radius = np.hypot((yy - 60) / 40, (xx - lean * (60 - yy) - x) / half_width)
        gray[(radius > 0.75) & (radius < 1.0)] = 20
    return gray


def number_model(line, digits: list[tuple[int, float]], sure: float = 0.9999):
    """A stand-in number model that reads `digits` [(digit, ink column where it begins)]."""
    _, scale = to_strip(line.ink)

    def logits(strips):
        frames = np.full((strips.shape[0], 64, ctc.CLASSES), np.log((1 - sure) / 10))
        frames[:, :, ctc.BLANK] = np.log(sure)
        for digit, column in digits:
            t = int((LEFT + column * scale) // ctc.FRAME)
            frames[:, t, :] = np.log((1 - sure) / 10)
            frames[:, t, digit + 1] = np.log(sure)
        return frames

    return logits


def digit_model(digit: int, sure: float):
    """A stand-in digit model that reads every piece as `digit`."""

    def probabilities(images):
        p = np.full((len(images), 10), (1 - sure) / 9)
        p[:, digit] = sure
        return p

    return probabilities


def test_touching_digits_read_as_one_are_cut_where_the_number_model_reads_two():
    (line,) = extract_lines(page(90, 136))  # two zeros touching: one piece
    assert len(line.crops) == 1
    reads_00 = number_model(line, [(0, 2), (0, line.ink.shape[1] // 2 + 2)])
    (reading,) = number_reader.read_lines([line], reads_00, digit_model(0, 0.99))
    assert len(reading.crops) == 2 and reading.probabilities.argmax(axis=1).tolist() == [0, 0]
    (x0, _, x1, _), (x2, _, x3, _) = (crop.box for crop in reading.crops)
    piece = line.crops[0].box
    assert piece[0] <= x0 < x2 and x1 < x3 <= piece[2]  # (a cut may lean: x2 < x1)
    assert abs((x1 + x2) / 2 - 113) <= 6  # cut where the rings meet
    assert all(crop.pixels.shape == (28, 28) and crop.pixels.max() > 0 for crop in reading.crops)
    # Unsure of the line, the number model still cuts it where it reads more digits than
    # pieces, and the reading says it is unsure.
    unsure = number_model(line, [(0, 2), (0, line.ink.shape[1] // 2 + 2)], sure=0.3)
    (reading,) = number_reader.read_lines([line], unsure, digit_model(0, 0.99))
    assert len(reading.crops) == 2 and reading.agreement < 0.01


def test_parts_cut_from_a_leaning_line_are_upright_as_its_digits_are():
    (line,) = extract_lines(page(90, 136))  # two zeros touching
    starts = [2.0, line.ink.shape[1] / 2 + 2]
    level = number_reader.split_piece(line, (0, line.ink.shape[1]), starts)
    leaning = dataclasses.replace(line, lean=-0.36)  # as if photographed turned 20 degrees
    parts = number_reader.split_piece(leaning, (0, line.ink.shape[1]), starts)
    assert [part.box for part in parts] == [part.box for part in level]
    turned = upright(np.stack([part.pixels for part in level]), -0.36)
    assert np.array_equal(np.stack([part.pixels for part in parts]), turned)
    assert not np.array_equal(turned, np.stack([part.pixels for part in level]))


def test_touching_digits_on_a_sloping_line_are_read_upright_once_the_number_model_counts_them():
    # Four zeros touching, photographed turned: one piece, which segmentation alone
    # does not turn upright (a lone digit's shape can slope its ink).
    gray = ndimage.rotate(page(70, 116, 162, 208, width=280), 20, reshape=True, cval=230, order=1)
    (line,) = extract_lines(gray)
    assert len(line.crops) == 1 and line.slope and not line.lean
    width = line.ink.shape[1]
    starts = [2 + k * width // 4 for k in range(4)]
    reads_0000 = number_model(line, [(0, x) for x in starts])
    seen = []

    def digit_probabilities(images):
        seen.append(images)
        return digit_model(0, 0.99)(images)

    (reading,) = number_reader.read_lines([line], reads_0000, digit_probabilities)
    assert len(reading.crops) == 4
    # The piece as the digit model read it, and the parts cut from it, are upright: as
    # if segmentation had turned the line.
    assert np.array_equal(seen[0], upright(np.stack([c.pixels for c in line.crops]), line.slope))
    (turned,) = number_reader.read_lines([stand_up(line)], reads_0000, digit_model(0, 0.99))
    assert np.array_equal(seen[1], np.stack([c.pixels for c in turned.crops]))
    assert [c.box for c in reading.crops] == [c.box for c in turned.crops]
    # Three touching digits make a line too short for its slope to be the line's.
    reads_000 = number_model(line, [(0, x) for x in starts[:3]])
    seen.clear()
    number_reader.read_lines([line], reads_000, digit_probabilities)
    assert np.array_equal(seen[0], np.stack([c.pixels for c in line.crops]))


def test_slanted_touching_digits_are_cut_along_the_gap_between_them():
    # Two zeros leaning right, touching: the first one's top reaches past the second
    # one's foot, so every straight cut slices one of them.
    rings = [page(centre, half_width=20, lean=0.35) < 128 for centre in (90, 131)]
    (line,) = extract_lines(page(90, 131, half_width=20, lean=0.35))
    assert len(line.crops) == 1
    (first, last), (second, _) = (np.nonzero(ring.any(axis=0))[0][[0, -1]] for ring in rings)
    assert second < last - 5  # they overlap by more than a stroke's width
    begins = np.nonzero(rings[1][60])[0][0] - line.origin[0]  # the second, at mid-height
    reads_00 = number_model(line, [(0, 2), (0, begins)])
    (reading,) = number_reader.read_lines([line], reads_00, digit_model(0, 0.99))
    (x0, _, x1, _), (x2, _, x3, _) = (crop.box for crop in reading.crops)
    assert abs(x0 - first) <= 2 and abs(x1 - (last + 1)) <= 2  # each part holds its zero
    assert abs(x2 - second) <= 2


def test_the_digit_model_votes_on_each_digit_read_parts_cut_from_touching_ones_included():
    (line,) = extract_lines(page(90, 136))  # two zeros touching: one piece
    reads_00 = number_model(line, [(0, 2), (0, line.ink.shape[1] // 2 + 2)])
    seen = []

    def reads_0_then_6(images):  # sure of the piece's 0, then reads the parts cut as 6s
        seen.append(len(images))
        return digit_model(0 if len(seen) == 1 else 6, 0.99)(images)

    (reading,) = number_reader.read_lines([line], reads_00, reads_0_then_6)
    assert seen == [1, 2]  # the piece as found, then the two parts in one call
    assert reading.probabilities.argmax(axis=1).tolist() == [0, 0]  # the number model's
    assert np.allclose(reading.vote, (0.01 / 9) ** number_reader.DIGIT_VOTE)
    (agreed,) = number_reader.read_lines([line], reads_00, digit_model(0, 0.99))
    assert np.allclose(agreed.vote, 0.99**number_reader.DIGIT_VOTE)
    # A lone digit, which the number model reads as one, gets no vote (1: its own).
    (lone,) = extract_lines(page(120))
    reads_0 = number_model(lone, [(0, 2)])
    (alone,) = number_reader.read_lines([lone], reads_0, digit_model(0, 0.99))
    assert alone.agreement is None and alone.vote.tolist() == [1.0]


def test_a_part_model_raises_the_vote_on_parts_cut_and_only_on_them():
    (line,) = extract_lines(page(90, 136, 200))  # two zeros touching, and one apart
    reads_000 = number_model(line, [(0, 2), (0, 48), (0, 104)])
    seen = []

    def part_model(digit):  # reads every part it is given as `digit`, at 0.9
        def probabilities(images):
            seen.append(len(images))
            return digit_model(digit, 0.9)(images)

        return probabilities

    calls = []

    def doubts_parts(images):  # sure of the pieces' 0s, then reads the parts cut as 6s
        calls.append(len(images))
        return digit_model(0 if len(calls) % 2 else 6, 0.99)(images)

    (reading,) = number_reader.read_lines([line], reads_000, doubts_parts, part_model(0))
    assert seen == [2]  # the two parts cut from the touching zeros, in one call
    assert reading.probabilities.argmax(axis=1).tolist() == [0, 0, 0]  # it votes only
    vote = number_reader.DIGIT_VOTE
    assert np.allclose(reading.vote, [0.9**vote, 0.9**vote, 0.99**vote])
    # The likelier of the two: a part model that doubts a part the digit model is sure
    # of lowers nothing.
    (reading,) = number_reader.read_lines([line], reads_000, digit_model(0, 0.99), part_model(6))
    assert np.allclose(reading.vote, 0.99**vote)
    (alone,) = number_reader.read_lines([line], reads_000, doubts_parts)
    assert np.allclose(alone.vote, [(0.01 / 9) ** vote] * 2 + [0.99**vote])


def test_digits_among_others_take_both_models_and_agreement_makes_them_surer():
    (line,) = extract_lines(page(50, 180))
    assert len(line.crops) == 2
    spans = [number_reader._ink_columns(line, crop) for crop in line.crops]
    agree = number_model(line, [(0, spans[0][0]), (0, spans[1][0])], sure=0.9999)
    (reading,) = number_reader.read_lines([line], agree, digit_model(0, 0.8))
    assert reading.crops == line.crops  # the pieces as segmentation found them
    assert (reading.probabilities[:, 0] > 0.95).all()  # surer than the digit model alone
    disagree = number_model(line, [(8, spans[0][0]), (8, spans[1][0])], sure=0.9999)
    (reading,) = number_reader.read_lines([line], disagree, digit_model(0, 0.8))
    assert (reading.probabilities.argmax(axis=1) == 8).all()  # the surer model wins
    assert (reading.probabilities.max(axis=1) < 0.9999).all()  # and is less sure than alone


def test_a_wide_digit_on_its_own_keeps_the_digit_models_reading():
    (line,) = extract_lines(page(120, half_width=44))  # a 0 wider than tall
    assert not number_reader._one_digit(line)
    asked = []
    reads_8 = number_model(line, [(8, 2)])

    def spy(strips):
        asked.append(len(strips))
        return reads_8(strips)

    (reading,) = number_reader.read_lines([line], spy, digit_model(0, 0.8))
    assert asked == [1, 1]  # read as it is, then stretched (wider than a digit): one digit
    assert np.allclose(reading.probabilities, digit_model(0, 0.8)([0]))
    assert reading.agreement < 0.01  # it read an 8 there, not the 0 kept
    assert reading.vote.tolist() == [1.0]  # the digit model's own reading: counted once


def views(line, first: list, wide: list, sure_first: float, sure: float):
    """A stand-in number model whose readings of a line as it is (`first`, that sure)
    and, when asked again, stretched `number_reader.WIDER` times (`wide`, `sure`) differ."""
    _, (wide_scale,) = number_reader.line_strips([line], number_reader.WIDER)
    reads_first = number_model(line, first, sure_first)
    calls = []

    def logits(strips):
        calls.append(len(strips))
        if len(calls) == 1:
            return reads_first(strips)
        frames = np.full((len(strips), 64, ctc.CLASSES), np.log((1 - sure) / 10))
        frames[:, :, ctc.BLANK] = np.log(sure)
        for digit, column in wide:
            t = int((LEFT + column * wide_scale) // ctc.FRAME)
            frames[:, t] = np.log((1 - sure) / 10)
            frames[:, t, digit + 1] = np.log(sure)
        return frames

    return logits


def test_a_digit_missed_may_be_read_in_the_stretched_view_if_it_is_likelier():
    (line,) = extract_lines(page(90, 136))  # two zeros touching: one piece
    half = line.ink.shape[1] // 2
    one, two = [(0, 2)], [(0, 2), (0, half + 2)]
    # Sure of "00" stretched, unsure of "0" as it is: the stretched view's two digits.
    unsure_first = views(line, one, two, sure_first=0.6, sure=0.9999)
    (reading,) = number_reader.read_lines([line], unsure_first, digit_model(0, 0.99))
    assert reading.probabilities.argmax(axis=1).tolist() == [0, 0]
    assert reading.agreement < 0.01  # the view as it is finds "00" unlikely: unsure
    # Sure of "0" as it is, unsure of "00" stretched: the first view's one digit.
    unsure_wide = views(line, one, two, sure_first=0.9999, sure=0.6)
    (reading,) = number_reader.read_lines([line], unsure_wide, digit_model(0, 0.99))
    assert len(reading.crops) == 1
    # A stretched view that reads fewer digits is never taken.
    fewer = views(line, two, one, sure_first=0.6, sure=0.9999)
    (reading,) = number_reader.read_lines([line], fewer, digit_model(0, 0.99))
    assert len(reading.crops) == 2


def test_a_reading_is_no_surer_than_the_stretched_view_finds_it():
    (line,) = extract_lines(page(40, 150, 196))  # a zero, then two touching: two pieces
    (a, _), (b, end) = [number_reader._ink_columns(line, crop) for crop in line.crops]
    two, three = [(0, a + 2), (0, b + 2)], [(0, a + 2), (0, b + 2), (0, (b + end) // 2)]
    # Sure of "00" as it is; stretched, a third digit shows, less surely: the first
    # view's "00" is kept, but the stretched view finds it unlikely, and so is the reading.
    doubted = views(line, two, three, sure_first=0.9999, sure=0.99)
    (reading,) = number_reader.read_lines([line], doubted, digit_model(0, 0.99))
    assert len(reading.crops) == 2 and reading.agreement < 0.1
    # Both views read "00": the reading is as sure as they are.
    alike = views(line, two, two, sure_first=0.9999, sure=0.99)
    (reading,) = number_reader.read_lines([line], alike, digit_model(0, 0.99))
    assert len(reading.crops) == 2 and reading.agreement > 0.5
    # One piece read as one digit keeps its agreement whatever the stretched view reads:
    # a digit alone, stretched, may read as none or two.
    (lone,) = extract_lines(page(90, 136))  # two zeros touching: one piece
    half = lone.ink.shape[1] // 2
    doubted = views(lone, [(0, 2)], [(0, 2), (0, half + 2)], sure_first=0.9999, sure=0.99)
    (reading,) = number_reader.read_lines([lone], doubted, digit_model(0, 0.99))
    assert len(reading.crops) == 1 and reading.agreement > 0.9


def test_agreement_is_the_number_models_probability_of_the_digits_read():
    (line,) = extract_lines(page(50, 180))
    spans = [number_reader._ink_columns(line, crop) for crop in line.crops]
    reads_00 = number_model(line, [(0, spans[0][0]), (0, spans[1][0])], sure=0.999)
    asked = []

    def spy(strips):
        asked.append(len(strips))
        return reads_00(strips)

    (reading,) = number_reader.read_lines([line], spy, digit_model(0, 0.9))
    assert 0.9 < reading.agreement <= 1.0
    assert asked == [1]  # one digit in each piece, each as narrow as a digit: no second look
    # The number model reads one digit where segmentation found two: "00" is unlikely.
    reads_0 = number_model(line, [(0, spans[0][0])], sure=0.999)
    (reading,) = number_reader.read_lines([line], reads_0, digit_model(0, 0.9))
    assert len(reading.crops) == 2 and reading.agreement < 0.01


def test_a_piece_the_number_model_reads_nothing_in_keeps_the_digit_models_reading():
    (line,) = extract_lines(page(120))
    (reading,) = number_reader.read_lines([line], number_model(line, []), digit_model(3, 0.7))
    assert np.allclose(reading.probabilities, digit_model(3, 0.7)([0]))


def test_a_lone_narrow_piece_is_one_digit_unless_the_number_model_is_sure_of_two():
    gray = np.full((120, 200), 230, np.uint8)
    gray[20:100, 90:104] = gray[20:100, 136:150] = 20  # "11", joined: one narrow piece
    gray[56:62, 104:136] = 20
    (line,) = extract_lines(gray)
    assert len(line.crops) == 1 and number_reader._one_digit(line)
    reads_1 = number_model(line, [(1, 2)])
    (reading,) = number_reader.read_lines([line], reads_1, digit_model(1, 0.9))
    assert reading.crops == line.crops and reading.agreement is None
    # Unsure of "11", the number model leaves one digit, as unsure as it is of two.
    unsure = number_model(line, [(1, 2), (1, 48)], sure=0.99)
    (reading,) = number_reader.read_lines([line], unsure, digit_model(1, 0.9))
    strips, _ = number_reader.line_strips([line])
    two = ctc.probability(unsure(strips)[0], "11")
    assert 0.3 < two < number_reader.LONE_SPLIT
    assert reading.crops == line.crops and reading.agreement == pytest.approx(1 - two)
    reads_11 = number_model(line, [(1, 2), (1, 48)])
    (reading,) = number_reader.read_lines([line], reads_11, digit_model(1, 0.9))
    assert reading.probabilities.argmax(axis=1).tolist() == [1, 1]
    (x0, _, x1, _), (x2, _, x3, _) = (crop.box for crop in reading.crops)
    assert 89 <= x0 < x2 and x1 < x3 <= 151 and x1 <= 137 and x2 >= 104  # cut between them


def test_a_digit_segmentation_broke_in_two_is_read_as_one_where_the_number_model_says_so():
    gray = page(50)
    gray[25:95, 150:158] = 20  # a "4" drawn as two strokes that do not meet
    gray[25:95, 178:186] = 20
    (line,) = extract_lines(gray)
    assert len(line.crops) == 3
    spans = [number_reader._ink_columns(line, crop) for crop in line.crops]
    reads_04 = number_model(line, [(0, spans[0][0]), (4, spans[1][0])])
    (reading,) = number_reader.read_lines([line], reads_04, digit_model(1, 0.9))
    assert reading.probabilities.argmax(axis=1).tolist() == [0, 4]
    x0, _, x1, _ = reading.crops[1].box
    assert x0 <= line.crops[1].box[0] and x1 >= line.crops[2].box[2]  # both strokes
    # Unsure of the line, where it reads fewer digits than pieces, the pieces stand.
    unsure = number_model(line, [(0, spans[0][0]), (4, spans[1][0])], sure=0.3)
    (reading,) = number_reader.read_lines([line], unsure, digit_model(1, 0.9))
    assert len(reading.crops) == 3 and reading.agreement < 0.01


def test_two_1s_drawn_close_are_two_digits_though_the_number_model_reads_one():
    """Two straight strokes side by side, leaning so that their boxes overlap: they
    were one piece for segmentation, and the number model reads one 1 in so narrow a
    piece. Where it reads a 4 there, they are one digit in two strokes."""
    gray = np.full((120, 200), 230, np.uint8)
    yy, xx = np.mgrid[0:120, 0:200]
    for x in (90, 104):  # 6 px wide, 8 px apart, their tops 10 px right of their feet
        gray[(yy >= 25) & (yy < 95) & (np.abs(xx - x - 0.15 * (95 - yy)) < 3)] = 20
    (line,) = extract_lines(gray)
    assert len(line.crops) == 2
    start = number_reader._ink_columns(line, line.crops[0])[0]
    (reading,) = number_reader.read_lines(
        [line], number_model(line, [(1, start)]), digit_model(1, 0.99)
    )
    assert reading.probabilities.argmax(axis=1).tolist() == [1, 1]
    (reading,) = number_reader.read_lines(
        [line], number_model(line, [(4, start)]), digit_model(1, 0.9)
    )
    assert reading.probabilities.argmax(axis=1).tolist() == [4]


def test_a_piece_far_from_the_digits_the_number_model_read_stays_a_digit_of_its_own():
    (line,) = extract_lines(page(50, 180))
    spans = [number_reader._ink_columns(line, crop) for crop in line.crops]
    reads_0 = number_model(line, [(0, spans[1][0])], sure=0.999)  # the second ring only
    (reading,) = number_reader.read_lines([line], reads_0, digit_model(7, 0.9))
    assert reading.crops == line.crops  # not joined: the two are far apart
    assert reading.probabilities.argmax(axis=1).tolist() == [7, 0]
    assert reading.agreement < 0.01  # the number model did not read a second digit


def reads_by_slope(level: int, sloping: int, sure_of_level: float = 0.9999):
    """A stand-in number model that reads `level` zeros in a level strip and `sloping`
    zeros in one whose ink slopes, spread evenly along the ink; each sure, but for
    those of a level strip, which it gives `sure_of_level`."""

    def logits(strips):
        frames = np.full((strips.shape[0], 64, ctc.CLASSES), np.log(1e-4 / 10))
        frames[:, :, ctc.BLANK] = np.log(0.9999)
        for frame, strip in zip(frames, strips[..., 0], strict=True):
            slopes = abs(tilt(strip, rise=0.0)) > 0.15
            count, sure = (sloping, 0.9999) if slopes else (level, sure_of_level)
            cols = np.flatnonzero(strip.max(axis=0) > 0)
            for k in range(count):
                t = int((cols[0] + k * (cols[-1] - cols[0]) / count) // ctc.FRAME) + 1
                frame[t] = np.log((1 - sure) / 10)
                frame[t, 1] = np.log(sure)
        return frames

    return logits


def test_a_line_that_slopes_is_also_read_level_and_the_likelier_reading_kept():
    gray = ndimage.rotate(page(50, 130, 210, width=260), 20, order=1, cval=230)
    (line,) = extract_lines(gray)  # three zeros written uphill
    assert len(line.crops) == 3 and tilt(line.ink) < -0.2
    # Read as it is, the number model misses a digit; sheared level, it reads all three.
    (reading,) = number_reader.read_lines([line], reads_by_slope(3, 2), digit_model(0, 0.99))
    assert reading.probabilities.argmax(axis=1).tolist() == [0, 0, 0]
    assert reading.agreement > 0.9
    # Where the reading as it is is the likelier one, it stands.
    (reading,) = number_reader.read_lines([line], reads_by_slope(2, 3), digit_model(0, 0.99))
    assert reading.probabilities.argmax(axis=1).tolist() == [0, 0, 0]
    assert reading.agreement > 0.9


def test_a_line_read_alike_as_it_is_and_level_keeps_the_surer_reading():
    # A lone 5 or 2 "slopes" steeply along its diagonal stroke; sheared level, it is
    # read the same but far less surely, and that must not make the reading unsure
    # (nor open it to a second look that reads a digit too many).
    gray = ndimage.rotate(page(50, 130, 210, width=260), 20, order=1, cval=230)
    (line,) = extract_lines(gray)
    unsure_level = reads_by_slope(3, 3, sure_of_level=0.7)  # 3 zeros both ways
    (reading,) = number_reader.read_lines([line], unsure_level, digit_model(0, 0.99))
    assert reading.probabilities.argmax(axis=1).tolist() == [0, 0, 0]
    assert reading.agreement > 0.9  # the first reading's, not the levelled one's (0.7^3)
