"""The Digit Board: draw digits with the mouse and watch the model read them.

    mnist-cnn board [--model RUN_DIR_OR_MODEL_FILE]

A pygame window (the optional ``desktop`` extra) with a black canvas. Draw one
or more digits in white, as in MNIST; each time you lift the mouse button the
whole canvas goes to `DigitReader`, which finds the digits and classifies each.
The board draws a red box around every digit with its name above it ("Seven",
or "?" when the model is unsure) and the whole number in the status bar.
N clears the board, S saves the drawing as a PNG, Esc or closing the window quits.

The ink lives on its own surface and the boxes and labels are drawn on top of a
copy of it each frame, so the model only ever sees what you drew. `DigitBoard`
holds all the logic and draws on any surface, so it runs headless
(``SDL_VIDEODRIVER=dummy``) in tests; `run_board` is the small window loop.

Example (the same from Python):

>>> from mnist_cnn.board import run_board
>>> run_board("runs/cnn-20250101-120000")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from mnist_cnn import runs
from mnist_cnn.config import THRESHOLD
from mnist_cnn.errors import MnistCnnError

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no greeting on import
try:
    import pygame
except ImportError:  # the `desktop` extra is optional; run_board says how to get it
    pygame = None

if TYPE_CHECKING:
    from mnist_cnn.inference import Digit, DigitReader, Reading

WINDOW_SIZE = (900, 500)
STATUS_HEIGHT = 64  # the bar at the bottom; the canvas is the rest of the window
FPS = 60

PAPER = (0, 0, 0)  # MNIST is white on black; the reader accepts either polarity
INK = (255, 255, 255)
BOX = (235, 45, 45)
BAR = (32, 32, 36)
TEXT = (240, 240, 240)
HINT = (150, 150, 158)
NOTE = (120, 210, 120)

HELP = "draw digits \u00b7 N: clear \u00b7 S: save \u00b7 Esc: quit"
DIGIT_NAMES = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")


def require_pygame() -> None:
    """Raise a `MnistCnnError` that says how to install pygame if it is missing."""
    if pygame is None:
        raise MnistCnnError(
            'the Digit Board needs pygame; install it with: pip install "mnist-cnn[desktop]"'
        )


def digit_name(label: int | None) -> str:
    """The word the board writes above a digit; "?" when the model is unsure.

    >>> digit_name(7), digit_name(None)
    ('Seven', '?')
    """
    return "?" if label is None else DIGIT_NAMES[label]


class DigitBoard:
    """A drawing canvas, the digits read from it and the frame that shows both.

    Feed it pygame events with `handle` (or drain the queue with
    `process_events`), then `render` a frame onto `screen`. After every stroke
    the canvas is read again; `reading` holds the result.

    Args:
        reader: a `DigitReader`; the board only calls its `read_image`.
        screen: the surface to draw frames on: the window, or any surface.

    Example (headless, with a loaded reader):

    >>> board = DigitBoard(DigitReader.load(), pygame.Surface((900, 500)))  # doctest: +SKIP
    >>> board.stroke([(100, 100), (100, 300)]); board.refresh()  # doctest: +SKIP
    >>> board.reading.prediction, board.labels  # doctest: +SKIP
    ('1', ['One'])
    """

    def __init__(self, reader: DigitReader, screen: pygame.Surface) -> None:
        require_pygame()
        if not pygame.font.get_init():
            pygame.font.init()
        self.reader = reader
        self.screen = screen
        width, height = screen.get_size()
        # The ink: exactly what the model reads and what S saves, never the overlay.
        self.canvas = pygame.Surface((width, height - STATUS_HEIGHT))
        self.canvas.fill(PAPER)
        # Strokes 1/20 of the window high: on a digit drawn across most of the canvas
        # that is about the stroke-to-height ratio of MNIST's pen strokes.
        self.brush_radius = max(2, height // 40)
        self.label_font = pygame.font.Font(None, max(24, height // 14))
        self.number_font = pygame.font.Font(None, 40)
        self.hint_font = pygame.font.Font(None, 24)
        self.reading: Reading | None = None
        self.problem = ""  # why the canvas could not be read, shown in the status bar
        self.message = ""  # the last save, shown in the status bar
        self.running = True
        self._last_pos: tuple[int, int] | None = None  # where the pressed mouse was
        self._stale = True  # the canvas changed since it was last read

    # Events -------------------------------------------------------------------------------

    def handle(self, event: pygame.event.Event) -> None:
        """Apply one pygame event: draw, finish a stroke, clear, save or quit."""
        if event.type == pygame.QUIT:
            self.running = False
        elif event.type == pygame.KEYDOWN:
            if event.key == pygame.K_ESCAPE:
                self.running = False
            elif event.key == pygame.K_n:
                self.clear()
            elif event.key == pygame.K_s:
                self.save()
        elif self._pressed(event, pygame.MOUSEBUTTONDOWN):
            if self.canvas.get_rect().collidepoint(event.pos):  # not on the status bar
                self._last_pos = event.pos
                self.message = ""  # "saved ..." no longer describes the board
                self._dab(event.pos)
        elif event.type == pygame.MOUSEMOTION and self._last_pos is not None:
            if event.buttons[0]:
                self._line(self._last_pos, event.pos)
                self._last_pos = event.pos
            else:  # released while the window was not looking (focus lost)
                self._end_stroke()
        elif self._pressed(event, pygame.MOUSEBUTTONUP) and self._last_pos is not None:
            self._line(self._last_pos, event.pos)
            self._end_stroke()

    def _end_stroke(self) -> None:
        self._last_pos = None
        self._stale = True  # read once per stroke, not on every mouse move

    @staticmethod
    def _pressed(event: pygame.event.Event, kind: int) -> bool:
        return event.type == kind and event.button == 1  # the left button draws

    def process_events(self) -> bool:
        """Handle every queued event, then read the canvas if a stroke ended.

        Reading after the whole queue rather than on each mouse-up means a burst of
        events costs one model call. Returns False once the user asked to quit.
        """
        for event in pygame.event.get():
            self.handle(event)
        self.refresh()
        return self.running

    # Drawing ------------------------------------------------------------------------------

    def _dab(self, pos: tuple[float, float]) -> None:
        pygame.draw.circle(self.canvas, INK, (round(pos[0]), round(pos[1])), self.brush_radius)

    def _line(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        # A wide pygame.draw.line has flat, axis-aligned ends that leave notches at
        # every bend; round dabs a third of a radius apart give an even, rounded stroke.
        steps = max(1, math.ceil(math.dist(start, end) / (self.brush_radius / 3)))
        for i in range(steps + 1):
            t = i / steps
            self._dab((start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])))

    def stroke(self, points: list[tuple[float, float]]) -> None:
        """Draw a polyline through `points` in canvas pixels, as a mouse drag would."""
        if points:
            self._dab(points[0])
        for start, end in zip(points, points[1:], strict=False):
            self._line(start, end)
        self._stale = True

    def clear(self) -> None:
        """Wipe the canvas (the N key)."""
        self.canvas.fill(PAPER)
        self._last_pos = None
        self.message = ""
        self._stale = True

    def save(self, folder: str | os.PathLike | None = None) -> Path | None:
        """Save the ink as ``digit-board-YYYYmmdd-HHMMSS.png`` (the S key).

        The PNG holds only the drawing, white on black, so `mnist-cnn predict`
        can read it again. Returns the path, or None if there was nothing to save
        or it could not be written (the reason is shown in the status bar rather
        than closing the window; a failed save leaves no partial file).
        """
        pixels = self.pixels()
        if not pixels.any():
            self.message = "nothing to save: the board is empty"
            return None
        try:
            folder = Path.cwd() if folder is None else Path(folder)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = folder / f"digit-board-{stamp}.png"
            n = 2
            while path.exists():  # two saves within a second
                path = folder / f"digit-board-{stamp}-{n}.png"
                n += 1
            # Pillow, not pygame.image.save: pygame ignores failed writes (a full
            # disk) and reports a saved but empty file.
            runs.atomic_write(path, lambda tmp: Image.fromarray(pixels).save(tmp, format="PNG"))
        except OSError as e:
            self.message = f"could not save: {e.strerror or e}"
            return None
        self.message = f"saved {path.name}"
        print(f"Saved the drawing to {path}")
        return path

    # Reading ------------------------------------------------------------------------------

    def pixels(self) -> np.ndarray:
        """The canvas as a grayscale (height, width) uint8 array, white ink on black."""
        red = pygame.surfarray.array3d(self.canvas)[..., 0]  # ink is gray: one channel is enough
        return np.ascontiguousarray(red.T)  # surfarray is (x, y); images are (row, column)

    def refresh(self) -> None:
        """Read the canvas again if it changed since the last reading."""
        if self._stale:
            try:
                self.reading, self.problem = self.reader.read_image(self.pixels()), ""
            except MnistCnnError as e:  # too much ink to read: say so, lose nothing
                self.reading, self.problem = None, f"Cannot read it: {e}"
            self._stale = False

    @property
    def labels(self) -> list[str]:
        """The names shown above the digits, left to right: ["Four", "Two"]."""
        if self.reading is None:
            return []
        return [digit_name(digit.label) for digit in self.reading.digits]

    def status_text(self) -> str:
        """The status bar's main line: the whole number read, or what to do."""
        reading = self.reading
        if self.problem:
            return self.problem
        if reading is None or reading.status == "no digit" or not reading.digits:
            return "No digit yet: draw one above"
        if reading.status == "uncertain":  # the digits read, "?" for the unsure ones: "4?"
            return f"Number: {reading.guess}   (not sure, {reading.confidence:.0%})"
        return f"Number: {reading.prediction}   ({reading.confidence:.0%} sure)"

    # Frame --------------------------------------------------------------------------------

    def render(self) -> pygame.Surface:
        """Draw the canvas, the boxes and names, and the status bar onto `screen`."""
        self.refresh()
        self.screen.blit(self.canvas, (0, 0))
        for digit in self.reading.digits if self.reading else []:
            self._draw_digit(digit)
        self._draw_status_bar()
        return self.screen

    def _draw_digit(self, digit: Digit) -> None:
        x0, y0, x1, y1 = (int(v) for v in digit.box)
        pad = self.brush_radius // 2  # the box hugs the ink; a little air reads better
        box = pygame.Rect(x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad)
        pygame.draw.rect(self.screen, BOX, box, width=3, border_radius=4)
        # The name on a red tag sitting on the box: readable even where it overlaps ink.
        label = self.label_font.render(digit_name(digit.label), True, TEXT)
        tag = label.get_rect().inflate(14, 6)
        tag.bottomleft = (box.left, box.top + 1)
        if tag.top < 0:  # a digit at the top edge: hang the tag inside the box
            tag.topleft = (box.left, box.top)
        tag.clamp_ip(self.canvas.get_rect())
        pygame.draw.rect(self.screen, BOX, tag, border_radius=4)
        self.screen.blit(label, label.get_rect(center=tag.center))

    def _draw_status_bar(self) -> None:
        width, height = self.screen.get_size()
        bar = pygame.Rect(0, height - STATUS_HEIGHT, width, STATUS_HEIGHT)
        pygame.draw.rect(self.screen, BAR, bar)
        number = self.number_font.render(self.status_text(), True, TEXT)
        self.screen.blit(number, number.get_rect(topleft=(bar.left + 16, bar.top + 8)))
        hint = self.hint_font.render(HELP, True, HINT)
        self.screen.blit(hint, hint.get_rect(bottomleft=(bar.left + 16, bar.bottom - 6)))
        if self.message:
            room = bar.width - hint.get_width() - 64  # right of the help, never over it
            note = self.hint_font.render(_fit(self.message, self.hint_font, room), True, NOTE)
            self.screen.blit(note, note.get_rect(bottomright=(bar.right - 16, bar.bottom - 6)))


