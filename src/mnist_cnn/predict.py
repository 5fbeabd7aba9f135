"""``mnist-cnn predict``: read the numbers in image files and print them.

    mnist-cnn predict PATH... [--model M] [--json | --csv] [--show DIR]

The command lists the image files named on the command line (a folder gives its
image files), reads them all with one `mnist_cnn.inference.DigitReader`, prints
one row per file as a table, JSON or CSV, and with ``--show`` writes a figure
per file: the image with a box and label per digit beside the 28x28 inputs the
model saw. A file that cannot be read gets its error in its row, whatever went
wrong with it (a folder, a device or a named pipe is no image file, nor is a file
over `mnist_cnn.imaging.MAX_FILE_BYTES`); the others are still read.

>>> rows = [FileResult("a.png", error="no such file or folder")]
>>> print(format_table(rows))
file   read  confidence  status
a.png  -              -  error: no such file or folder
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from mnist_cnn import imaging
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.inference import Digit, DigitReader, Reading

FIGURE_COLUMNS = 6  # the model's inputs beside the image: at most this many per row
FIGURE_PIXELS = 800  # the image is drawn from a copy at most about this many pixels wide
WORK_SIZE = imaging.ImagingParams().work_size  # larger images are reduced to about this


@dataclass
class FileResult:
    """One row of ``mnist-cnn predict``: a reading or the reason there is none.

    file: the path as listed. reading: what was read, None if the file could not be.
    error: why not. gray: the decoded image (reduced if large), kept only for
    ``--show``; shape: the (height, width) of the full image, which boxes are in.
    """

    file: str
    reading: Reading | None = None
    error: str | None = None
    gray: np.ndarray | None = field(default=None, repr=False)
    shape: tuple[int, int] | None = None

    def to_dict(self) -> dict:
        """The JSON shape: file, prediction, confidence, digits and status ("error"
        and an "error" message for a file that could not be read)."""
        if self.reading is None:
            return {
                "file": self.file,
                "prediction": None,
                "confidence": None,
                "digits": [],
                "status": "error",
                "error": self.error,
            }
        reading = self.reading.to_dict()
        return {"file": self.file} | {
            key: reading[key] for key in ("prediction", "confidence", "digits", "status")
        }


# -- Listing and reading files -------------------------------------------------------------


def list_images(paths: list[str]) -> list[tuple[str, str | None]]:
    """Command-line paths -> (file, error) pairs.

    A folder gives its image files (sorted, not hidden, not recursive, by suffix),
    or one error row when it has none; a missing path gives an error row.

    Args:
        paths: files and folders as given on the command line.

    Returns:
        (file, None) for each file to read, (path, reason) for each that cannot be.

    Example:
        >>> list_images(["no/such.png"])
        [('no/such.png', 'no such file or folder')]
    """
    files = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            try:
                found = sorted(
                    p
                    for p in path.iterdir()
                    if p.is_file()  # regular files (or links to them) only
                    and not p.name.startswith(".")
                    and p.suffix.lower() in imaging.IMAGE_SUFFIXES
                )
            except OSError as e:
                files.append((name, f"cannot list the folder ({e.strerror or e})"))
                continue
            files += [(str(p), None) for p in found]
            if not found:
                files.append((name, "no image files in this folder"))
        elif path.exists():  # a device or a pipe too: reading it says what it is
            files.append((name, None))
        else:
            files.append((name, "no such file or folder"))
    return files


def read_files(
    reader: DigitReader, paths: list[str], keep_images: bool = False
) -> list[FileResult]:
    """Read every image file (and folder of them) with one call of each model for all
    their digits.

    Args:
        reader: the loaded model.
        paths: files and folders, as for `list_images`.
        keep_images: keep each decoded image in `FileResult.gray` (for figures).

    Returns:
        One `FileResult` per listed file, in order; an unreadable one holds its error,
        whatever the error (a file never ends the run).

    Example:
        >>> read_files(DigitReader.load(), ["photo.jpg"])[0].reading.prediction  # doctest: +SKIP
        '42'
    """
    results, found = [], []
    for file, error in list_images(paths):
        result = FileResult(file, error=error)
        if error is None:
            try:
                gray, shape = imaging.load_reduced(file, WORK_SIZE)
                found.append((result, imaging.find_lines(gray, shape=shape)))
                if keep_images:
                    result.gray, result.shape = gray, shape
            except MnistCnnError as e:
                result.error = str(e)
            except Exception as e:  # any other failure is this file's, not the run's
                result.error = f"cannot read the image ({type(e).__name__}: {e})"
        results.append(result)
    readings = reader.read_lines([lines for _, lines in found])
    for (result, _), reading in zip(found, readings, strict=True):
        result.reading = reading
    return results


# -- Output --------------------------------------------------------------------------------


def format_table(results: list[FileResult]) -> str:
    """Aligned columns: file, number read ("4?" when unsure), confidence, status or error.

    Example: see the module's docstring.
    """
    rows = [("file", "read", "confidence", "status")]
    for r in results:
        if r.reading is None:
            rows.append((r.file, "-", "-", f"error: {r.error}"))
        else:
            confidence = f"{r.reading.confidence:.1%}" if r.reading.digits else "-"
            rows.append((r.file, r.reading.guess, confidence, r.reading.status))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}"
        for row in rows
    )


def write_csv(results: list[FileResult], out: TextIO | None = None) -> None:
    """One CSV row per file (file, prediction, confidence, status, error) to `out`
    (standard output by default); a missing value is an empty cell.

    Example:
        >>> write_csv([FileResult("a.png", error="empty file")])
        file,prediction,confidence,status,error
        a.png,,,error,empty file
    """
    writer = csv.writer(out or sys.stdout, lineterminator="\n")
    writer.writerow(["file", "prediction", "confidence", "status", "error"])
    for r in results:
        row = r.to_dict()
        writer.writerow(
            [
                row["file"],
                row["prediction"] or "",
                "" if row["confidence"] is None else row["confidence"],
                row["status"],
                row.get("error") or "",
            ]
        )


def predict_command(args: argparse.Namespace) -> int:
    """``mnist-cnn predict PATH... [--model M] [--json | --csv] [--show DIR] [--threshold T]``.

    Args:
        args: paths, model (None: `mnist_cnn.inference.find_model`), json, csv, show,
            threshold (`DigitReader`'s).

    Returns:
        The exit code: 1 if any file could not be read, else 0.
    """
    reader = DigitReader.load(args.model, threshold=args.threshold)
    results = read_files(reader, args.paths, keep_images=bool(args.show))
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    elif args.csv:
        write_csv(results)
    else:
        print(format_table(results))
    if args.show:
        written = save_figures(results, args.show)
        print(f"{len(written)} figure(s) written to {args.show}", file=sys.stderr)
    return 1 if any(r.reading is None for r in results) else 0


# -- --show figures ------------------------------------------------------------------------


def save_figures(results: list[FileResult], folder: str | os.PathLike) -> list[Path]:
    """One `reading_figure` per file read with its image kept, as ``<folder>/<stem>.png``
    (``<stem>-2.png`` ... when two files share a stem).

    Returns:
        The paths written, in the order of `results`.
    """
    folder = Path(folder)
    written, used = [], set()
    for r in results:
        if r.reading is None or r.gray is None:
            continue
        stem, n = Path(r.file).stem, 1
        while (name := stem if n == 1 else f"{stem}-{n}") in used:
            n += 1
        used.add(name)
        path = folder / f"{name}.png"
        written.append(reading_figure(r.gray, r.reading, path, Path(r.file).name, r.shape))
    return written


def reading_figure(
    gray: np.ndarray,
    reading: Reading,
    path: str | os.PathLike,
    title: str = "",
    shape: tuple[int, int] | None = None,
) -> Path:
    """Save a figure of a reading: the image with a box and label per digit, beside
    the 28x28 inputs the model saw.

    Args:
        gray: the image the digits were found in, uint8 (height, width).
        reading: what `DigitReader` read in it (with its `inputs`).
        path: the file to write; its folder is made if need be.
        title: shown before what was read, e.g. the file's name.
        shape: the (height, width) the boxes are in, when `gray` is a reduced copy.

    Returns:
        `path`, as a `Path`.

    Example:
        >>> gray = imaging.load_image("photo.jpg")  # doctest: +SKIP
        >>> reading_figure(gray, reader.read_image(gray), "photo-read.png")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from mnist_cnn.plots import STYLE  # also selects the file-only Agg backend

    path = Path(path)
    count = len(reading.digits)
    cols = min(max(count, 1), FIGURE_COLUMNS)
    rows = max(1, math.ceil(count / cols))
    with plt.style.context(STYLE):
        fig = plt.figure(figsize=(7.5 + 1.3 * cols, max(3.6, 1.6 * rows + 1.0)))
        grid = fig.add_gridspec(1, 2, width_ratios=[5.0, 1.3 * cols])
        _draw_image(fig.add_subplot(grid[0]), gray, reading, title, shape or gray.shape)
        _draw_inputs(fig, grid[1].subgridspec(rows, cols), reading)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
    return path


def _draw_image(ax, gray: np.ndarray, reading: Reading, title: str, shape: tuple[int, int]) -> None:
    """The image, framed, with each digit's box and tag (in the pixels of `shape`);
    what was read as the title."""
    height, width = shape
    step = max(1, math.ceil(max(gray.shape) / FIGURE_PIXELS))  # a lighter copy to draw
    ax.imshow(gray[::step, ::step], vmin=0, vmax=255, extent=(0, width, height, 0))
    _no_ticks(ax)
    for spine in ax.spines.values():  # a light frame shows where the image ends
        spine.set(visible=True, color="#999999", linewidth=0.8)
    for digit in reading.digits:
        _draw_box(ax, digit)
    read = reading.prediction or reading.guess
    ax.set_title(f"{title}  read {read}  ({reading.status}, {reading.confidence:.1%})")


def _draw_box(ax, digit: Digit) -> None:
    """A box around one digit and a tag on it: its label and confidence, blue when
    sure, red with "?" when not."""
    from matplotlib.patches import Rectangle

    from mnist_cnn.plots import COLORS

    x0, y0, x1, y1 = digit.box
    color = COLORS[0] if digit.label is not None else COLORS[3]
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=2, ec=color))
    ax.text(
        x0,
        y0,
        f"{_label(digit)} {digit.confidence:.0%}",
        color="white",
        va="bottom",
        fontsize=9,
        bbox={"facecolor": color, "edgecolor": "none", "pad": 1.5},
    )


def _draw_inputs(fig, cells, reading: Reading) -> None:
    """Each digit's 28x28 model input, titled with its label, in the grid `cells`;
    "no digit" in the first cell when there is none."""
    rows, cols = cells.get_geometry()
    for i in range(rows * cols):
        ax = fig.add_subplot(cells[i // cols, i % cols])
        _no_ticks(ax)
        if i < len(reading.digits):
            ax.imshow(reading.inputs[i], vmin=0, vmax=255)
            ax.set_title(_label(reading.digits[i]), fontsize=9)
            continue
        ax.axis("off")
        if i == 0:
            ax.text(0.5, 0.5, "no digit", ha="center", va="center")


def _no_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def _label(digit: Digit) -> str:
    return "?" if digit.label is None else str(digit.label)
