"""Reading a line of digits with two models: the number model and the digit model.

Segmentation alone reads two touching zeros as one "0", sure of it. So each line of
ink (`mnist_cnn.imaging.extract_lines`) is read by both models:

1. the digit model reads each piece of ink segmentation found;
2. the number model (`mnist_cnn.models.numbers`) reads the whole line at once
   (`mnist_cnn.ctc`) and says where along it each digit is.

The number model decides how many digits a line holds and where they are: on
numbers composed of validation digits and sent as images, 3.6 and 5.8% more of the
touching and overlapping ones were read right than when the digit model's pieces
could overrule it, and the digit model was almost never right where it was wrong.
Each digit it read belongs to the piece it lies in. A piece holding several
is touching digits: it is cut between them, near where each begins, and each part
takes the number model's probabilities. A piece holding one, among other pieces,
also hears the digit model, at `DIGIT_VOTE` weight (probabilities multiplied, the
digit model's raised to that power). A digit on its own keeps the digit model's
reading: on single digits of real handwriting the digit model, reading turned copies
too, is the better of the two. So a line of one piece no wider than `LONE_WIDTH` of
its height is one digit, unless the number model is sure (`LONE_SPLIT`) that it holds
several: two 1s that touch make one narrow piece. Less sure of several, it still
makes the digit as unsure (`LineReading.agreement`). A piece holding none of the
number model's digits is part of a digit segmentation broke (a 5's flag, a stroke of
an overlapping digit) and joins the nearer neighbour that holds one, when it is
close to it, unless both are straight strokes and the neighbour's digit a 1 (two 1s
drawn close, which the number model may read as one); else it stays a digit of its
own, which the number model did not read, and the reading is unsure of the line
(`LineReading.agreement`). Where the number model reads no digit at all, or fewer
digits than there are pieces and is unsure of them, every piece keeps the digit
model's reading.

How sure a line's reading is counts both models: the digit model also reads each
part cut from touching digits, and its probability of every digit read is a vote
(`LineReading.vote`) that lowers the reading's confidence where it disagrees. On
numbers of validation digits, readings wrong but sure (at the default threshold,
worst condition) fell from 9.7 to 2.3%; right and sure ones fell too, from 82 to
58%, mostly touching and overlapping numbers whose parts the digit model reads poorly
(76-80% of them right). So where there is a part model (the digit model fine-tuned on
parts as this module cuts them, `mnist_cnn.numbers.cut_parts`, which reads 87-89% of
them right), a part's vote is the likelier of the two models' for the digit read: a part is
doubted only where both models doubt it. On numbers of validation digits, touching and
overlapping ones read right and sure rose from 795 to 967 of 1,800, wrong but sure from
24 to 30; strings of real handwriting 618 / 14 -> 628 / 15 of 900. At a threshold of
0.9 no more readings were wrong and sure, and 606 -> 684 right and sure. (The part
model alone: 936 / 28, but real strings 580 / 11, fewer right and sure at every
threshold of 0.8 and up: it is less sure of real handwriting than of MNIST.)

The number model also reads a line stretched `WIDER` times sideways, unless it read
one digit in each piece and each piece is no wider than a digit. Digits that overlap
then span more of its frames, and one it missed (a 1 inside its neighbour, one of
two equal digits that merged) may be read. That reading is kept where it finds more
digits and the two views, averaged, find it likelier; kept or not, the reading is no
surer than the other view finds its digits (`OTHER_VIEW`, `LineReading.agreement`).
A digit that only one view sees is where a number is read wrong but sure: on
validation readings (numbers of validation digits, seed 7, 300 per spacing and
rendering; strings of the real handwriting's dev part; 1,500 digits alone; 2,000
photos of numbers, seed 5, as `benchmarks/photos.py` and `ruled_paper.py` take
them) readings wrong but ok fell from 141 to 106 of 7,600 (overlapping numbers 29
-> 15 of 900) and right and ok ones from 5,675 to 5,521, where raising the
threshold to 0.75 instead leaves 103 and 5,331. (A line of one piece read as one
digit is left as it was: stretched, 28 of 1,500 digits alone read right and sure
were read as none, two or three digits, which made them unsure.) A line that rises
or falls (written uphill, photographed turned) is also read turned level
(`mnist_cnn.imaging.strip.level`), whose strip is no longer shrunk to fit the slope's
height; that reading is kept unless the two views find the one as it is likelier,
or both read the same digits and the line as it is was the surer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from mnist_cnn import ctc
from mnist_cnn.imaging import DigitCrop, Line, ink_box, to_mnist
from mnist_cnn.imaging.normalise import upright
from mnist_cnn.imaging.pipeline import UPRIGHT, stand_up
from mnist_cnn.imaging.resample import resize
from mnist_cnn.imaging.segment import image_box, straight
from mnist_cnn.imaging.strip import LEFT, SIZE, level, to_strip
from mnist_cnn.preprocessing import preprocess

# The weight of the digit model's probabilities for a digit the number model read in a
# piece of its own (0: the number model alone; 1: both alike). Chosen on numbers of
# validation digits and strings of the real handwriting's dev part: 0.3 and 0.6 read
# as many right, 0 and 1 fewer.
DIGIT_VOTE = 0.5
# A piece holding none of the number model's digits joins its neighbour when the two
# together are no wider than the line is high (one digit), or when the gap between
# them is at most this share of the line's height (a stroke of an overlapping digit).
JOIN_GAP = 0.25
# The second view's stretch. On numbers of validation digits (300 per spacing and
# rendering) it read 1.1 / 1.6% more of the touching / overlapping ones right, as many
# apart and of the real handwriting's strings. Kept whatever it read (not only more
# digits), it lost 3.3% of those strings.
WIDER = 1.3
# A line read both ways is no surer than the other view's probability of the digits
# read, to this power: where a digit only one view sees (a 1 inside its neighbour),
# the other doubts the reading; but stretching also blurs digits read right, so the
# doubt counts at half weight. Chosen on the validation readings (module docstring)
# against a higher threshold: a power of 1 lost 11 right-and-ok readings for each
# wrong-and-ok one it caught beyond 0.5, where a higher threshold loses 9.
OTHER_VIEW = 0.5
# Where the number model reads fewer digits than segmentation found pieces and gives
# its reading less than this probability, the pieces stand, each read by the digit
# model (digits apart, one of them unclear to the number model). On the validation
# numbers it changed nothing; it keeps a drawing of four digits apart from being read
# as three.
UNSURE = 0.5
# A line of one piece at most this wide for its height is one digit (a 3 and a 1
# touching can be narrower than tall, so not 1.0).
LONE_WIDTH = 0.8
# The number model's least probability of a reading of two digits or more in such a
# piece for the piece to be read as them. On single digits (the real handwriting's dev
# part, MNIST validation digits: 4,446 found as one narrow piece) it read none so at
# 0.7 (one at 0.5); of 77 pairs of validation digits touching or overlapping that made
# one narrow piece, 61 right (12-17 of each 15-23 at 0.9).
LONE_SPLIT = 0.7
# What a cut between touching digits pays, a row, for straying `split_piece`'s reach
# from where the next digit begins, as a share of crossing full ink (rising with the
# square of the distance).
LEAN_COST = 0.1
NUMBER_MODEL = Path(__file__).resolve().parent / "number_model" / "model.keras"
# The part model that votes on parts cut from touching digits, beside any number model
# (it learned the shipped one's cuts: `mnist_cnn.numbers.cut_parts`).
PART_MODEL = Path(__file__).resolve().parent / "part_model" / "model.keras"


@dataclass(frozen=True)
class LineReading:
    """What was read on one line: its digits' pieces of the image, left to right, the
    ten probabilities of each, and:

    - `vote`: the digit model's probability of each digit read, to the power
      `DIGIT_VOTE`, parts cut from touching digits included; 1 where the digit's
      probabilities are the digit model's own (as on a line the number model did not
      read). Where the two models disagree on a digit, the reading is less sure of it.
    - `agreement`, where the number model read the line (else None): its probability
      that the line holds exactly the digits read (their top classes), and no more
      than its other view's to the power `OTHER_VIEW` where it read the line stretched
      too. A line whose digits each look sure can still be read wrong as a whole (a
      digit too many or too few); this says so. For a lone digit that the number model
      read as several, unsure of them: one less its probability of them.
    """

    crops: list[DigitCrop]
    probabilities: np.ndarray
    vote: np.ndarray
    agreement: float | None = None


def line_strips(
    lines: list[Line], wider: float = 1.0, inks: list[np.ndarray] | None = None
) -> tuple[np.ndarray, list[float]]:
    """The number model's inputs for `lines`: preprocessed strips (N, H, W, 1) and the
    scale of each from its line's ink (`mnist_cnn.imaging.strip.to_strip`), or from
    `inks`, one for each line (such as a levelled copy), stretched `wider` times
    sideways."""
    inks = [line.ink for line in lines] if inks is None else inks
    made = [to_strip(_stretched(ink, wider)) for ink in inks]
    strips = preprocess(np.stack([strip for strip, _ in made]), SIZE)
    return strips, [scale * wider for _, scale in made]


def _stretched(ink: np.ndarray, wider: float) -> np.ndarray:
    if wider == 1.0:
        return ink
    height, width = ink.shape
    return resize(ink, (max(1, round(width * wider)), height), Image.BILINEAR)


def read_lines(
    lines: list[Line],
    number_logits: Callable[[np.ndarray], np.ndarray],
    digit_probabilities: Callable[[np.ndarray], np.ndarray],
    part_probabilities: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[LineReading]:
    """Read each line with both models, one call of each for all the lines (and one
    more for the parts cut from touching digits).

    Args:
        lines: lines of ink, from `mnist_cnn.imaging.extract_lines`.
        number_logits: the number model: strips (N, H, W, 1) -> frame logits (N, T, 11).
        digit_probabilities: the digit model: uint8 (N, 28, 28) -> probabilities (N, 10).
        part_probabilities: the part model, as `digit_probabilities`: it votes on the
            parts cut from touching digits beside the digit model (default: none).

    Returns:
        One `LineReading` per line.
    """
    if not lines:
        return []
    first = _views(lines, number_logits)
    # A sloping line of touching digits is fewer pieces than digits, which `find_lines`
    # left leaning: they stand upright where the number model reads `UPRIGHT` + 1 or
    # more (touching, they make a shorter line than as many apart, whose slope their
    # shapes tip further: from `UPRIGHT`, 14 of 5,400 level validation numbers read
    # right lost their ok, against 3).
    stood = [stand_up(n) if len(first[id(n)].text) > UPRIGHT else n for n in lines]
    first = {id(new): first[id(old)] for old, new in zip(lines, stood, strict=True)}
    lines = stood
    crops = [crop for line in lines for crop in line.crops]
    found = digit_probabilities(np.stack([crop.pixels for crop in crops]))
    # A line of one narrow piece is one digit, unless the number model is sure of more.
    lone = {id(n): first.pop(id(n)) for n in lines if _one_digit(n) and not _several(first[id(n)])}
    numbers = [n for n in lines if id(n) not in lone]
    # A line that rises or falls, read again levelled: one more call, for such lines only.
    levelled = {id(n): level(n.ink, n.slope) for n in numbers if n.slope}
    sloping = [n for n in numbers if id(n) in levelled]
    flat = _views(sloping, number_logits, levelled=levelled)
    flat = {key: view for key, view in flat.items() if not _likelier(first[key], view)}
    first |= flat
    # A second look, stretched, unless the number model read one digit in each piece and
    # each piece is no wider than a digit (digits apart, as most are drawn): one call
    # (two, where lines were levelled).
    again = [n for n in numbers if not _one_each(n, first[id(n)].text)]
    wide = _views([n for n in again if id(n) not in flat], number_logits, WIDER)
    wide |= _views([n for n in again if id(n) in flat], number_logits, WIDER, levelled)
    # Whether each digit's probabilities are the number model's (alone or with the
    # digit model's vote), rather than the digit model's own: the vote weighs those.
    readings, mixed, start = [], [], 0
    for line in lines:
        mine = found[start : start + len(line.crops)]
        start += len(line.crops)
        if id(line) not in first:
            # A lone digit, less sure of itself where the number model, unsure, read more.
            view = lone[id(line)]
            several = 1.0 - view.probability if len(view.text) > 1 else None
            readings.append(dataclasses.replace(_unread(line.crops, mine), agreement=several))
            mixed.append([False] * len(line.crops))
            continue
        view = first[id(line)]
        other = wide.get(id(line))
        if other is not None and len(other.text) > len(view.text) and _likelier(other, view):
            view, other = other, view
        read = view.digits
        if len(read) < len(line.crops) and view.probability < UNSURE:
            read = []  # fewer digits than pieces, and unsure of them: the pieces stand
        reading, its_mixed = _reconcile(line, mine, read, view)
        text = "".join(str(int(p.argmax())) for p in reading.probabilities)
        agreement = view.probability_of(text)
        if other is not None and not (len(line.crops) == 1 and len(text) == 1):
            # The other view must find them likely too; but a digit alone, stretched,
            # may read as none or as two: there its doubt tells nothing.
            agreement = min(agreement, other.probability_of(text) ** OTHER_VIEW)
        readings.append(dataclasses.replace(reading, agreement=agreement))
        mixed.append(its_mixed)
    found_by_id = dict(zip(map(id, crops), found, strict=True))
    return _with_votes(readings, mixed, found_by_id, digit_probabilities, part_probabilities)


def _unread(crops: list[DigitCrop], found: np.ndarray) -> LineReading:
    """Digits as the digit model read them (`found`), with nothing to vote on."""
    return LineReading(crops, found, np.ones(len(crops)))


def _with_votes(
    readings: list[LineReading],
    mixed: list[list[bool]],
    found: dict[int, np.ndarray],
    digit_probabilities: Callable[[np.ndarray], np.ndarray],
    part_probabilities: Callable[[np.ndarray], np.ndarray] | None,
) -> list[LineReading]:
    """`readings` with the digit model's `vote` on each of their `mixed` digits (those
    whose probabilities are not its own): from `found` (its probabilities by crop id)
    for the pieces as found, from one more call for the parts cut from touching
    digits, where the part model, if any, may raise it."""
    cut = [crop for reading in readings for crop in reading.crops if id(crop) not in found]
    if cut:
        pixels = np.stack([crop.pixels for crop in cut])
        more = digit_probabilities(pixels)
        if part_probabilities is not None:
            more = np.maximum(more, part_probabilities(pixels))
        found = found | dict(zip(map(id, cut), more, strict=True))
    voted = []
    for reading, flags in zip(readings, mixed, strict=True):
        vote = [
            found[id(crop)][p.argmax()] ** DIGIT_VOTE if flag else 1.0
            for crop, p, flag in zip(reading.crops, reading.probabilities, flags, strict=True)
        ]
        voted.append(dataclasses.replace(reading, vote=np.array(vote)))
    return voted


@dataclass(frozen=True)
class _View:
    """The number model's reading of a line's strip: its frame logits, the strip's
    scale from the line's ink, the digits read and its probability of them."""

    frames: np.ndarray
    scale: float
    digits: list[ctc.FrameDigit]
    text: str
    shift: int = 0  # columns the ink read begins left of the line's (`strip.level`)
    known: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    @property
    def probability(self) -> float:
        # Worked out when asked: not for a lone digit read as one (a third of a
        # millisecond of a one-digit drawing's reading).
        return self.probability_of(self.text)

    def probability_of(self, text: str) -> float:
        """The number model's probability of `text` in this view, worked out once (a
        view's reading is compared with another's, then scored)."""
        if text not in self.known:
            self.known[text] = ctc.probability(self.frames, text)
        return self.known[text]


