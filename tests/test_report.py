"""`mnist-cnn report` and `train --report` on a tiny real run: a valid multi-page PDF and
a self-contained HTML file with every figure, also for incomplete runs."""

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


@pytest.fixture(autouse=True)
def small_embedding(monkeypatch):
    # t-SNE on a few hundred points instead of 1,500 keeps these tests fast.
    monkeypatch.setattr(report, "EMBEDDING_SIZE", 300)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mnist_dir):
    """A `seed` model trained for 2 epochs on 600 images by `mnist-cnn train --report`."""
    runs_dir = tmp_path_factory.mktemp("runs")
    mp = pytest.MonkeyPatch()
    mp.setattr(report, "EMBEDDING_SIZE", 300)
    try:
        code = main(
            [
                "train",
                "--model",
                "seed",
                "--epochs",
                "2",
                "--limit",
                "600",
                "--augment",
                "0",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "tiny",
                "--data-dir",
                str(mnist_dir),
                "--report",
            ]
        )
    finally:
        mp.undo()
    assert code == 0
    return runs_dir / "tiny"


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A private copy of the tiny run, without its report, for a test to change."""
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    for name in (report.PDF_FILE, report.HTML_FILE):
        (copy / name).unlink()
    shutil.rmtree(copy / runs.FIGURES_DIR)
    return copy


def pdf_pages(path) -> int:
    """Page objects in a PDF (``/Type /Page``, not the ``/Type /Pages`` tree)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", path.read_bytes()))


def check_pdf(path, pages: int) -> None:
    content = path.read_bytes()
    assert content.startswith(b"%PDF-") and content.rstrip().endswith(b"%%EOF")
    assert pdf_pages(path) == pages


def check_html(path, keys: list[str], mime: str = "image/png") -> str:
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    uris = re.findall(
        rf"<img src='data:{re.escape(mime)};base64,([A-Za-z0-9+/=]+)' alt='([^']+)'", page
    )
    assert [alt for _, alt in uris] == [report.FIGURES[k].title for k in keys]
    for key in keys:
        assert f"<h2>{report.FIGURES[key].title}</h2>" in page
        assert html.escape(report.FIGURES[key].caption) in page
    # Self-contained: no file or network references at all.
    assert not re.search(r"(src|href)=['\"](?!data:|#)", page)
    assert "<link" not in page and "<script" not in page
    return page


@pytest.mark.slow
def test_train_report_writes_pdf_html_and_every_figure(tiny_run):
    pdf, html = tiny_run / report.PDF_FILE, tiny_run / report.HTML_FILE
    check_pdf(pdf, 1 + len(ALL_FIGURES))
    page = check_html(html, ALL_FIGURES)
    metrics = json.loads((tiny_run / runs.METRICS_FILE).read_text())
    assert f"{metrics['test_accuracy']:.2%}" in page and "test_ece" in page
    assert "<th scope='row'>batch_size</th><td>128</td>" in page  # the configuration
    assert "<th scope='row'>keras_backend</th><td>tensorflow</td>" in page  # the versions
    figures = sorted(p.name for p in (tiny_run / runs.FIGURES_DIR).iterdir())
    assert figures == sorted(f"{k}.png" for k in ALL_FIGURES)
    # The embedded images are the PNG files.
    first = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(first))).format == "PNG"
    # No temporary file left behind.
    assert not [p for p in tiny_run.rglob(".*") if p.is_file()]


@pytest.mark.slow
def test_report_command_in_svg_for_a_run_interrupted_before_evaluation(run_copy, capsys):
    # What Ctrl-C during training leaves: metrics without test results.
    metrics = json.loads((run_copy / runs.METRICS_FILE).read_text())
    kept = {k: v for k, v in metrics.items() if not k.startswith("test_") and k != "per_class"}
    runs.write_json(run_copy / runs.METRICS_FILE, kept | {"interrupted": True})
    (run_copy / "confusion_matrix.json").unlink()

    assert main(["report", str(run_copy), "--format", "svg"]) == 0
    assert "report.pdf" in capsys.readouterr().out
    check_pdf(run_copy / report.PDF_FILE, 1 + len(ALL_FIGURES))
    page = check_html(run_copy / report.HTML_FILE, ALL_FIGURES, mime="image/svg+xml")
    svgs = sorted(p.name for p in (run_copy / runs.FIGURES_DIR).iterdir())
    assert svgs == sorted(f"{k}.svg" for k in ALL_FIGURES)
    # Test results computed for the report, and said so; the run's records untouched.
    assert "never evaluated" in page and f"{metrics['test_accuracy']:.2%}" in page
    assert json.loads((run_copy / runs.METRICS_FILE).read_text()) == kept | {"interrupted": True}


@pytest.mark.slow
def test_a_run_without_model_or_history_gets_what_exists(run_copy):
    (run_copy / runs.MODEL_FILE).unlink()
    pdf, html = report.write_report(run_copy, quiet=True)
    check_pdf(pdf, 2)  # title page and learning curves
    page = check_html(html, ["learning_curves"])
    assert "No model.keras" in page
    (run_copy / runs.HISTORY_FILE).unlink()
    pdf, html = report.write_report(run_copy, quiet=True)
    check_pdf(pdf, 1)
    assert "No training history" in check_html(html, [])


def test_not_a_run_folder_is_one_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mnist-cnn: error: ") and "not a run folder" in err
    assert err.count("\n") == 1
    assert main(["report", str(tmp_path / "missing")]) == 1
    assert "no such run folder" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_bad_image_format_is_refused(run_copy):
    with pytest.raises(MnistCnnError, match="unknown image format 'gif'"):
        report.write_report(run_copy, image_format="gif")
