"""Segmentation: an ink mask -> the digits in it, as pieces of ink, in reading order.

Connected components of the ink are the pieces. Specks of dirt are dropped. Digits
written in rows, one row above another, are segmented row by row; within a row,
pieces that overlap horizontally (a broken stroke, the bar of a 5) are one digit, but
not two straight strokes side by side (two 1s drawn close and leaning); short
pieces join a digit they touch, else they are dots or dashes and are dropped, as
are a lone speck or dash; a blob much wider than tall (touching digits) is cut at
its thinnest column of ink. Marks between digits (a colon's dots, a dash) are set
aside first, so that a colon's two dots do not make a digit.

>>> mask = np.zeros((30, 60), bool)
>>> mask[5:25, 8:12] = True                      # a "1"
>>> mask[5:25, 30:45] = True; mask[9:21, 34:41] = False   # a "0"
>>> mask[8:11, 20:23] = mask[19:22, 20:23] = True  # a colon between them
>>> digits, marks = segment(mask)
>>> [(rows.start, rows.stop, cols.start, cols.stop) for rows, cols, _ in digits]
[(5, 25, 8, 12), (5, 25, 30, 45)]
>>> [(rows.start, cols.start) for rows, cols, _ in marks]
[(8, 20), (19, 20)]
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mnist_cnn.imaging.decode import ImageError
from mnist_cnn.imaging.ink import ink_box, stroke_width
from mnist_cnn.imaging.params import DEFAULT_PARAMS, ImagingParams

Piece = tuple[slice, slice, np.ndarray]  # rows, columns, the piece's own ink mask there


def segment(
    mask: np.ndarray, params: ImagingParams = DEFAULT_PARAMS
) -> tuple[list[Piece], list[Piece]]:
    """Ink mask -> digits in reading order: row by row, each row left to right.

    Args:
        mask: the binary ink mask of the whole image.
        params: `max_pieces` bounds the work; `speck`, `near`, `fragment` and
            `row_fill` decide the rows of digits; `mark`, `dot_fill` and `mark_pen` the
            marks between them; `overlap`, `min_side`, `line`, `wide`, `thin` and
            `very_wide` what is one digit, and what none.

    Returns:
        The digits, one piece each: its rows and columns in `mask` (the box of its ink)
        and its own ink there; and the marks between them (`_marks`), as pieces too.

    Raises:
        ImageError: for more than `params.max_pieces` pieces of ink.
    """
    pieces = _components(mask, params.speck)
    if len(pieces) > params.max_pieces:  # bounded work, whatever the image
        raise ImageError(
            f"the image holds {len(pieces):,} pieces of ink, more than the "
            f"{params.max_pieces:,} a reading looks at (a page of text, a pattern?): "
            "crop it to the digits"
        )
    digits, marks = [], []
    for top, bottom in _rows_of_digits(pieces, params):
        row = [piece for piece in pieces if top <= piece[0].start < bottom]
        row, its_marks = _marks(row, params)
        marks += its_marks
        row = _attach_fragments(_merge_overlapping(row, params.overlap), params)
        row = [digit for digit in row if _digit_shaped(digit[2], params)]
        parts = (part for digit in row for part in _split_wide(*digit, params=params))
        digits += sorted(parts, key=lambda p: p[1].start)
    return digits, marks


def _components(mask: np.ndarray, speck: float) -> list[Piece]:
    """The 8-connected pieces of ink, left to right, but for specks: those smaller
    than 4 pixels or than `speck` times the largest piece."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        return []
    areas = np.bincount(labels.ravel())[1:]
    boxes = ndimage.find_objects(labels)
    pieces = [
        (rows, cols, labels[rows, cols] == i + 1)
        for i, (rows, cols) in enumerate(boxes)
        if areas[i] >= max(4, speck * areas.max())
    ]
    pieces.sort(key=lambda p: p[1].start)
    return pieces


