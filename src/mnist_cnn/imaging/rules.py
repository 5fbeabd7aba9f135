"""Rules: the lines of ruled and squared paper, a notebook's margin, a box drawn
round a number, an underline, taken out of the ink before it is segmented.

A line that touches digits joins them into one blob, which segmentation would cut
at random or read as one wide digit. A rule is told from a digit's own strokes by
its length: a straight line (up to about 11 degrees off the horizontal or the
vertical, as on a page photographed turned, and gently curved, as on a photographed
page) at least `params.rule` times as long as the digits are tall. A rule is taken
out only where it is alone: where a digit crosses it or runs along it, the ink stays
the digit's. A box, however small (a form's box for each digit), is first found as a
piece of ink that runs along all four sides of its own bounding box.

>>> page = np.zeros((60, 200), bool)
>>> page[10:50, 40:46] = page[10:50, 120:126] = True     # two "1"s ...
>>> page[50:53, 5:195] = True                            # ... underlined
>>> page[28:31, 5:195] = True                            # ... struck through
>>> smooth, kept = remove_rules(page * 200.0, page, 100.0)
>>> int(kept[50:53].sum()), int(kept[29].sum()), int(kept[10:48].sum())  # "1"s whole
(0, 12, 456)
>>> float(smooth[51, 80]), float(smooth[20, 42])         # the lines' ink is gone too
(0.0, 200.0)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mnist_cnn.imaging.ink import stroke_width
from mnist_cnn.imaging.params import DEFAULT_PARAMS, ImagingParams


def remove_rules(
    smooth: np.ndarray,
    mask: np.ndarray,
    threshold: float,
    params: ImagingParams = DEFAULT_PARAMS,
    width: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ink without its rules: out of the mask, and their ink, soft edges included,
    cleared from the smoothed ink map; where a digit crosses a rule, both keep it.

    Lines are found in all the ink a digit's crop shows (down to `params.edge` of the
    threshold): a printed line lighter than the pen breaks up at the threshold. The
    digits' height is that of the tallest piece of ink left without the lines sure to
    be no digit's. A line across is a rule when `params.rule` times as long, and when
    it reaches a quarter of a digit's height past the digits at both ends, or half a
    digit's height past one end where there is another such line (or, either way, to
    the image's edge where they keep off it), or when it ends in a box's corners. An
    underline (under all the digits, level, alone half its length) need reach only a
    stroke width past both ends; a line past both ends need be only half `params.rule`
    times as long (an underline under one digit); a box's top and bottom, round the
    digits, however short. Where there are rules across, lines down are rules too when
    half as tall again as the tallest digit, or the sides of a box. Without rules
    across, a line down is one only from the image's top edge to its bottom one,
    reaching half a digit past the digits both ways (a notebook's margin): a "1" alone
    is as tall as the image.

    Args:
        smooth: the smoothed ink map of a whole image (`ink.ink_mask`).
        mask: its ink mask.
        threshold: the ink threshold that made the mask.
        params: `rule` and `edge`.
        width: the mask's stroke width, if measured already (`ink.stroke_width`).

    Returns:
        `smooth` and `mask` without the rules (the same arrays if there are none).

    Example:
        >>> sheet = np.zeros((100, 200), bool)
        >>> sheet[20:80, 98:103] = True                      # a "1" ...
        >>> sheet[[30, 60], :] = True                        # ... on ruled paper
        >>> _, kept = remove_rules(sheet * 255.0, sheet, 128.0)
        >>> int(kept[[30, 60]].sum()), int(kept[20:80, 98:103].sum())
        (10, 300)
    """
    width = stroke_width(mask) if width is None else width
    if width <= 0:
        return smooth, mask
    # Boxes drawn round digits, however small (a form's box for each digit).
    boxes = _boxes(mask, width)
    if boxes.any():
        smooth, mask = taken_out(smooth, mask, boxes)
    shown = smooth > params.edge * threshold
    across = _lines(shown, width)
    # Without lines across, only a line down from edge to edge can be a rule.
    if not across and not (shown[:3].any() and shown[-3:].any()):
        return smooth, mask
    # The lines sure to be no digit's (a "1" alone is a vertical line as long as the
    # image): the sides of a box drawn with lines across half the image or more, and
    # lines from the image's top edge to its bottom one (squared paper, a margin).
    long = [line for line in across if _extent(line, 1) >= mask.shape[1] / 2]
    # The sides of a box round all the ink (its top and bottom lines reach its first
    # and last rows and columns) may be shorter than the run that finds a line (bold
    # digits).
    pairs = [_ends(line, axis=1) for line in long]
    corners = [end for pair in pairs for end in pair]
    level = [pair for line, pair in zip(long, pairs, strict=True) if not line.turned]
    ends = np.array([end for pair in level for end in pair])
    inked = [np.flatnonzero(mask.any(axis=1 - axis))[[0, -1]] for axis in (0, 1)]
    round_all = len(ends) > 0 and all(
        ends[:, axis].min() <= first + 2 * width and ends[:, axis].max() >= last - 2 * width
        for axis, (first, last) in enumerate(inked)
    )
    tall = int(np.ptp(ends[:, 0])) if round_all else 0
    down = [line.T for line in _lines(shown.T, width, tall)]
    sides = _sides(down, corners, 3 * width)
    edge_to_edge = [line for line in down if _edge_to_edge(line)]
    # The digits: the ink left without those and the long lines across.
    sure = long + sides + edge_to_edge
    if not sure:
        return smooth, mask
    digits = _pieces(mask & ~_alone(sure, mask.shape))
    if not digits:  # the lines are the digits ("1"s, a "7" cropped tight)
        return smooth, mask
    height = max(rows.stop - rows.start for rows, _ in digits)
    # (Bits of lines not found, which may reach the edges, are less tall.)
    digits = [(rows, cols) for rows, cols in digits if rows.stop - rows.start >= height / 2]
    first, last = min(cols.start for _, cols in digits), max(cols.stop for _, cols in digits)
    # A rule is long, and reaches past the digits or ends in a box's corners: the
    # strokes of digits that touch do neither. A line alone must reach past both ends
    # of the digits, as ruled lines and underlines do: a digit's bar may reach well
    # past one end. An underline (or a line over the digits) need reach past them only
    # by a stroke width: one digit's bar reaches past one end at most, for at the other
    # it meets the rest of its digit (a 7's stem, a 2's slant).
    side_ends = [end for line in sides for end in _ends(line, axis=0)]
    rules, reach = [], []
    for line in across:
        past = _overshoot(line, first, last, width)
        both = min(past) >= height / 4 or (min(past) >= width and _underline(line, digits, width))
        cornered = _near(_ends(line, 1), side_ends, 3 * width)
        length = _extent(line, 1) / height
        # However short, a box's top and bottom end in its sides' ends round all the
        # digits (a side's ink left along a digit beside it counts as the digit's); a
        # line past both ends of the digits need be only as long as they are tall (an
        # underline under one digit).
        boxed = cornered and min(past) > -2 * width
        if not (length >= params.rule or boxed or (both and length >= 0.5 * params.rule)):
            continue
        # (A digit's slanting stroke may reach well past one end: a turned page's
        # rules reach past both, a turned box's top and bottom end in its sides.)
        if line.turned and not (both or boxed):
            continue
        if max(past) >= height / 2 or both or cornered:
            rules.append(line)
            reach.append(both)
    if len(rules) >= 2 or any(reach):
        # (A "1" half as tall again as the tallest digit would be no digit.)
        rules += sides + [line for line in down if _extent(line, 0) >= 1.5 * height]
    else:
        # Lines down alone: from edge to edge and half a digit past the digits both
        # ways, as a notebook's margin is (a "1" taller than the digits beside it
        # still stands on their line).
        top = min(rows.start for rows, _ in digits)
        bottom = max(rows.stop for rows, _ in digits)
        rules = [
            line
            for line in edge_to_edge
            if min(_overshoot(line.T, top, bottom, width)) >= height / 2
        ]
    if not rules:
        return smooth, mask
    return taken_out(smooth, mask, _alone(rules, mask.shape))


