"""Decoding: encoded bytes, a file, a Pillow image or an array -> grayscale uint8.

Pillow reads the formats in `FORMATS` (PNG, JPEG, BMP, WebP, GIF, TIFF) and no other:
no other decoder runs (EPS, say, would run Ghostscript). The EXIF orientation is
applied, transparency is composited over white paper (black under light strokes on a
transparent ground), and anything unreadable or too large raises an `ImageError`
whose message says why in a few words. Only regular files are read, at most
`MAX_FILE_BYTES` of them. A large image can be reduced as it is decoded
(`load_reduced`): a JPEG is decoded at 1/2 to 1/8 scale, anything else is made grey
and box-averaged a strip at a time, so that no full-size copy is made beyond the
decoded pixels.

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
import math
import os
import re
import stat
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_cnn.errors import MnistCnnError

ImageSource = bytes | str | os.PathLike | Image.Image | np.ndarray

MAX_PIXELS = 40_000_000  # a 40-megapixel photo is fine; a decompression bomb is not
MAX_FILE_BYTES = 256 * 1024 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "GIF", "TIFF")  # Pillow's names; no other decoder runs
ACCEPTED = "PNG, JPEG, BMP, WebP, GIF or TIFF"  # the same, for messages
STRIP_PIXELS = 1 << 20  # a large image is made grey this many pixels at a time
HIGH_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "F")  # stretched to 0-255
ORIENTATION = 0x0112  # the EXIF tag

_FILE_KINDS = (  # what a path that is no regular file is, for messages
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)

_SIGNATURES = {
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}
_REFUSED = {  # formats Pillow could decode but we do not, named in the error
    b"%!PS": "a PostScript or EPS file",
    b"\xc5\xd0\xd3\xc6": "an EPS file",
    b"%PDF": "a PDF document",
    b"8BPS": "a Photoshop file",
    b"\x00\x00\x01\x00": "a Windows icon",
}


class ImageError(MnistCnnError):
    """An image that cannot be read: not an image, truncated, too large, ..."""


class ImageTooLarge(ImageError):
    """More pixels or bytes than allowed (a decompression bomb, say)."""


class NotAnImage(ImageError):
    """Bytes in no image format at all (text, say)."""


def load_image(source: ImageSource, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image to grayscale uint8 (H, W), upright, transparency over white
    (over black under light strokes on a transparent ground).

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
    return load_reduced(source, None, max_pixels)[0]


def load_reduced(
    source: ImageSource, longest: int | None, max_pixels: int = MAX_PIXELS
) -> tuple[np.ndarray, tuple[int, int]]:
    """`load_image`, box-averaged by a whole factor as long as its longer side stays at
    least `longest`: the memory a large image takes is its decoded pixels (a JPEG is
    decoded at a reduced scale) and a few strips, no full-size grey or float copy.

    Args:
        source: as for `load_image`.
        longest: the smallest longer side wanted; None: the full size.
        max_pixels: larger images are refused (decompression bombs).

    Returns:
        The grayscale image, and the (height, width) of the full, upright image.

    Example:
        >>> gray, shape = load_reduced(np.zeros((3000, 2100), np.uint8), 1000)
        >>> gray.shape, shape
        ((1000, 700), (3000, 2100))
    """
    if isinstance(source, (str, os.PathLike)):
        source = read_file(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        image = _open(bytes(source), max_pixels)
    else:
        image = _image_from_source(source, max_pixels)
    _check_size(image.size, max_pixels)
    width, height = image.size
    if longest and max(width, height) >= 2 * longest and not isinstance(source, Image.Image):
        # A JPEG decodes at 1/2, 1/4 or 1/8 scale, grey, still `longest` or more.
        scale = longest / max(width, height)
        image.draft("L", (math.ceil(width * scale), math.ceil(height * scale)))
    _decode(image, max_pixels)
    with contextlib.suppress(Exception):  # a broken EXIF block must not hide a readable image
        if image.getexif().get(ORIENTATION, 1) != 1:  # a copy only when it turns
            turned = ImageOps.exif_transpose(image)
            if turned.size != image.size:
                width, height = height, width
            image = turned
    factor = max(1, max(image.size) // longest) if longest else 1
    return _to_gray(image, factor), (height, width)


def _decode(image: Image.Image, max_pixels: int) -> None:
    """Decode the pixels of an opened image, or raise an `ImageError` saying why not."""
    try:
        image.load()
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(_bomb_message(e, max_pixels)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        if "truncated" in str(e).lower():
            raise ImageError("image is truncated") from None
        raise ImageError(f"cannot decode the image ({e})") from None


def _image_from_source(source: ImageSource, max_pixels: int) -> Image.Image:
    """A Pillow image from an array or a Pillow image, as `load_image` takes them."""
    if isinstance(source, np.ndarray):
        return _image_from_array(source, max_pixels)
    if isinstance(source, Image.Image):
        return source
    raise ImageError(f"cannot read an image from a {type(source).__name__}")


def read_file(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, or an `ImageError` saying
    why not: a folder, a device, a named pipe or a socket is refused before it is
    read, so that neither /dev/zero nor a FIFO can hold the reader.

    Example:
        >>> read_file("/dev/zero")
        Traceback (most recent call last):
        ...
        mnist_cnn.imaging.decode.ImageError: is a character device, not an image file
    """
    try:
        _check_file(os.stat(path), max_bytes)
        # Not blocking, in case a named pipe took the file's place since.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as file:
            _check_file(os.fstat(file.fileno()), max_bytes)
            data = file.read(max_bytes + 1)
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except OSError as e:
        raise ImageError(f"cannot read the file ({e.strerror or e})") from None
    if len(data) > max_bytes:  # it grew since
        raise ImageTooLarge(f"file has more than the {max_bytes:,} bytes allowed")
    return data


