"""Ink: where the strokes are, whatever the paper, the lighting or the pen.

The border of an image tells the background's level and lighting gradient, and so
whether the ink is darker (pen on paper) or lighter (chalk on a board); the
background is then taken out, leaving the ink's strength, white on black. Otsu's
threshold splits that into an ink mask, unless the "ink" is no more than noise.
Stroke widths are measured on such masks.

>>> page = np.full((60, 60), 220, np.uint8)
>>> page[10:50, 27:33] = 30                               # a dark "1" on paper
>>> smooth, mask, threshold = ink_mask(ink_map(page))
>>> ink_box(mask), round(stroke_width(mask))      # blurred a little against noise
((slice(9, 51, None), slice(26, 34, None)), 8)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

from mnist_cnn.imaging.params import DEFAULT_PARAMS, ImagingParams
from mnist_cnn.imaging.resample import resize, shrink


def ink_map(
    gray: np.ndarray, params: ImagingParams = DEFAULT_PARAMS, plain: float | None = None
) -> np.ndarray:
    """Grayscale (H, W) -> ink strength float32 (H, W), 0-255, white ink on black.

    First the polarity (`polarity`), then the background is removed: dark ink on
    paper is a reflectance, so dividing by the local paper brightness cancels uneven
    lighting; light ink on a dark ground adds light, so the local background level
    is subtracted.

    Args:
        gray: the grayscale image, any number type.
        params: `min_contrast` and `min_window` shape the background estimate;
            `dark_paper` is the darkest paper dark ink is measured against, as a
            share of the brightest.
        plain: the background's level, where it is one level everywhere (a
            drawing's, `plain_level`): then it is not estimated.

    Returns:
        The ink strength, 0 where there is only background.

    Example:
        >>> page = np.full((7, 7), 200, np.uint8)
        >>> page[1:6, 3] = 50                                  # a dark stroke on paper
        >>> ink_map(page)[:, 3].round().tolist()               # 150/200 of the light absorbed
        [0.0, 191.0, 191.0, 191.0, 191.0, 191.0, 0.0]
        >>> ink_map(255 - page)[:, 3].round().tolist()         # a light stroke on a dark board
        [0.0, 150.0, 150.0, 150.0, 150.0, 150.0, 0.0]
    """
    gray = np.asarray(gray, dtype=np.float32)
    if plain is None:
        dark_ink, fit = polarity(gray)
        background = _background(gray, dark_ink, fit, params)
    else:  # nothing darker than a plain background is light ink (a board); else ask
        dark_ink = bool(gray.min() < plain) and polarity(gray)[0]
        background = np.full(gray.shape, plain, np.float32)
    if not dark_ink:  # light ink adds light to the background
        return np.clip(gray - background, 0, 255)
    # Dark ink absorbs a share of the light that falls on the paper there.
    paper = np.maximum(background, max(1.0, params.dark_paper * float(background.max())))
    return np.clip((background - gray) * 255.0 / paper, 0, 255)


def plain_level(gray: np.ndarray, params: ImagingParams = DEFAULT_PARAMS) -> float | None:
    """The background's level where it is that level everywhere, as a drawing's is: all
    of the border has it, the rest of the image lies on one side of it (the ink's), and
    nothing off it is as wide and as tall as the background's window (`min_window` of
    the longer side) could follow, as a photo pasted on a plain canvas is. Else None:
    the background is estimated (`ink_map`).

    Example:
        >>> drawing = np.zeros((50, 60), np.uint8); drawing[10:40, 20:24] = 255
        >>> plain_level(drawing), plain_level(255 - drawing)
        (0.0, 255.0)
        >>> drawing[10:40, 30:50] = 120                      # a grey photo pasted on it
        >>> print(plain_level(drawing))
        None
    """
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    level = border[0]
    if border.min() != border.max() or gray.min() < level < gray.max():
        return None
    window = max(3, round(params.min_window * max(gray.shape)))
    if ndimage.minimum_filter((gray != level).view(np.uint8), size=window).any():
        return None
    return float(level)


# -- polarity ------------------------------------------------------------------------------


def polarity(gray: np.ndarray) -> tuple[bool, np.ndarray]:
    """Whether the ink is darker than the background, and the background's fit.

    The border of an image is mostly background, even when a tight crop lets the
    digit touch it. A plane fitted to the border pixels (ignoring outliers such as
    ink) models the background with its lighting gradient, or, where the light falls
    off towards the corners, a quadratic surface; the ink is then the side, darker
    or lighter than that fit, with more far-out pixels. Fitted on a small copy, for
    speed.

    Args:
        gray: the grayscale image, float.

    Returns:
        True for dark ink, and the fit: the plane (a, b, c), the background level
        a + b * row + c * column in the image's own pixels, or a quadratic surface
        of six coefficients (`fitted_level`).

    Example:
        >>> paper = np.linspace(120, 240, 80)[None, :].repeat(60, axis=0)  # strong gradient
        >>> paper[10:50, 30:40] = 20
        >>> polarity(paper)[0], polarity(255 - paper)[0]
        (True, False)
        >>> level, per_row, per_column = polarity(paper)[1]   # 120 + 1.52 per column
        >>> print(f"{level:.0f}, {abs(per_row):.2f}, {per_column:.2f}")
        120, 0.00, 1.51
    """
    small, factor = shrink(gray, 128)
    if min(small.shape) > 8:
        small = ndimage.gaussian_filter(small, 1.0)
    rows, cols = np.indices(small.shape)
    edge = np.zeros(small.shape, bool)
    edge[[0, -1], :] = edge[:, [0, -1]] = True
    r, c = rows[edge], cols[edge]
    design = np.stack([np.ones(len(r)), r, c], axis=1)
    values = small[edge]
    if len(values) < 3:  # a 1x1, 1x2 or 2x1 image: no plane to fit (nor room for a digit)
        return True, np.array([float(values.mean()), 0.0, 0.0])
    everything = np.ones(len(values), bool)

    def near(residual: np.ndarray, spread: float) -> np.ndarray:
        """The pixels a fit follows: within 3 spreads of it."""
        return np.abs(residual) <= 3 * spread

    # Both sides' outliers (ink) left out, first from the pixels near the border's
    # median level: where a shadow's sharp edge crosses the image, a plane through all
    # of the border tilts to meet both levels, and the lit paper past the edge stands
    # out from it like light ink. That level is the background where it holds most of
    # the border; else (a grid's lines along the border) the fit starts from all of it.
    off = values - np.median(values)
    start = near(off, 1.4826 * float(np.median(np.abs(off))) + 1.0)
    fit, residual, spread = fit_surface(design, values, start, 3, near)
    if fit is None or np.mean(near(residual, spread)) < 0.5:
        fit, residual, spread = fit_surface(design, values, everything, 3, near)
    # A wide photo's top and foot are most of its border, and a plane through both
    # holds them even where a shadow lies along one; but then the sides miss it. So a
    # fit counts by the lesser share it holds of the top and foot and of the sides, and
    # a fit that leaves one side out may count for more.
    sides = np.select([r == 0, r == small.shape[0] - 1, c == 0], [0, 1, 2], 3)
    ends = sides < 2

    def held(residual: np.ndarray, spread: float) -> float:
        inside = near(residual, spread)
        return min(inside[ends].mean(), inside[~ends].mean()) if not ends.all() else 1.0

    score = held(residual, spread)
    for left_out in range(4 if score < 0.95 else 0):
        other = fit_surface(design, values, sides != left_out, 3, near)
        if other[0] is not None and held(other[1], other[2]) > score + 0.05:
            fit, residual, spread = other
            score = held(residual, spread)
    if spread >= 2:  # more than noise: is the light falling off towards the corners?
        # A vignette or a lamp's pool of light misses a plane by more than the ink's
        # depth. A quadratic surface follows it where it fits the border six times as
        # closely (a vignette: 7-14 times; the edge of a shadow, a step: at most 5), all
        # of it (a tight crop's ink along the border: at most 86% of it).
        curved = np.column_stack([design, r * r, c * c, r * c])
        surface, bent, narrower = fit_surface(curved, values, everything, 3, near)
        closer = narrower is not None and narrower < spread / 6
        if closer and np.mean(near(bent, narrower)) >= 0.95:
            design, fit, residual, spread = curved, surface, bent, narrower
    dark_ink = _ink_is_darker(small - fitted_level(fit, rows, cols), spread)
    # Ink along the border pulls the fit towards it. The background is the level
    # the pixels on the other side of the ink follow: refit on those within the
    # noise of the pixels kept so far, until only the background is left.
    side = -1.0 if dark_ink else 1.0  # the ink's side of the fit
    keep = side * residual <= 0
    fit, _, _ = fit_surface(design, values, keep, 6, lambda x, s: side * x <= 2 * s, fit)
    scale = np.array([1.0, factor, factor, factor**2, factor**2, factor**2])
    return dark_ink, fit / scale[: len(fit)]


def fitted_level(surface: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The level of the background that `polarity` fitted at pixel `rows` and `cols`
    (broadcast): a plane (a, b, c), a + b r + c c, or a quadratic surface (a, b, c, d,
    e, f), which adds d r^2 + e c^2 + f r c.

    Example:
        >>> rows, cols = np.array([[0], [1]]), np.array([[0, 1]])
        >>> fitted_level(np.array([10.0, 1.0, 2.0]), rows, cols).tolist()
        [[10.0, 12.0], [11.0, 13.0]]
    """
    out = surface[0] + surface[1] * rows + surface[2] * cols
    if len(surface) == 6:
        out = out + surface[3] * rows * rows + surface[4] * cols * cols + surface[5] * rows * cols
    return out


