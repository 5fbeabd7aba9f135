"""Bounds on the work one server takes on: readings at once, waiting, time and pixels.

Reading an image is CPU work. `ReadingGate` runs at most ``max_readings`` of them at
once (one per core by default) in threads of its own, lets ``max_waiting`` more wait
for a turn, and answers any request past that at once with 503 and ``Retry-After``
(`Overloaded`), so a few clients cannot exhaust the machine and everyone else gets a
quick, honest answer. A reading that takes longer than ``reading_timeout`` (waiting
included) is answered 503 too; its thread finishes in the background and keeps its
slot until it does, so the count of running readings is always the work really done.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

RETRY_AFTER_S = 1


def _cores() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Limits:
    """How much reading one server process takes on.

    max_readings: readings run at once (default: the CPU count).
    max_waiting: readings that may wait for a turn; past them, 503 at once.
    reading_timeout: seconds a request may wait and read before it is answered 503.
    batch_pixels: pixels of all a batch's images together, read from their headers.

    >>> Limits(max_readings=2).max_waiting
    2
    """

    max_readings: int = field(default_factory=_cores)
    max_waiting: int | None = None  # None: as many as max_readings
    reading_timeout: float = 10.0
    batch_pixels: int = 50_000_000

    def __post_init__(self) -> None:
        if self.max_waiting is None:
            object.__setattr__(self, "max_waiting", self.max_readings)


class Overloaded(Exception):
    """More readings than the server takes on, or one that ran out of time: a 503."""


class ReadingGate:
    """Runs readings in at most `Limits.max_readings` threads, with a short queue.

    Example::

        gate = ReadingGate(Limits(max_readings=2))
        reading = await gate.run(reader.read_image, data)  # or raises Overloaded
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.running = 0  # readings in their threads, timed out or not
        self._waiters: deque[asyncio.Future] = deque()
        self._threads = ThreadPoolExecutor(limits.max_readings, thread_name_prefix="reading")

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def run(self, call: Callable[..., Any], *args: Any) -> Any:
        """`call(*args)` in a reading thread; raises `Overloaded` when the queue is full
        or the answer does not come within `Limits.reading_timeout` seconds."""
        limits = self.limits
        self.check()
        try:
            async with asyncio.timeout(limits.reading_timeout):
                await self._take_turn()
                future = asyncio.get_running_loop().run_in_executor(self._threads, call, *args)
                future.add_done_callback(self._release)  # when the thread ends, not the request
                return await asyncio.shield(future)
        except TimeoutError:
            raise Overloaded(
                f"the reading took over {limits.reading_timeout:g} s; "
                f"send a smaller image or try again in {RETRY_AFTER_S} s"
            ) from None

    def check(self) -> None:
        """Raise `Overloaded` if a reading asked for now would be refused."""
        if self.running >= self.limits.max_readings and self.waiting >= self.limits.max_waiting:
            raise Overloaded(
                f"the server is busy reading {self.running} images with {self.waiting} "
                f"waiting; try again in {RETRY_AFTER_S} s"
            )

    async def _take_turn(self) -> None:
        """Take a reading slot, waiting in line for one if all are taken."""
        if self.running < self.limits.max_readings and not self._waiters:
            self.running += 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn in self._waiters:
                self._waiters.remove(turn)
            elif not turn.cancelled():  # the slot came just as the wait ended: pass it on
                self._release()
            raise

    def _release(self, _: object = None) -> None:
        """A reading ended: its slot passes to the first in line, else is freed."""
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.running -= 1


def batch_pixels(images: list[bytes], limit: int) -> int:
    """The pixels of a batch's images, from their headers (nothing is decoded); raises
    `ValueError` naming the total when it is over `limit`. Bytes that are no image
    count 0: reading them says what is wrong.

    >>> batch_pixels([b"not an image"], 10)
    0
    """
    from PIL import Image

    total = 0
    for data in images:
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
        except Exception:  # not an image, or a header Pillow refuses: the reader says why
            continue
        total += width * height
    if total > limit:
        raise ValueError(
            f"the batch's images have {total:,} pixels in all, over the {limit:,} limit; "
            "send fewer or smaller images"
        )
    return total