def _check_file(status: os.stat_result, max_bytes: int) -> None:
    """Refuse what is not a regular file of at most `max_bytes`."""
    if not stat.S_ISREG(status.st_mode):
        kind = next((k for test, k in _FILE_KINDS if test(status.st_mode)), "not a regular file")
        raise ImageError(f"is {kind}, not an image file")
    if status.st_size > max_bytes:
        raise ImageTooLarge(
            f"file has {status.st_size:,} bytes, more than the {max_bytes:,} allowed"
        )


def _open(data: bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open encoded bytes in one of `FORMATS` with Pillow (the pixels are decoded later,
    on `load`)."""
    with warnings.catch_warnings():
        # Pillow warns above 89 megapixels; our own `max_pixels` check decides.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data), formats=FORMATS)
        except Image.DecompressionBombError as e:
            raise ImageTooLarge(_bomb_message(e, max_pixels)) from None
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
        return f"not an image file we read (an SVG drawing; send {ACCEPTED})"
    refused = next((k for magic, k in _REFUSED.items() if head.startswith(magic)), None)
    if refused is not None:
        return f"not an image file we read ({refused}; send {ACCEPTED})"
    if is_text:
        return "not an image file (it looks like text)"
    return f"not an image file (unknown format; {ACCEPTED} expected)"


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


def _to_gray(image: Image.Image, factor: int = 1) -> np.ndarray:
    """Grayscale uint8, transparency composited over `_backdrop`, box-averaged over
    `factor` x `factor` blocks: made grey a strip at a time, so that no full-size copy
    is made, and then reduced (the same as reducing the whole grey image)."""
    top, backdrop = _top(image), _backdrop(image)
    if factor == 1:
        return _gray(image, top, backdrop)
    width, height = image.size
    rows = factor * max(1, STRIP_PIXELS // (width * factor))  # whole blocks per strip
    strips = (
        Image.fromarray(_gray(image.crop((0, y, width, min(height, y + rows))), top, backdrop))
        for y in range(0, height, rows)
    )
    return np.concatenate([np.asarray(strip.reduce(factor)) for strip in strips])


def _top(image: Image.Image) -> float | None:
    """The largest value of a 16-bit or float image (None for any other)."""
    if image.mode not in HIGH_BIT_MODES:
        return None
    top = float(image.getextrema()[1])
    if math.isfinite(top):
        return top
    values = np.asarray(image)  # NaN or infinity: the largest finite value
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else 0.0


def _backdrop(image: Image.Image) -> int:
    """The grey level that transparency is composited over: white paper (255), but
    black (0) under light strokes on a transparent ground (over half the image
    transparent, what is opaque light on average), which white paper would hide.
    Judged on a copy a few hundred pixels long."""
    if image.mode in HIGH_BIT_MODES or not image.has_transparency_data:
        return 255
    width, height = image.size
    step = max(1, max(width, height) // 256)
    small = image.resize((max(1, width // step), max(1, height // step)), Image.NEAREST)
    try:
        rgba = small.convert("RGBA")
    except ValueError:  # a mode Pillow cannot convert: `_gray` says so
        return 255
    alpha = np.asarray(rgba.getchannel("A"), np.float64)  # 0-255: the weights
    level = np.asarray(rgba.convert("L"), np.float64)
    if (alpha < 128).mean() <= 0.5 or not alpha.any():
        return 255
    return 0 if np.average(level, weights=alpha) > 127.5 else 255


def _gray(image: Image.Image, top: float | None, backdrop: int = 255) -> np.ndarray:
    """Grayscale uint8, with any transparency composited over `backdrop`; a 16-bit
    or float image is stretched to 0-255 when its largest value `top` is beyond it (or
    at most 1: float images are often 0-1)."""
    if image.mode in HIGH_BIT_MODES:
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), posinf=top, neginf=0.0)
        if top > 255 or (image.mode == "F" and 0 < top <= 1):
            values = values * (255.0 / top)
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    try:
        if image.has_transparency_data:
            rgba = image.convert("RGBA")
            paper = Image.new("RGBA", rgba.size, (backdrop, backdrop, backdrop, 255))
            image = Image.alpha_composite(paper, rgba)
        return np.asarray(image.convert("L"), dtype=np.uint8)
    except ValueError as e:  # colour modes Pillow cannot convert, such as LAB
        raise ImageError(f"cannot read {image.mode} images ({e})") from None
