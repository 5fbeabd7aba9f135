"""ASGI middleware that protects the server: a cap on request bodies, and headers
that keep browsers from sniffing types or loading anything from elsewhere."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_BODY_BYTES = 10 * 1024 * 1024
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class BodySizeLimit:
    """Refuse a request body over `max_bytes` with 413.

    Content-Length is checked first, so an honest client is refused before it
    sends anything; the body is then read here and counted, because a client can
    omit the length (chunked encoding) or understate it. What passes is replayed
    to the app, which therefore never holds more than `max_bytes` of a request.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

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
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left; nobody to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


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
    nothing from elsewhere (``/docs`` keeps FastAPI's CDN assets)."""

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
