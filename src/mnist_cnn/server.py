"""``mnist-cnn serve``: the drawing web app and its REST API (FastAPI on uvicorn).

One `DigitReader` is loaded at start-up and shared by every request. The page at
``/`` (plain HTML, CSS and JavaScript shipped in ``mnist_cnn/static``) sends what
you draw to ``POST /api/predict`` and shows the number read, the ten class
probabilities, a box per digit and the 28x28 images the model saw.

Endpoints (interactive docs at ``/docs``):

- ``POST /api/predict``        one image: multipart ``file``, raw ``image/*`` bytes,
  JSON ``{"image": "<base64>"}`` or JSON ``{"pixels": 28x28 numbers}``
- ``POST /api/predict/batch``  several images: multipart ``files`` or JSON ``{"images": [...]}``
- ``GET /api/health``, ``GET /api/model``

Every error is JSON ``{"detail": "what is wrong"}`` with a 4xx status, and the
server keeps serving. Example, in Python::

    from fastapi.testclient import TestClient
    from mnist_cnn.inference import DigitReader
    from mnist_cnn.server import create_app

    client = TestClient(create_app(DigitReader.load("runs/my-run")))
    with open("digit.png", "rb") as f:
        print(client.post("/api/predict", files={"file": f}).json()["prediction"])
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import socket
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from mnist_cnn import __version__
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.imaging import DigitCrop, ImageError, ImageTooLarge, NotAnImage, extract_digits

if TYPE_CHECKING:
    from mnist_cnn.inference import DigitReader, Reading

STATIC_DIR = Path(__file__).with_name("static")
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_BATCH = 64
MAX_FIELDS = 16  # multipart text fields; they are ignored
HOW_TO_SEND = (
    "send an image as multipart field 'file', as raw image/* bytes, "
    'as JSON {"image": "<base64>"} or as JSON {"pixels": <28x28 numbers 0-255>}'
)


# -- Response and request schemas: documentation for /docs. -----------------------------
# Responses are built from `Reading.to_dict()` directly; these models only describe them.


class DigitOut(BaseModel):
    label: int | None = Field(
        description="the digit 0-9, or null when its confidence is below the threshold",
        examples=[7],
    )
    confidence: float = Field(description="probability of `label`", examples=[0.998])
    probabilities: list[float] = Field(description="probability of each digit 0-9")
    box: list[int] = Field(
        description="[x0, y0, x1, y1] of the digit in the sent image, in pixels",
        examples=[[40, 22, 118, 190]],
    )


class ReadingOut(BaseModel):
    prediction: str | None = Field(
        description="the digits read left to right; null when there is no digit or "
        "when any digit is uncertain",
        examples=["42"],
    )
    confidence: float = Field(
        description="the model's probability that the whole number is right", examples=[0.97]
    )
    status: str = Field(description='"ok", "uncertain" or "no digit"', examples=["ok"])
    digits: list[DigitOut]
    inputs: list[Any] | None = Field(
        None,
        description="only with ?inputs=png (data: URLs) or ?inputs=pixels (28x28 arrays): "
        "the model's input image for each digit",
    )


class BatchOut(BaseModel):
    results: list[ReadingOut] = Field(description="one reading per image, in request order")


class ModelOut(BaseModel):
    name: str
    test_accuracy: float | None
    params: int | None


class HealthOut(BaseModel):
    status: str = Field(examples=["ok"])
    model: str
    version: str


class ErrorOut(BaseModel):
    detail: str = Field(examples=["'file' is not an image (PNG, JPEG, GIF, BMP, WebP or TIFF)"])


class InputsFormat(StrEnum):
    png = "png"
    pixels = "pixels"


ERRORS = {
    code: {"model": ErrorOut, "description": text}
    for code, text in {
        400: "unreadable request: empty body, invalid JSON or multipart",
        413: "body over 10 MB, or an image with too many pixels",
        415: "unsupported content type, or the bytes are not an image",
        422: "a missing or invalid field: bad base64, wrong pixel array, broken image",
    }.items()
}


def _request_body(single: bool) -> dict:
    """OpenAPI text for the body, which FastAPI cannot infer: the endpoints read
    the request themselves to accept multipart, raw bytes and JSON alike."""
    binary = {"type": "string", "format": "binary"}
    if single:
        multipart = {"type": "object", "properties": {"file": binary}, "required": ["file"]}
        json_schema = {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"image": {"type": "string", "format": "byte"}},
                    "required": ["image"],
                    "title": "base64 image (PNG, JPEG, ...; a data: URL prefix is accepted)",
                },
                {
                    "type": "object",
                    "properties": {
                        "pixels": {
                            "type": "array",
                            "items": {"type": "array", "items": {"type": "number"}},
                        }
                    },
                    "required": ["pixels"],
                    "title": "28x28 pixels 0-255, white digit on black (MNIST style)",
                },
            ]
        }
        content = {
            "multipart/form-data": {"schema": multipart},
            "application/json": {"schema": json_schema},
            "image/*": {"schema": binary},
        }
    else:
        multipart = {
            "type": "object",
            "properties": {"files": {"type": "array", "items": binary}},
            "required": ["files"],
        }
        json_schema = {
            "type": "object",
            "properties": {
                "images": {
                    "type": "array",
                    "items": {"type": "string", "format": "byte"},
                    "maxItems": MAX_BATCH,
                }
            },
            "required": ["images"],
        }
        content = {
            "multipart/form-data": {"schema": multipart},
            "application/json": {"schema": json_schema},
        }
    return {"requestBody": {"required": True, "content": content}}


# -- Reading the request. ---------------------------------------------------------------


def _fail(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number in JSON")


def _parse_json(body: bytes) -> dict:
    """The body as a JSON object, or 400/422 saying why not."""
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise _fail(400, f"the body is not valid JSON ({e})") from None
    except RecursionError:
        raise _fail(400, "the body's JSON is nested too deeply") from None
    if not isinstance(value, dict):
        raise _fail(422, f"expected a JSON object, got {type(value).__name__}")
    return value


_DATA_URL = re.compile(r"^data:[^,;]*(;[^,;]*)*;base64,", re.IGNORECASE)


def _decode_base64(text: Any, field: str) -> bytes:
    """Base64 (optionally a ``data:image/png;base64,`` URL) -> bytes, strictly."""
    if not isinstance(text, str):
        raise _fail(422, f"'{field}' must be a base64 string, got {_json_type(text)}")
    text = "".join(_DATA_URL.sub("", text.strip(), count=1).split())
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise _fail(422, f"'{field}' is not valid base64 ({e})") from None
    if not data:
        raise _fail(422, f"'{field}' is empty")
    return data


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _pixel_rows(value: Any) -> list:
    """JSON ``pixels``: an array; its shape and values are `DigitReader.read_pixels`' to check."""
    if not isinstance(value, list):
        raise _fail(422, f"'pixels' must be 28 rows of 28 numbers, got {_json_type(value)}")
    return value


