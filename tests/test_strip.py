"""A line of ink -> the number model's strip."""

import numpy as np
import pytest
from scipy import ndimage

from mnist_cnn.imaging import strip


def test_the_ink_box_is_scaled_to_the_ink_height_and_placed_left():
    line = np.zeros((100, 120))
    line[10:70, 20:80] = 255  # 60 high, 60 wide
    out, scale = strip.to_strip(line)
    assert out.shape == (strip.HEIGHT, strip.WIDTH) and scale == strip.INK_HEIGHT / 60
    rows = np.flatnonzero(out.max(axis=1) > 127)
    cols = np.flatnonzero(out.max(axis=0) > 127)
    assert rows[-1] - rows[0] + 1 == strip.INK_HEIGHT
    assert cols[0] == strip.LEFT and cols[-1] - cols[0] + 1 == strip.INK_HEIGHT
    assert out.dtype == np.uint8 and out.max() == 255


def test_a_line_too_long_for_the_strip_is_scaled_down_to_fit():
    line = np.zeros((20, 1000))
    line[:, :] = 255
    out, scale = strip.to_strip(line)
    cols = np.flatnonzero(out.max(axis=0) > 127)
    assert cols[-1] < strip.WIDTH - strip.LEFT + 1 and scale < strip.INK_HEIGHT / 20
    assert (out.max(axis=1) > 127).sum() < strip.INK_HEIGHT  # thinner than the ink height


def test_no_ink_is_a_black_strip():
    out, scale = strip.to_strip(np.zeros((5, 5), np.uint8))
    assert not out.any() and scale == 1.0


def bars(ink: np.ndarray) -> list[tuple[float, float]]:
    """Each upright bar of `ink` (left to right): its mean column, and how far its
    bottom quarter lies right of its top quarter (its lean, in columns)."""
    labels, count = ndimage.label(ink > 127)
    found = []
    for k in range(1, count + 1):
        rows, cols = np.nonzero(labels == k)
        quarter = (rows.max() - rows.min()) / 4
        top, bottom = rows <= rows.min() + quarter, rows >= rows.max() - quarter
        found.append((cols.mean(), cols[bottom].mean() - cols[top].mean()))
    return sorted(found)


@pytest.mark.parametrize("degrees", [20, -20, 10])
def test_a_turned_line_is_turned_level_its_digits_upright_and_in_their_columns(degrees):
    line = np.zeros((80, 200), np.float32)
    for left in (40, 100, 160):  # "111", upright
        line[20:60, left : left + 6] = 255
    turned = ndimage.rotate(line, degrees, reshape=True, order=1)
    rows, cols = np.nonzero(turned > 0)
    turned = turned[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    slope = strip.tilt(turned)
    assert slope != 0.0 and np.sign(slope) == -np.sign(degrees)

    levelled, shift = strip.level(turned, slope)
    before, after = bars(turned), bars(levelled)
    assert len(after) == 3 and abs(before[0][1]) > 4  # the bars lean, turned
    for (column, _), (level_column, lean) in zip(before, after, strict=True):
        assert abs(lean) <= 1.5  # upright again
        assert abs(level_column - shift - column) <= 1.0  # where it was
    assert levelled.shape[0] < 50  # the line's height, not the slope's
