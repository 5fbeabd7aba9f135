"""Limits on connections: how long and how much a client may take before its request
starts, and how many connections one server process holds.

uvicorn closes a connection idle between requests after ``timeout_keep_alive``
seconds, but holds forever one that sends half a request's headers, or nothing at
all, and its C parser (httptools) buffers headers without bound. A few hundred such
connections use up the process's file descriptors and no one else is served.
`guarded_protocol` makes uvicorn's HTTP protocol close a connection whose headers do
not arrive within ``header_timeout`` seconds or grow past ``max_header_bytes``, and,
once ``max_connections`` are open, close the connection idle the longest to let a
new one in (answering 503 only when every connection is busy with a request). The
request body's own deadline is `mnist_cnn.server.middleware.BodySizeLimit`'s.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True)
class ConnectionLimits:
    """The HTTP server's limits (documented in docs/rest-api.md).

    header_timeout: seconds from a connection's start (or its previous answer) to
        the end of its request's headers.
    max_header_bytes: bytes of request line and headers.
    max_connections: open connections per process; the one idle the longest is
        closed to let another in.
    timeout_keep_alive, backlog, h11_max_incomplete_event_size: uvicorn's own.
    """

    header_timeout: float = 5.0
    max_header_bytes: int = 64 * 1024
    max_connections: int = 900  # under the usual 1,024 file descriptors
    timeout_keep_alive: int = 5
    backlog: int = 2048
    h11_max_incomplete_event_size: int = 64 * 1024

    def uvicorn_options(self) -> dict:
        """Keyword arguments for `uvicorn.Config`: these limits, and the protocol
        that keeps the ones uvicorn lacks.

        >>> options = ConnectionLimits().uvicorn_options()
        >>> options["timeout_keep_alive"], options["limit_concurrency"]
        (5, 1800)
        """
        options = asdict(self)
        protocol = guarded_protocol(
            options.pop("header_timeout"),
            options.pop("max_header_bytes"),
            options.pop("max_connections"),
        )
        # uvicorn's own cap on connections and requests, as a backstop to ours.
        return options | {"http": protocol, "limit_concurrency": 2 * self.max_connections}


def guarded_protocol(
    header_timeout: float, max_header_bytes: int, max_connections: int
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the limits in this module's docstring.

    Example::

        uvicorn.Config(app, http=guarded_protocol(5.0, 65536, 900))
    """

    class GuardedHttpTools(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._idle_since = time.monotonic()
            self._header_bytes = 0
            self._header_timer: asyncio.TimerHandle | None = None
            super().connection_made(transport)
            if len(self.connections) > max_connections and not _close_longest_idle(self):
                _refuse(transport, 503, "the server has too many connections; try again")
                return
            self._await_headers()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_timer is None:  # a pipelined request: the clock starts now
                self._await_headers()

        def data_received(self, data: bytes) -> None:
            waiting = self._header_timer is not None
            super().data_received(data)
            if waiting and self._header_timer is not None:  # the headers are not complete yet
                self._header_bytes += len(data)
                if self._header_bytes > max_header_bytes:
                    detail = f"the request headers are over {max_header_bytes:,} bytes"
                    _refuse(self.transport, 431, detail)

        def on_headers_complete(self) -> None:
            self._stop_header_timer()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._idle_since = time.monotonic()
            if not self.transport.is_closing() and not self.pipeline:
                self._await_headers()  # the next request's, or keep-alive closes first

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

        def _await_headers(self) -> None:
            self._stop_header_timer()
            self._header_bytes = 0
            self._header_timer = self.loop.call_later(header_timeout, self.transport.close)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def idle(self) -> bool:
            """No request in progress: between requests, or in the middle of headers."""
            return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

    return GuardedHttpTools


def _close_longest_idle(new: HttpToolsProtocol) -> bool:
    """Close the connection idle the longest other than `new`; False if none is idle."""
    idle = [c for c in new.connections if c is not new and getattr(c, "idle", bool)()]
    if not idle:
        return False
    oldest = min(idle, key=lambda c: c._idle_since)
    oldest.transport.close()
    return True


def _refuse(transport: asyncio.Transport, status: int, detail: str) -> None:
    """Answer `status` with the API's JSON error body, and close the connection."""
    reasons = {431: "Request Header Fields Too Large", 503: "Service Unavailable"}
    body = json.dumps({"detail": detail}).encode()
    retry = "retry-after: 1\r\n" if status == 503 else ""
    head = (
        f"HTTP/1.1 {status} {reasons[status]}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{retry}connection: close\r\n\r\n"
    )
    transport.write(head.encode() + body)
    transport.close()
