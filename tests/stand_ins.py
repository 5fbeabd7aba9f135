"""Stand-ins for the server's tests of its HTTP layer, where no model is needed."""

from __future__ import annotations

import time

import numpy as np

from mnist_cnn.inference import Digit, Reading


def fixed_reading(label: int = 7, confidence: float = 0.99) -> Reading:
    """A one-digit reading of `label`, with a 28x28 input image."""
    probabilities = [round((1 - confidence) / 9, 6)] * 10
    probabilities[label] = confidence
    digit = Digit(label, confidence, probabilities, [2, 3, 26, 27])
    pixels = np.zeros((28, 28), np.uint8)
    pixels[4:24, 12:16] = 255
    return Reading(str(label), confidence, "ok", [digit], [pixels])


class StandInReader:
    """Answers like `mnist_cnn.inference.DigitReader` without a model: every image
    reads as `reading`, after `delay` seconds (spent computing in Python, holding the
    interpreter like real work, if `busy`), or raises `error` if one is given.
    `calls` records (method, argument) for each call."""

    engine = "stand-in"

    def __init__(
        self,
        reading: Reading | None = None,
        delay: float = 0.0,
        error: Exception | None = None,
        busy: bool = False,
    ):
        self.reading = reading or fixed_reading()
        self.delay = delay
        self.busy = busy
        self.error = error
        self.calls: list[tuple[str, object]] = []
        self.info = {"name": "stand-in", "path": "/srv/m.keras", "test_accuracy": 0.5, "params": 9}

    def read_image(self, image: bytes) -> Reading:
        return self._answer("read_image", image)[0]

    def read_pixels(self, pixels: list) -> Reading:
        return self._answer("read_pixels", pixels)[0]

    def read_lines(self, lines: list) -> list[Reading]:
        return self._answer("read_lines", lines, len(lines))

    def _answer(self, method: str, argument: object, count: int = 1) -> list[Reading]:
        self.calls.append((method, argument))
        if self.busy:
            deadline = time.perf_counter() + self.delay
            while time.perf_counter() < deadline:
                sum(range(1000))
        else:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return [self.reading] * count


def slow_loader(seconds: float, reader: StandInReader | None = None):
    """A `load` for `mnist_cnn.server.command.make_server` that takes `seconds`, like
    TensorFlow and a model loading, then gives `reader` (a new `StandInReader`)."""

    def load() -> StandInReader:
        time.sleep(seconds)
        return reader or StandInReader()

    return load


def serve_stand_in(delay: float, busy: bool, max_readings: int, workers: int = 1) -> None:
    """Serve the app as ``mnist-cnn serve`` does, reading with a `StandInReader`, on a
    free local port that it prints first; for tests that need the server in a process
    of its own (``python -c "from stand_ins import serve_stand_in; ..."``)."""
    from mnist_cnn.server.command import _listen, make_server, serve_in_processes
    from mnist_cnn.server.limits import Limits

    sock = _listen("127.0.0.1", 0)
    print(sock.getsockname()[1], flush=True)
    limits = Limits(max_readings=max_readings)
    if workers > 1:
        serve_in_processes(workers, sock, lambda: StandInReader(delay=delay, busy=busy), limits)
    else:
        make_server(lambda: StandInReader(delay=delay, busy=busy), limits).run(sockets=[sock])