def taken_out(
    smooth: np.ndarray, mask: np.ndarray, out: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`smooth` and `mask` without the ink `out`, its soft edges too (the number model
    reads all the ink of a line of digits)."""
    kept = mask & ~out
    gone = ndimage.binary_dilation(out, iterations=3) & ~kept
    return np.where(gone, 0.0, smooth).astype(smooth.dtype), kept


def _boxes(mask: np.ndarray, width: float, cover: float = 0.9) -> np.ndarray:
    """Boxes drawn round digits: pieces of ink that run along all four sides of their
    own bounding box (a level rectangle with sharp corners, over `cover` of each side
    within 1.5 stroke widths of it) and hold ink inside. Returns a mask of their sides,
    each as thick as its ink typically is from its edge inwards; a digit touching a
    side from inside keeps the rest of its stroke. A round "0" fills no corner, and a
    square one holds nothing.

    Example:
        >>> page = np.zeros((80, 60), bool)
        >>> page[5:75, 5:55] = True; page[8:72, 8:52] = False   # a box ...
        >>> page[20:60, 28:32] = True                           # ... round a "1"
        >>> sides = _boxes(page, 4.0)
        >>> int(sides.sum()), int(sides[20:60, 28:32].sum())
        (684, 0)
    """
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    band = max(3, round(1.5 * width))
    out = np.zeros_like(mask)
    for i, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1):
        if min(rows.stop - rows.start, cols.stop - cols.start) < 4 * band:
            continue  # too small to hold a digit
        piece = labels[rows, cols] == i
        # Each side as seen from its edge inwards: (depth, length).
        sides = [piece, piece[::-1], piece.T, piece.T[::-1]]
        if min(side[:band].any(axis=0).mean() for side in sides) < cover:
            continue
        inner = [int(np.median(np.argmin(side, axis=0))) for side in sides]  # thickness
        if max(inner) > band:  # a bold blob (a digit), not a pen's line
            continue
        top, bottom, left, right = inner
        if not mask[rows, cols][top : -bottom or None, left : -right or None].any():
            continue
        ring = np.ones(piece.shape, bool)
        ring[top : piece.shape[0] - bottom, left : piece.shape[1] - right] = False
        out[rows, cols] |= ring & piece
    return out


@dataclass(frozen=True)
class _Line:
    """A straight line of ink: its band, and where it is alone in it (no digit crosses
    it or runs along it there): what is taken out of a rule. Both are cropped, their
    first pixel at `origin` (row, column) of an image of `shape`: a page of squared
    paper holds hundreds of lines."""

    band: np.ndarray
    alone: np.ndarray
    origin: tuple[int, int]
    shape: tuple[int, int]
    turned: bool = False  # more than about 2 degrees off the horizontal

    @property
    def T(self) -> _Line:  # noqa: N802 (as NumPy's)
        flip = self.origin[::-1], self.shape[::-1]
        return _Line(self.band.T, self.alone.T, *flip, self.turned)


def _alone(lines: list[_Line], shape: tuple[int, int]) -> np.ndarray:
    """Where `lines` are alone, as a mask of `shape`."""
    out = np.zeros(shape, bool)
    for line in lines:
        (top, left), (rows, cols) = line.origin, line.alone.shape
        out[top : top + rows, left : left + cols] |= line.alone
    return out


def _lines(shown: np.ndarray, width: float, longest: int = 0) -> list[_Line]:
    """The lines across `shown` (up to about 11 degrees off the horizontal), all the
    ink a digit's crop would show: where it covers three quarters of 8 stroke widths
    (or of three quarters of `longest` pixels, if that is less and not 0) along a row
    of a copy thickened across by half a stroke width each way (so that a
    line a little off the horizontal stays one run for a while); the runs joined, told
    apart by their rows along their slope (`_along`), and each line's band followed
    along its length (`_band`), unless thicker than the pen or bent (digits that
    touch)."""
    length = 2 * max(4, round(4 * width)) + 1
    if longest:
        length = max(9, min(length, 2 * round(3 * longest / 8) + 1))
    if np.count_nonzero(shown.any(axis=0)) < length:  # too narrow for a line (one digit)
        return []
    thick = ndimage.maximum_filter1d(shown, 2 * max(1, round(width / 2)) + 1, axis=0)
    # Runs three quarters inked: a faint line breaks up here and there.
    inked = ndimage.uniform_filter1d(thick.astype(np.float32), length, axis=1) >= 0.75
    runs = ndimage.maximum_filter1d(inked, length, axis=1) & thick
    labels, _ = ndimage.label(runs & shown, structure=np.ones((3, 3), bool))
    reach = round(width / 2) + 1  # a stripe's rows and the run's thickening, and a pixel
    lines = []
    for i, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1):
        if cols.stop - cols.start < length:  # a bit of a run
            continue
        found = labels[rows, cols] == i
        # Lines joined by a digit that crosses both are told apart by their rows, counted
        # along their slope (a page photographed turned). Each rises above the ink of
        # the digits it crosses, whose rows a turned line shares, by half the run's
        # width or more; else the run is only digits' ink.
        at_row, at_col = np.nonzero(found)
        along, slope = _along(at_row, at_col)
        profile = ndimage.white_tophat(np.bincount(along), 2 * round(width) + 3)
        if profile.max() < found.shape[1] / 2:
            along, slope, profile = at_row, 0.0, np.bincount(at_row)
        stripes, _ = ndimage.label(profile >= profile.max() / 4)
        for (stripe,) in ndimage.find_objects(stripes):
            mine = (along >= stripe.start - reach) & (along < stripe.stop + reach)
            part = np.zeros_like(found)
            part[at_row[mine], at_col[mine]] = True
            line = _band(part, rows.start, cols, shown, width, length, abs(slope) > TURNED)
            if line is not None:
                lines.append(line)
    return lines


TURNED = 0.035  # rows per column: about 2 degrees


def _along(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, float]:
    """The rows of pixels counted along the slope (up to 0.2 rows a column, about 11
    degrees, to 0.01) where most of them fall into one row, from 0, and that slope: the
    straight lines' among them."""

    def peak(slope: float) -> tuple[int, float]:
        along = np.rint(rows - slope * cols).astype(int)
        return int(np.bincount(along - along.min()).max()), -abs(slope)

    coarse = max(np.linspace(-0.2, 0.2, 11), key=peak)
    slope = max(coarse + np.linspace(-0.02, 0.02, 5), key=peak)
    along = np.rint(rows - slope * cols).astype(int)
    return along - along.min(), float(slope)


def _band(
    part: np.ndarray,
    top: int,
    cols: slice,
    shown: np.ndarray,
    width: float,
    window: int,
    turned: bool = False,
) -> _Line | None:
    """One horizontal line, found as `part` of `shown` (its rows from `top`, its
    columns `cols`): its band and where it is alone; None where it is thicker than the
    pen or not straight (the strokes of digits that touch: bars and tops at
    different heights).

    Its thickness is where it is thinnest (the 10th percentile of its columns), for
    digits that cross it or run along it make it thicker, sometimes most of the way;
    its band, the ink within half that and a pixel of its middle row. It is alone
    where it is thicker by at most half a stroke width or 2 pixels (a stroke that
    crosses it adds its width). The middle is taken where it is alone; where nothing
    is beside it either, it keeps within 2 pixels or its thickness of a parabola (a
    page photographed curves its lines gently). It is followed across the rest and
    smoothed by a median over `window` columns; a `turned` line's ends, which the
    runs that found it miss, are followed on to its last ink (`_follow`)."""
    rows_at, cols_at = np.nonzero(part)
    part = part[rows_at.min() : rows_at.max() + 1, cols_at.min() : cols_at.max() + 1]
    top += int(rows_at.min())
    cols = slice(cols.start + int(cols_at.min()), cols.start + int(cols_at.max()) + 1)
    count = part.sum(axis=0).astype(float)
    typical = float(np.percentile(count[count > 0], 10))
    if typical > 1.25 * width:
        return None
    alone = (count > 0) & (count <= typical + max(2.0, width / 2))
    rows = np.arange(part.shape[0])[:, None]
    middle = (part[:, alone] * rows).sum(axis=0) / count[alone]
    at = np.flatnonzero(alone)
    bare = count[alone] <= typical + 2  # nothing beside it: its middle is the line's own
    if bare.sum() >= 3:
        bend = middle[bare] - np.polyval(np.polyfit(at[bare], middle[bare], 2), at[bare])
        if np.percentile(np.abs(bend), 90) > max(2.0, typical):
            return None
    course = top + np.interp(np.arange(part.shape[1]), at, middle)
    middle = ndimage.median_filter(course, size=window, mode="nearest")
    reach = typical / 2 + 1
    if turned:
        # A turned line is found as runs a window long: its ends, shorter, are
        # followed on along its course while its ink goes on.
        before = _follow(shown, course[: 2 * window][::-1], cols.start, -1, reach, width)
        after = _follow(shown, course[-2 * window :], cols.stop - 1, 1, reach, width)
        count = np.concatenate([before[1][::-1], count, after[1]])
        middle = np.concatenate([before[0][::-1], middle, after[0]])
        cols = slice(cols.start - len(before[0]), cols.stop + len(after[0]))
        alone = (count > 0) & (count <= typical + max(2.0, width / 2))
    # The band reaches past the rows found (a line's soft edges), by a stroke width.
    pad = int(np.ceil(width)) + 2
    r0 = max(0, int(middle.min() - reach) - pad)
    r1 = min(shown.shape[0], int(middle.max() + reach) + 1 + pad)
    near = np.abs(np.arange(r0, r1)[:, None] - middle) <= reach
    band = shown[r0:r1, cols] & near
    return _Line(band, band & alone, (r0, cols.start), shown.shape, turned)


def _follow(
    shown: np.ndarray, course: np.ndarray, end: int, step: int, reach: float, width: float
) -> tuple[np.ndarray, np.ndarray]:
    """A line's course followed on from column `end` towards the image's edge (`step`
    -1 or 1), along the straight line fitted to `course` (its middle rows, from further
    in to `end`): the middle row and the ink within `reach` of it of each column it
    goes on through, up to its last ink before a gap of more than a stroke width."""
    cols = np.arange(end + step, shown.shape[1] if step > 0 else -1, step)
    if len(course) < 2 or not len(cols):
        return np.zeros(0), np.zeros(0)
    slope, start = np.polyfit(np.arange(len(course)), course, 1)
    middle = start + slope * (len(course) + np.arange(len(cols)))
    offsets = np.arange(-int(reach), int(reach) + 1)
    rows = np.rint(middle)[None, :].astype(int) + offsets[:, None]
    inside = (rows >= 0) & (rows < shown.shape[0])
    count = (shown[rows.clip(0, shown.shape[0] - 1), cols] & inside).sum(axis=0)
    # The first gap longer than a stroke width ends it.
    labels, _ = ndimage.label(count == 0)
    long_gaps = np.flatnonzero((np.bincount(labels.ravel()) > width)[labels] & (labels > 0))
    inked = np.flatnonzero(count[: long_gaps[0] if len(long_gaps) else len(cols)])
    n = int(inked[-1]) + 1 if len(inked) else 0
    return middle[:n], count[:n].astype(float)


def _pieces(mask: np.ndarray) -> list[tuple[slice, slice]]:
    """The boxes of the pieces of ink in `mask` but for specks (smaller than 4% of the
    largest, such as where two lines cross)."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        return []
    areas = np.bincount(labels.ravel())[1:]
    boxes = ndimage.find_objects(labels)
    return [box for box, area in zip(boxes, areas, strict=True) if area >= 0.04 * areas.max()]


def _overshoot(line: _Line, first: int, last: int, width: float) -> tuple[float, float]:
    """How far a horizontal line reaches past column `first`, and past `last`, in
    pixels; without end where it runs to the image's edge and the digits keep a
    stroke width off it."""
    cols = np.flatnonzero(line.band.any(axis=0)) + line.origin[1]
    end = line.shape[1] - 1
    before = np.inf if cols[0] <= 1 and first > width else float(first - cols[0])
    after = np.inf if cols[-1] >= end - 1 and last < end - width else float(cols[-1] - last)
    return before, after


def _underline(line: _Line, digits: list[tuple[slice, slice]], width: float) -> bool:
    """Whether a horizontal line is an underline (or a line over the digits): under all
    the `digits` (or over them all), into them by a stroke width at most, and alone
    along half its length or more (the bottoms of digits written on a straight line
    may join into one, but their strokes meet it most of the way)."""
    if line.turned or line.alone.any(axis=0).sum() < line.band.any(axis=0).sum() / 2:
        return False  # (a turned one: the bottoms of digits slanting down a line)
    rows = np.flatnonzero(line.band.any(axis=1)) + line.origin[0]
    top, bottom = rows[0], rows[-1] + 1
    under = all(r.start < top and r.stop <= bottom + width for r, _ in digits)
    over = all(r.stop > bottom and r.start >= top - width for r, _ in digits)
    return under or over


def _extent(line: _Line, axis: int) -> int:
    """How far a line reaches along `axis`, in pixels."""
    span = np.flatnonzero(line.band.any(axis=1 - axis))
    return int(span[-1] - span[0] + 1) if span.size else 0


def _ends(line: _Line, axis: int) -> list[tuple[int, int]]:
    """The two ends (row, column) of a line along `axis`."""
    band, (top, left) = line.band, line.origin
    span = np.flatnonzero(band.any(axis=1 - axis))
    ends = []
    for at in (span[0], span[-1]):
        across = np.flatnonzero(band[:, at] if axis == 1 else band[at])
        middle = int(across[len(across) // 2])
        end = (middle, int(at)) if axis == 1 else (int(at), middle)
        ends.append((end[0] + top, end[1] + left))
    return ends


def _sides(down: list[_Line], corners: list[tuple[int, int]], reach: float) -> list[_Line]:
    """The sides of boxes: of the lines `down` whose ends lie within `reach` of two
    `corners`, the one nearest them (a "1" just inside a box's side is near too). A
    side is alone all along: the digits are inside the box, and where one runs beside
    it, the side's ink left there would be read as a "1"."""
    nearest: dict[tuple[int, ...], tuple[float, _Line]] = {}
    for line in down:
        ends = _ends(line, 0)
        if not corners or not _near(ends, corners, reach):
            continue
        far = [[np.hypot(r - r2, c - c2) for r2, c2 in corners] for r, c in ends]
        key = tuple(int(np.argmin(d)) for d in far)
        off = sum(min(d) for d in far)
        if key[0] == key[1]:  # a stroke by one corner
            continue
        if key not in nearest or off < nearest[key][0]:
            nearest[key] = (off, line)
    return [dataclasses.replace(line, alone=line.band) for _, line in nearest.values()]


def _near(points: list[tuple[int, int]], others: list[tuple[int, int]], reach: float) -> bool:
    """Whether each of `points` lies within `reach` of one of `others` (the ends of
    two lines: a box's corners)."""
    return all(any(np.hypot(r - r2, c - c2) <= reach for r2, c2 in others) for r, c in points)


def _edge_to_edge(line: _Line) -> bool:
    """Whether a vertical line runs from the image's top edge to its bottom one."""
    rows = np.flatnonzero(line.band.any(axis=1)) + line.origin[0]
    return bool(rows[0] <= 2 and rows[-1] >= line.shape[0] - 3)
