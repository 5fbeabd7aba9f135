"""``mnist-cnn predict``: listing files, reading them, table/JSON/CSV output, unreadable
files, --show figures. Printed digits read by the shipped model; real MNIST digits once,
in the slow tier."""

import csv
import io
import json
import os
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_cnn import data, imaging, inference, predict
from mnist_cnn.cli import main
from mnist_cnn.imaging import DigitCrop
from mnist_cnn.inference import Digit, DigitReader, Reading
from mnist_cnn.predict import FileResult


def on_paper(digits: list[np.ndarray], height: int = 120) -> np.ndarray:
    """28x28 digits side by side as dark ink on white paper, each `height` pixels tall."""
    size = round(28 * height / 20)
    inks = [np.asarray(Image.fromarray(d).resize((size, size), Image.BICUBIC)) for d in digits]
    ink = np.concatenate([np.zeros((size, 20), np.uint8), *inks, np.zeros((size, 20), np.uint8)], 1)
    return 255 - np.pad(ink, ((20, 20), (0, 0)))


def sure_digits(reader: DigitReader, x: np.ndarray, y: np.ndarray, count: int) -> list[int]:
    """Indices of the first `count` digits the reader reads right and more than 99% sure."""
    raw = reader.read_crops([[DigitCrop(d, (0, 0, 28, 28))] for d in x])
    sure = [i for i, r in enumerate(raw) if r.confidence > 0.99 and r.digits[0].label == y[i]]
    return sure[:count]


def write_folder(folder, x, y, picks) -> dict[str, str]:
    """Three readable images, an unreadable one and files predict must skip; returns
    the numbers written in the readable ones."""
    a, b, c = picks
    Image.fromarray(on_paper([x[a]])).save(folder / "a_one.png")
    Image.fromarray(on_paper([x[b], x[c]], 90)).save(folder / "b_two.jpg", quality=90)
    Image.fromarray(np.full((100, 100), 250, np.uint8)).save(folder / "c_blank.bmp")
    (folder / "d_broken.png").write_text("not really a PNG\n")
    (folder / "notes.txt").write_text("not an image suffix: skipped\n")
    (folder / ".hidden.png").write_bytes(b"skipped too")
    (folder / "sub").mkdir()  # folders are not searched recursively
    return {"a_one.png": f"{y[a]}", "b_two.jpg": f"{y[b]}{y[c]}"}


@pytest.fixture(scope="module")
def reader(model_file):
    return DigitReader.load(model_file)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, digit_images, reader):
    """`write_folder` with printed digits the shipped model reads right."""
    x, y = digit_images
    folder = tmp_path_factory.mktemp("images")
    return folder, write_folder(folder, x, y, sure_digits(reader, x, y, 3))


