"""The FastAPI app: the drawing page at ``/`` and the REST API under ``/api``.

The routes are declared the FastAPI way: the reader comes from the `get_reader`
dependency, each body from a dependency in `mnist_cnn.server.bodies`, the
``inputs`` flag as a query parameter, and every answer through its model in
`mnist_cnn.server.schemas`, from which FastAPI builds ``/openapi.json``.
Reading runs in the threads of a `mnist_cnn.server.limits.ReadingGate`, which
bounds how many at once, so a large image never blocks the event loop, and
``/api/health`` and ``/api/model`` answer at once under any load.

The app can start before its reader is loaded (`create_app` with ``reader=None``;
set ``app.state.reader`` when it is): until then ``/api/health`` answers
``{"status": "loading"}``, and ``/api/ready``, ``/api/model`` and reading 503.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from mnist_cnn import __version__
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.imaging import ImageError, ImageTooLarge, Line, NotAnImage, extract_lines
from mnist_cnn.server import schemas
from mnist_cnn.server.bodies import BATCH_BODY, ONE_IMAGE_BODY, batch_images, one_image
from mnist_cnn.server.limits import RETRY_AFTER_S, Limits, Overloaded, ReadingGate, batch_pixels
from mnist_cnn.server.middleware import (
    BODY_TIMEOUT_S,
    MAX_BODY_BYTES,
    BodySizeLimit,
    RefuseWhenBusy,
    SecurityHeaders,
)
from mnist_cnn.server.schemas import InputsFormat

if TYPE_CHECKING:
    from mnist_cnn.inference import Reading

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
PAGE_HEADERS = {"Cache-Control": "no-cache"}
DOCS_ASSETS = "/static/docs"  # Swagger UI's script, style and icon
RETRY = {"Retry-After": str(RETRY_AFTER_S)}


def _errors(**texts: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for these statuses (``e413="..."``), each a JSON `schemas.Error`."""
    return {
        int(code[1:]): {"model": schemas.Error, "description": text} for code, text in texts.items()
    }


NOT_READY = "the model is still loading (Retry-After says when to ask again)"
ERRORS = _errors(
    e400="unreadable request: empty body, invalid JSON or multipart",
    e408=f"the body did not arrive within {BODY_TIMEOUT_S:g} s",
    e413="body over 10 MB, an image with too many pixels, too many images, "
    "or a batch over its pixel limit",
    e415="unsupported content type, or the bytes are not an image",
    e422="a missing or invalid field: bad base64, wrong pixel array, broken image, or "
    "an image of over 1,000 pieces of ink",
    e503="the model is loading, the server is reading all it can, or the reading ran "
    "out of time: try again after Retry-After seconds",
)


class Reader(Protocol):
    """What the server asks of a reader; `mnist_cnn.inference.DigitReader` is one."""

    info: dict
    engine: str

    def read_image(self, image: bytes) -> Reading: ...

    def read_pixels(self, pixels: list) -> Reading: ...

    def read_lines(self, lines: list[list[Line]]) -> list[Reading]: ...


async def get_reader(request: Request) -> Reader:
    """The app's reader, which `create_app` keeps in ``app.state``; 503 while it
    loads. Tests swap it with ``app.dependency_overrides[get_reader]``. (Async: a
    worker thread for an attribute lookup would cost more than the lookup.)"""
    reader = request.app.state.reader
    if reader is None:
        raise HTTPException(503, NOT_READY, headers=RETRY)
    return reader


async def get_gate(request: Request) -> ReadingGate:
    """The app's `ReadingGate`; 503 at once when it is full, before the body is parsed."""
    gate = request.app.state.gate
    try:
        gate.check()
    except Overloaded as e:
        raise HTTPException(503, str(e), headers=RETRY) from None
    return gate


ReaderDep = Annotated[Reader, Depends(get_reader)]
GateDep = Annotated[ReadingGate, Depends(get_gate)]
InputsQuery = Annotated[
    InputsFormat | None,
    Query(description="also send the 28x28 images the model saw: png (data: URLs) or pixels"),
]
api = APIRouter(prefix="/api")


# -- The routes. ------------------------------------------------------------------------------


@api.post(
    "/predict",
    summary="Read the digits in one image",
    response_model=schemas.Reading,
    response_model_exclude_unset=True,  # "inputs" only when asked for
    responses=ERRORS,
    openapi_extra=ONE_IMAGE_BODY,
)
async def predict(
    reader: ReaderDep,
    gate: GateDep,
    image: Annotated[bytes | list, Depends(one_image)],
    inputs: InputsQuery = None,
) -> dict:
    """Read a number in an image (several digits side by side are read left to
    right) or in 28x28 MNIST-style pixels. `?inputs=png` or `?inputs=pixels`
    adds the 28x28 images the model saw."""
    read = reader.read_image if isinstance(image, bytes) else reader.read_pixels
    return await _read(gate, _answer_one, read, image, inputs)


@api.post(
    "/predict/batch",
    summary="Read several images at once",
    response_model=schemas.Batch,
    response_model_exclude_unset=True,
    responses=ERRORS,
    openapi_extra=BATCH_BODY,
)
async def predict_batch(
    reader: ReaderDep,
    gate: GateDep,
    request: Request,
    images: Annotated[list[bytes], Depends(batch_images)],
    inputs: InputsQuery = None,
) -> dict:
    """Read up to 64 images with one model call: `{"results": [reading, ...]}` in
    request order. One bad image fails the whole batch, with its index in `detail`."""
    limit = request.app.state.limits.batch_pixels
    return await _read(gate, _answer_batch, reader, images, inputs, limit)


