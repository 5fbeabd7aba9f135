"""The tunable settings of the image pipeline, in one frozen dataclass.

Every step that has a choice to make reads it from an `ImagingParams`, passed down
from `extract_digits`; the defaults are the values the pipeline was tuned with.

>>> ImagingParams().min_contrast
32.0
>>> bolder = ImagingParams(hairline=0.1)      # thicken more digits
>>> bolder.hairline, bolder.work_size
(0.1, 1024)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImagingParams:
    """How digits are found in an image and drawn in MNIST's style."""

    # -- analysis -------------------------------------------------------------------------
    # Larger images are analysed at this longer side (boxes are mapped back): plenty
    # for digits, and it bounds the time a 40-megapixel photo takes.
    work_size: int = 1024
    # An image of over twice as many pixels is first analysed at this longer side, and
    # that kept where every digit found is at least `quick_height` pixels tall there and
    # the strokes at least `quick_stroke` wide (the models see digits 20-24 px tall): a
    # drawing made with a thick brush, or a large photo of large digits, loses nothing
    # and takes a fraction of the time; else it is analysed at `work_size`.
    quick_size: int = 256
    quick_height: int = 28
    quick_stroke: float = 3.0
    # Digits under this many pixels tall at `work_size`, in an image decoded larger (a
    # number small on a large photo), are found again at the image's own resolution in
    # the region around them: small, their strokes blur into each other.
    small_height: int = 20
    # The background window: 3 stroke widths, at least this share of the longer side,
    # so that a few thick strokes cannot make it follow the ink.
    min_window: float = 0.2
    # A shadow reaching the border this share of the way across deep, or deeper, over
    # half a side, is background beyond the border too (`ink._frame_shadows`): a
    # stroke along the border is narrower.
    shadow_depth: float = 0.06

    # -- page: a sheet of paper photographed on a darker desk (`page.find_page`) --------
    # The sheet: the largest bright region, filling at least this share of the image ...
    page_area: float = 0.2
    # ... and this share of the smallest rectangle around it, at any angle (a disc: 0.79) ...
    page_rectangle: float = 0.88
    # ... no longer than this for its width (A4 paper: 1.41; a digit: 1.5-2, a "1" more) ...
    page_elongation: float = 1.6
    # ... or, up to this long (a cheque: 2.3-2.9; a slip with a number on it), with
    # writing on it: dark marks inside over at least `slip_writing` of it (a bold
    # white "1" has none), and paper over `slip_margin` of its edge (a string of bold
    # white digits has the ground between them there) ...
    slip_elongation: float = 6.0
    slip_writing: float = 0.01
    slip_margin: float = 0.9
    # ... bright over this share of its convex hull (a white digit on black is not:
    # strokes fill half their hull or less) ...
    page_paper: float = 0.7
    # ... with the desk over this share of the image's border (the sheet touching two
    # of its sides at most) ...
    desk_border: float = 0.3
    # ... and, across the sheet's edge and in its median, at least this many grey levels
    # darker (as much as the ink step takes for ink on such paper; the paper between
    # two rules is no sheet, the rest of the page around it is paper too) ...
    desk_contrast: float = 24.0
    # ... yet no darker than this: a background of pure black is a digital image's (a
    # bold white digit on black), not a desk in a photo.
    desk_level: float = 12.0

    # -- ink ------------------------------------------------------------------------------
    # Ink weaker than this (0-255 scale) is paper texture, not ink.
    min_contrast: float = 32.0
    # Dark ink is measured as the share of the paper's light it absorbs, but against
    # paper at least this share of the image's brightest paper: where the paper falls
    # near black (the dark end of a steep gradient, a vignette's corner), a step of a
    # few grey levels would otherwise count as ink absorbing all the light.
    dark_paper: float = 0.5
    # Faint ink is raised towards the strongest by at most this factor (`ink.even_out`):
    # a digit written lightly beside darker ones.
    faint_gain: float = 3.0
    # A faint digit beside darker ones breaks into specks under their threshold: ink
    # down to this share of it counts where it joins such specks (hysteresis).
    weak: float = 0.35
    # Ink must stand this many noise deviations above the background (else it is noise).
    min_separation: float = 6.0
    # The ink threshold must stand this many above it, else the noise's blotches pass it
    # (a dim, noisy photo): the ink map is then blurred twice or three times as much, to
    # at most `max_blur` pixels.
    min_clearance: float = 8.0
    max_blur: float = 3.0

    # -- segmentation ---------------------------------------------------------------------
    # A straight line this many times as long as the digits are tall is a rule (ruled or
    # squared paper, a box, an underline), taken out of the ink (`rules`).
    rule: float = 2.0
    # Components smaller than this share of the largest one are dirt.
    speck: float = 0.04
    # More pieces of ink than this are no number (a page of text, a pattern): refused,
    # so that no image makes a reading take seconds (a 1024-px grid of 7,225 dots
    # took 8.5 s to read).
    max_pieces: int = 1000
    # Pieces no taller than this share of the tallest, beside the digits, may be marks
    # between them (a colon's dots, a dash), set aside (`segment._marks`).
    mark: float = 0.35
    # A colon's dots fill at least this share of their boxes, and a dash's stroke is at
    # least this share of the digits' stroke width: a digit that a thin pen broke
    # breaks into thinner, curved parts.
    dot_fill: float = 0.55
    mark_pen: float = 0.55
    # Pieces overlapping this share of the narrower one's width are one digit.
    overlap: float = 0.5
    # Pieces shorter than this share of the tallest are parts of a digit ...
    fragment: float = 0.5
    # ... when this close to it (share of the tallest height), else they are dropped.
    near: float = 0.2
    # Rows of digits one above another are segmented apart where a gap of `row_gap` of
    # the tallest parts them and one holds two pieces side by side, each `row_fill` of
    # its height (digits; a digit broken across breaks into shorter parts). Rows a tenth
    # of a digit's height apart are still two (at `near`, rows closer than a fifth
    # merged into tall blobs read as other digits).
    row_gap: float = 0.06
    row_fill: float = 0.7
    # Pixels: a lone blob smaller than this (a speck, a dot) is no digit ...
    min_side: int = 6
    # ... nor one wider than tall and under this many stroke widths tall (a dash).
    line: float = 1.5
    # A blob wider than this times its height may be touching digits: on MNIST 2.4% of
    # single digits are wider than 1.3 times their height.
    wide: float = 1.3
    # ... and it is cut where its column of ink is thinner than this share of the
    # typical column ...
    thin: float = 0.5
    # ... or anyway beyond this width / height: on MNIST 0.2% of single digits are wider.
    very_wide: float = 1.8

    # -- MNIST style ----------------------------------------------------------------------
    # Grey levels kept below the ink threshold, as a share of it: the anti-aliased edges.
    edge: float = 0.5
    # Percentile of a digit's ink level that becomes full white (255), as MNIST's cores.
    core: float = 75
    # Stroke width / longer side below which a digit is a hairline and thickened to
    # MNIST's median (MNIST has next to none; 90% of its digits lie within 0.084-0.194).
    hairline: float = 0.07
    # Stroke width / digit height above which a line's ink is a broad marker's and
    # thinned for the number model (the digit model reads bold digits well). In 90%
    # of real handwriting (scikit-learn's digits) it lies within 0.18-0.30, in its
    # lines of touching digits within 0.18-0.26; MNIST's numbers, 0.13-0.20.
    bold: float = 0.3


DEFAULT_PARAMS = ImagingParams()  # the default of every function that takes `params`
