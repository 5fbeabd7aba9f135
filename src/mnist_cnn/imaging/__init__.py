"""Real images -> MNIST inputs: decode, clean, segment, size-normalise, centre.

An MNIST digit is white on black, its longer side scaled to 20 pixels with
anti-aliasing (so the stroke edges are grey) and placed in a 28x28 field with
its centre of mass at the centre. A photo of a digit is nothing like that: dark
ink on unevenly lit paper, JPEG noise, any size and position, often several
digits in a row. `extract_digits` turns any such image into MNIST-style 28x28
uint8 arrays, one per digit, in reading order, one module per step:

1. `decode`: Pillow reads the format (PNG, JPEG, BMP, WebP, GIF or TIFF, no other),
   the EXIF orientation is applied, transparency composited over white, grayscale;
   a large image is reduced as it is decoded, to about the size it is analysed at;
2. `page` and `ink`: a sheet of paper photographed on a darker desk is found and
   the desk painted the paper's level; then a plane fitted to the image's border
   (mostly background, lighting gradient included) tells whether the ink is darker
   or lighter; a smooth estimate of the background is divided out (dark ink) or subtracted (light
   ink), so that shadows and gradients cancel; Otsu's threshold on a slightly
   blurred copy gives the ink mask, unless the "ink" does not stand out from the
   background noise;
   `rules`: the lines of ruled or squared paper, a margin, a box or an underline
   taken out;
3. `segment`: connected components of the ink; specks dropped, broken strokes
   merged, dots and dashes dropped, touching digits cut at the thinnest column;
4. `normalise`: each digit as MNIST was made: hairlines thickened, longer side to
   20 px with anti-aliasing, grey levels kept, centre of mass at (14, 14);
5. `pipeline`: `extract_digits` and `find_digits`, the steps above in order;
   `extract_lines` also groups the digits into lines, each with its ink, which
   `strip` turns into the number model's input.

The settings all steps read are one `ImagingParams` (module `params`). The 28x28
arrays then go through `mnist_cnn.preprocessing.preprocess`, like every other
model input.

>>> import numpy as np
>>> page = np.full((120, 200), 230, np.uint8)            # light paper
>>> page[30:90, 44:52] = 25                              # a dark "1"
>>> page[30:90, 120:160] = 25; page[40:80, 130:150] = 230  # a "0"
>>> [d.box for d in extract_digits(page)]
[(44, 30, 52, 90), (120, 30, 160, 90)]
>>> extract_digits(page, params=ImagingParams(min_contrast=250.0))   # faint for this
[]
"""

from mnist_cnn.imaging.decode import (
    FORMATS,
    IMAGE_SUFFIXES,
    MAX_FILE_BYTES,
    MAX_PIXELS,
    ImageError,
    ImageSource,
    ImageTooLarge,
    NotAnImage,
    load_image,
    load_reduced,
    read_file,
)
from mnist_cnn.imaging.ink import ink_box, ink_map, otsu_threshold, stroke_ratio, stroke_width
from mnist_cnn.imaging.normalise import to_mnist
from mnist_cnn.imaging.params import ImagingParams
from mnist_cnn.imaging.pipeline import (
    DigitCrop,
    Line,
    extract_digits,
    extract_lines,
    find_digits,
    find_lines,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "FORMATS",
    "DigitCrop",
    "ImageError",
    "ImageSource",
    "ImageTooLarge",
    "ImagingParams",
    "NotAnImage",
    "extract_digits",
    "find_digits",
    "find_lines",
    "extract_lines",
    "Line",
    "ink_box",
    "ink_map",
    "load_image",
    "load_reduced",
    "read_file",
    "otsu_threshold",
    "stroke_ratio",
    "stroke_width",
    "to_mnist",
]