def _rows_of_digits(pieces: list[Piece], params: ImagingParams) -> list[tuple[int, int]]:
    """The rows (top, bottom) of each row of digits, top to bottom: runs of rows that
    hold ink, parted from the next only by a clear gap (at least `row_gap` of the
    tallest run), each of the two at least `fragment` of that tall, and one of them
    holding two pieces side by side that fill `row_fill` of its height (digits, not the
    fragments of one). So a digit broken across (the bar of a 5, a stroke gone faint)
    stays one, and so does a column of single digits: a lone digit's parts can pass for
    digits.

    >>> def at(y, x, h=30): return (slice(y, y + h), slice(x, x + 10), None)
    >>> _rows_of_digits([at(0, 0), at(0, 20), at(40, 0), at(40, 20)], DEFAULT_PARAMS)
    [(0, 30), (40, 70)]
    >>> _rows_of_digits([at(0, 0), at(40, 0)], DEFAULT_PARAMS)  # one piece a row: one digit
    [(0, 70)]
    >>> _rows_of_digits([at(0, 0, 8), at(20, 0), at(20, 20)], DEFAULT_PARAMS)  # a 5's bar
    [(0, 50)]
    """
    runs: list[tuple[int, int]] = []
    for rows, _, _ in sorted(pieces, key=lambda p: p[0].start):
        if runs and rows.start <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], rows.stop))
        else:
            runs.append((rows.start, rows.stop))
    joined = True
    while joined and len(runs) > 1:
        tallest = max(bottom - top for top, bottom in runs)
        joined = False
        for i, ((top, end), (start, bottom)) in enumerate(zip(runs, runs[1:], strict=False)):
            apart = (
                start - end >= params.row_gap * tallest
                and min(end - top, bottom - start) >= params.fragment * tallest
                and (
                    _side_by_side(pieces, top, end, params.row_fill)
                    or _side_by_side(pieces, start, bottom, params.row_fill)
                )
            )
            if not apart:
                runs[i : i + 2] = [(top, bottom)]
                joined = True
                break
    return runs


def _side_by_side(pieces: list[Piece], top: int, bottom: int, fill: float) -> bool:
    """Whether rows `top` to `bottom` hold two pieces side by side, each at least
    `fill` of those rows tall."""
    tall = [
        cols
        for rows, cols, _ in pieces
        if top <= rows.start < bottom and rows.stop - rows.start >= fill * (bottom - top)
    ]
    tall.sort(key=lambda cols: cols.start)
    reach = 0
    for cols in tall:
        if reach and cols.start >= reach:
            return True
        reach = max(reach, cols.stop)
    return False


def _marks(row: list[Piece], params: ImagingParams) -> tuple[list[Piece], list[Piece]]:
    """A row's pieces parted into those that may be digits or their parts, and marks
    written between digits: a colon's two dots, one above the other, which would be
    merged into a digit, and a dash at mid-height, which the number model reads as one.

    A mark is at most `params.mark` of the tallest piece high and alone in its columns:
    no other piece of the row meets them, but for a colon's other dot. A colon's dots
    lie either side of the row's middle, each solid (it fills `params.dot_fill` of its
    box), no wider or taller than `params.mark` of the tallest, nor over twice as wide
    as tall or tall as wide. A dash lies on its side, its middle in the middle third of
    the row's height (a 5's or a 7's bar lies at its top, a 2's foot at its bottom),
    drawn at least `params.mark_pen` as wide as the digits' strokes. A digit that a thin
    pen broke breaks into thinner, curved parts. A single dot (a decimal point) is left
    as it is: dropped, or joined to the digit it is near.
    """
    tallest = max(rows.stop - rows.start for rows, _, _ in row)
    top, bottom = min(p[0].start for p in row), max(p[0].stop for p in row)

    def meet(a: slice, b: slice) -> bool:
        return min(a.stop, b.stop) > max(a.start, b.start)

    def dash(piece: Piece) -> bool:
        rows, cols, _ = piece
        middle = ((rows.start + rows.stop) / 2 - top) / (bottom - top)
        lying = cols.stop - cols.start >= 1.5 * (rows.stop - rows.start)
        return lying and 1 / 3 <= middle <= 2 / 3

    def dot(piece: Piece) -> bool:
        rows, cols, own = piece
        sides = sorted((rows.stop - rows.start, cols.stop - cols.start))
        small = sides[1] <= min(params.mark * tallest, 2 * sides[0])
        return small and own.mean() >= params.dot_fill

    # Most rows hold no piece short enough: nothing more to look at.
    short = [p for p in row if p[0].stop - p[0].start <= params.mark * tallest]
    if not short:
        return row, []
    # The other pieces each short piece's columns meet.
    others = {id(p): [q for q in row if q is not p and meet(p[1], q[1])] for p in short}
    dashes = [p for p in short if not others[id(p)] and dash(p)]
    if dashes:
        digits = [
            own for rows, _, own in row if rows.stop - rows.start >= params.fragment * tallest
        ]
        pen = params.mark_pen * np.median([stroke_width(own) for own in digits])
        dashes = [p for p in dashes if stroke_width(p[2]) >= pen]
    middle = (top + bottom) / 2
    colons = [
        (p, q)
        for p in short
        if len(others[id(p)]) == 1
        and (q := others[id(p)][0])[0].start > p[0].stop  # p above q, rows apart
        and others.get(id(q)) == [p]
        and p[0].start + p[0].stop < 2 * middle < q[0].start + q[0].stop  # either side
        and dot(p)
        and dot(q)
    ]
    marks = {id(p) for p in dashes} | {id(p) for colon in colons for p in colon}
    return [p for p in row if id(p) not in marks], [p for p in row if id(p) in marks]


