"""Hostile and unusual inputs (`bad_inputs.corpus`) read by the shipped model, one by
one with `DigitReader.read_image` and all together with ``mnist-cnn predict`` on a
folder: each gives a reading or a one-line `ImageError`, never another exception, and
predict keeps one row per file."""

import json

import pytest

from bad_inputs import TINY_MODES, TINY_SIDES, corpus
from mnist_cnn.cli import main
from mnist_cnn.imaging import ImageError
from mnist_cnn.inference import DigitReader

STATUSES = {"ok", "uncertain", "no digit"}

# What some entries must give: a reading with this many digits, or an error like this.
EXPECTED = {
    "digit.png": 1,
    "digit.jpg": 1,
    "digit.bmp": 1,
    "digit.webp": 1,
    "digit.gif": 1,
    "digit.tiff": 1,
    "animated.gif": 1,
    "sixteen-bit.png": 1,
    "cmyk.jpg": 1,
    "palette-transparent.png": 1,
    "exif-orientation-1.jpg": 1,
    "exif-broken.jpg": 1,
    "transparent-6300.png": 0,
    "one-row-5000.png": 0,
    "dot-grid-7225.png": "7,225 pieces of ink, more than the 1,000",
    "empty.png": "empty file",
    "text.png": "it looks like text",
    "postscript-eps.png": "PostScript or EPS file; send PNG, JPEG, BMP, WebP, GIF or TIFF",
    "binary-eps-header.png": "an EPS file",
    "pdf-document.png": "a PDF document",
    "windows-icon.png": "a Windows icon",
    "photoshop-header.png": "a Photoshop file",
    "zip-archive.png": "unknown format",
    "truncated-half.png": "truncated",
    "truncated-half.jpg": "truncated",
    "bomb-100mp.png": "100,000,000 pixels, more than the 40,000,000 allowed",
    "declared-huge.png": "more than the 40,000,000 allowed",
}


@pytest.fixture(scope="module")
def reader(model_file):
    return DigitReader.load(model_file)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-inputs")
    for name, data in corpus():
        (folder / name).write_bytes(data)
    return folder


def test_the_corpus_covers_every_case():
    names = [name for name, _ in corpus()]
    assert len(names) == len(set(names))
    tiny = {f"{w}x{h}" for w in TINY_SIDES for h in TINY_SIDES}
    assert len(tiny) == 16 and len(TINY_MODES) == 7
    assert all(any(f"tiny-{size}-" in n for n in names) for size in tiny)
    assert set(EXPECTED) <= set(names)
    assert all(n.rsplit(".", 1)[1] in ("png", "jpg", "bmp", "webp", "gif", "tiff") for n in names)


def test_each_input_gives_a_reading_or_an_image_error(reader):
    outcomes = {}
    for name, data in corpus():
        try:
            reading = reader.read_image(data)
        except ImageError as e:
            message = str(e)
            assert message and "\n" not in message, name
            outcomes[name] = message
        else:  # any other exception fails the test here
            assert reading.status in STATUSES, name
            outcomes[name] = len(reading.digits)
    for name, expected in EXPECTED.items():
        if isinstance(expected, int):
            assert outcomes[name] == expected, (name, outcomes[name])
        else:
            assert isinstance(outcomes[name], str) and expected in outcomes[name], name
    # Images too small to hold a digit are read (no digit), not refused.
    assert all(outcomes[n] == 0 for n in outcomes if n.startswith("tiny-"))


@pytest.mark.slow  # the whole corpus again, through the command: a second
def test_predict_keeps_one_row_per_file(folder, model_file, capsys):
    code = main(["predict", str(folder), "--json", "--model", str(model_file)])
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert code == 1  # documented: 1 when any file could not be read
    assert [row["file"].rsplit("/", 1)[1] for row in rows] == sorted(n for n, _ in corpus())
    by_name = {row["file"].rsplit("/", 1)[1]: row for row in rows}
    for name, expected in EXPECTED.items():
        row = by_name[name]
        if isinstance(expected, int):
            assert row["status"] in STATUSES and len(row["digits"]) == expected, name
        else:
            assert row["status"] == "error" and expected in row["error"], name
    assert all(row["status"] == "no digit" for n, row in by_name.items() if n.startswith("tiny"))
    assert "Traceback" not in err
