"""A corpus of hostile and unusual image files, for every reader of uploaded images.

`corpus()` gives (name, bytes) pairs: tiny images in every mode, truncated and
corrupt files, decompression bombs, formats we do not decode, files that are no
image at all, unusual but valid images (16-bit, CMYK, animated, EXIF-rotated), and a
fully transparent 6300x6300 PNG and a grid of 7,225 dots, cheap to send and costly
to read. Each name ends in an image suffix (so that a folder of them is listed
whole) and says what the bytes hold. A reader must answer each with a reading or a
one-line `ImageError`, never another exception.
"""

from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image

TINY_MODES = ("L", "RGB", "RGBA", "P", "1", "I;16", "F")
TINY_SIDES = (1, 2, 3, 4)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    """`image` saved in the Pillow format `fmt`."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunks(width: int, height: int, bit_depth: int = 8, data: bytes = b"") -> bytes:
    """A grey PNG built by hand: any declared size, with `data` as its compressed rows."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(data))
        + chunk(b"IEND", b"")
    )


def digit_page(height: int = 120, width: int = 90) -> np.ndarray:
    """Light paper with a dark, bold "1" on it: an image that does hold a digit."""
    page = np.full((height, width), 225, np.uint8)
    page[height // 6 : height - height // 6, width // 2 - 5 : width // 2 + 5] = 30
    return page


def tiny_images() -> list[tuple[str, bytes]]:
    """Every size up to 4x4 in every common mode: PNG where it holds the mode, else TIFF."""
    rng = np.random.default_rng(0)
    cases = []
    for height in TINY_SIDES:
        for width in TINY_SIDES:
            gray = Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8))
            for mode in TINY_MODES:
                image = gray.convert(mode) if mode != "I;16" else gray.convert("I").convert(mode)
                fmt = "TIFF" if mode == "F" else "PNG"
                name = f"tiny-{width}x{height}-{mode.replace(';', '')}.{fmt.lower()}"
                cases.append((name, encode(image, fmt)))
    return cases


def broken_files() -> list[tuple[str, bytes]]:
    """Truncated, corrupt and oversized files, and bytes that are no image."""
    page = Image.fromarray(digit_page())
    png, jpeg = encode(page, "PNG"), encode(page, "JPEG", quality=90)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("digit.png", png)
    eps = (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
        b"newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n"
    )
    return [
        ("empty.png", b""),
        ("one-byte.png", b"\x89"),
        ("random-bytes.png", np.random.default_rng(1).bytes(4096)),
        ("text.png", b"these are not the pixels you are looking for\n" * 20),
        ("svg-drawing.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'),
        ("postscript-eps.png", eps),
        ("binary-eps-header.png", b"\xc5\xd0\xd3\xc6" + bytes(28) + eps),
        ("pdf-document.png", encode(page, "PDF")),
        ("windows-icon.png", encode(page.resize((32, 32)), "ICO")),
        ("photoshop-header.png", b"8BPS\x00\x01" + bytes(20)),
        ("zip-archive.png", archive.getvalue()),
        ("truncated-half.png", png[: len(png) // 2]),
        ("truncated-header.png", png[:20]),
        ("truncated-half.jpg", jpeg[: len(jpeg) // 2]),
        ("jpeg-header-only.jpg", jpeg[:200]),
        ("png-bad-crc.png", png[:30] + bytes([png[30] ^ 0xFF]) + png[31:]),
        ("bomb-100mp.png", png_chunks(10_000, 10_000, data=bytes(10_000 * 10_001 // 100))),
        ("declared-huge.png", png_chunks(2**31 - 1, 2**31 - 1, data=b"\x00" * 64)),
        ("declared-zero.png", png_chunks(0, 10, data=b"\x00" * 64)),
        ("declared-40mp-no-data.png", png_chunks(8000, 5000, data=b"\x00" * 64)),
    ]


def unusual_images() -> list[tuple[str, bytes]]:
    """Valid images a reader must take: bit depths, colour modes, animation, EXIF."""
    page = digit_page()
    image = Image.fromarray(page)
    frames = [image, Image.fromarray(255 - page)]
    float_page = page.astype(np.float32) / 255
    float_page[0, :5] = [np.nan, np.inf, -np.inf, 1e30, -1e30]
    nan_page = np.full(page.shape, np.nan, np.float32)
    dots = np.full((1024, 1024), 230, np.uint8)  # 85 x 85 dots: no number, costly to read
    at = np.arange(1024)
    on = ((at - 4) % 12 < 4) & (at >= 4) & (at < 1020)
    dots[np.ix_(on, on)] = 30
    cases = [
        ("digit.png", encode(image, "PNG")),
        ("digit.jpg", encode(image, "JPEG")),
        ("digit.bmp", encode(image, "BMP")),
        ("digit.webp", encode(image, "WEBP")),
        ("digit.gif", encode(image, "GIF")),
        ("digit.tiff", encode(image, "TIFF")),
        ("animated.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:])),
        ("sixteen-bit.png", encode(Image.fromarray(page.astype(np.uint16) * 257), "PNG")),
        ("cmyk.jpg", encode(image.convert("CMYK"), "JPEG")),
        ("palette-transparent.png", encode(image.convert("P"), "PNG", transparency=0)),
        ("grey-alpha.png", encode(image.convert("LA"), "PNG")),
        ("float-nan-inf.tiff", encode(Image.fromarray(float_page, "F"), "TIFF")),
        ("float-all-nan.tiff", encode(Image.fromarray(nan_page, "F"), "TIFF")),
        ("one-row-5000.png", encode(Image.new("L", (5000, 1), 0), "PNG")),
        ("one-column-5000.png", encode(Image.new("L", (1, 5000), 0), "PNG")),
        ("dot-grid-7225.png", encode(Image.fromarray(dots), "PNG")),
        (
            "transparent-6300.png",
            encode(Image.new("RGBA", (6300, 6300), (0, 0, 0, 0)), "PNG", compress_level=9),
        ),
    ]
    for orientation in range(1, 9):
        exif = image.getexif()
        exif[0x0112] = orientation
        cases.append((f"exif-orientation-{orientation}.jpg", encode(image, "JPEG", exif=exif)))
    broken_exif = encode(image, "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")
    cases.append(("exif-broken.jpg", broken_exif))
    return cases


@functools.cache
def _corpus() -> tuple[tuple[str, bytes], ...]:
    return tuple(tiny_images() + broken_files() + unusual_images())


def corpus() -> list[tuple[str, bytes]]:
    """Every hostile or unusual input: (file name with an image suffix, its bytes),
    each name once."""
    return list(_corpus())
