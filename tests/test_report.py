"""`mnist-cnn report`: `collect` gathers a run, `render_pdf` writes A4 pages and
`render_html` one self-contained page with every figure, also for incomplete runs.

Fast tests build run folders by hand (the shipped model, a short history.csv, the
printed-digit test set); one slow test trains with `train --report` on real MNIST."""

import base64
import html
import io
import json
import re
import shutil

import pytest
from PIL import Image

from mnist_cnn import report, runs
from mnist_cnn.cli import main
from mnist_cnn.errors import MnistCnnError

ALL_FIGURES = list(report.FIGURES)
HISTORY_CSV = """epoch,accuracy,learning_rate,loss,val_accuracy,val_loss
0,0.91,0.002,0.30,0.970,0.10
1,0.97,0.002,0.10,0.985,0.05
2,0.98,0.001,0.07,0.983,0.06
"""


@pytest.fixture(autouse=True)
def small_embedding(monkeypatch):
    # t-SNE on a hundred points instead of 1,500 keeps these tests fast.
    monkeypatch.setattr(report, "EMBEDDING_SIZE", 100)


@pytest.fixture
def hand_run(tmp_path, model_file, fake_mnist_dir):
    """A run folder made by hand: the shipped model with its config.json and
    metrics.json, three epochs of history, and the printed-digit test set
    recorded as where it read MNIST."""
    run = tmp_path / "run"
    shutil.copytree(model_file.parent, run)
    (run / runs.HISTORY_FILE).write_text(HISTORY_CSV)
    config = runs.read_json(run / runs.CONFIG_FILE)
    runs.write_json(run / runs.CONFIG_FILE, config | {"data_source": str(fake_mnist_dir)})
    return run