def fit_surface(
    design: np.ndarray,
    values: np.ndarray,
    keep: np.ndarray,
    rounds: int,
    accept: Callable[[np.ndarray, float], np.ndarray],
    fit: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray | None, float | None]:
    """Least squares of `values` on `design` (a plane's or a quadratic surface's terms)
    over the `keep` pixels, `rounds` times, each time keeping those `accept`ed given
    their residuals and the kept ones' spread (a robust noise level). `fit` stays if
    fewer than 3 are kept.

    Example:
        >>> design = np.column_stack([np.ones(10), np.arange(10)])    # a line's terms
        >>> values = 1.0 + np.arange(10); values[6] = 40               # one far outlier
        >>> near = lambda residual, spread: np.abs(residual) <= 3 * spread
        >>> fit_surface(design, values, np.ones(10, bool), 3, near)[0].round(2).tolist()
        [1.0, 1.0]

    Returns the fit, the last residuals and spread (None if never fitted).
    """
    residual = spread = None
    for _ in range(rounds):
        if keep.sum() < 3:
            break
        fit = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        residual = values - design @ fit
        spread = 1.4826 * float(np.median(np.abs(residual[keep]))) + 1.0
        kept, keep = keep, accept(residual, spread)
        if np.array_equal(keep, kept):  # settled: another round would fit the same surface
            break
    return fit, residual, spread