def run_predict(capsys, *args) -> tuple[int, str, str]:
    code = main(["predict", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def reading(*labels: int | None, confidence: float = 0.9) -> Reading:
    """A Reading of digits with these labels (None: unsure), side by side, for output tests."""
    digits = [
        Digit(label, confidence, [0.1] * 10, [40 * i, 10, 40 * i + 30, 50])
        for i, label in enumerate(labels)
    ]
    inputs = [np.full((28, 28), 30 * i, np.uint8) for i in range(len(labels))]
    if not digits:
        return Reading(None, 0.0, "no digit", [], [])
    if None in labels:
        return Reading(None, confidence ** len(labels), "uncertain", digits, inputs)
    number = "".join(map(str, labels))
    return Reading(number, confidence ** len(labels), "ok", digits, inputs)


# -- The parts --------------------------------------------------------------------------------


def test_list_images_finds_image_files_and_names_what_it_cannot(folder, tmp_path):
    folder, _ = folder
    empty = tmp_path / "empty"
    empty.mkdir()
    text = tmp_path / "named.txt"
    text.write_text("named on the command line: listed, whatever its suffix")
    listed = predict.list_images([str(folder), str(tmp_path / "nope.png"), str(empty), str(text)])
    assert listed == [
        (str(folder / "a_one.png"), None),
        (str(folder / "b_two.jpg"), None),
        (str(folder / "c_blank.bmp"), None),
        (str(folder / "d_broken.png"), None),
        (str(tmp_path / "nope.png"), "no such file or folder"),
        (str(empty), "no image files in this folder"),
        (str(text), None),
    ]


def test_read_files_reads_all_files_in_one_model_call(folder, reader, monkeypatch):
    folder, expected = folder
    calls = []
    read_lines = reader.read_lines

    def spy(lines):
        calls.append(len(lines))
        return read_lines(lines)

    monkeypatch.setattr(reader, "read_lines", spy)
    results = predict.read_files(reader, [str(folder)], keep_images=True)
    assert calls == [3]  # the three readable images, together
    assert [r.reading.prediction if r.reading else None for r in results] == [
        expected["a_one.png"],
        expected["b_two.jpg"],
        None,
        None,
    ]
    assert results[2].reading.status == "no digit"
    assert results[3].error == "not an image file (it looks like text)"
    assert results[0].gray.shape == (208, 208) and results[3].gray is None
    assert predict.read_files(reader, [str(folder / "a_one.png")])[0].gray is None


def test_file_result_to_dict():
    good = FileResult("a.png", reading(4, 2))
    assert good.to_dict() == {
        "file": "a.png",
        "prediction": "42",
        "confidence": pytest.approx(0.81),
        "digits": [d.to_dict() for d in good.reading.digits],
        "status": "ok",
    }
    assert FileResult("b.png", error="empty file").to_dict() == {
        "file": "b.png",
        "prediction": None,
        "confidence": None,
        "digits": [],
        "status": "error",
        "error": "empty file",
    }


def test_format_table_aligns_its_columns():
    table = predict.format_table(
        [
            FileResult("a.png", reading(4, 2)),
            FileResult("some/longer.png", reading(4, None, confidence=0.5)),
            FileResult("c.png", reading()),
            FileResult("d.png", error="empty file"),
        ]
    )
    assert table.splitlines() == [
        "file             read  confidence  status",
        "a.png            42         81.0%  ok",
        "some/longer.png  4?         25.0%  uncertain",
        "c.png            -              -  no digit",
        "d.png            -              -  error: empty file",
    ]


def test_write_csv():
    out = io.StringIO()
    predict.write_csv([FileResult("a.png", reading(7)), FileResult("b.png", error="x")], out)
    assert out.getvalue().splitlines() == [
        "file,prediction,confidence,status,error",
        "a.png,7,0.9,ok,",
        "b.png,,,error,x",
    ]


def test_reading_figure_shows_the_image_and_every_input(tmp_path):
    gray = np.full((60, 330), 255, np.uint8)
    one = predict.reading_figure(gray, reading(3), tmp_path / "one.png", "one")
    eight = predict.reading_figure(gray, reading(*range(7), None), str(tmp_path / "new" / "8.png"))
    none = predict.reading_figure(gray, reading(), tmp_path / "none.png")
    assert one == tmp_path / "one.png" and eight == tmp_path / "new" / "8.png"
    sizes = {}
    for path in (one, eight, none):
        with Image.open(path) as image:
            assert image.format == "PNG"
            sizes[path.stem] = image.size
    # Six inputs a row: eight digits make the figure wider and taller than one.
    assert sizes["8"][0] > sizes["one"][0] and sizes["8"][1] > sizes["one"][1]


def test_save_figures_names_one_figure_per_read_file(tmp_path):
    gray = np.zeros((40, 40), np.uint8)
    results = [
        FileResult("x/a.png", reading(1), gray=gray),
        FileResult("y/a.jpg", reading(2), gray=gray),  # the same stem
        FileResult("b.png", reading(3)),  # no image kept
        FileResult("c.png", error="empty file"),
        FileResult("a-2.png", reading(), gray=gray),
    ]
    written = predict.save_figures(results, tmp_path / "show")
    assert [p.name for p in written] == ["a.png", "a-2.png", "a-2-2.png"]
    assert all(p.is_file() for p in written)


# -- The command ------------------------------------------------------------------------------


def test_table(capsys, folder, model_file):
    folder, expected = folder
    code, out, err = run_predict(capsys, folder, "--model", model_file)
    # One file failed; no traceback: stderr only says which model read.
    assert code == 1 and err.startswith("mnist-cnn: model ") and err.count("\n") == 1
    header, *rows = out.splitlines()
    assert header.split() == ["file", "read", "confidence", "status"]
    assert [row.split()[0] for row in rows] == [
        str(folder / name) for name in ("a_one.png", "b_two.jpg", "c_blank.bmp", "d_broken.png")
    ]
    assert rows[0].split()[1:] == [expected["a_one.png"], rows[0].split()[2], "ok"]
    assert rows[1].split()[1] == expected["b_two.jpg"] and rows[1].endswith("ok")
    assert rows[2].split()[1:] == ["-", "-", "no", "digit"]
    assert rows[3].endswith("error: not an image file (it looks like text)")
    assert len({row.index(row.split()[1], len(row.split()[0])) for row in rows}) == 1  # aligned


def test_json(capsys, folder, model_file):
    folder, expected = folder
    code, out, _ = run_predict(
        capsys, folder / "a_one.png", folder, "--model", model_file, "--json"
    )
    assert code == 1
    results = json.loads(out)
    assert [r["file"] for r in results][:2] == [str(folder / "a_one.png")] * 2
    for r in results:
        assert list(r)[:5] == ["file", "prediction", "confidence", "digits", "status"]
    good, _, two, blank, broken = results
    assert good["prediction"] == expected["a_one.png"] and good["status"] == "ok"
    (digit,) = good["digits"]
    assert list(digit) == ["label", "confidence", "probabilities", "box"]
    assert digit["label"] == int(good["prediction"]) and len(digit["probabilities"]) == 10
    x0, y0, x1, y1 = digit["box"]
    assert 20 < x0 < x1 < 200 and 20 < y0 < y1 < 210
    assert two["prediction"] == expected["b_two.jpg"] and len(two["digits"]) == 2
    assert blank == {
        "file": str(folder / "c_blank.bmp"),
        "prediction": None,
        "confidence": 0.0,
        "digits": [],
        "status": "no digit",
    }
    assert broken == {
        "file": str(folder / "d_broken.png"),
        "prediction": None,
        "confidence": None,
        "digits": [],
        "status": "error",
        "error": "not an image file (it looks like text)",
    }


def test_threshold_decides_what_is_ok(capsys, folder, model_file):
    folder, _ = folder
    _, out, _ = run_predict(capsys, folder, "--model", model_file, "--json")
    read = [r for r in json.loads(out) if r["status"] == "ok"]
    least = min(r["confidence"] for r in read)
    assert least < 1.0, "every reading is certain: nothing to test the threshold on"
    stricter = f"{(least + 1.0) / 2:.7f}"
    _, out, _ = run_predict(
        capsys, folder, "--model", model_file, "--json", "--threshold", stricter
    )
    strict = {r["file"]: r for r in json.loads(out)}
    for r in read:
        mine = strict[r["file"]]
        assert mine["confidence"] == r["confidence"]  # only what counts as sure changed
        sure = r["confidence"] >= float(stricter)
        assert (mine["status"], mine["prediction"]) == (
            ("ok", r["prediction"]) if sure else ("uncertain", None)
        )


@pytest.mark.parametrize("value", ["1.5", "-0.1", "sure", "nan"])
def test_threshold_outside_0_to_1_is_a_usage_error(capsys, value):
    with pytest.raises(SystemExit) as stopped:
        main(["predict", "x.png", "--threshold", value])
    assert stopped.value.code == 2
    assert f"must be a number from 0 to 1, got {value!r}" in capsys.readouterr().err


def test_csv(capsys, folder, model_file):
    folder, expected = folder
    code, out, _ = run_predict(capsys, folder, "--model", model_file, "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 1 and len(rows) == 4
    assert list(rows[0]) == ["file", "prediction", "confidence", "status", "error"]
    assert rows[0]["prediction"] == expected["a_one.png"]
    assert 0.6 <= float(rows[0]["confidence"]) <= 1
    assert rows[3]["status"] == "error" and rows[3]["error"].startswith("not an image file")


def test_all_readable_exits_0_and_show_writes_figures(capsys, folder, model_file, tmp_path):
    folder, _ = folder
    show = tmp_path / "figures"
    files = [folder / "a_one.png", folder / "b_two.jpg", folder / "c_blank.bmp"]
    code, out, err = run_predict(capsys, *files, "--model", model_file, "--show", show)
    assert code == 0 and "3 figure(s) written" in err
    assert sorted(p.name for p in show.iterdir()) == ["a_one.png", "b_two.png", "c_blank.png"]
    with Image.open(show / "b_two.png") as figure:
        assert figure.width > 400 and figure.height > 200


def test_missing_paths_and_empty_folders_are_rows(capsys, folder, model_file, tmp_path):
    folder, _ = folder
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, _ = run_predict(
        capsys, folder / "a_one.png", tmp_path / "nope.png", empty, "--model", model_file
    )
    assert code == 1
    rows = out.splitlines()[1:]
    assert rows[0].endswith("ok")
    assert rows[1].endswith("error: no such file or folder")
    assert rows[2].endswith("error: no image files in this folder")


def test_tiny_images_and_special_files_are_rows(capsys, folder, model_file, tmp_path):
    folder, expected = folder
    images = tmp_path / "images"
    images.mkdir()
    (images / "a_one.png").write_bytes((folder / "a_one.png").read_bytes())
    for width, height in [(1, 1), (1, 2), (2, 1)]:
        Image.new("RGB", (width, height), (9, 9, 9)).save(images / f"tiny-{width}x{height}.png")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    sparse = tmp_path / "huge.png"
    with open(sparse, "wb") as file:
        file.truncate(imaging.MAX_FILE_BYTES + 1)
    paths = [images, "/dev/zero", fifo, sparse]
    code, out, err = run_predict(capsys, *paths, "--model", model_file, "--json")
    rows = {Path(row["file"]).name: row for row in json.loads(out)}
    assert code == 1 and "Traceback" not in err
    assert rows.pop("a_one.png")["prediction"] == expected["a_one.png"]
    assert {rows.pop(f"tiny-{s}.png")["status"] for s in ("1x1", "1x2", "2x1")} == {"no digit"}
    assert rows.pop("zero")["error"] == "is a character device, not an image file"
    assert rows.pop("pipe.png")["error"] == "is a named pipe (FIFO), not an image file"
    assert rows.pop("huge.png")["error"].startswith("file has 268,435,457 bytes, more than")
    assert rows == {}


def test_an_unexpected_error_is_one_files_row(folder, reader, monkeypatch):
    folder, expected = folder
    find_lines = imaging.find_lines

    def fails_on_blank(gray, **options):
        if gray.min() > 200:  # c_blank.bmp
            raise ValueError("something nobody foresaw")
        return find_lines(gray, **options)

    monkeypatch.setattr(imaging, "find_lines", fails_on_blank)
    results = predict.read_files(reader, [str(folder)])
    assert [r.reading.prediction if r.reading else r.error for r in results[:3]] == [
        expected["a_one.png"],
        expected["b_two.jpg"],
        "cannot read the image (ValueError: something nobody foresaw)",
    ]


def test_without_model_predict_reads_with_the_newest_run(
    capsys, folder, model_file, tmp_path, monkeypatch
):
    folder, expected = folder
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "mine"
    run.mkdir(parents=True)
    (run / "model.keras").write_bytes(model_file.read_bytes())
    args = Namespace(paths=[str(folder / "a_one.png")], model=None, json=True, csv=False, show=None)
    args.threshold = 0.6
    assert predict.predict_command(args) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["prediction"] == expected["a_one.png"]


def test_no_model_is_one_clear_line(capsys, folder, tmp_path, monkeypatch):
    folder, _ = folder
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(inference, "DEFAULT_MODEL", tmp_path / "none" / "model.keras")
    code, out, err = run_predict(capsys, folder)
    assert code == 1 and out == ""
    assert err.startswith("mnist-cnn: error: no model found") and err.count("\n") == 1


@pytest.mark.slow
def test_real_mnist_digits_on_paper_are_read(capsys, mnist_dir, reader, model_file, tmp_path):
    """Handwritten digits, not printed ones: decoded from PNG and JPEG, found, read."""
    x, y = data.load_test_set(mnist_dir)
    expected = write_folder(tmp_path, x[:100], y[:100], sure_digits(reader, x[:100], y[:100], 3))
    code, out, _ = run_predict(capsys, tmp_path, "--model", model_file, "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 1
    assert [r["prediction"] for r in rows] == [*expected.values(), "", ""]
    assert [r["status"] for r in rows] == ["ok", "ok", "no digit", "error"]
