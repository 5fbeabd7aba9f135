"""Reading the image(s) a request sends, in every form the API accepts.

``POST /api/predict`` takes multipart, JSON and raw image bytes alike, which FastAPI
cannot declare as parameters, so two dependencies read the body themselves:
`one_image` for it and `batch_images` for ``POST /api/predict/batch``.
`ONE_IMAGE_BODY` and `BATCH_BODY` list the forms they accept for the OpenAPI schema
(the routes' ``openapi_extra``), built from the models in `mnist_cnn.server.schemas`.
Every problem is an `HTTPException` whose detail says what to send instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from mnist_cnn.server.schemas import (
    MAX_BATCH,
    FileForm,
    FilesForm,
    ImageJson,
    ImagesJson,
    PixelsJson,
)

MAX_FIELDS = 16  # multipart text fields; they are ignored
HOW_TO_SEND = (
    "send an image as multipart field 'file', as raw image/* bytes, "
    'as JSON {"image": "<base64>"} or as JSON {"pixels": <28x28 numbers 0-255>}'
)
HOW_TO_SEND_MANY = 'send multipart \'files\' or JSON {"images": ["<base64>", ...]}'


def _request_body(content: dict[str, dict]) -> dict:
    """`openapi_extra` for a route whose body a dependency reads: media type -> schema."""
    content = {media: {"schema": schema} for media, schema in content.items()}
    return {"requestBody": {"required": True, "content": content}}


_RAW = {"type": "string", "format": "binary"}
ONE_IMAGE_BODY = _request_body(
    {
        "multipart/form-data": FileForm.model_json_schema(),
        "application/json": {
            "oneOf": [ImageJson.model_json_schema(), PixelsJson.model_json_schema()]
        },
        "image/*": _RAW,
        "application/octet-stream": _RAW,
    }
)
BATCH_BODY = _request_body(
    {
        "multipart/form-data": FilesForm.model_json_schema(),
        "application/json": ImagesJson.model_json_schema(),
    }
)


# -- The dependencies. ------------------------------------------------------------------------


async def one_image(request: Request) -> bytes | list:
    """The image one request sends: encoded image bytes (multipart ``file``, a raw
    body, JSON ``image``) or the nested list of JSON ``pixels``, whose shape and
    values `DigitReader.read_pixels` checks."""
    media, body = _media_type(request), await request.body()
    if not body:
        raise _fail(400, f"the request body is empty; {HOW_TO_SEND}")
    if media == "multipart/form-data":
        async with request.form(max_files=1, max_fields=MAX_FIELDS) as form:
            if "file" not in form:
                raise _fail(422, f"multipart field 'file' is missing; {HOW_TO_SEND}")
            return await _upload_bytes(form["file"], "file")
    if media == "application/json":
        # Parsing and decoding megabytes of JSON and base64 is work: not on the event loop.
        return await run_in_threadpool(_json_single, body)
    if media.startswith("image/") or media == "application/octet-stream":
        return body
    raise _fail(415, f"unsupported content type {media or 'none'!r}; {HOW_TO_SEND}")


async def batch_images(request: Request) -> list[bytes]:
    """The images one batch request sends (multipart ``files`` or JSON ``images``),
    as encoded bytes; more than `MAX_BATCH` is 413."""
    media, body = _media_type(request), await request.body()
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
    raise _fail(415, f"unsupported content type {media or 'none'!r}; {HOW_TO_SEND_MANY}")


# -- Multipart. ---------------------------------------------------------------------------------


async def _upload_bytes(item: Any, field: str) -> bytes:
    if not isinstance(item, UploadFile):
        raise _fail(422, f"multipart field '{field}' must be a file, not a text value")
    data = await item.read()
    if not data:
        raise _fail(422, f"the uploaded file '{item.filename or field}' is empty")
    return data


# -- JSON. ----------------------------------------------------------------------------------------


def _json_single(body: bytes) -> bytes | list:
    """`ImageJson` -> the image's bytes; `PixelsJson` -> its rows."""
    value = _parse_json(body)
    fields = set(value)
    if fields - {"image", "pixels"} or len(fields) != 1:
        raise _fail(422, f"expected exactly one of 'image' or 'pixels', got {sorted(fields)}")
    if "image" in value:
        return _decode_base64(value["image"], "image")
    if not isinstance(value["pixels"], list):
        kind = _json_type(value["pixels"])
        raise _fail(422, f"'pixels' must be 28 rows of 28 numbers, got {kind}")
    return value["pixels"]


def _json_batch(body: bytes) -> list[bytes]:
    """`ImagesJson` -> the images' bytes."""
    value = _parse_json(body)
    if set(value) != {"images"}:
        raise _fail(422, f"expected a JSON object with only 'images', got {sorted(value)}")
    images = value["images"]
    if not isinstance(images, list) or not images:
        raise _fail(422, "'images' must be a non-empty array of base64 strings")
    if len(images) > MAX_BATCH:
        raise _fail(413, f"at most {MAX_BATCH} images per batch, got {len(images)}")
    return [_decode_base64(item, f"images[{i}]") for i, item in enumerate(images)]


def _parse_json(body: bytes) -> dict:
    """The body as a JSON object, or 400/422 saying why not (NaN and Infinity are
    no numbers in JSON, and nesting deep enough to exhaust the stack is refused)."""
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise _fail(400, f"the body is not valid JSON ({e})") from None
    except RecursionError:
        raise _fail(400, "the body's JSON is nested too deeply") from None
    if not isinstance(value, dict):
        raise _fail(422, f"expected a JSON object, got {type(value).__name__}")
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number in JSON")


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


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _fail(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)