async def _upload_bytes(item: Any, field: str) -> bytes:
    if not isinstance(item, UploadFile):
        raise _fail(422, f"multipart field '{field}' must be a file, not a text value")
    data = await item.read()
    if not data:
        raise _fail(422, f"the uploaded file '{item.filename or field}' is empty")
    return data


def _json_single(body: bytes) -> tuple[str, bytes | list]:
    value = _parse_json(body)
    fields = set(value)
    if fields - {"image", "pixels"} or len(fields) != 1:
        raise _fail(422, f"expected exactly one of 'image' or 'pixels', got {sorted(fields)}")
    if "image" in value:
        return "image", _decode_base64(value["image"], "image")
    return "pixels", _pixel_rows(value["pixels"])


def _json_batch(body: bytes) -> list[bytes]:
    value = _parse_json(body)
    if set(value) != {"images"}:
        raise _fail(422, f"expected a JSON object with only 'images', got {sorted(value)}")
    images = value["images"]
    if not isinstance(images, list) or not images:
        raise _fail(422, "'images' must be a non-empty array of base64 strings")
    if len(images) > MAX_BATCH:
        raise _fail(413, f"at most {MAX_BATCH} images per batch, got {len(images)}")
    return [_decode_base64(item, f"images[{i}]") for i, item in enumerate(images)]


