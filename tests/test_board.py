"""The Digit Board, headless: real pygame events on SDL's dummy video driver.

Most tests drive the board with a stand-in reader (fixed answers, no model); a few
trace printed digits onto the canvas with the mouse and read them with the shipped
model, and one traces real MNIST digits (slow)."""

import os
import re
import subprocess
import sys

import numpy as np
import pygame
import pytest
from PIL import Image

from mnist_cnn import board as board_module
from mnist_cnn.board import BOX, STATUS_HEIGHT, WINDOW_SIZE, DigitBoard, run_board
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.inference import Digit, Reading

SCALE = 14  # 28x28 pixel -> screen pixels: a digit becomes 392x392, most of the canvas
LINE = [(300, 60), (300, 360)]  # a stroke drawn by the test: an upright bar


class StandInReader:
    """What the board calls on a `DigitReader`, with fixed answers and no model: one
    digit boxed around all the ink, labelled `label` (None: unsure), or no digit on a
    blank canvas. `calls` counts the readings."""

    def __init__(self, label: int | None = 7, confidence: float = 0.9):
        self.label, self.confidence, self.calls = label, confidence, 0

    def read_image(self, image: np.ndarray) -> Reading:
        self.calls += 1
        ink = np.argwhere(image > 0)
        if not len(ink):
            return Reading(None, 0.0, "no digit", [], [])
        (y0, x0), (y1, x1) = ink.min(axis=0), ink.max(axis=0) + 1
        box = [int(x0), int(y0), int(x1), int(y1)]
        digit = Digit(self.label, self.confidence, [0.1] * 10, box)
        if self.label is None:
            return Reading(None, self.confidence, "uncertain", [digit], [])
        return Reading(str(self.label), self.confidence, "ok", [digit], [])


@pytest.fixture(scope="module")
def reader(model_file):
    from mnist_cnn.inference import DigitReader

    return DigitReader.load(model_file)


