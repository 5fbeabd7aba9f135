"""The FastAPI app: the drawing page at ``/`` and the REST API under ``/api``.

The routes are declared the FastAPI way: the reader comes from the `get_reader`
dependency, each body from a dependency in `mnist_cnn.server.bodies`, the
``inputs`` flag as a query parameter, and every answer through its model in
`mnist_cnn.server.schemas`, from which FastAPI builds ``/openapi.json``.
Reading runs in the threadpool, so a large image never blocks the event loop.
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
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from mnist_cnn import __version__
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.imaging import DigitCrop, ImageError, ImageTooLarge, NotAnImage, extract_digits
from mnist_cnn.server import schemas
from mnist_cnn.server.bodies import BATCH_BODY, ONE_IMAGE_BODY, batch_images, one_image
from mnist_cnn.server.middleware import MAX_BODY_BYTES, BodySizeLimit, SecurityHeaders
from mnist_cnn.server.schemas import InputsFormat

if TYPE_CHECKING:
    from mnist_cnn.inference import Reading

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
PAGE_HEADERS = {"Cache-Control": "no-cache"}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.Error, "description": text}
    for code, text in {
        400: "unreadable request: empty body, invalid JSON or multipart",
        413: "body over 10 MB, an image with too many pixels or too many images",
        415: "unsupported content type, or the bytes are not an image",
        422: "a missing or invalid field: bad base64, wrong pixel array, broken image",
    }.items()
}


class Reader(Protocol):
    """What the server asks of a reader; `mnist_cnn.inference.DigitReader` is one."""

    info: dict

    def read_image(self, image: bytes) -> Reading: ...

    def read_pixels(self, pixels: list) -> Reading: ...

    def read_crops(self, crops: list[list[DigitCrop]]) -> list[Reading]: ...


async def get_reader(request: Request) -> Reader:
    """The app's reader, which `create_app` keeps in ``app.state``. Tests swap it
    with ``app.dependency_overrides[get_reader]``. (Async: a worker thread for an
    attribute lookup would cost more than the lookup.)"""
    return request.app.state.reader


ReaderDep = Annotated[Reader, Depends(get_reader)]
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
    image: Annotated[bytes | list, Depends(one_image)],
    inputs: InputsQuery = None,
) -> dict:
    """Read a number in an image (several digits side by side are read left to
    right) or in 28x28 MNIST-style pixels. `?inputs=png` or `?inputs=pixels`
    adds the 28x28 images the model saw."""
    read = reader.read_image if isinstance(image, bytes) else reader.read_pixels
    reading = await _read(read, image)
    if inputs is None:
        return reading.to_dict()
    return await run_in_threadpool(_reading_json, reading, inputs)


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
    images: Annotated[list[bytes], Depends(batch_images)],
    inputs: InputsQuery = None,
) -> dict:
    """Read up to 64 images with one model call: `{"results": [reading, ...]}` in
    request order. One bad image fails the whole batch, with its index in `detail`."""
    crops = await run_in_threadpool(_find_digits_in_each, images)
    readings = await _read(reader.read_crops, crops)
    if inputs is None:
        return {"results": [r.to_dict() for r in readings]}
    results = await run_in_threadpool(lambda: [_reading_json(r, inputs) for r in readings])
    return {"results": results}


@api.get("/health", summary="Is the server up?", response_model=schemas.Health)
async def health(reader: ReaderDep) -> dict:
    return {"status": "ok", "model": reader.info.get("name"), "version": __version__}


@api.get("/model", summary="The model being served", response_model=schemas.ModelInfo)
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


def create_app(reader: Reader, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The FastAPI app serving `reader`: the drawing page at ``/`` and the API.

    Example (``mnist-cnn serve`` does this)::

        app = create_app(DigitReader.load("model.keras"))
        uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    app = FastAPI(
        title="mnist-cnn",
        version=__version__,
        description="Read handwritten digits with a Keras CNN trained on MNIST. "
        'Draw at [/](/); errors are JSON `{"detail": "..."}`.',
    )
    app.state.reader = reader
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(RequestValidationError, one_line_error)
    app.include_router(api)
    app.add_api_route("/", page, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


# -- Reading. ---------------------------------------------------------------------------------


async def _read(call: Callable[..., Any], *args: Any) -> Any:
    """Call the reader in the threadpool; its user errors become 4xx answers."""
    try:
        return await run_in_threadpool(call, *args)
    except ImageError as e:
        raise HTTPException(_image_error_status(e), str(e)) from None
    except MnistCnnError as e:
        raise HTTPException(422, str(e)) from None


def _find_digits_in_each(images: list[bytes]) -> list[list[DigitCrop]]:
    """Find the digits in every image of a batch, naming the first bad one by its index."""
    crops = []
    for i, image in enumerate(images):
        try:
            crops.append(extract_digits(image))
        except ImageError as e:
            raise HTTPException(_image_error_status(e), f"image {i}: {e}") from None
    return crops


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
