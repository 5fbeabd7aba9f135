"""A line of ink -> the number model's strip."""

import numpy as np

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