def _views(
    lines: list[Line],
    number_logits: Callable[[np.ndarray], np.ndarray],
    wider: float = 1.0,
    levelled: dict[int, tuple[np.ndarray, int]] | None = None,
) -> dict[int, _View]:
    """The number model's reading of each of `lines` (its levelled ink and its shift
    instead, by the line's id, if `levelled`; stretched `wider` times sideways), in
    one call, by the line's id."""
    if not lines:
        return {}
    inks = None if levelled is None else [levelled[id(line)][0] for line in lines]
    strips, scales = line_strips(lines, wider, inks)
    logits = np.asarray(number_logits(strips), np.float64)
    views = {}
    for line, frames, scale in zip(lines, logits, scales, strict=True):
        digits = ctc.decode(frames)
        text = "".join(str(d.digit) for d in digits)
        shift = 0 if levelled is None else levelled[id(line)][1]
        views[id(line)] = _View(frames, scale, digits, text, shift)
    return views


def _likelier(a: _View, b: _View) -> bool:
    """Whether the number model, over the frame logits of both views, finds what `a`
    read likelier than what `b` read (mean probability). Where both read the same
    digits, whether `a` was surer of them: a lone 5 or 2, whose diagonal stroke makes
    a steep "slope", reads as sure as it is and far less sure levelled."""
    if a.text == b.text:
        return a.probability > b.probability
    in_a = a.probability - a.probability_of(b.text)
    in_b = b.probability_of(a.text) - b.probability
    return in_a + in_b > 0