@pytest.fixture
def screen(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # before the display starts
    pygame.display.init()
    pygame.font.init()
    yield pygame.display.set_mode(WINDOW_SIZE)
    pygame.quit()


@pytest.fixture
def board(screen):
    """A board whose reader always reads a Seven, boxed around the ink."""
    pygame.event.clear()  # the dummy window's own start-up events
    return DigitBoard(StandInReader(), screen)


@pytest.fixture
def model_board(reader, screen):
    """A board that reads with the shipped model."""
    pygame.event.clear()
    return DigitBoard(reader, screen)


def first_digit(images: tuple[np.ndarray, np.ndarray], label: int) -> np.ndarray:
    x, y = images
    return x[np.flatnonzero(y == label)[0]]


def trace(digit: np.ndarray, left: int, top: int = 20) -> list[pygame.event.Event]:
    """Mouse drags along every run of bright pixels of a 28x28 digit, row by row,
    scaled by SCALE and placed at (left, top) on the canvas."""
    events = []
    for row in range(28):
        bright = np.flatnonzero(digit[row] >= 128)
        for run in np.split(bright, np.flatnonzero(np.diff(bright) > 1) + 1):
            if run.size == 0:
                continue
            y = top + row * SCALE + SCALE // 2
            start = (left + run[0] * SCALE + SCALE // 2, y)
            end = (left + run[-1] * SCALE + SCALE // 2, y)
            events += drag(start, end)
    return events


def drag(*points: tuple[int, int]) -> list[pygame.event.Event]:
    """A left-button drag through `points`, as the mouse sends it."""
    moves = [
        pygame.event.Event(pygame.MOUSEMOTION, pos=p, rel=(0, 0), buttons=(1, 0, 0))
        for p in points[1:]
    ]
    return [
        pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=points[0], button=1),
        *moves,
        pygame.event.Event(pygame.MOUSEBUTTONUP, pos=points[-1], button=1),
    ]


def post(*events: pygame.event.Event) -> None:
    for event in events:
        pygame.event.post(event)


def key(k: int) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode="")


def red_pixels(surface: pygame.Surface) -> np.ndarray:
    """(x, y) of every pixel in the box colour."""
    rgb = pygame.surfarray.array3d(surface)
    return np.argwhere(np.all(rgb == BOX, axis=-1))


def assert_boxed(surface: pygame.Surface, box: list[int]) -> None:
    """Red drawn on `surface` all around `box` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    red = red_pixels(surface)
    assert len(red) > 100
    assert red[:, 0].min() < x0 and red[:, 0].max() > x1
    assert red[:, 1].min() < y0 and red[:, 1].max() > y1


# -- The board, with a stand-in reader ----------------------------------------------------------


def test_an_empty_board_reads_no_digit(board):
    assert board.process_events()
    assert board.reading.status == "no digit"
    assert board.labels == []
    assert "No digit" in board.status_text()
    assert len(red_pixels(board.render())) == 0


def test_a_stroke_is_read_once_when_the_mouse_is_lifted(board):
    board.process_events()
    assert board.reader.calls == 1  # the empty canvas
    post(*drag((100, 100), (120, 200), (140, 300), (160, 380)))
    board.process_events()
    assert board.reader.calls == 2  # one reading for the whole stroke
    board.process_events()
    board.render()
    assert board.reader.calls == 2  # nothing new drawn: not read again
    post(*drag((400, 100), (400, 300))[:2])  # pressed and moving, not yet lifted
    board.process_events()
    assert board.reader.calls == 2


def test_the_box_and_name_are_drawn_on_the_screen_only(board):
    post(*drag(*LINE))
    board.process_events()
    assert board.labels == ["Seven"]
    assert board.status_text() == "Number: 7   (90% sure)"
    x0, y0, x1, y1 = box = board.reading.digits[0].box
    r = board.brush_radius
    assert box == [300 - r, 60 - r, 300 + r, 360 + r]
    assert_boxed(board.render(), box)
    assert len(red_pixels(board.canvas)) == 0  # the model reads the ink alone


def test_a_tag_at_the_top_edge_hangs_inside_the_box(board):
    board.stroke([(300, 35), (300, 300)])  # no room above the box for the tag
    red = red_pixels(board.render())
    x0, y0 = board.reading.digits[0].box[:2]
    top = y0 - board.brush_radius // 2  # the box's frame, a little outside the ink
    assert red[:, 1].min() == top  # nothing above the box
    # Red in the box's top left corner, over the ink: the tag, not just the frame.
    tag = (red[:, 1] > top + 5) & (red[:, 1] < top + 20) & (red[:, 0] > x0) & (red[:, 0] < x0 + 20)
    assert tag.sum() > 50


def test_an_unsure_digit_is_named_with_a_question_mark(screen):
    unsure = DigitBoard(StandInReader(label=None, confidence=0.4), screen)
    unsure.stroke(LINE)
    unsure.refresh()

    assert unsure.reading.status == "uncertain"
    assert unsure.labels == ["?"]
    assert unsure.status_text() == "Number: ?   (not sure, 40%)"
    assert_boxed(unsure.render(), unsure.reading.digits[0].box)


def test_n_clears_the_board(board):
    post(*drag(*LINE))
    board.process_events()
    assert board.labels == ["Seven"]

    post(key(pygame.K_n))
    board.process_events()
    assert not board.pixels().any()
    assert board.reading.status == "no digit"
    assert board.labels == []
    assert len(red_pixels(board.render())) == 0


def test_s_saves_the_drawing_as_png(board, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    post(*drag(*LINE), key(pygame.K_s))
    board.process_events()

    (saved,) = tmp_path.glob("*.png")
    assert re.fullmatch(r"digit-board-\d{8}-\d{6}\.png", saved.name)
    assert str(saved) in capsys.readouterr().out
    assert board.message == f"saved {saved.name}"
    image = np.asarray(Image.open(saved).convert("L"))
    assert image.shape == (WINDOW_SIZE[1] - STATUS_HEIGHT, WINDOW_SIZE[0])
    np.testing.assert_array_equal(image, board.pixels())  # the ink only, no boxes
    assert image.any()

    post(key(pygame.K_s))  # a second save, even within the same second, never overwrites
    board.process_events()
    assert len(list(tmp_path.glob("digit-board-*.png"))) == 2


def test_a_save_that_cannot_be_made_says_why_and_leaves_no_file(board, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    post(key(pygame.K_s))  # an empty board
    board.process_events()
    assert board.message == "nothing to save: the board is empty"
    assert list(tmp_path.iterdir()) == []

    post(*drag(*LINE))
    board.process_events()
    assert board.save(tmp_path / "no-such-folder") is None
    assert board.message.startswith("could not save: ")

    def disk_full(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"\x89PNG")  # a few bytes, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    post(key(pygame.K_s))
    board.process_events()  # the window stays; the reason is shown
    assert board.running and board.message == "could not save: No space left on device"
    assert list(tmp_path.iterdir()) == []  # no empty or partial PNG

    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()  # the folder the board was started in is deleted
    post(key(pygame.K_s))
    board.process_events()
    assert board.running and board.message.startswith("could not save: ")


def test_long_messages_fit_the_status_bar(board):
    font, room = board.hint_font, 300
    path = "saved /home/someone/a/very/long/folder/name/digit-board-20261127-120000.png"
    short = board_module._fit(path, font, room)
    assert font.size(short)[0] <= room
    assert short.startswith("saved") and short.endswith(".png") and "..." in short
    assert board_module._fit("saved x.png", font, room) == "saved x.png"
    board.message = path
    board.render()  # draws without error; a stroke then clears the stale message
    board.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(100, 100), button=1))
    assert board.message == ""


def test_a_canvas_too_busy_to_read_says_so_and_keeps_its_ink(board, monkeypatch):
    from mnist_cnn.imaging import ImageError

    def refuse(image):
        raise ImageError("the image holds 1,234 pieces of ink, more than the 1,000 ...")

    post(*drag(*LINE))
    board.process_events()
    monkeypatch.setattr(board.reader, "read_image", refuse)
    post(*drag((100, 100), (100, 300)))
    board.process_events()
    board.render()  # no exception: the status bar says why, the strokes stay
    assert board.status_text().startswith("Cannot read it: the image holds 1,234 pieces")
    assert board.reading is None and len(red_pixels(board.screen)) == 0
    assert (board.pixels()[60:360, 300] > 0).all() and (board.pixels()[100:300, 100] > 0).all()
    monkeypatch.undo()  # readable again: the reading comes back
    post(*drag((400, 100), (400, 300)))
    board.process_events()
    assert board.status_text().startswith("Number: 7")


def test_strokes_are_continuous_and_stay_on_the_canvas(board):
    r = board.brush_radius
    post(
        pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(100, 100), button=1),
        pygame.event.Event(pygame.MOUSEMOTION, pos=(700, 300), rel=(600, 200), buttons=(1, 0, 0)),
        pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(700, 300), button=1),
    )
    for event in pygame.event.get():
        board.handle(event)
    ink = board.pixels()
    # One fast mouse move still leaves an unbroken stroke, round at the ends.
    for x in range(100, 701, 5):
        y = round(100 + (x - 100) / 3)
        assert ink[y, x] == 255, (x, y)
    assert ink[100, 100 - r + 1] == 255 and ink[100 - r + 1, 100] == 255
    assert ink[100 - r, 100 - r] == 0

    # A press on the status bar draws nothing.
    board.clear()
    y = WINDOW_SIZE[1] - STATUS_HEIGHT // 2
    board.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(300, y), button=1))
    board.handle(pygame.event.Event(pygame.MOUSEMOTION, pos=(300, 100), rel=(0, 0), buttons=(1,)))
    assert not board.pixels().any()

    # A button released unseen (the window lost focus) ends the stroke: no line follows.
    board.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(100, 100), button=1))
    board.handle(pygame.event.Event(pygame.MOUSEMOTION, pos=(400, 100), rel=(0, 0), buttons=(0,)))
    board.handle(pygame.event.Event(pygame.MOUSEMOTION, pos=(600, 100), rel=(0, 0), buttons=(0,)))
    assert board.pixels()[100, 100] == 255 and not board.pixels()[:, 150:].any()


def test_escape_and_closing_the_window_quit(board):
    post(key(pygame.K_ESCAPE))
    assert board.process_events() is False
    board.running = True
    post(pygame.event.Event(pygame.QUIT))
    assert board.process_events() is False


# -- The board with the shipped model --------------------------------------------------------


def test_a_traced_seven_is_boxed_and_named(model_board, digit_images):
    post(*trace(first_digit(digit_images, 7), left=250))
    assert model_board.process_events()

    assert model_board.reading.prediction == "7"
    assert model_board.labels == ["Seven"]
    assert model_board.status_text().startswith("Number: 7")
    x0, y0, x1, y1 = box = model_board.reading.digits[0].box
    assert 250 <= x0 < x1 <= 250 + 28 * SCALE and 20 <= y0 < y1 <= 20 + 28 * SCALE
    assert_boxed(model_board.render(), box)
    assert len(red_pixels(model_board.canvas)) == 0


def test_two_digits_side_by_side_read_as_one_number(model_board, digit_images):
    seven, two = (first_digit(digit_images, label) for label in (7, 2))
    post(*trace(seven, left=40), *trace(two, left=460))
    model_board.process_events()

    assert model_board.reading.prediction == "72"
    assert model_board.labels == ["Seven", "Two"]
    (a, b) = (d.box for d in model_board.reading.digits)
    assert a[2] < b[0]  # left to right, not overlapping
    assert model_board.status_text().startswith("Number: 72")
    red_x = red_pixels(model_board.render())[:, 0]
    assert (red_x < 450).any() and (red_x > 450).any()  # a box on each side


@pytest.mark.slow
def test_traced_handwritten_digits_read_as_one_number(model_board, mnist):
    four, two = (first_digit((mnist.x_test, mnist.y_test), label) for label in (4, 2))
    post(*trace(four, left=40), *trace(two, left=460))
    model_board.process_events()
    assert model_board.reading.prediction == "42"
    assert model_board.labels == ["Four", "Two"]


# -- The window ------------------------------------------------------------------------------


@pytest.mark.slow  # a new process
def test_run_board_draws_saves_and_quits(model_file, tmp_path, monkeypatch, capsys):
    """The window loop end to end: events arrive once the window is open."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.chdir(tmp_path)
    set_mode = pygame.display.set_mode

    def open_window_and_draw(*args, **kwargs):
        screen = set_mode(*args, **kwargs)
        post(*drag(*LINE), key(pygame.K_s), pygame.event.Event(pygame.QUIT))
        return screen

    monkeypatch.setattr(pygame.display, "set_mode", open_window_and_draw)
    run_board(str(model_file))

    (saved,) = tmp_path.glob("digit-board-*.png")
    assert np.asarray(Image.open(saved).convert("L"))[60:360, 300].all()  # the stroke
    assert f"Saved the drawing to {saved}" in capsys.readouterr().out
    assert not pygame.display.get_init()  # the window is closed again


def test_without_pygame_the_board_says_how_to_install_it(monkeypatch, capsys):
    from mnist_cnn.cli import main

    monkeypatch.setattr(board_module, "pygame", None)
    with pytest.raises(MnistCnnError, match=r'pip install "mnist-cnn\[desktop\]"'):
        run_board()
    assert main(["board"]) == 1
    assert 'pip install "mnist-cnn[desktop]"' in capsys.readouterr().err


@pytest.mark.slow  # a new process with a real window
def test_a_real_window_and_tensorflow_live_together(model_file, tmp_path):
    """SDL's offscreen driver draws like a desktop one, through OpenGL if allowed. On
    Linux, Mesa's OpenGL and TensorFlow each bring LLVM and crash together; the board
    must open its window without OpenGL. In a subprocess: the failure is a segfault."""
    script = tmp_path / "board_once.py"
    script.write_text(
        "import sys, pygame\n"
        "from mnist_cnn import board\n"
        "set_mode = pygame.display.set_mode\n"
        "def open_and_quit(*args, **kwargs):\n"
        "    screen = set_mode(*args, **kwargs)\n"
        "    pygame.event.post(pygame.event.Event(pygame.QUIT))\n"
        "    return screen\n"
        "pygame.display.set_mode = open_and_quit\n"
        "board.run_board(sys.argv[1])\n"
        "print('closed cleanly')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["SDL_VIDEODRIVER"] = "offscreen"
    env.pop("SDL_FRAMEBUFFER_ACCELERATION", None)
    done = subprocess.run(
        [sys.executable, str(script), str(model_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "closed cleanly" in done.stdout


@pytest.mark.slow  # a new process
def test_no_window_is_a_one_line_error(model_file, monkeypatch, capsys):
    from mnist_cnn.cli import main

    monkeypatch.setenv("SDL_VIDEODRIVER", "no-such-driver")
    assert main(["board", "--model", str(model_file)]) == 1
    assert "cannot open a window" in capsys.readouterr().err