async def _single_source(request: Request) -> tuple[str, bytes | list]:
    """What one /api/predict request asks to read: ("image", bytes) or ("pixels", rows)."""
    media = _media_type(request)
    body = await request.body()
    if not body:
        raise _fail(400, f"the request body is empty; {HOW_TO_SEND}")
    if media == "multipart/form-data":
        async with request.form(max_files=1, max_fields=MAX_FIELDS) as form:
            if "file" not in form:
                raise _fail(422, f"multipart field 'file' is missing; {HOW_TO_SEND}")
            return "image", await _upload_bytes(form["file"], "file")
    if media == "application/json":
        # Parsing and decoding megabytes of JSON and base64 is work: not on the event loop.
        return await run_in_threadpool(_json_single, body)
    if media.startswith("image/") or media == "application/octet-stream":
        return "image", body
    raise _fail(415, f"unsupported content type {media or 'none'!r}; {HOW_TO_SEND}")


async def _batch_sources(request: Request) -> list[bytes]:
    """The images of one /api/predict/batch request, as encoded bytes."""
    media = _media_type(request)
    body = await request.body()
    if not body:
        raise _fail(400, "the request body is empty; send multipart 'files' or JSON 'images'")
    if media == "multipart/form-data":
        try:
            async with request.form(max_files=MAX_BATCH, max_fields=MAX_FIELDS) as form:
                items = form.getlist("files")
                if not items:
                    raise _fail(422, "multipart field 'files' is missing: send one or more images")
                return [await _upload_bytes(item, "files") for item in items]
        except StarletteHTTPException as e:  # Starlette stops parsing past max_files
            if "too many files" in str(e.detail).lower():
                raise _fail(413, f"at most {MAX_BATCH} images per batch") from None
            raise
    if media == "application/json":
        return await run_in_threadpool(_json_batch, body)
    raise _fail(
        415,
        f"unsupported content type {media or 'none'!r}; "
        'send multipart \'files\' or JSON {"images": ["<base64>", ...]}',
    )


def _find_digits_in_each(images: list[bytes]) -> list[list[DigitCrop]]:
    """Find the digits in every image of a batch, naming the first bad one by its index."""
    crops = []
    for i, image in enumerate(images):
        try:
            crops.append(extract_digits(image))
        except ImageError as e:
            raise _fail(_image_error_status(e), f"image {i}: {e}") from None
    return crops


# -- Building the response. -------------------------------------------------------------