def _one_digit(line: Line) -> bool:
    """One piece of ink, no wider than tall: a digit on its own (two side by side,
    touching or not, make a wider piece)."""
    return len(line.crops) == 1 and _narrow(line.crops[0])


def _several(view: _View) -> bool:
    """Whether the number model is sure (`LONE_SPLIT`) that a line holds several digits."""
    return len(view.text) > 1 and view.probability >= LONE_SPLIT


def _one_each(line: Line, read: str) -> bool:
    """As many digits read as pieces found, each piece no wider than a digit."""
    return len(read) == len(line.crops) and all(_narrow(crop) for crop in line.crops)


def _narrow(crop: DigitCrop) -> bool:
    x0, y0, x1, y1 = crop.box
    return x1 - x0 <= LONE_WIDTH * (y1 - y0)


def _reconcile(
    line: Line, found: np.ndarray, read: list[ctc.FrameDigit], view: _View
) -> tuple[LineReading, list[bool]]:
    """One line's digits from the digit model's probabilities for its pieces (`found`)
    and what the number model read (`read`, of `view`), as the module says, and
    whether each digit's probabilities are the number model's (mixed with the digit
    model's or not) rather than the digit model's own. Its `vote` is left at 1."""
    if not read:
        return _unread(line.crops, found), [False] * len(line.crops)
    # Where each piece lies, and each digit the number model read, in the ink's columns.
    spans = [_ink_columns(line, crop) for crop in line.crops]
    # The number model fires where a digit begins, so a digit reaches from there to
    # where the next begins: its middle is halfway. (A levelled view's columns are
    # `view.shift` off the line's.)
    starts = [(ctc.FRAME * sum(d.frames) / 2 - LEFT) / view.scale - view.shift for d in read]
    ends = [*starts[1:], line.ink.shape[1]][: len(starts)]
    centres = [(a + b) / 2 for a, b in zip(starts, ends, strict=True)]
    if len(read) == len(spans):  # as many digits as pieces: one each, in order
        owner = list(range(len(spans)))
    else:
        owner = [_nearest(spans, x) for x in centres]
    crops, probabilities, mixed = [], [], []
    # Straight strokes, where the number model read a digit in them a 1: two such side
    # by side are two 1s drawn close, which the number model may read as one. (Only a
    # piece holding no digit may join another.)
    read_as = {o: d.digit for d, o in zip(read, owner, strict=True)}
    ones = set()
    if len(read_as) < len(spans):
        ones = {
            i
            for i, crop in enumerate(line.crops)
            if read_as.get(i, 1) == 1 and straight(crop.pixels > 127)
        }
    for members in _groups(spans, owner, line.ink.shape[0], ones):
        inside = [d for d, o in zip(read, owner, strict=True) if o in members]
        if len(members) == 1 and len(inside) <= 1:
            # A digit among others: the number model's, with the digit model's vote. A
            # digit on its own, or one the number model did not read: the digit model's.
            p = found[members[0]]
            both = bool(inside) and len(spans) > 1
            if both:
                joint = inside[0].probabilities * p**DIGIT_VOTE
                p = joint / joint.sum() if joint.sum() > 0 else inside[0].probabilities
            crops.append(line.crops[members[0]])
            probabilities.append(p)
            mixed.append(both)
            continue
        span = (spans[members[0]][0], max(spans[i][1] for i in members))
        at = [x for x, o in zip(starts, owner, strict=True) if o in members]
        parts = split_piece(line, span, at)
        if len(parts) != len(inside):  # a part without ink: trust the pieces as they are
            crops += [line.crops[i] for i in members]
            probabilities += [found[i] for i in members]
            mixed += [False] * len(members)
            continue
        crops += parts
        probabilities += [d.probabilities for d in inside]
        mixed += [True] * len(parts)
    return _unread(crops, np.array(probabilities).reshape(-1, 10)), mixed


