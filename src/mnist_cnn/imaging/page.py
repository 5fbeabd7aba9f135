"""Page: a photo of a sheet of paper lying on a darker desk, table or floor.

The ink step reads the image's border as background. In a photo of a sheet on a
desk the border is the desk, so the whole bright sheet would look like light ink
on a dark ground, and its outline like a big "0". So before the ink step, a sheet
is looked for: the largest bright region, large, a rectangle at whatever angle
(a digit, even a bold one, is no rectangle), not a bar (a long slip or cheque has
writing on it and paper all along its edge), mostly paper, lying inside the photo
with the desk around it, and a sharp step darker across its edge (a lighting
gradient is no edge) to a desk darker all over (not the paper beyond a rule). If
there is one, everything outside it is painted as the sheet's paper, its lighting
carried on, as if the paper filled the photo.

>>> photo = np.full((90, 120), 80.0)                # a grey desk ...
>>> photo[15:80, 20:105] = 225                      # ... a white sheet on it ...
>>> photo[30:65, 58:64] = 30                        # ... a "1" written on the sheet
>>> paper = paper_only(photo)
>>> float(paper[0, 0]), float(paper[50, 60]), float(paper[20, 30])
(225.0, 30.0, 225.0)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull

from mnist_cnn.imaging.ink import fit_surface, fitted_level, otsu_threshold
from mnist_cnn.imaging.params import DEFAULT_PARAMS, ImagingParams
from mnist_cnn.imaging.resample import shrink

LOOK_SIZE = 128  # the sheet is looked for on a copy this size (longer side)


def find_page(gray: np.ndarray, params: ImagingParams = DEFAULT_PARAMS) -> np.ndarray | None:
    """The sheet of paper in a photo of one on a darker surface, as a bool mask of
    `gray`'s shape (a little inside the sheet's edge), or None if there is none.

    Args:
        gray: grayscale (H, W), any number type.
        params: the ``page_*`` and ``desk_*`` settings say what counts as a sheet
            on a desk.

    Example:
        >>> find_page(np.full((40, 60), 220.0)) is None        # all paper: no desk
        True
    """
    small, _ = shrink(np.asarray(gray, np.float32), LOOK_SIZE)
    if min(small.shape) < 8:
        return None
    small = ndimage.gaussian_filter(small, 1.0)
    bright = small > otsu_threshold(small.ravel())
    if bright.mean() < params.page_paper * params.page_area:
        return None  # too little bright for a sheet (a drawing's strokes): no need to look
    labels, count = ndimage.label(bright)
    largest = 1 + int(np.argmax(ndimage.sum(bright, labels, range(1, count + 1))))
    region = labels == largest
    # The cheap tests first: most images (a drawing, a page filling the photo, a digit on
    # a board) fail one of them.
    large = region.mean() >= params.page_paper * params.page_area
    if not (large and _lies_on_desk(region, params)):
        return None
    # Its convex hull: the writing on it included, even where it reaches the edge.
    sheet = _hull(region)
    # Its edge is a step, not a gradient: the paper just inside it against the desk
    # just outside.
    inside = sheet & ~ndimage.binary_erosion(sheet, iterations=3)
    outside = ndimage.binary_dilation(sheet, iterations=3) & ~sheet
    step = np.median(small[inside]) - np.median(small[outside]) if outside.any() else 0.0
    desk = np.median(small[~sheet])
    is_sheet = (
        sheet.mean() >= params.page_area  # large ...
        and _lies_on_desk(sheet, params)  # ... inside the photo, the desk around it ...
        and _rectangularity(sheet) >= params.page_rectangle  # ... a rectangle ...
        and _not_a_bar(sheet, bright, params)  # ... not a bar ...
        and bright[sheet].mean() >= params.page_paper  # ... mostly paper, not strokes ...
        and step >= params.desk_contrast  # ... and darker ...
        and np.median(small[sheet]) - desk >= params.desk_contrast  # ... all over ...
        and desk >= params.desk_level  # ... yet not a drawing's black.
    )
    if not is_sheet:
        return None
    # Two small pixels in from the edge, past the blurred border between sheet and desk.
    sheet = ndimage.binary_erosion(sheet, iterations=2)
    if not sheet.any():
        return None
    # Back to `gray`'s size: each pixel takes the small pixel it falls in.
    rows, cols = (np.arange(n) * m // n for n, m in zip(gray.shape, small.shape, strict=True))
    return sheet[np.ix_(rows, cols)]


def _not_a_bar(sheet: np.ndarray, bright: np.ndarray, params: ImagingParams) -> bool:
    """Whether `sheet` is short enough for a sheet of paper, or long (a slip, a cheque)
    with writing on it, unlike a bold white stroke, and paper all along its edge,
    unlike bold white digits that touch (the ground between their strokes reaches the
    edge of their hull)."""
    elongation = _elongation(sheet)
    if elongation <= params.page_elongation:
        return True
    inside = ndimage.binary_erosion(sheet, iterations=2)
    rim = inside & ~ndimage.binary_erosion(inside, iterations=3)
    return (
        elongation <= params.slip_elongation
        and (inside & ~bright).sum() >= params.slip_writing * inside.sum()
        and bright[rim].mean() >= params.slip_margin
    )


def _lies_on_desk(region: np.ndarray, params: ImagingParams) -> bool:
    """Whether `region` touches at most two sides of the image and leaves
    `params.desk_border` of the image's border to the desk."""
    sides = [region[0, :], region[-1, :], region[:, 0], region[:, -1]]
    border = np.concatenate([~side for side in sides])
    return sum(side.any() for side in sides) <= 2 and border.mean() >= params.desk_border


