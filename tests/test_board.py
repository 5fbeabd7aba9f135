"""The Digit Board, headless: real pygame events on SDL's dummy video driver, a real
model, and real MNIST digits traced onto the canvas with the mouse."""

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

SCALE = 14  # MNIST pixel -> screen pixels: a 28x28 digit becomes 392x392, most of the canvas


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
def board(reader, screen):
    pygame.event.clear()  # the dummy window's own start-up events
    return DigitBoard(reader, screen)


def first_digit(mnist, label: int) -> np.ndarray:
    return mnist.x_test[np.flatnonzero(mnist.y_test == label)[0]]


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
            events += [
                pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=start, button=1),
                pygame.event.Event(pygame.MOUSEMOTION, pos=end, rel=(0, 0), buttons=(1, 0, 0)),
                pygame.event.Event(pygame.MOUSEBUTTONUP, pos=end, button=1),
            ]
    return events


def post(*events: pygame.event.Event) -> None:
    for event in events:
        pygame.event.post(event)


def key(k: int) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode="")


def red_pixels(surface: pygame.Surface) -> np.ndarray:
    """(x, y) of every pixel in the box colour."""
    rgb = pygame.surfarray.array3d(surface)
    return np.argwhere(np.all(rgb == BOX, axis=-1))


def test_an_empty_board_reads_no_digit(board):
    assert board.process_events()
    assert board.reading.status == "no digit"
    assert board.labels == []
    assert "No digit" in board.status_text()
    assert len(red_pixels(board.render())) == 0


@pytest.mark.slow
def test_a_traced_mnist_seven_is_boxed_and_named(board, mnist):
    post(*trace(first_digit(mnist, 7), left=250))
    assert board.process_events()

    assert board.reading.prediction == "7"
    assert board.labels == ["Seven"]
    assert board.status_text().startswith("Number: 7")
    # The box sits around the ink, in red, on the screen only: never on the canvas
    # the model reads.
    x0, y0, x1, y1 = board.reading.digits[0].box
    assert 250 <= x0 < x1 <= 250 + 28 * SCALE and 20 <= y0 < y1 <= 20 + 28 * SCALE
    red = red_pixels(board.render())
    assert len(red) > 100
    assert red[:, 0].min() < x0 and red[:, 0].max() > x1
    assert red[:, 1].min() < y0 and red[:, 1].max() > y1
    assert len(red_pixels(board.canvas)) == 0


@pytest.mark.slow
def test_two_digits_side_by_side_read_as_one_number(board, mnist):
    post(*trace(first_digit(mnist, 4), left=40), *trace(first_digit(mnist, 2), left=460))
    board.process_events()

    assert board.reading.prediction == "42"
    assert board.labels == ["Four", "Two"]
    assert len(board.reading.digits) == 2
    (a, b) = (d.box for d in board.reading.digits)
    assert a[2] < b[0]  # left to right, not overlapping
    assert board.status_text().startswith("Number: 42")

    frame = board.render()
    red_x = red_pixels(frame)[:, 0]
    assert (red_x < 450).any() and (red_x > 450).any()  # a box on each side


def test_an_unsure_digit_is_named_with_a_question_mark(reader, screen):
    from mnist_cnn.inference import DigitReader

    doubtful = DigitBoard(DigitReader(reader.model, threshold=1.0), screen)  # never sure
    doubtful.stroke([(300, 60), (300, 360)])
    doubtful.refresh()

    assert doubtful.reading.status == "uncertain"
    assert doubtful.labels == ["?"]
    assert doubtful.status_text().startswith("Number: ?   (not sure")
    assert len(red_pixels(doubtful.render())) > 100


@pytest.mark.slow
def test_n_clears_the_board(board, mnist):
    post(*trace(first_digit(mnist, 0), left=250))
    board.process_events()
    assert board.labels == ["Zero"]

    post(key(pygame.K_n))
    board.process_events()
    assert not board.pixels().any()
    assert board.reading.status == "no digit"
    assert board.labels == []
    assert len(red_pixels(board.render())) == 0


@pytest.mark.slow
def test_s_saves_the_drawing_as_png(board, mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    post(*trace(first_digit(mnist, 5), left=250), key(pygame.K_s))
    board.process_events()

    (saved,) = tmp_path.glob("*.png")
    assert re.fullmatch(r"digit-board-\d{8}-\d{6}\.png", saved.name)
    assert str(saved) in capsys.readouterr().out
    assert "saved" in board.message
    image = np.asarray(Image.open(saved).convert("L"))
    assert image.shape == (WINDOW_SIZE[1] - STATUS_HEIGHT, WINDOW_SIZE[0])
    np.testing.assert_array_equal(image, board.pixels())  # the ink only, no boxes
    assert image.any()

    post(key(pygame.K_s))  # a second save, even within the same second, never overwrites
    board.process_events()
    assert len(list(tmp_path.glob("digit-board-*.png"))) == 2


@pytest.mark.slow
def test_a_save_that_cannot_be_made_says_why_and_leaves_no_file(
    board, mnist, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    post(key(pygame.K_s))  # an empty board
    board.process_events()
    assert board.message == "nothing to save: the board is empty"
    assert list(tmp_path.iterdir()) == []

    post(*trace(first_digit(mnist, 5), left=250))
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


@pytest.mark.slow
def test_run_board_draws_saves_and_quits(model_file, mnist, tmp_path, monkeypatch, capsys):
    """The window loop end to end: events arrive once the window is open."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.chdir(tmp_path)
    set_mode = pygame.display.set_mode

    def open_window_and_draw(*args, **kwargs):
        screen = set_mode(*args, **kwargs)
        post(
            *trace(first_digit(mnist, 1), left=250),
            key(pygame.K_s),
            pygame.event.Event(pygame.QUIT),
        )
        return screen

    monkeypatch.setattr(pygame.display, "set_mode", open_window_and_draw)
    run_board(str(model_file))

    (saved,) = tmp_path.glob("digit-board-*.png")
    assert np.asarray(Image.open(saved).convert("L")).any()
    assert f"Saved the drawing to {saved}" in capsys.readouterr().out
    assert not pygame.display.get_init()  # the window is closed again


def test_without_pygame_the_board_says_how_to_install_it(monkeypatch, capsys):
    from mnist_cnn.cli import main

    monkeypatch.setattr(board_module, "pygame", None)
    with pytest.raises(MnistCnnError, match=r'pip install "mnist-cnn\[desktop\]"'):
        run_board()
    assert main(["board"]) == 1
    assert 'pip install "mnist-cnn[desktop]"' in capsys.readouterr().err


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


def test_no_window_is_a_one_line_error(model_file, monkeypatch, capsys):
    from mnist_cnn.cli import main

    monkeypatch.setenv("SDL_VIDEODRIVER", "no-such-driver")
    assert main(["board", "--model", str(model_file)]) == 1
    assert "cannot open a window" in capsys.readouterr().err