def _groups(
    spans: list[tuple[int, int]], owner: list[int], height: int, ones: Set[int] = frozenset()
) -> list[list[int]]:
    """The pieces (indices into `spans`, left to right) that make one group of digits
    each: a piece holding none of the digits the number model read (`owner`: the
    piece of each) is part of a digit segmentation broke and joins the nearer of its
    neighbours that holds one, if the two together are no wider than the line's
    `height` (a digit), or the gap between them is at most `JOIN_GAP` of it; else
    each piece is its own. Two pieces of `ones` (straight strokes, 1s where the
    number model read a digit in them) stay apart.

    >>> _groups([(0, 10), (12, 14), (20, 30)], owner=[0, 2], height=20)
    [[0, 1], [2]]
    >>> _groups([(0, 10), (13, 24), (25, 35)], owner=[0, 2], height=20)  # gap 1 of 20
    [[0], [1, 2]]
    >>> _groups([(0, 10), (16, 24), (32, 42)], owner=[0, 2], height=20)  # wide and apart
    [[0], [1], [2]]
    """
    holders = set(owner)
    joins = list(range(len(spans)))
    for i in range(len(spans)):
        if not holders or i in holders:
            continue
        gaps = {
            j: gap
            for j in (i - 1, i + 1)
            if j in holders
            and not (i in ones and j in ones)
            and (
                (gap := max(spans[j][0] - spans[i][1], spans[i][0] - spans[j][1], 0))
                <= JOIN_GAP * height
                or max(spans[i][1], spans[j][1]) - min(spans[i][0], spans[j][0]) <= height
            )
        }
        if gaps:
            joins[i] = min(gaps, key=gaps.get)
    groups: dict[int, list[int]] = {}
    for i, j in enumerate(joins):
        groups.setdefault(j, []).append(i)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