@functools.lru_cache(maxsize=16)  # called every frame with the same message
def _fit(text: str, font: pygame.font.Font, width: int) -> str:
    """`text`, shortened in the middle with "..." until `font` renders it within
    `width` pixels: the start (what happened) and the end (the file, the reason) stay."""
    if font.size(text)[0] <= width:
        return text
    head, tail = len(text) // 2, len(text) // 2
    while head and font.size(f"{text[:head]}...{text[-tail:]}")[0] > width:
        head, tail = head - 1, max(1, tail - 1)
    return f"{text[:head]}...{text[-tail:]}" if head else text[-tail:]


def open_window(size: tuple[int, int] = WINDOW_SIZE) -> pygame.Surface:
    """Start pygame's display and fonts and open the board's window.

    Only those two: a full ``pygame.init()`` also opens audio, which the board does
    not use and which prints errors on machines without a sound card.
    """
    # On Linux, SDL presents the window through OpenGL when it can. Mesa's OpenGL
    # (software llvmpipe, AMD radeonsi) is built on LLVM and so is TensorFlow; with
    # both loaded, one calls into the other's LLVM and the process dies with a
    # segfault. A 2D board needs no GPU, so ask SDL for plain software drawing,
    # unless the user set the variable. Without OpenGL, SDL's Wayland backend has no
    # window surface at all: there, try again with SDL's default.
    ours = sys.platform.startswith("linux") and "SDL_FRAMEBUFFER_ACCELERATION" not in os.environ
    if ours:
        os.environ["SDL_FRAMEBUFFER_ACCELERATION"] = "0"
    try:
        try:
            pygame.display.init()
            pygame.font.init()
            return pygame.display.set_mode(size)
        except pygame.error:
            if not ours:
                raise
            pygame.display.quit()
            del os.environ["SDL_FRAMEBUFFER_ACCELERATION"]
            pygame.display.init()
            return pygame.display.set_mode(size)
    except pygame.error as e:
        raise MnistCnnError(f"cannot open a window ({e}); the board needs a desktop") from None


def run_board(
    model: str | os.PathLike | None = None,
    size: tuple[int, int] = WINDOW_SIZE,
    threshold: float = THRESHOLD,
) -> None:
    """Open the Digit Board window and run it until Esc or the window is closed;
    `threshold` is the reader's (`mnist_cnn.inference.DigitReader`).

    The model is loaded before the window opens, so a bad path is reported on
    the command line like any other error.
    """
    require_pygame()
    from mnist_cnn.inference import DigitReader

    reader = DigitReader.load(model, threshold=threshold, litert=True)
    try:
        screen = open_window(size)
        caption = f"Digit Board \u00b7 {reader.info.get('name') or 'model'}"
        if reader.info.get("test_accuracy") is not None:
            caption += f" ({reader.info['test_accuracy']:.2%} on the MNIST test set)"
        pygame.display.set_caption(caption)
        board = DigitBoard(reader, screen)
        clock = pygame.time.Clock()
        while board.process_events():
            board.render()
            pygame.display.flip()
            clock.tick(FPS)  # a drawing app needs no more; leaves the CPU to the model
    finally:
        pygame.quit()
