"""ASGI middleware that protects the server: readings refused before their bodies
arrive when the server is busy, a cap on request bodies, and headers that keep
browsers from sniffing types or loading anything from elsewhere."""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mnist_cnn.server.limits import RETRY_AFTER_S, Overloaded

MAX_BODY_BYTES = 10 * 1024 * 1024
BODY_TIMEOUT_S = 30.0
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class RefuseWhenBusy:
    """Answer a reading request 503 with ``Retry-After`` as soon as its headers
    arrive when the app's `ReadingGate` (``app.state.gate``) would refuse it.

    Under a flood most requests are refused; refusing them before their bodies are
    read and before routing keeps that cheap, so the readings keep the CPU. The
    connection stays open: uvicorn drops the rest of the body as it arrives. (Closing
    it instead would make the kernel reset a connection with body bytes still unread,
    and the client would see a broken connection, not the 503.)
    """

    def __init__(self, app: ASGIApp, path_prefix: str = "/api/predict") -> None:
        self.app = app
        self.path_prefix = path_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.path_prefix):
            try:
                scope["app"].state.gate.check()
            except Overloaded as e:
                busy = JSONResponse({"detail": str(e)}, 503, {"retry-after": str(RETRY_AFTER_S)})
                await busy(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodySizeLimit:
    """Refuse a request body over `max_bytes` with 413, or not all there within
    `timeout` seconds with 408.

    Content-Length is checked first, so an honest client is refused before it
    sends anything; the body is then read here and counted, because a client can
    omit the length (chunked encoding) or understate it. What passes is replayed
    to the app, which therefore never holds more than `max_bytes` of a request. A
    client that sends its body slowly, or never, is answered 408 at the deadline and
    its connection closed (uvicorn itself waits for a body without end).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, timeout: float = BODY_TIMEOUT_S
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = JSONResponse(
            {"detail": f"the request body is over the {self.max_bytes:,} byte limit"}, 413
        )
        length = Headers(scope=scope).get("content-length")
        if length is not None and not length.isdigit():
            await JSONResponse({"detail": "invalid Content-Length"}, 400)(scope, receive, send)
            return
        if length is not None and int(length) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._read_body(receive)
        except TimeoutError:
            detail = f"the request body did not arrive within {self.timeout:g} s"
            late = JSONResponse({"detail": detail}, 408, headers={"connection": "close"})
            await late(scope, receive, send)
            return
        if body is None:
            return  # the client left; nobody to answer
        if len(body) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, None if the client left, or the first bytes over the limit."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes or not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app `body` at once, then waits for the disconnect."""
    replayed = False

    async def replay() -> dict:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class SecurityHeaders:
    """``nosniff`` everywhere, and a Content-Security-Policy that lets the page load
    nothing from elsewhere (``/docs``, whose Swagger UI page has inline scripts and
    loads its assets from this server, has none)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [(b"x-content-type-options", b"nosniff")]
        if not scope["path"].startswith(("/docs", "/redoc")):
            extra.append((b"content-security-policy", CSP.encode()))

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