def split_piece(
    line: Line, span: tuple[int, int], starts: list[float], reach: float = 0.3
) -> list[DigitCrop]:
    """The line's ink within columns `span` cut into one part per digit, given where
    each digit begins (ink columns, left to right, as the number model reads them).

    Each cut is a path from the top of the ink to its foot that crosses the least ink
    (`_seam`), near where the next digit begins: within `reach` times its distance
    from the previous digit's start, because further off the path may pass through a
    loop (the middle of a 0) rather than between digits. The path may lean, so two
    slanted digits side by side are parted along the gap between them, where every
    straight cut would slice one of them. (On numbers of validation digits the digit
    model, voting, read such parts as the number model did far more often than parts
    cut straight: touching and overlapping numbers read right and sure 737 -> 810 of
    1,800, wrong but sure 33 -> 28.)

    Returns:
        One `DigitCrop` per part, MNIST style (`to_mnist`, upright as the line's
        digits are) with its box in the image; a part without ink is left out.

    Example:
        >>> ink = np.zeros((20, 30), np.float32)
        >>> ink[2:18, 4:8] = 255; ink[2:18, 16:20] = 255; ink[10, 8:16] = 255  # "11", joined
        >>> line = Line([], ink, origin=(0.0, 0.0), factor=1.0, shape=(20, 30))
        >>> [part.box for part in split_piece(line, (0, 30), [4.0, 16.0])]
        [(4, 2, 16, 18), (16, 2, 20, 18)]
    """
    first, last = span
    ink = line.ink
    height = ink.shape[0]
    seams = [np.full(height, first)]
    for left, right in zip(starts, starts[1:], strict=False):
        near = reach * (right - left)
        a = int(np.clip(np.floor(right - near), seams[-1].min() + 1, last))
        b = int(np.clip(np.ceil(right + near) + 1, first, last))
        seam = a + _seam(ink[:, a:b], right - a, near) if b > a else np.full(height, a)
        seams.append(np.clip(seam, seams[-1] + 1, last))  # cuts never cross
    seams.append(np.full(height, last))
    pixels, boxes = [], []
    columns = np.arange(ink.shape[1])
    for lo, hi in zip(seams, seams[1:], strict=False):
        a, b = int(lo.min()), int(hi.max())
        inside = (columns[a:b] >= lo[:, None]) & (columns[a:b] < hi[:, None])
        piece = np.where(inside, ink[:, a:b], 0).astype(ink.dtype)
        box = ink_box(piece > 0)
        if box is None:
            continue
        rows, cols = box
        at = (rows, slice(a + cols.start, a + cols.stop), None)  # in the line's ink
        boxes.append(image_box(at, line.factor, line.shape, line.origin))
        pixels.append(to_mnist(piece[:, cols]))
    if not pixels:
        return []
    upright_pixels = upright(np.stack(pixels), line.lean)
    return [DigitCrop(p, box) for p, box in zip(upright_pixels, boxes, strict=True)]


