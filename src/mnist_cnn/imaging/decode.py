"""Decoding: encoded bytes, a file, a Pillow image or an array -> grayscale uint8.

Pillow reads the format (PNG, JPEG, BMP, WebP, GIF, TIFF, ...); the EXIF orientation
is applied, transparency is composited over white paper, and anything unreadable or
too large raises an `ImageError` whose message says why in a few words.

>>> load_image(np.full((2, 3, 3), 200, np.uint8)).tolist()
[[200, 200, 200], [200, 200, 200]]
>>> load_image(b"")
Traceback (most recent call last):
...
mnist_cnn.imaging.decode.ImageError: empty file
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_cnn.errors import MnistCnnError

ImageSource = bytes | str | os.PathLike | Image.Image | np.ndarray

MAX_PIXELS = 40_000_000  # a 40-megapixel photo is fine; a decompression bomb is not
MAX_FILE_BYTES = 256 * 1024 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")

_SIGNATURES = {
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}


class ImageError(MnistCnnError):
    """An image that cannot be read: not an image, truncated, too large, ..."""


class ImageTooLarge(ImageError):
    """More pixels or bytes than allowed (a decompression bomb, say)."""


class NotAnImage(ImageError):
    """Bytes in no image format at all (text, say)."""


def load_image(source: ImageSource, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image to grayscale uint8 (H, W), upright, transparency over white.

    Args:
        source: encoded bytes, a file path, a Pillow image or a uint8 array of shape
            (H, W), (H, W, 3) or (H, W, 4).
        max_pixels: larger images are refused (decompression bombs).

    Returns:
        The grayscale image. Anything unreadable raises `ImageError` with a one-line
        reason.

    Example:
        >>> load_image(np.zeros((2, 3, 4), np.uint8)).tolist()  # fully transparent -> white
        [[255, 255, 255], [255, 255, 255]]
        >>> load_image(b"hello")
        Traceback (most recent call last):
        ...
        mnist_cnn.imaging.decode.NotAnImage: not an image file (it looks like text)
    """
    image = _open_source(source, max_pixels)
    _check_size(image.size, max_pixels)
    try:
        image.load()
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(_bomb_message(e, max_pixels)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        if "truncated" in str(e).lower():
            raise ImageError("image is truncated") from None
        raise ImageError(f"cannot decode the image ({e})") from None
    with contextlib.suppress(Exception):  # a broken EXIF block must not hide a readable image
        image = ImageOps.exif_transpose(image)
    return _to_gray(image)


def _open_source(source: ImageSource, max_pixels: int) -> Image.Image:
    """A Pillow image, not yet decoded, from any of the sources `load_image` takes."""
    if isinstance(source, np.ndarray):
        return _image_from_array(source, max_pixels)
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _open(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        return _open(_read_file(Path(source)))
    raise ImageError(f"cannot read an image from a {type(source).__name__}")


def _read_file(path: Path) -> bytes:
    """The file's bytes, or an `ImageError` saying why they cannot be read."""
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ImageError("is a folder, not an image file")
        if size > MAX_FILE_BYTES:
            raise ImageTooLarge(
                f"file has {size:,} bytes, more than the {MAX_FILE_BYTES:,} allowed"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except OSError as e:
        raise ImageError(f"cannot read the file ({e.strerror or e})") from None


def _open(data: bytes) -> Image.Image:
    """Open encoded bytes with Pillow (the pixels are decoded later, on `load`)."""
    with warnings.catch_warnings():
        # Pillow warns above 89 megapixels; our own `max_pixels` check decides.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as e:
            raise ImageTooLarge(_bomb_message(e, MAX_PIXELS)) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            message = _not_an_image(data)
            kind = NotAnImage if message.startswith("not an image") else ImageError
            raise kind(message) from None


def _not_an_image(data: bytes) -> str:
    """Why `data` could not be opened, in a few words."""
    if not data:
        return "empty file"
    head = data[:16]
    kind = next((k for magic, k in _SIGNATURES.items() if head.startswith(magic)), None)
    if kind is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "WebP"
    if kind is not None:
        return f"image is truncated or corrupt ({kind} data that cannot be decoded)"
    sample = data[:1024]
    try:
        sample.decode("utf-8")
        is_text = b"\x00" not in sample
    except UnicodeDecodeError:
        is_text = False
    if is_text and b"<svg" in sample.lower():
        return "not an image file we read (an SVG drawing; send PNG, JPEG, BMP, WebP or GIF)"
    if is_text:
        return "not an image file (it looks like text)"
    return "not an image file (unknown format; PNG, JPEG, BMP, WebP or GIF expected)"


def _bomb_message(error: Exception, max_pixels: int) -> str:
    """Pillow's decompression-bomb error in our words, with the pixel count it found."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    pixels = f"{int(found.group(1)):,}" if found else "too many"
    return f"image has {pixels} pixels, more than the {max_pixels:,} allowed"


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    """Refuse an image of (width, height) with no pixels or more than `max_pixels`."""
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image has {width * height:,} pixels, more than the {max_pixels:,} allowed"
        )
    if width * height == 0:
        raise ImageError("image is empty (0 pixels)")


def _image_from_array(array: np.ndarray, max_pixels: int) -> Image.Image:
    """A Pillow image from a bool or uint8 array of shape (H, W), (H, W, 1|3|4)."""
    if array.dtype == bool:
        array = array.astype(np.uint8) * np.uint8(255)
    if array.dtype != np.uint8:
        raise ImageError(f"expected a uint8 array (0-255), got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ImageError(
            f"expected an array of shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}"
        )
    _check_size((array.shape[1], array.shape[0]), max_pixels)
    return Image.fromarray(np.ascontiguousarray(array))


def _to_gray(image: Image.Image) -> np.ndarray:
    """Grayscale uint8, with any transparency composited over white paper."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float: stretch to 0-255
        values = np.asarray(image, dtype=np.float64)
        top = values.max()
        if top > 255 or (image.mode == "F" and 0 < top <= 1):  # float images are often 0-1
            values = values * (255.0 / top)
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    try:
        if image.has_transparency_data:
            rgba = image.convert("RGBA")
            paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(paper, rgba)
        return np.asarray(image.convert("L"), dtype=np.uint8)
    except ValueError as e:  # colour modes Pillow cannot convert, such as LAB
        raise ImageError(f"cannot read {image.mode} images ({e})") from None