@api.get("/health", summary="Is the server up? (liveness)", response_model=schemas.Health)
async def health(request: Request) -> dict:
    """Answers at once, even while the model loads (`"status": "loading"`) or every
    reading slot is busy."""
    reader = request.app.state.reader
    if reader is None:
        return {"status": "loading", "model": None, "version": __version__}
    return {"status": "ok", "model": reader.info.get("name"), "version": __version__}


@api.get(
    "/ready",
    summary="Can the server read digits? (readiness)",
    response_model=schemas.Ready,
    responses=_errors(e503=NOT_READY),
)
async def ready(reader: ReaderDep) -> dict:
    """200 once the model is loaded; 503 with Retry-After until then."""
    return {"status": "ready", "model": reader.info.get("name")}


@api.get(
    "/model",
    summary="The model being served",
    response_model=schemas.ModelInfo,
    responses=_errors(e503=NOT_READY),
)
async def model_info(reader: ReaderDep) -> dict:
    return reader.info  # the model keeps name, test_accuracy and params, never the path


async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


async def one_line_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """One readable sentence instead of FastAPI's list of error objects."""
    problems = [
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in error.errors()
    ]
    return JSONResponse({"detail": "; ".join(problems)}, 422)


async def docs_page() -> HTMLResponse:
    """Swagger UI, its script and style served from the package (no CDN)."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="mnist-cnn API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},  # the validator badge is remote
    )


def _swagger_ui_dir() -> Path:
    """Swagger UI's files, shipped by the ``fastapi-offline`` package."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def create_app(
    reader: Reader | None,
    max_body_bytes: int = MAX_BODY_BYTES,
    limits: Limits | None = None,
    body_timeout: float = BODY_TIMEOUT_S,
) -> FastAPI:
    """The FastAPI app serving `reader`: the drawing page at ``/`` and the API.

    Args:
        reader: reads the digits; None while it loads (set ``app.state.reader``).
        max_body_bytes: larger request bodies are refused with 413.
        limits: readings at once, waiting, time and batch pixels (`Limits()`).
        body_timeout: seconds for a request's body to arrive, else 408.

    Returns:
        The app, for uvicorn or FastAPI's TestClient.

    Example (``mnist-cnn serve`` does this)::

        app = create_app(DigitReader.load("model.keras"))
        uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    app = FastAPI(
        title="mnist-cnn",
        version=__version__,
        description="Read handwritten digits with a Keras CNN trained on MNIST. "
        'Draw at [/](/); errors are JSON `{"detail": "..."}`.',
        docs_url=None,
        redoc_url=None,
    )
    app.state.reader = reader
    app.state.limits = limits or Limits()
    app.state.gate = ReadingGate(app.state.limits)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes, timeout=body_timeout)
    app.add_middleware(RefuseWhenBusy)  # before the body: a flood is refused cheaply
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(RequestValidationError, one_line_error)
    app.include_router(api)
    app.add_api_route("/", page, include_in_schema=False)
    app.add_api_route("/docs", docs_page, include_in_schema=False)
    app.mount(DOCS_ASSETS, StaticFiles(directory=_swagger_ui_dir()), name="docs-assets")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


# -- Reading. ---------------------------------------------------------------------------------


async def _read(gate: ReadingGate, call: Callable[..., Any], *args: Any) -> Any:
    """`call(*args)` in a reading thread of `gate`; the reader's user errors become
    4xx answers, and a full gate or a reading out of time 503 with Retry-After."""
    try:
        return await gate.run(call, *args)
    except Overloaded as e:
        raise HTTPException(503, str(e), headers=RETRY) from None
    except ImageError as e:
        raise HTTPException(_image_error_status(e), str(e)) from None
    except MnistCnnError as e:
        raise HTTPException(422, str(e)) from None


def _answer_one(read: Callable[[Any], Reading], image: Any, inputs: InputsFormat | None) -> dict:
    """One image's answer: its reading, with the model's inputs if asked for."""
    reading = read(image)
    return reading.to_dict() if inputs is None else _reading_json(reading, inputs)


def _answer_batch(
    reader: Reader, images: list[bytes], inputs: InputsFormat | None, max_pixels: int
) -> dict:
    """A batch's answer: over `max_pixels` in all (by the headers) is 413 before
    anything is decoded; else each image's reading, from one model call."""
    try:
        batch_pixels(images, max_pixels)
    except ValueError as e:
        raise HTTPException(413, str(e)) from None
    readings = reader.read_lines(_find_lines_in_each(images))
    return {
        "results": [r.to_dict() if inputs is None else _reading_json(r, inputs) for r in readings]
    }


def _find_lines_in_each(images: list[bytes]) -> list[list[Line]]:
    """Find the lines of digits in every image of a batch, naming the first bad one by
    its index."""
    lines = []
    for i, image in enumerate(images):
        try:
            lines.append(extract_lines(image))
        except ImageError as e:
            raise HTTPException(_image_error_status(e), f"image {i}: {e}") from None
    return lines


def _image_error_status(error: ImageError) -> int:
    """413 for too many pixels, 415 for bytes that are no image at all, else 422
    (an image that is truncated, corrupt or empty)."""
    if isinstance(error, ImageTooLarge):
        return 413
    if isinstance(error, NotAnImage):
        return 415
    return 422


def _reading_json(reading: Reading, inputs: InputsFormat) -> dict:
    """`Reading.to_dict()` with the model's input images, as PNG data URLs or pixels."""
    result = reading.to_dict()
    if inputs is InputsFormat.png:
        result["inputs"] = [_png_data_url(x) for x in reading.inputs]
    else:
        result["inputs"] = [np.asarray(x, dtype=np.uint8).tolist() for x in reading.inputs]
    return result


def _png_data_url(pixels: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