def _png_data_url(pixels: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _reading_json(reading: Reading, inputs: InputsFormat | None) -> dict:
    """`Reading.to_dict()`, plus the model's input images when asked for."""
    result = reading.to_dict()
    if inputs is InputsFormat.png:
        result["inputs"] = [_png_data_url(x) for x in reading.inputs]
    elif inputs is InputsFormat.pixels:
        result["inputs"] = [np.asarray(x, dtype=np.uint8).tolist() for x in reading.inputs]
    return result


def _image_error_status(error: Exception) -> int:
    """413 for too many pixels, 415 for bytes that are no image at all, else 422
    (an image that is truncated, corrupt or empty)."""
    if isinstance(error, ImageTooLarge):
        return 413
    if isinstance(error, NotAnImage):
        return 415
    return 422


# -- Protecting the server. ---------------------------------------------------------------


class BodySizeLimit:
    """ASGI middleware: refuse a request body over `max_bytes` with 413.

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
        if length is not None:
            if not length.isdigit():
                await JSONResponse({"detail": "invalid Content-Length"}, 400)(scope, receive, send)
                return
            if int(length) > self.max_bytes:
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
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)


class SecurityHeaders:
    """ASGI middleware: ``nosniff`` everywhere, and a Content-Security-Policy that
    lets the page load nothing from elsewhere (``/docs`` keeps FastAPI's CDN assets)."""

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


CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


# -- The app. -------------------------------------------------------------------------------


def create_app(reader: DigitReader, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The FastAPI app serving `reader`: the drawing page at ``/`` and the API.

    Reading runs in the threadpool, so a large image never blocks the event loop;
    the reader itself serialises its model calls.

    Example (tests inject any reader this way)::

        app = create_app(DigitReader.load("model.keras"))
        uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    app = FastAPI(
        title="mnist-cnn",
        version=__version__,
        description="Read handwritten digits with a Keras CNN trained on MNIST. "
        'Draw at [/](/); errors are JSON `{"detail": "..."}`.',
    )
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)

    async def run(call: Callable[..., Any], *args: Any) -> Any:
        """Call the reader in the threadpool; its user errors become 4xx answers."""
        try:
            return await run_in_threadpool(call, *args)
        except ImageError as e:
            raise _fail(_image_error_status(e), str(e)) from None
        except MnistCnnError as e:
            raise _fail(422, str(e)) from None

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        # One readable line instead of FastAPI's list of error objects.
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in error.errors()
        ]
        return JSONResponse({"detail": "; ".join(problems)}, 422)

    @app.post(
        "/api/predict",
        summary="Read the digits in one image",
        response_model=None,
        responses={200: {"model": ReadingOut}, **ERRORS},
        openapi_extra=_request_body(single=True),
    )
    async def predict(request: Request, inputs: InputsFormat | None = None) -> JSONResponse:
        """Read a number in an image (several digits side by side are read left to
        right) or in 28x28 MNIST-style pixels. `?inputs=png` or `?inputs=pixels`
        adds the 28x28 images the model saw."""
        kind, source = await _single_source(request)
        call = reader.read_image if kind == "image" else reader.read_pixels
        reading = await run(call, source)
        if inputs is None:
            return JSONResponse(reading.to_dict())
        return JSONResponse(await run_in_threadpool(_reading_json, reading, inputs))

    @app.post(
        "/api/predict/batch",
        summary="Read several images at once",
        response_model=None,
        responses={200: {"model": BatchOut}, **ERRORS},
        openapi_extra=_request_body(single=False),
    )
    async def predict_batch(request: Request, inputs: InputsFormat | None = None) -> JSONResponse:
        """Read up to 64 images with one model call: `{"results": [reading, ...]}` in
        request order. One bad image fails the whole batch, with its index in `detail`."""
        images = await _batch_sources(request)
        crops = await run_in_threadpool(_find_digits_in_each, images)
        readings = await run(reader.read_crops, crops)
        if inputs is None:
            return JSONResponse({"results": [r.to_dict() for r in readings]})
        results = await run_in_threadpool(lambda: [_reading_json(r, inputs) for r in readings])
        return JSONResponse({"results": results})

    @app.get("/api/health", summary="Is the server up?", response_model=HealthOut)
    def health() -> dict:
        return {"status": "ok", "model": reader.info.get("name"), "version": __version__}

    @app.get("/api/model", summary="The model being served", response_model=ModelOut)
    def model_info() -> dict:
        # Not the path: the server's file system is none of a client's business.
        return {k: reader.info.get(k) for k in ("name", "test_accuracy", "params")}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    return app


PAGE_HEADERS = {"Cache-Control": "no-cache"}


# -- The command. ---------------------------------------------------------------------------


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so that a busy port is a one-line error."""
    if not 0 <= port <= 65535:  # getaddrinfo would silently wrap 99999 to 34463
        raise MnistCnnError(f"--port must be 0-65535, got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as e:
        raise MnistCnnError(f"cannot use --host {host!r} ({e})") from None
    # An explicit IPPROTO_TCP matters: asyncio turns Nagle's algorithm off (TCP_NODELAY)
    # only on sockets that say they are TCP; without it every answer waits ~40 ms.
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise MnistCnnError(
            f"cannot listen on {host}:{port} ({e.strerror}); choose another --port"
        ) from None
    return sock


def serve(host: str = "127.0.0.1", port: int = 8000, model: str | None = None) -> None:
    """Load the model once and serve the app until Ctrl-C.

    Example::

        serve("127.0.0.1", 8000, "runs/cnn-20250101-120000")
    """
    import uvicorn

    # Bind first: a busy port is reported at once, not after loading TensorFlow.
    sock = _listen(host, port)
    try:
        from mnist_cnn.inference import DigitReader

        # Loads the model and compiles it for LiteRT where it can: one request's digits
        # are then read in a fraction of a millisecond.
        reader = DigitReader.load(model, litert=True)
    except BaseException:
        sock.close()
        raise
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    name, engine = reader.info.get("name"), reader.engine
    print(f"Serving {name} (run by {engine}) at http://{shown}:{port}/  (API docs: /docs)")
    print("Press Ctrl-C to stop.", flush=True)
    config = uvicorn.Config(app=create_app(reader), host=host, port=port, log_level="info")
    uvicorn.Server(config).run(sockets=[sock])