def _merge_overlapping(pieces: list[Piece], overlap: float) -> list[Piece]:
    """Neighbours (left to right) that are parts of one digit, merged until none are."""
    pieces = list(pieces)
    merged = True
    while merged:
        merged = False
        for a in range(len(pieces) - 1):
            if _one_digit(pieces[a], pieces[a + 1], overlap):
                pieces[a : a + 2] = [union([pieces[a], pieces[a + 1]])]
                merged = True
                break
    return pieces


def _one_digit(a: Piece, b: Piece, overlap: float) -> bool:
    """Whether two pieces are parts of one digit: they overlap over `overlap` of the
    narrower one's width, or their boxes overlap and together they are no wider than
    a digit; but two straight strokes side by side are two 1s (`side_by_side`)."""
    (ra, ca, _), (rb, cb, _) = a, b
    columns = min(ca.stop, cb.stop) - max(ca.start, cb.start)
    rows = min(ra.stop, rb.stop) - max(ra.start, rb.start)
    width = max(ca.stop, cb.stop) - min(ca.start, cb.start)
    height = max(ra.stop, rb.stop) - min(ra.start, rb.start)
    apart = columns < overlap * min(ca.stop - ca.start, cb.stop - cb.start)
    if apart and not (columns > 0 and rows > 0 and width <= height):
        return False
    return not side_by_side(a, b)


def side_by_side(a: Piece, b: Piece) -> bool:
    """Whether two pieces are each one straight stroke (`straight`), each at least 0.8
    as tall as the two together, apart in every row they share: two 1s drawn close,
    whose boxes overlap where they lean.

    Example:
        >>> one = np.ones((20, 3), bool)
        >>> side_by_side((slice(0, 20), slice(0, 3), one), (slice(0, 20), slice(5, 8), one))
        True
    """
    height = max(a[0].stop, b[0].stop) - min(a[0].start, b[0].start)
    if any(p[0].stop - p[0].start < 0.8 * height or not straight(p[2]) for p in (a, b)):
        return False
    left, right = sorted((a, b), key=lambda p: p[1].start)
    top, bottom = max(a[0].start, b[0].start), min(a[0].stop, b[0].stop)
    _, end = _row_ends(left[2][top - left[0].start : bottom - left[0].start])
    begin, _ = _row_ends(right[2][top - right[0].start : bottom - right[0].start])
    both = (end >= 0) & (begin >= 0)
    return bool((begin[both] + right[1].start > end[both] + left[1].start + 1).all())