def pdf_pages(path) -> int:
    """Page objects in a PDF (``/Type /Page``, not the ``/Type /Pages`` tree)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", path.read_bytes()))


def check_pdf(path, pages: int) -> None:
    content = path.read_bytes()
    assert content.startswith(b"%PDF-") and content.rstrip().endswith(b"%%EOF")
    assert pdf_pages(path) == pages
    sizes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", content)
    # A4, 210 x 297 mm, in points (1/72 inch)
    assert sizes and {(round(float(w)), round(float(h))) for w, h in sizes} == {(595, 842)}


def check_html(path, keys: list[str], mime: str = "image/png") -> str:
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    uris = re.findall(
        rf"<img src='data:{re.escape(mime)};base64,([A-Za-z0-9+/=]+)' alt='([^']+)'", page
    )
    assert [alt for _, alt in uris] == [report.FIGURES[k].title for k in keys]
    for key in keys:
        assert f"<h2>{report.FIGURES[key].title}</h2>" in page
        assert report.FIGURES[key].caption in html.unescape(page)
    # Self-contained: no file or network references at all.
    assert not re.search(r"(src|href)=['\"](?!data:|#)", page)
    assert "<link" not in page and "<script" not in page
    return page


def row(name: str, value: str) -> str:
    return f"<tr><th scope='row'>{name}</th><td>{value}</td></tr>"


@pytest.mark.slow  # a whole report: seconds
def test_report_of_a_hand_made_run(hand_run):
    collected = report.collect(hand_run)
    assert [f.key for f in collected.figures] == ALL_FIGURES and not collected.notes
    assert collected.history["epoch"] == [1, 2, 3]
    assert collected.metrics["test_accuracy"] > 0.7  # recomputed on the printed digits
    pdf = report.render_pdf(collected, hand_run / report.PDF_FILE)
    page = check_html(report.render_html(collected, hand_run / report.HTML_FILE), ALL_FIGURES)
    check_pdf(pdf, 1 + len(report._pages(collected.figures)))
    assert len(report._pages(collected.figures)) < len(ALL_FIGURES)  # several to a page
    # One number format and readable labels, in the tables and the summary.
    accuracy = f"{collected.metrics['test_accuracy']:.2%}"
    assert row("Test accuracy", accuracy) in page and f"test accuracy {accuracy}" in page
    assert row("Training time", "536.4 s") in page and row("Parameters", "262,826") in page
    assert row("Batch size", "128") in page and row("Keras backend", "tensorflow") in page
    assert "test_accuracy" not in page and "Expected calibration error" in page
    figures = sorted(p.name for p in (hand_run / runs.FIGURES_DIR).iterdir())
    assert figures == sorted(f"{k}.png" for k in ALL_FIGURES)
    first = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(first))).format == "PNG"
    assert not [p for p in hand_run.rglob(".*") if p.is_file()]  # no temporary file left


@pytest.mark.slow  # a second whole report, in SVG
def test_report_command_in_svg_for_a_run_interrupted_before_evaluation(
    hand_run, tiny_model_file, capsys
):
    # What Ctrl-C during training leaves: metrics without test results.
    shutil.copy(tiny_model_file, hand_run / runs.MODEL_FILE)
    runs.record_model_hash(hand_run)  # as training does with each checkpoint
    metrics = json.loads((hand_run / runs.METRICS_FILE).read_text())
    kept = {k: v for k, v in metrics.items() if not k.startswith("test_") and k != "per_class"}
    runs.write_json(hand_run / runs.METRICS_FILE, kept | {"interrupted": True})

    assert main(["report", str(hand_run), "--format", "svg"]) == 0
    assert "report.pdf" in capsys.readouterr().out
    assert pdf_pages(hand_run / report.PDF_FILE) > 1
    page = check_html(hand_run / report.HTML_FILE, ALL_FIGURES, mime="image/svg+xml")
    svgs = sorted(p.name for p in (hand_run / runs.FIGURES_DIR).iterdir())
    assert svgs == sorted(f"{k}.svg" for k in ALL_FIGURES)
    # Test results computed for the report, and said so; the run's records untouched.
    # The figure computed now (the tiny model's), not the shipped model's recorded one.
    assert "never evaluated" in page
    assert row("Test accuracy", f"{metrics['test_accuracy']:.2%}") not in page
    assert re.search(row("Test accuracy", r"\d+\.\d\d%"), page)
    assert json.loads((hand_run / runs.METRICS_FILE).read_text()) == kept | {"interrupted": True}


def test_a_run_without_model_or_history_gets_what_exists(hand_run):
    (hand_run / runs.MODEL_FILE).unlink()
    pdf, html = report.write_report(hand_run, quiet=True)
    check_pdf(pdf, 2)  # title page and learning curves
    page = check_html(html, ["learning_curves"])
    assert "No model.keras" in page
    (hand_run / runs.HISTORY_FILE).unlink()
    pdf, html = report.write_report(hand_run, quiet=True)
    check_pdf(pdf, 1)
    assert "No training history" in check_html(html, [])


def test_render_a_report_built_by_hand(tmp_path):
    figure = tmp_path / "learning_curves.png"
    Image.new("RGB", (400, 100), "white").save(figure)
    text = report.FIGURES["learning_curves"]
    made = report.Report(
        name="<b>run</b>",
        run_dir=tmp_path,
        written="2026-01-01 12:00",
        config={"lr": 0.002, "epochs": 3, "augment": 1.0, "data_dir": None},
        versions={"numpy": "2.4"},
        data_source=None,
        metrics={"test_ece": 0.01234, "test_errors": 1234, "best_val_loss": 0.0123456},
        per_class={"0": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 980}},
        history={},
        notes=["Something is missing."],
        figures=[report.ReportFigure(text.key, text.title, text.caption, figure, b"")],
    )
    made.figures[0].png = figure.read_bytes()
    page = check_html(report.render_html(made, tmp_path / "r.html"), ["learning_curves"])
    assert "<h1>mnist-cnn report: &lt;b&gt;run&lt;/b&gt;</h1>" in page  # escaped
    assert row("Learning rate", "0.002") and row("Data folder", "-") in page
    assert row("Expected calibration error", "1.23%") in page and row("NumPy", "2.4") in page
    assert row("Test errors", "1,234") in page and row("Best validation loss", "0.01235") in page
    assert (
        "<th scope='row'>0</th><td>100.00%</td><td>50.00%</td><td>66.67%</td><td>980</td>" in page
    )
    assert "<li>Something is missing.</li>" in page
    check_pdf(report.render_pdf(made, tmp_path / "r.pdf"), 2)


def test_format_value_and_label():
    assert report.format_value("best_val_accuracy", 0.99583) == "99.58%"
    assert report.format_value("epochs_run", 15) == "15"
    assert report.format_value("train_seconds", 12345.67) == "12,345.7 s"
    assert report.format_value("test_loss", 0.0155899) == "0.01559"
    assert report.format_value("limit", None) == "-" and report.format_value("x", [1, 2]) == "1, 2"
    assert report.label("best_epoch") == "Best epoch" and report.label("f1") == "F1"


def test_not_a_run_folder_is_one_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mnist-cnn: error: ") and "not a run folder" in err
    assert err.count("\n") == 1
    assert main(["report", str(tmp_path / "missing")]) == 1
    assert "no such run folder" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_shipped_model_is_read_only(capsys):
    from mnist_cnn.inference import DEFAULT_MODEL

    before = {p.name: p.read_bytes() for p in DEFAULT_MODEL.parent.iterdir() if p.is_file()}
    assert main(["report", str(DEFAULT_MODEL.parent)]) == 1
    assert "read-only" in capsys.readouterr().err
    after = {p.name: p.read_bytes() for p in DEFAULT_MODEL.parent.iterdir() if p.is_file()}
    assert after == before and not (DEFAULT_MODEL.parent / "figures").exists()


def test_a_bad_image_format_is_refused_before_any_work(hand_run):
    with pytest.raises(MnistCnnError, match="unknown image format 'gif'"):
        report.write_report(hand_run, image_format="gif")
    assert not (hand_run / runs.FIGURES_DIR).exists() and not (hand_run / report.PDF_FILE).exists()


@pytest.mark.slow
def test_train_report_writes_pdf_html_and_every_figure(tmp_path, mnist_dir, monkeypatch):
    """End to end on real MNIST: a `seed` model trained for 2 epochs on 600 images
    by `mnist-cnn train --report`."""
    monkeypatch.setattr(report, "EMBEDDING_SIZE", 300)
    args = ["train", "--model", "original", "--epochs", "2", "--limit", "600", "--augment", "0"]
    args += ["--runs-dir", str(tmp_path), "--name", "tiny", "--data-dir", str(mnist_dir)]
    assert main([*args, "--report"]) == 0
    run = tmp_path / "tiny"
    assert pdf_pages(run / report.PDF_FILE) > 1
    check_pdf(run / report.PDF_FILE, pdf_pages(run / report.PDF_FILE))
    page = check_html(run / report.HTML_FILE, ALL_FIGURES)
    metrics = json.loads((run / runs.METRICS_FILE).read_text())
    assert row("Test accuracy", f"{metrics['test_accuracy']:.2%}") in page
    assert row("Batch size", "256") in page and row("Epochs run", "2") in page
    figures = sorted(p.name for p in (run / runs.FIGURES_DIR).iterdir())
    assert figures == sorted(f"{k}.png" for k in ALL_FIGURES)
    assert not [p for p in run.rglob(".*") if p.is_file()]
