"""The web API's requests and answers as Pydantic models.

FastAPI builds ``/openapi.json`` (shown at ``/docs``) from these models, and every
answer passes through its model (``response_model=``), so what the docs say is what
a client gets. The request forms are read by `mnist_cnn.server.bodies`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field

MAX_BATCH = 64  # images per batch request

# -- Answers. -----------------------------------------------------------------------------


class Digit(BaseModel):
    """One digit of a reading, as `mnist_cnn.inference.Digit.to_dict` gives it."""

    label: int | None = Field(
        description="the digit 0-9, or null when its confidence is below the threshold",
        examples=[7],
    )
    confidence: float = Field(description="probability of `label`", examples=[0.998])
    probabilities: list[float] = Field(
        min_length=10, max_length=10, description="probability of each digit 0-9"
    )
    box: list[int] = Field(
        min_length=4,
        max_length=4,
        description="[x0, y0, x1, y1] of the digit in the sent image, in pixels",
        examples=[[40, 22, 118, 190]],
    )


class Reading(BaseModel):
    """What was read in one image, as `mnist_cnn.inference.Reading.to_dict` gives it."""

    prediction: str | None = Field(
        description="the digits read left to right; null unless the status is ok (no "
        "digit, a digit or the whole number below the reader's threshold)",
        examples=["42"],
    )
    confidence: float = Field(
        description="the model's probability that the whole number is right", examples=[0.97]
    )
    status: Literal["ok", "uncertain", "no digit"]
    digits: list[Digit] = Field(description="one per digit, left to right")
    inputs: list[str] | list[list[list[int]]] | None = Field(
        None,
        description="only with ?inputs=png (data: URLs) or ?inputs=pixels (28x28 arrays): "
        "the model's input image for each digit",
    )


class Batch(BaseModel):
    results: list[Reading] = Field(description="one reading per image, in request order")


class ModelInfo(BaseModel):
    """The model being served (never its path: the server's files are its own)."""

    name: str
    test_accuracy: float | None = Field(description="on the MNIST test set; null if unknown")
    params: int | None = Field(description="number of weights")
    source: Literal["package", "run", "file"] | None = Field(
        default=None, description="shipped with the package, a run folder, or a loose file"
    )
    description: str | None = Field(
        default=None, description="one line naming the model, as `mnist-cnn` prints it"
    )
    number_model: str | None = Field(
        default=None,
        description="the number model that reads each line with it (touching digits); "
        "null if digits are read only as segmentation finds them",
    )
    part_model: str | None = Field(
        default=None,
        description="the model that votes on the digits cut out of touching ones; null: the "
        "digit model does",
    )


class Health(BaseModel):
    """Liveness: the server answers; "loading" until the model is ready."""

    status: Literal["ok", "loading"]
    model: str | None = Field(description="the name of the model being served; null while loading")
    version: str = Field(description="the mnist-cnn version")


class Ready(BaseModel):
    """Readiness: the model is loaded and digits can be read."""

    status: Literal["ready"]
    model: str = Field(description="the name of the model being served")


class Error(BaseModel):
    """Every error: a 4xx status and one sentence saying what is wrong."""

    detail: str = Field(examples=["'file' is not an image (PNG, JPEG, GIF, BMP, WebP or TIFF)"])


class InputsFormat(StrEnum):
    png = "png"
    pixels = "pixels"


# -- Request bodies: one model per accepted form. ---------------------------------------------

Base64 = Annotated[
    str,
    Field(
        description="an image file (PNG, JPEG, ...) in base64; a data: URL prefix is accepted",
        pattern=r"^\s*(data:[^,;]*(;[^,;]*)*;base64,)?[A-Za-z0-9+/=\s]+$",
        json_schema_extra={"contentEncoding": "base64"},
    ),
]
Row = Annotated[list[Annotated[float, Field(ge=0, le=255)]], Field(min_length=28, max_length=28)]


class FileForm(BaseModel):
    """multipart/form-data with one image file."""

    file: UploadFile = Field(description="a PNG, JPEG, GIF, BMP, WebP or TIFF file")


class FilesForm(BaseModel):
    """multipart/form-data with several image files: repeat the field."""

    files: list[UploadFile] = Field(min_length=1, max_length=MAX_BATCH)


class ImageJson(BaseModel):
    """An image file in base64."""

    model_config = ConfigDict(extra="forbid")
    image: Base64


class PixelsJson(BaseModel):
    """28x28 pixels 0-255, white digit on black (MNIST style), read as they are."""

    model_config = ConfigDict(extra="forbid")
    pixels: list[Row] = Field(min_length=28, max_length=28)


class ImagesJson(BaseModel):
    """Several image files in base64."""

    model_config = ConfigDict(extra="forbid")
    images: list[Base64] = Field(min_length=1, max_length=MAX_BATCH)