def _broad(detail: np.ndarray) -> np.ndarray:
    """What of `detail` is broad: its median within a fifth of the image, on a copy 24
    pixels long (for speed). A glare, a shadow; not strokes, which fill less than half
    of any such window. (Within a third, the median fell short of a glare's peak, whose
    paper then stood out like light ink.)"""
    coarse, _ = shrink(detail, 24)
    median = ndimage.median_filter(coarse, size=max(3, max(coarse.shape) // 5), mode="nearest")
    return resize(median, detail.shape[::-1], Image.BILINEAR)


def _ink_is_darker(detail: np.ndarray, spread: float) -> bool:
    """Whether the pixels far from the background fit (`detail`: their distance to
    it) lie more below it than above it."""
    far = max(8.0, 4 * float(spread))  # well beyond the noise of the background
    darker = -detail[detail < -far].sum()
    lighter = detail[detail > far].sum()
    if darker and lighter:
        # Each pixel counts by no more than it stands out from its broad surroundings:
        # a flash's glare lies far above the fit, over more pixels than the ink lies
        # below it, but it is no stroke.
        narrow = detail - _broad(detail)
        low, high = np.minimum(-detail, -narrow), np.minimum(detail, narrow)
        darker, lighter = low[low > far].sum(), high[high > far].sum()
    if darker == lighter == 0:
        # Nothing stands that far out: a tight crop, whose ink on every side widens
        # the spread. The fit still follows the background on most of the border,
        # so the ink is on the side of the larger excursions from it.
        darker, lighter = -np.percentile(detail, 1), np.percentile(detail, 99)
    return bool(darker > lighter)


# -- background ----------------------------------------------------------------------------


def _background(
    gray: np.ndarray, dark_ink: bool, fit: np.ndarray, params: ImagingParams
) -> np.ndarray:
    """A smooth estimate of the background level without the ink.

    A morphological closing (dark ink) or opening (light ink) removes every stroke
    narrower than its window and keeps gradients and shadows; a light blur follows,
    on paper no paler than the closing, so that a shadow's sharp edge stays sharp.
    The window must be wider than the strokes, but the smaller it is the closer it
    follows uneven lighting. So a first estimate with a window as wide as the image
    finds the strokes, and the final window is a few times their width. Computed on
    a small copy, since lighting varies slowly.

    Beyond the image's border the background goes on as the border's `fit`. A
    bold digit cropped tight then meets background past the border, and a window up
    to the image's size removes it like any other, where a mirrored image would
    double a stroke along the border and a smaller window would keep its blobs. But
    where a shadow on paper reaches the border, the frame goes on at its level
    (`_frame_shadows`).
    """
    height, width = gray.shape
    small, factor = shrink(gray, 96)
    close = ndimage.grey_closing if dark_ink else ndimage.grey_opening
    longer = max(small.shape)
    pad = longer // 2 + 1  # half the widest window: the image's longer side
    # The fit's level at each framed pixel's centre, in the image's own pixels.
    rows = (np.arange(small.shape[0] + 2 * pad)[:, None] - pad + 0.5) * factor
    cols = (np.arange(small.shape[1] + 2 * pad)[None, :] - pad + 0.5) * factor
    framed = np.clip(fitted_level(fit, rows, cols), 0, 255).astype(np.float32)
    framed[pad:-pad, pad:-pad] = small
    shadowed = dark_ink and _frame_shadows(framed, pad, params.shadow_depth)  # on paper

    def level(size: int) -> np.ndarray:
        """The background with strokes narrower than `size` removed, blurred."""
        # A closing looks no further than `size` pixels: a frame that wide does as well
        # as the whole one, for less work.
        cut = max(0, pad - size)
        part = framed[cut : framed.shape[0] - cut, cut : framed.shape[1] - cut]
        frame = pad - cut  # what is left of the frame round the image
        inside = close(part, size=size)[frame:-frame, frame:-frame]
        blurred = ndimage.uniform_filter(inside, max(3, size // 2), mode="nearest")
        # On paper, no paler than the closing itself: blurred across the sharp edge of
        # a shadow, the level would rise above the shadowed paper beside it, and that
        # band would be ink.
        return np.minimum(blurred, inside) if dark_ink else blurred

    first = level(longer)
    ink = np.abs(small - first)
    mask = ink > max(otsu_threshold(ink), params.min_contrast / 2)
    size = np.clip(3 * ridge_width(mask), params.min_window * longer, longer)
    background = level(max(3, round(float(size))))
    if shadowed:
        # Enlarged, a shadow's sharp edge would ramp over a small pixel's width, paler
        # than the shadowed paper beside it: a ridge of ink along the edge. Its darker
        # side's level one small pixel past the edge keeps the ramp on lit paper.
        darker = ndimage.grey_erosion(background, size=3)
        edge = background - darker > params.min_contrast
        background = np.where(edge, darker, background)
    return resize(background, (width, height), Image.BILINEAR)


def _frame_shadows(framed: np.ndarray, pad: int, depth: float) -> bool:
    """Where a shadow on the paper (dark ink) reaches the border, the frame `pad`
    pixels wide round the image in `framed` goes on at the shadow's level rather than
    the border's fit; returns whether it does anywhere.

    `polarity` fits the border leaving out whatever is darker than it, as ink, and so
    a shadow across the border; framed by the fit, the shadow is a dark band that the
    closing takes away, and then it is ink. So along each side the frame goes no
    paler than the border itself: the palest pixel within `depth` of the way across
    from the edge (of the height, along the top and foot), since a stroke along the
    border is narrower but a band of shadow along a wide photo's top may not be much
    wider, and the median of that along half the side, since a stroke across the
    border is shorter; only where that is paler than a third of the way from the
    image's darkest pixel to its palest, since darker is ink (a bold stroke cropped
    tight). A corner takes the darker of its two sides' ends.

    Example:
        >>> image = np.full((20, 20), 200.0); image[:, 14:] = 110     # a shadow at the right
        >>> image[5:15, 2:4] = 20                                      # and a stroke
        >>> framed = np.pad(image, 5, constant_values=200.0)           # the fit: paper
        >>> _frame_shadows(framed, 5, depth=0.06)
        True
        >>> framed[10, [2, 12, 27]].tolist()       # left of the border, paper, right of it
        [200.0, 200.0, 110.0]
        >>> float(framed[2, -1]), float(framed[2, 2])               # the corners
        (110.0, 200.0)
    """
    inside = framed[pad:-pad, pad:-pad]
    tall, wide = (max(1, round(depth * side)) for side in inside.shape)
    inky = inside.min() + (inside.max() - inside.min()) / 3

    def level(band: np.ndarray, axis: int) -> np.ndarray:
        palest = band.max(axis=axis)
        along = ndimage.median_filter(palest, size=max(3, palest.size // 2), mode="nearest")
        return np.where(along > inky, along, np.inf)  # ink: the fit stands

    top, bottom = level(inside[:tall], 0), level(inside[-tall:], 0)
    left, right = level(inside[:, :wide], 1), level(inside[:, -wide:], 1)
    middle, before, after = slice(pad, -pad), slice(None, pad), slice(-pad, None)
    shadowed = False
    for rows, cols, border in (
        (before, middle, top[None, :]),
        (after, middle, bottom[None, :]),
        (middle, before, left[:, None]),
        (middle, after, right[:, None]),
        (before, before, min(top[0], left[0])),
        (before, after, min(top[-1], right[0])),
        (after, before, min(bottom[0], left[-1])),
        (after, after, min(bottom[-1], right[-1])),
    ):
        shadowed = shadowed or bool(np.any(border < framed[rows, cols]))
        framed[rows, cols] = np.minimum(framed[rows, cols], border)
    return shadowed


# -- threshold -----------------------------------------------------------------------------


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold for values in 0-255: the level that best splits them into two
    classes (largest between-class variance). Pixels above it are ink.

    Example:
        >>> otsu_threshold(np.array([10, 12, 11, 200, 210, 205]))
        12.0
    """
    counts = np.bincount(np.clip(values, 0, 255).astype(np.uint8).ravel(), minlength=256)
    share = counts / max(1, counts.sum())
    below = np.cumsum(share)  # share of pixels at or below each level
    mass = np.cumsum(share * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mass[-1] * below - mass) ** 2 / (below * (1.0 - below))
    return float(np.nanargmax(np.nan_to_num(between, nan=-1.0)))


def noise_sigma(shape: tuple[int, ...], height: float | None = None) -> float:
    """The blur, in pixels, that smooths JPEG and sensor noise in an image of `shape`.

    It grows with the image, as digits usually do, but no more than a thirtieth of
    the digits' `height` where that is known: in a large photo of a page, digits 20 px
    tall have strokes 3 px wide, which a blur sized for the page melts into blobs.

    Example:
        >>> noise_sigma((100, 300)), noise_sigma((1024, 700)), noise_sigma((1024, 700), 24)
        (0.75, 1.5, 0.8)
    """
    size = max(shape) / 400 if height is None else min(max(shape) / 400, height / 30)
    return float(np.clip(size, 0.5, 1.5))


def ink_mask(
    ink: np.ndarray, params: ImagingParams = DEFAULT_PARAMS, blur: float | None = None
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Where the ink is: Otsu's threshold on a slightly blurred ink map, with faint
    strokes raised first (`even_out`) and faint digits kept whole (`faint_digits`).

    Args:
        ink: an ink map from `ink_map`.
        params: `min_contrast` and `min_separation` tell ink from paper texture and
            noise, `min_clearance` and `max_blur` how much more a noisy image is
            blurred; `faint_gain` and `weak` keep faint digits.
        blur: the Gaussian's sigma against noise, pixels; None: `noise_sigma`'s for
            the image's size.

    Returns:
        The smoothed ink, its thresholded mask and the threshold; None if there is no
        ink (nothing strong enough, or nothing standing out from the noise).

    Example:
        >>> ink = np.zeros((20, 20), np.float32); ink[5:15, 8:12] = 200
        >>> smooth, mask, threshold = ink_mask(ink)
        >>> int(mask.sum()), threshold
        (60, 21.0)
        >>> ink_mask(np.full((20, 20), 10, np.float32)) is None   # too faint
        True
    """
    base = noise_sigma(ink.shape) if blur is None else blur
    smooth = ndimage.gaussian_filter(ink, base)
    if smooth.max() < params.min_contrast:
        return None
    # A noisy image is blurred more until the threshold stands clear of its noise.
    for more in (2.0, 3.0, None):
        smooth = even_out(smooth, params)
        threshold = max(otsu_threshold(smooth), params.min_contrast / 2)
        mask = smooth > threshold
        level, spread = _paper(smooth, mask)
        clear = (threshold - level) / spread >= params.min_clearance
        if clear or more is None or base >= params.max_blur:
            break
        smooth = ndimage.gaussian_filter(ink, min(base * more, params.max_blur))
    if not mask.any() or (np.median(smooth[mask]) - level) / spread < params.min_separation:
        return None
    low = max(params.weak * threshold, params.min_contrast / 2)
    return smooth, mask | faint_digits(smooth, mask, low), threshold


def faint_digits(smooth: np.ndarray, mask: np.ndarray, low: float) -> np.ndarray:
    """The ink of faint digits on a line of darker ones, of which `mask` (the ink above
    the threshold) holds only specks: the pieces of ``smooth > low`` that hold such
    specks, grouped where they nearly meet, each group as tall as the darker digits
    and no wider than tall. (Hysteresis, but kept off the darker digits: within a
    stroke width of them their soft edges would join them, and their shadows.)

    Needs a line of darker digits (pieces of `mask` at least half as tall as the
    tallest: two of them, or one wider than tall, digits that touch), whose rows make
    the line; a lone digit's specks stay specks.
    """
    eight = np.ones((3, 3), bool)
    strong, _ = ndimage.label(mask, structure=eight)
    boxes = [box for box in ndimage.find_objects(strong) if box is not None]
    if len(boxes) < 2:
        return np.zeros_like(mask)
    heights = np.array([rows.stop - rows.start for rows, _ in boxes])
    tall = np.flatnonzero(heights >= heights.max() / 2) + 1  # labels of the darker digits
    _, cols = boxes[tall[0] - 1]
    if tall.size < 2 and cols.stop - cols.start <= heights.max():  # one digit alone
        return np.zeros_like(mask)
    top = min(boxes[i - 1][0].start for i in tall)
    bottom = max(boxes[i - 1][0].stop for i in tall)
    specks = [rows for i, (rows, _) in enumerate(boxes, start=1) if i not in tall]
    if not any(rows.start < bottom and rows.stop > top for rows in specks):
        return np.zeros_like(mask)  # no specks on the line: nothing faint to find
    width = stroke_width(mask)
    # (A square maximum filter dilates far faster than repeated binary dilation.)
    edges = ndimage.maximum_filter(np.isin(strong, tall), size=2 * max(2, round(width)) + 1)
    faint = _holding((smooth > low) & ~edges, mask)
    # A faint stroke can still break where it is faintest: pieces this close are one.
    near = ndimage.maximum_filter(faint, size=2 * max(1, round(width / 4)) + 1)
    groups, _ = ndimage.label(near, structure=eight)
    found = np.zeros_like(mask)
    for i, (rows, cols) in enumerate(ndimage.find_objects(groups), start=1):
        height, span = rows.stop - rows.start, cols.stop - cols.start
        on_line = min(rows.stop, bottom) - max(rows.start, top) >= height / 2
        if on_line and heights.max() / 2 <= height and span <= height:
            found[rows, cols] |= faint[rows, cols] & (groups[rows, cols] == i)
    return found


def joined(
    smooth: np.ndarray, mask: np.ndarray, threshold: float, params: ImagingParams = DEFAULT_PARAMS
) -> np.ndarray:
    """`mask` with the fainter strokes that join its ink (hysteresis): the pieces of
    ``smooth`` above `params.weak` of `threshold` that hold some of `mask`, where that
    level stands `params.min_separation` noise deviations clear of the paper.

    A faint digit pressed against darker ones keeps only specks above their common
    threshold; what joins them is still its ink. (Not for the digits' masks: on a
    photo, soft edges and shadows join the ink too, and segmentation would merge
    them.)

    Example:
        >>> smooth = np.zeros((20, 40), np.float32)
        >>> smooth[5:15, 5:9] = 200; smooth[5:15, 9:30] = 40   # a dark stroke, a faint one
        >>> int(joined(smooth, smooth > 100, 100.0).sum())      # both, from the dark one
        250
    """
    level, spread = _paper(smooth, mask)
    low = max(params.weak * threshold, level + params.min_separation * spread)
    return mask | _holding(smooth > low, mask)


def _holding(candidates: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The pieces of `candidates` (8-connected) that hold some of `seeds`: hysteresis.
    (Labelling once is far faster than growing the seeds step by step.)"""
    pieces, count = ndimage.label(candidates, structure=np.ones((3, 3), bool))
    holds = np.zeros(count + 1, bool)
    holds[pieces[seeds]] = True
    holds[0] = False
    return holds[pieces]


def even_out(smooth: np.ndarray, params: ImagingParams = DEFAULT_PARAMS) -> np.ndarray:
    """`smooth` ink with faint strokes brought up towards the strongest: a digit
    written lightly beside darker ones would fall below their common threshold.

    Each pixel's ink above the paper's level is scaled by how far the strongest ink
    around it (within a few stroke widths, so a stroke's own soft edges keep the gain
    of its core) falls short of the strongest ink of all, by at most
    `params.faint_gain`. Where the strongest ink around is weaker than twice
    `params.min_contrast` (paper texture, noise), nothing is raised.

    Example:
        >>> ink = np.zeros((40, 80), np.float32)
        >>> ink[5:35, 10:14] = 240; ink[5:35, 60:64] = 90      # a dark 1, a faint 1
        >>> evened = even_out(ink)
        >>> float(evened[20, 12]), float(evened[20, 62])
        (240.0, 240.0)
    """
    top = float(smooth.max())
    if params.faint_gain <= 1.0 or top < params.min_contrast:
        return smooth
    mask = smooth > max(otsu_threshold(smooth), params.min_contrast / 2)
    reach = max(3, round(1.5 * stroke_width(mask)))
    # Twice the reach, then averaged over it: the gain changes smoothly, and not at all
    # within `reach` of a strong stroke.
    peak = ndimage.maximum_filter(smooth, size=2 * reach)
    peak = ndimage.uniform_filter(peak, size=reach)
    # Only ink strong enough to be written is raised: paper texture and noise are not.
    gain = np.clip(top / np.maximum(peak, 1.0), 1.0, params.faint_gain)
    gain[peak < 2 * params.min_contrast] = 1.0
    # Only the ink above the paper is raised, not the paper's own level: on a dim, noisy
    # photo the paper stands well above zero, and raising it drew a band around the strokes.
    level = max(_paper(smooth, mask)[0], 0.0)
    raised = np.where(smooth > level, level + (smooth - level) * gain, smooth)
    return np.minimum(raised, top).astype(np.float32)


def _paper(smooth: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """The paper's level in `smooth` and its noise's deviation (robust, plus one), away
    from the ink in `mask` and the strokes' soft edges. (Dilating only the box around
    the ink gives the same edges, faster.)"""
    edges = np.zeros_like(mask)
    box = ink_box(mask, margin=2)
    if box is not None:
        edges[box] = ndimage.binary_dilation(mask[box], iterations=2)
    paper = smooth[~edges]
    if paper.size < 16:
        paper = smooth[~mask]
    if not paper.size:
        return 0.0, 1.0
    level = float(np.median(paper))
    return level, 1.4826 * float(np.median(np.abs(paper - level))) + 1.0


# -- measures of the ink -------------------------------------------------------------------


def ink_box(ink: np.ndarray, margin: int = 0) -> tuple[slice, slice] | None:
    """Rows and columns of the smallest box around the nonzero pixels of `ink`, grown
    by `margin` on each side within the image; None if all are zero.

    Example:
        >>> ink = np.zeros((5, 6), bool); ink[1:3, 2:4] = True
        >>> ink_box(ink)
        (slice(1, 3, None), slice(2, 4, None))
        >>> ink_box(ink, margin=2)
        (slice(0, 5, None), slice(0, 6, None))
    """
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    return (
        slice(max(0, int(rows[0]) - margin), min(ink.shape[0], int(rows[-1]) + 1 + margin)),
        slice(max(0, int(cols[0]) - margin), min(ink.shape[1], int(cols[-1]) + 1 + margin)),
    )


def stroke_width(mask: np.ndarray, depth: np.ndarray | None = None) -> float:
    """The typical width in pixels of the strokes in a binary image.

    For a stroke w pixels wide the mean distance of its pixels to the background is
    about (w + 2) / 4, so w = 4 * mean - 2.

    Args:
        mask: the strokes.
        depth: their distances to the background (`stroke_depth`), if measured
            already: one distance transform of a whole image's ink then serves
            each of its digits, cut to the digit's frame.

    Example:
        >>> bar = np.zeros((40, 40), bool); bar[5:35, 18:24] = True   # 6 wide, 30 long
        >>> round(stroke_width(bar), 1), round(stroke_width(bar, stroke_depth(bar)), 1)
        (5.6, 5.6)
    """
    if depth is None:
        depth = stroke_depth(mask)
    if not mask.any():
        return 0.0
    return max(0.0, 4.0 * float(depth[mask].mean()) - 2.0)


def ridge_width(mask: np.ndarray) -> float:
    """The typical width in pixels of the strokes in a binary image, from the depth of
    their middle lines (the pixels deepest within 2 px; the median): each stroke counts
    by its length, so that a broad blob (the shadow of a hand over the page) weighs as a
    short stroke, not as its area, as it does in `stroke_width`.

    Example:
        >>> strokes = np.zeros((60, 200), bool); strokes[5:55, 10:17] = strokes[5:55, 30:37] = True
        >>> shadowed = strokes.copy(); shadowed[:, 100:] = True
        >>> round(ridge_width(strokes)), round(ridge_width(shadowed)), round(stroke_width(shadowed))
        (7, 7, 44)
    """
    depth = stroke_depth(mask)
    ridge = mask & (depth >= ndimage.maximum_filter(depth, size=5))
    if not ridge.any():
        return 0.0
    return max(0.0, 2.0 * float(np.median(depth[ridge])) - 1.0)


def stroke_depth(mask: np.ndarray) -> np.ndarray:
    """Each pixel's distance to the nearest pixel outside `mask` (0 outside it),
    as if the image had a frame of background.

    Example:
        >>> bar = np.zeros((5, 7), bool); bar[1:4, 1:6] = True
        >>> stroke_depth(bar)[2].tolist()
        [0.0, 1.0, 2.0, 2.0, 2.0, 1.0, 0.0]
    """
    depth = np.zeros(mask.shape)
    box = ink_box(mask)
    if box is not None:  # the distances need only the ink's box, in a frame of background
        depth[box] = ndimage.distance_transform_edt(np.pad(mask[box], 1))[1:-1, 1:-1]
    return depth


def stroke_ratio(mask: np.ndarray) -> float:
    """Stroke width / longer side of a binary digit: how bold it is, whatever its size.

    Example:
        >>> bar = np.zeros((40, 40), bool); bar[5:35, 18:24] = True
        >>> round(stroke_ratio(bar), 2)
        0.19
    """
    box = ink_box(mask)
    if box is None:
        return 0.0
    rows, cols = box
    return stroke_width(mask[box]) / float(max(rows.stop - rows.start, cols.stop - cols.start))
