"""``mnist-cnn predict``: table, JSON and CSV output, unreadable files, --show figures."""

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from mnist_cnn import data, inference
from mnist_cnn.cli import main
from mnist_cnn.imaging import DigitCrop
from mnist_cnn.inference import DigitReader


def on_paper(digits: list[np.ndarray], height: int = 120) -> np.ndarray:
    """MNIST digits side by side as dark ink on white paper, each `height` pixels tall."""
    size = round(28 * height / 20)
    inks = [np.asarray(Image.fromarray(d).resize((size, size), Image.BICUBIC)) for d in digits]
    ink = np.concatenate([np.zeros((size, 20), np.uint8), *inks, np.zeros((size, 20), np.uint8)], 1)
    return 255 - np.pad(ink, ((20, 20), (0, 0)))


@pytest.fixture(scope="module")
def folder(tmp_path_factory, mnist_dir, model_file):
    """Three readable images, an unreadable one, and files predict must skip; and the
    numbers written in the readable ones."""
    x, y = data.load_test_set(mnist_dir)
    reader = DigitReader.load(model_file)
    raw = reader.read_crops([[DigitCrop(d, (0, 0, 28, 28))] for d in x[:100]])
    sure = [i for i, r in enumerate(raw) if r.confidence > 0.99 and r.digits[0].label == y[i]]
    a, b, c = sure[:3]
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(on_paper([x[a]])).save(folder / "a_one.png")
    Image.fromarray(on_paper([x[b], x[c]], 90)).save(folder / "b_two.jpg", quality=90)
    Image.fromarray(np.full((100, 100), 250, np.uint8)).save(folder / "c_blank.bmp")
    (folder / "d_broken.png").write_text("not really a PNG\n")
    (folder / "notes.txt").write_text("not an image suffix: skipped\n")
    (folder / ".hidden.png").write_bytes(b"skipped too")
    (folder / "sub").mkdir()  # folders are not searched recursively
    return folder, {"a_one.png": f"{y[a]}", "b_two.jpg": f"{y[b]}{y[c]}"}


def predict(capsys, *args) -> tuple[int, str, str]:
    code = main(["predict", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_table(capsys, folder, model_file):
    folder, expected = folder
    code, out, err = predict(capsys, folder, "--model", model_file)
    assert code == 1 and err == ""  # one file failed; no traceback
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


@pytest.mark.slow
def test_json(capsys, folder, model_file):
    folder, expected = folder
    code, out, _ = predict(capsys, folder / "a_one.png", folder, "--model", model_file, "--json")
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


@pytest.mark.slow
def test_csv(capsys, folder, model_file):
    folder, expected = folder
    code, out, _ = predict(capsys, folder, "--model", model_file, "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 1 and len(rows) == 4
    assert list(rows[0]) == ["file", "prediction", "confidence", "status", "error"]
    assert rows[0]["prediction"] == expected["a_one.png"]
    assert 0.6 <= float(rows[0]["confidence"]) <= 1
    assert rows[3]["status"] == "error" and rows[3]["error"].startswith("not an image file")


@pytest.mark.slow
def test_all_readable_exits_0_and_show_writes_figures(capsys, folder, model_file, tmp_path):
    folder, expected = folder
    show = tmp_path / "figures"
    files = [folder / "a_one.png", folder / "b_two.jpg", folder / "c_blank.bmp"]
    code, out, err = predict(capsys, *files, "--model", model_file, "--show", show)
    assert code == 0 and "3 figure(s) written" in err
    assert sorted(p.name for p in show.iterdir()) == ["a_one.png", "b_two.png", "c_blank.png"]
    with Image.open(show / "b_two.png") as figure:
        assert figure.width > 400 and figure.height > 200


@pytest.mark.slow
def test_missing_paths_and_empty_folders_are_rows(capsys, folder, model_file, tmp_path):
    folder, expected = folder
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, _ = predict(
        capsys, folder / "a_one.png", tmp_path / "nope.png", empty, "--model", model_file
    )
    assert code == 1
    rows = out.splitlines()[1:]
    assert rows[0].endswith("ok")
    assert rows[1].endswith("error: no such file or folder")
    assert rows[2].endswith("error: no image files in this folder")


@pytest.mark.slow
def test_no_model_is_one_clear_line(capsys, folder, tmp_path, monkeypatch):
    folder, expected = folder
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(inference, "DEFAULT_MODEL", tmp_path / "none" / "model.keras")
    code, out, err = predict(capsys, folder)
    assert code == 1 and out == ""
    assert err.startswith("mnist-cnn: error: no model found") and err.count("\n") == 1