def _row_ends(own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's first and last column of ink in `own`, -1 where it has none."""
    filled = own.any(axis=1)
    first = np.where(filled, own.argmax(axis=1), -1)
    last = np.where(filled, own.shape[1] - 1 - own[:, ::-1].argmax(axis=1), -1)
    return first, last


def straight(own: np.ndarray) -> bool:
    """Whether a piece of ink is one straight stroke: one run of ink in each row, none
    over twice the median run's width, their middles within that width of a line.

    Example:
        >>> straight(np.eye(12, dtype=bool) | np.eye(12, k=1, dtype=bool))  # a slope
        True
        >>> ring = np.ones((12, 8), bool); ring[3:9, 2:6] = False
        >>> straight(ring)
        False
    """
    rows = np.flatnonzero(own.any(axis=1))
    if len(rows) < 3:
        return False
    widths = own[rows].sum(axis=1)
    first, last = (ends[rows] for ends in _row_ends(own))
    stroke = float(np.median(widths))
    if (last - first + 1 != widths).any() or widths.max() > 2 * stroke:
        return False  # two runs in a row (a loop, a hook), or a bar across
    middle = (first + last) / 2
    slope, offset = np.polyfit(rows, middle, 1)
    return bool(np.abs(middle - (slope * rows + offset)).max() <= stroke)


def _attach_fragments(pieces: list[Piece], params: ImagingParams) -> list[Piece]:
    """Pieces much shorter than the tallest (`fragment`) are fragments of the nearest
    digit when `near` it, or else dots and dashes that are no digit at all."""
    tallest = max(rows.stop - rows.start for rows, _, _ in pieces)
    digits = [p for p in pieces if p[0].stop - p[0].start >= params.fragment * tallest]
    for piece in pieces:
        if piece[0].stop - piece[0].start >= params.fragment * tallest:
            continue
        gaps = [_gap(piece, digit) for digit in digits]
        nearest = int(np.argmin(gaps))
        if gaps[nearest] <= params.near * tallest:
            digits[nearest] = union([digits[nearest], piece])
    return digits


def _digit_shaped(own: np.ndarray, params: ImagingParams) -> bool:
    """Whether a piece of ink, all that is left of it, can be a digit: a speck cannot,
    nor can a single stroke lying on its side (a dash, an underline, a ruled line),
    which would otherwise be cut into many "touching digits"."""
    height, width = own.shape
    if max(height, width) < params.min_side:
        return False
    return width <= params.wide * height or height >= params.line * stroke_width(own)


def _gap(a: Piece, b: Piece) -> float:
    """Distance between two pieces' boxes (0 if they overlap)."""
    dy = max(0, a[0].start - b[0].stop, b[0].start - a[0].stop)
    dx = max(0, a[1].start - b[1].stop, b[1].start - a[1].stop)
    return float(np.hypot(dx, dy))


def _split_wide(rows: slice, cols: slice, own: np.ndarray, params: ImagingParams) -> list[Piece]:
    """Cut a blob much wider than tall (touching digits) at its thinnest column of ink
    near the middle, and the halves again if still too wide. A wide single digit has no
    thin column there (a flat 0) or one whose parts are not both digit-sized (the long
    bar of a 5), so it stays whole. The pieces come back cropped to their ink."""
    inked_rows, inked_cols = ink_box(own)
    own = own[inked_rows, inked_cols]
    rows = slice(rows.start + inked_rows.start, rows.start + inked_rows.stop)
    cols = slice(cols.start + inked_cols.start, cols.start + inked_cols.stop)
    height, width = own.shape
    if width <= params.wide * height or width < 4:
        return [(rows, cols, own)]
    cut, thin = _thinnest_column(own, params.thin)
    parts = [
        (rows, slice(cols.start + c0, cols.start + c1), own[:, c0:c1])
        for c0, c1 in ((0, cut), (cut, width))
    ]
    digit_like = all(
        p[2].any(axis=1).sum() >= params.fragment * height
        and p[2].any(axis=0).sum() >= 0.2 * height
        for p in parts
    )
    if not digit_like or (not thin and width <= params.very_wide * height):
        return [(rows, cols, own)]
    return [piece for part in parts for piece in _split_wide(*part, params=params)]


def _thinnest_column(own: np.ndarray, thin: float) -> tuple[int, bool]:
    """The column in the middle half of a blob where its ink is thinnest (among equally
    thin ones the most central), and whether it is thinner than `thin` times the
    typical column."""
    height, width = own.shape
    profile = ndimage.uniform_filter1d(own.sum(axis=0).astype(float), max(1, height // 10))
    lo, hi = round(0.25 * width), round(0.75 * width)
    centred = np.abs(np.arange(lo, hi) - width / 2) / width
    cut = lo + int(np.argmin(profile[lo:hi] + 1e-3 * centred))
    return cut, bool(profile[cut] <= thin * np.median(profile[profile > 0]))


def group_lines(pieces: list[Piece], rows: float = 0.4, off: float = 0.5) -> list[list[Piece]]:
    """Digits -> lines of digits: top to bottom, each left to right.

    Taken left to right, a digit joins the line it goes on, the closest if several
    do: one whose last two digits' rows it overlaps by at least `rows` of the lower
    of the two heights (digits written a little up or down; the second digit of a line
    photographed turned 20 degrees, 0.4-0.5 of a digit lower or higher), or whose
    centre line (the straight line through its digits' centres) passes within `off`
    of a digit's height of the digit's centre (a line written uphill). A digit that
    goes on none starts a line of its own.

    Example:
        >>> def at(top, left): return (slice(top, top + 20), slice(left, left + 10), None)
        >>> lines = group_lines([at(0, 50), at(40, 0), at(3, 0)])
        >>> [[p[1].start for p in line] for line in lines]
        [[0, 50], [0]]
        >>> len(group_lines([at(0, 0), at(6, 15), at(12, 30), at(18, 45), at(24, 60)]))
        1
    """
    lines: list[list[Piece]] = []
    fits: list[tuple[float, float, float]] = []  # each line's `_fit`, refitted as it grows
    for piece in sorted(pieces, key=lambda p: (p[1].start, p[0].start)):
        x, y, height = _centre(piece)
        best, closest = None, np.inf
        for i, (line, (slope, intercept, typical)) in enumerate(zip(lines, fits, strict=True)):
            top, bottom = min(p[0].start for p in line[-2:]), max(p[0].stop for p in line[-2:])
            shared = min(piece[0].stop, bottom) - max(piece[0].start, top)
            on_rows = shared >= rows * min(height, bottom - top)
            away = abs(y - (slope * x + intercept))
            if (on_rows or away <= off * max(height, typical)) and away < closest:
                best, closest = i, away
        if best is None:
            lines.append([piece])
            fits.append(_fit(lines[-1]))
        else:
            lines[best].append(piece)
            fits[best] = _fit(lines[best])
    lines.sort(key=lambda line: min(p[0].start for p in line))
    return lines


def _centre(piece: Piece) -> tuple[float, float, float]:
    """A piece's box: its centre (x, y) and its height."""
    rows, cols, _ = piece
    return (cols.start + cols.stop) / 2, (rows.start + rows.stop) / 2, rows.stop - rows.start


def _fit(line: list[Piece]) -> tuple[float, float, float]:
    """The straight line through the centres of a line's digits, as its slope and
    intercept (level, at their mean height, until they span half a digit's height
    sideways), and their median height."""
    xs, ys, heights = np.array([_centre(piece) for piece in line]).T
    typical = float(np.median(heights))
    if np.ptp(xs) < typical / 2:
        return 0.0, float(ys.mean()), typical
    slope, intercept = np.polyfit(xs, ys, 1)
    return float(slope), float(intercept), typical


def union(pieces: list[Piece]) -> Piece:
    """Several pieces as one: the box around them all and all their own ink.

    Example:
        >>> a = (slice(0, 2), slice(0, 2), np.ones((2, 2), bool))
        >>> b = (slice(1, 3), slice(4, 5), np.ones((2, 1), bool))
        >>> rows, cols, own = union([a, b])
        >>> rows, cols, own.sum()
        (slice(0, 3, None), slice(0, 5, None), np.int64(6))
    """
    top, bottom = min(p[0].start for p in pieces), max(p[0].stop for p in pieces)
    left, right = min(p[1].start for p in pieces), max(p[1].stop for p in pieces)
    own = np.zeros((bottom - top, right - left), bool)
    for rows, cols, mask in pieces:
        own[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left] |= mask
    return slice(top, bottom), slice(left, right), own


def image_box(
    piece: Piece,
    factor: float,
    shape: tuple[int, int],
    origin: tuple[float, float] = (0.0, 0.0),
) -> tuple[int, int, int, int]:
    """A piece's box (x0, y0, x1, y1) in the pixels of the original image of `shape`
    (height, width), which is `factor` times the size of the one segmented, whose
    top left corner lies at `origin` (x, y) in it (a line's ink: `pipeline.Line`).

    Example:
        >>> image_box((slice(2, 5), slice(1, 3), None), 2.5, (20, 20))
        (2, 5, 8, 13)
        >>> image_box((slice(2, 5), slice(1, 3), None), 2.5, (20, 20), origin=(1.5, 0.0))
        (4, 5, 9, 13)
    """
    rows, cols, _ = piece
    height, width = shape
    x0, y0 = origin
    return (
        int(np.floor(x0 + cols.start * factor)),
        int(np.floor(y0 + rows.start * factor)),
        min(width, int(np.ceil(x0 + cols.stop * factor))),
        min(height, int(np.ceil(y0 + rows.stop * factor))),
    )