def _seam(ink: np.ndarray, target: float, reach: float) -> np.ndarray:
    """The column, row by row, of the path from the top of `ink` (0-255) to its foot
    that crosses the least ink, moving at most one column a row (dynamic programming,
    as in seam carving). A row of the path `reach` columns from `target` costs
    `LEAN_COST` of full ink, nearer rows less (by the square of the distance): the
    path leans to follow a gap, but does not pass beside a narrow digit (a 1) rather
    than cross the stroke that joins it to its neighbour.

    >>> ink = np.zeros((6, 7)); ink[:3, 2:4] = 255; ink[3:, 4:6] = 255  # no straight gap
    >>> _seam(ink, target=3.0, reach=3.0).tolist()
    [4, 4, 4, 3, 3, 3]
    """
    height, width = ink.shape
    lean = LEAN_COST * 255 * ((np.arange(width) - target) / reach) ** 2
    total = ink.astype(np.float64) + lean
    for y in range(1, height):  # the least ink to reach each pixel from the top
        total[y] += ndimage.minimum_filter1d(total[y - 1], 3, mode="constant", cval=np.inf)
    path = np.zeros(height, np.int64)
    path[-1] = int(total[-1].argmin())
    for y in range(height - 1, 0, -1):  # back up along the cheapest steps
        x = path[y]
        path[y - 1] = max(x - 1, 0) + int(total[y - 1, max(x - 1, 0) : x + 2].argmin())
    return path


def _ink_columns(line: Line, crop: DigitCrop) -> tuple[int, int]:
    """A digit's columns in its line's ink, from its box in the image."""
    x0, _, x1, _ = crop.box
    width = line.ink.shape[1]
    first = int(np.clip(np.floor((x0 - line.origin[0]) / line.factor), 0, width))
    last = int(np.clip(np.ceil((x1 - line.origin[0]) / line.factor), first, width))
    return first, last


def _nearest(spans: list[tuple[int, int]], x: float) -> int:
    """The span holding column `x`, else the closest one."""
    distances = [max(first - x, x - last, 0.0) for first, last in spans]
    return int(np.argmin(distances))