def _hull(region: np.ndarray) -> np.ndarray:
    """The pixels inside `region`'s convex hull (`region` itself if it is flat)."""
    points = np.argwhere(region).astype(np.float64)
    if len(points) < 3 or np.linalg.matrix_rank(points - points.mean(axis=0)) < 2:
        return region
    # Inside every one of the hull's half-planes, a * row + b * column + c <= 0: on each
    # row, a range of columns between the planes that bound it from left and right.
    a, b, c = ConvexHull(points).equations.T
    level = a * np.arange(region.shape[0])[:, None] + c  # (rows, planes)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -level / b
    first = np.where(b < 0, bound, -np.inf).max(axis=1, keepdims=True) - 1e-9
    last = np.where(b > 0, bound, np.inf).min(axis=1, keepdims=True) + 1e-9
    crossed = np.where(b == 0, level <= 1e-9, True).all(axis=1, keepdims=True)
    columns = np.arange(region.shape[1])
    return (crossed & (columns >= first) & (columns <= last)) | region


def _rectangularity(region: np.ndarray) -> float:
    """`region`'s area over that of the smallest rectangle, at any angle, around it:
    about 1 for a sheet of paper however it lies, pi/4 for a disc, less for a digit."""
    points = np.argwhere(region).astype(np.float64)
    if len(points) < 3 or np.linalg.matrix_rank(points - points.mean(axis=0)) < 2:
        return 0.0
    hull = points[ConvexHull(points).vertices]
    smallest = np.inf
    for a, b in zip(hull, np.roll(hull, -1, axis=0), strict=True):
        along = (b - a) / np.linalg.norm(b - a)
        across = np.array([-along[1], along[0]])
        u, v = hull @ along, hull @ across
        # Pixels, not points: each reaches half a pixel beyond its centre.
        smallest = min(smallest, (np.ptp(u) + 1) * (np.ptp(v) + 1))
    return float(region.sum() / smallest)


def _elongation(region: np.ndarray) -> float:
    """Length over width of the ellipse with `region`'s second moments (1 for a disc
    or a square, 1.4 for an A4 sheet, 4 for a bar four times as long as wide)."""
    coordinates = np.argwhere(region).astype(np.float64)
    if len(coordinates) < 3:
        return np.inf
    smallest, largest = np.linalg.eigvalsh(np.cov(coordinates.T))
    return float(np.sqrt(largest / max(smallest, 1e-9)))


def paper_only(gray: np.ndarray, params: ImagingParams = DEFAULT_PARAMS) -> np.ndarray:
    """`gray` with everything outside the sheet of paper it shows (`find_page`)
    painted as the sheet's paper, its lighting carried on (`sheet_light`); `gray`
    itself if it shows no sheet on a desk."""
    sheet = find_page(gray, params)
    if sheet is None:
        return gray
    painted = np.asarray(gray, np.float32).copy()
    painted[~sheet] = sheet_light(painted, sheet)[~sheet]
    return painted


def sheet_light(gray: np.ndarray, sheet: np.ndarray, rim: int = 3) -> np.ndarray:
    """The light on a sheet of paper as a plane over the whole image: fitted to the
    paper within `rim` pixels of the edge of `sheet` (on a grid about `LOOK_SIZE` * 2
    pixels long, enough for a plane; its darker outliers, ink, left out), and kept
    within the levels it has along that rim.

    A lamp lights one side of a sheet more than the other. Painted one level, the
    desk would meet the dimmer side in a step that the ink step reads as a stroke
    along the sheet's edge: a "1".

    Example:
        >>> lit = np.linspace(150, 230, 60)[None, :].repeat(40, axis=0)  # dimmer on the left
        >>> sheet = np.zeros(lit.shape, bool); sheet[10:30, 10:50] = True
        >>> light = sheet_light(lit, sheet)
        >>> [round(float(light[20, c])) for c in (0, 10, 49, 59)]      # out to the edges
        [164, 164, 216, 216]
    """
    step = max(1, max(sheet.shape) // (2 * LOOK_SIZE))
    grid = sheet[::step, ::step]
    rows, cols = np.nonzero(grid & ~ndimage.binary_erosion(grid, iterations=rim))
    rows, cols = rows * step, cols * step
    values = np.asarray(gray)[rows, cols].astype(np.float64)
    design = np.column_stack([np.ones(len(values)), rows, cols])
    everything = np.ones(len(values), bool)
    fit, _, _ = fit_surface(design, values, everything, 3, lambda r, spread: r >= -3 * spread)
    along = design @ fit
    height, width = sheet.shape
    plane = fitted_level(fit, np.arange(height)[:, None], np.arange(width))
    return np.clip(plane, along.min(), along.max())
