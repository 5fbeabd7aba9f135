"""A report of one training run: ``report.pdf`` and ``report.html`` in its folder.

Both hold the run's configuration and metrics, then every insight figure of
`mnist_cnn.plots`: learning curves, confusion matrix, error rate per digit, the
most confident mistakes, calibration, first-layer filters, feature maps,
occlusion maps and a 2-D embedding of the penultimate layer. The PDF has a title
page and one page per figure; the HTML file is self-contained (figures embedded
as data URIs), so either can be mailed or archived on its own. The figures are
also written to the run's ``figures/`` folder.

>>> from mnist_cnn.report import write_report
>>> pdf, html = write_report("runs/cnn-20260101-120000")   # doctest: +SKIP
>>> pdf.name, html.name                                    # doctest: +SKIP
('report.pdf', 'report.html')

A run that is incomplete (interrupted before its test evaluation, an ensemble
without a training history) still gets a report of what exists; the notes on
the title page say what is missing.
"""

from __future__ import annotations

import base64
import html
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_cnn import data, evaluation, plots, runs
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import NUM_CLASSES

PDF_FILE = "report.pdf"
HTML_FILE = "report.html"
EMBEDDING_SIZE = 1500  # test images in the PCA/t-SNE figure; t-SNE takes seconds for this many
A4 = (8.27, 11.69)  # inches, portrait


@dataclass
class Figure:
    """One figure of the report: its file stem, title and a caption saying how to read it."""

    key: str
    title: str
    caption: str


FIGURES = {
    f.key: f
    for f in (
        Figure(
            "learning_curves",
            "Learning curves",
            "Loss, accuracy and learning rate per epoch on the training and validation sets. The "
            "dashed line marks the best epoch, which ModelCheckpoint saved and EarlyStopping "
            "restored; a dotted line marks where early stopping (or an interrupt) ended the run. "
            "Validation may score better than training: dropout and augmentation act only "
            "during training.",
        ),
        Figure(
            "confusion_matrix",
            "Confusion matrix",
            "Rows are the true digits, columns the predictions. Left: counts; right: each row as "
            "a share of its digit. Colour shows only the errors, so the common confusions stand "
            "out.",
        ),
        Figure(
            "per_class_errors",
            "Error rate per digit",
            "The share of each digit's test images that were misclassified, with the count and "
            "the digit it was most often taken for.",
        ),
        Figure(
            "confident_mistakes",
            "Most confident mistakes",
            "Wrong answers the model was most sure of. Many are ambiguous or mislabelled; the "
            "others show what the model has not learned.",
        ),
        Figure(
            "calibration",
            "Calibration",
            "Do the probabilities mean what they say? Each bar is the accuracy of the "
            "predictions whose top probability falls in that bin; a calibrated model follows the "
            "diagonal. The expected calibration error (ECE) is the average gap, weighted by the "
            "number of predictions per bin.",
        ),
        Figure(
            "first_layer_filters",
            "First-layer filters",
            "The kernels of the first convolution: small edge and stroke detectors. Orange "
            "weights respond to ink, purple ones to its absence.",
        ),
        Figure(
            "feature_maps",
            "Feature maps",
            "One test digit as each convolutional layer sees it (its most active channels): "
            "early layers respond to strokes and edges, later ones to coarser parts.",
        ),
        Figure(
            "occlusion",
            "Occlusion maps",
            "Where the model looks: a patch is erased at every position and the drop of the "
            "predicted class's log-probability is recorded. Orange areas support the prediction; "
            "for the mistakes they show which strokes misled the model.",
        ),
        Figure(
            "embedding",
            "Embedding of the penultimate layer",
            "What the last layer sees, in two dimensions: PCA (linear) and t-SNE (keeps "
            "neighbourhoods). Well-separated clusters make the final classification easy; "
            "points in another digit's cluster are the hard images.",
        ),
    )
}

# Metrics shown first, in this order, with how to format them.
METRIC_ORDER = (
    "model",
    "test_accuracy",
    "test_errors",
    "test_loss",
    "test_ece",
    "best_val_accuracy",
    "best_epoch",
    "epochs_run",
    "params",
    "macs",
    "train_seconds",
    "interrupted",
)
PERCENT = {"test_accuracy", "best_val_accuracy", "test_ece"}


def check_run_dir(run_dir: str | os.PathLike) -> Path:
    """`run_dir` as a Path if it is a run folder, else a one-line `MnistCnnError`."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise MnistCnnError(f"{run_dir}: no such run folder")
    if not run_dir.is_dir():
        raise MnistCnnError(f"{run_dir}: not a run folder (a folder made by `mnist-cnn train`)")
    if not (run_dir / runs.CONFIG_FILE).is_file() and not (run_dir / runs.MODEL_FILE).is_file():
        raise MnistCnnError(
            f"{run_dir}: not a run folder (it has no {runs.CONFIG_FILE} or {runs.MODEL_FILE}); "
            "pass a folder made by `mnist-cnn train`"
        )
    return run_dir


def format_value(key: str, value) -> str:
    """A metric or option as short text.

    >>> format_value("test_accuracy", 0.99123), format_value("params", 94634)
    ('99.12%', '94,634')
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in PERCENT and isinstance(value, (int, float)):
        return f"{value:.2%}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(key, v) for v in value)
    return str(value)


def _ordered(metrics: dict) -> list[tuple[str, str]]:
    keys = [k for k in METRIC_ORDER if k in metrics]
    keys += sorted(k for k in metrics if k not in METRIC_ORDER)
    return [(k, format_value(k, metrics[k])) for k in keys if not isinstance(metrics[k], dict)]


def _data_dir(data_dir, config_json: dict) -> str | os.PathLike | None:
    """`data_dir` if given, else the folder the run loaded MNIST from (if it is
    still there), else None: the usual search (``$MNIST_DATA_DIR``, cache, download)."""
    if data_dir is not None:
        return data_dir
    for recorded in (config_json.get("config", {}).get("data_dir"), config_json.get("data_source")):
        if recorded and recorded != "download" and Path(recorded).is_dir():
            return recorded
    return None


def _best_epoch(metrics: dict, history: dict) -> int | None:
    if metrics.get("best_epoch") is not None:
        return int(metrics["best_epoch"])
    if history.get("val_loss"):
        return history["epoch"][int(np.argmin(history["val_loss"]))]
    return None


def _occlusion_examples(y_true: np.ndarray, y_pred: np.ndarray, probabilities: np.ndarray):
    """Five correct digits of different classes, then up to three confident mistakes."""
    chosen = []
    for digit in range(NUM_CLASSES):
        hits = np.flatnonzero((y_true == digit) & (y_pred == digit))
        if len(hits):
            chosen.append(int(hits[0]))
        if len(chosen) == 5:
            break
    wrong = np.flatnonzero(y_pred != y_true)
    wrong = wrong[np.argsort(-probabilities[wrong, y_pred[wrong]])][:3]
    return np.array(chosen + [int(i) for i in wrong], dtype=int)


Section = tuple[str, list[str]]  # a heading and its lines of text


def _title_page(pdf, name: str, summary: str, sections: tuple[list[Section], list[Section]]):
    """Page 1: the run's name, a summary, then text tables in two columns."""
    import matplotlib.pyplot as plt

    with plt.style.context(plots.STYLE):
        fig = plt.figure(figsize=A4)
        fig.text(0.06, 0.955, f"mnist-cnn report: {name}", fontsize=17, weight="bold")
        y = 0.93
        for line in _wrap(summary, 100):
            fig.text(0.06, y, line, fontsize=9.5)
            y -= 0.017
        top = y - 0.012
        for x, column in zip((0.06, 0.53), sections, strict=True):
            y = top
            for heading, lines in column:
                fig.text(x, y, heading, fontsize=11, weight="bold", color=plots.COLORS[0])
                y -= 0.022
                for line in lines:
                    fig.text(x, y, line, fontsize=7.6, family="monospace")
                    y -= 0.0145
                y -= 0.018
        pdf.savefig(fig)
        plt.close(fig)


def _table_lines(rows: list[tuple[str, str]], width: int = 19) -> list[str]:
    return [f"{k:<{width}} {v}"[:58] for k, v in rows]


def _per_class_lines(per_class: dict) -> list[str]:
    lines = [f"{'digit':>5}{'precision':>11}{'recall':>9}{'f1':>9}{'support':>9}"]
    for digit, s in per_class.items():
        lines.append(
            f"{digit:>5}{s['precision']:>11.4f}{s['recall']:>9.4f}{s['f1']:>9.4f}{s['support']:>9}"
        )
    return lines


def _html_table(rows: list[tuple[str, str]], header: tuple[str, str] | None = None) -> str:
    head = ""
    if header:
        head = "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
        head += "</thead>"
    body = "".join(
        f"<tr><th scope='row'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows
    )
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _html_per_class(per_class: dict) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("digit", "precision", "recall", "F1", "support"))
    rows = "".join(
        f"<tr><th scope='row'>{html.escape(str(d))}</th><td>{s['precision']:.4f}</td>"
        f"<td>{s['recall']:.4f}</td><td>{s['f1']:.4f}</td><td>{s['support']}</td></tr>"
        for d, s in per_class.items()
    )
    return f"<table class='numbers'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _data_uri(path: Path) -> str:
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1a1a1a;
       max-width: 1100px; margin: 2em auto; padding: 0 1.2em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.summary { font-size: 1.05em; } .muted { color: #666; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; }
thead th { background: #f2f2f2; }
.numbers td { text-align: right; font-variant-numeric: tabular-nums; }
.columns { display: flex; flex-wrap: wrap; gap: 0 3em; }
figure { margin: 2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; max-width: 60em; }
.notes li { color: #8a4b00; }
"""


def _html(
    name: str,
    summary: str,
    metric_rows: list[tuple[str, str]],
    per_class: dict | None,
    config_rows: list[tuple[str, str]],
    version_rows: list[tuple[str, str]],
    figures: list[tuple[Figure, Path]],
    notes: list[str],
) -> str:
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>mnist-cnn report: {html.escape(name)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>mnist-cnn report: {html.escape(name)}</h1>",
        f"<p class='muted'>Written {html.escape(time.strftime('%Y-%m-%d %H:%M'))}</p>",
        f"<p class='summary'>{html.escape(summary)}</p>",
    ]
    if notes:
        parts.append("<ul class='notes'>")
        parts += [f"<li>{html.escape(n)}</li>" for n in notes]
        parts.append("</ul>")
    if figures:
        links = " · ".join(f"<a href='#{f.key}'>{html.escape(f.title)}</a>" for f, _ in figures)
        parts.append(f"<nav><p>Figures: {links}</p></nav>")
    parts.append("<div class='columns'><section><h2>Metrics</h2>")
    parts.append(_html_table(metric_rows, ("metric", "value")))
    if per_class:
        parts.append("<h2>Per-class test scores</h2>" + _html_per_class(per_class))
    parts.append("</section><section><h2>Configuration</h2>")
    parts.append(_html_table(config_rows, ("option", "value")))
    if version_rows:
        parts.append("<h2>Versions</h2>" + _html_table(version_rows, ("library", "version")))
    parts.append("</section></div>")
    for figure, path in figures:
        parts.append(
            f"<figure id='{figure.key}'><h2>{html.escape(figure.title)}</h2>"
            f"<img src='{_data_uri(path)}' alt='{html.escape(figure.title, quote=True)}'>"
            f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>"
        )
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(
    run_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    image_format: str = "png",
    *,
    embedding_size: int | None = None,
    quiet: bool = False,
) -> tuple[Path, Path]:
    """Write ``report.pdf`` and ``report.html`` (and the figures, in
    ``figures/``) into the run folder `run_dir`; return the two paths.

    Args:
        run_dir: a folder made by ``mnist-cnn train`` (or an ensemble's).
        data_dir: MNIST folder; default: where the run found it, else the usual search.
        image_format: "png" or "svg", for the figure files and the HTML.
        embedding_size: how many test images the PCA/t-SNE figure shows
            (default `EMBEDDING_SIZE`).
        quiet: print nothing.
    """
    from matplotlib.backends.backend_pdf import PdfPages

    run_dir = check_run_dir(run_dir)
    if image_format not in plots.FORMATS:
        raise MnistCnnError(
            f"unknown image format {image_format!r}; choose one of: {', '.join(plots.FORMATS)}"
        )
    config_json = runs.read_json(run_dir / runs.CONFIG_FILE)
    config = config_json.get("config", {})
    metrics = runs.read_json(run_dir / runs.METRICS_FILE)
    name = config.get("name") or run_dir.resolve().name
    notes: list[str] = []
    if not config_json:
        notes.append(f"No {runs.CONFIG_FILE}: the configuration is unknown.")

    history: dict = {}
    history_file = run_dir / runs.HISTORY_FILE
    if history_file.is_file():
        history = plots.read_history(history_file)
    if not history.get("epoch"):
        history = {}
        notes.append("No training history (history.csv): no learning curves.")

    model = None
    if (run_dir / runs.MODEL_FILE).is_file():
        model = runs.load_model(run_dir)
    else:
        notes.append(f"No {runs.MODEL_FILE}: no test results or model figures.")

    figures_dir = run_dir / runs.FIGURES_DIR
    fmt = image_format
    plan: list[tuple[Figure, Callable]] = []  # (figure, draw(pdf) -> path)
    per_class = metrics.get("per_class")
    if history:
        plan.append(
            (
                FIGURES["learning_curves"],
                lambda pdf: plots.learning_curves(
                    history,
                    _best_epoch(metrics, history),
                    figures_dir,
                    max_epochs=config.get("epochs"),
                    interrupted=bool(metrics.get("interrupted")),
                    fmt=fmt,
                    pdf=pdf,
                ),
            )
        )
    if model is not None:
        if "test_accuracy" not in metrics:
            notes.append(
                "The run was never evaluated (interrupted?); the test results here were "
                "computed for this report."
            )
        x_test, y_test = data.load_test_set(_data_dir(data_dir, config_json))
        probabilities = evaluation.predict_probabilities(model, x_test)
        y_pred = probabilities.argmax(axis=1)
        scores = evaluation.score(probabilities, y_test)
        matrix = np.array(scores.pop("confusion_matrix"))
        per_class = scores.pop("per_class")
        ece = plots.expected_calibration_error(probabilities, y_test)
        metrics = metrics | scores | {"test_ece": ece}
        examples = _occlusion_examples(y_test, y_pred, probabilities)
        correct = np.flatnonzero(y_pred == y_test)
        digit = x_test[correct[0] if len(correct) else 0]
        n = min(embedding_size or EMBEDDING_SIZE, len(x_test))
        plan += [
            (
                FIGURES["confusion_matrix"],
                lambda pdf: plots.confusion_matrix(matrix, figures_dir, fmt=fmt, pdf=pdf),
            ),
            (
                FIGURES["per_class_errors"],
                lambda pdf: plots.per_class_errors(y_test, y_pred, figures_dir, fmt=fmt, pdf=pdf),
            ),
            (
                FIGURES["confident_mistakes"],
                lambda pdf: plots.confident_mistakes(
                    x_test, y_test, probabilities, figures_dir, fmt=fmt, pdf=pdf
                ),
            ),
            (
                FIGURES["calibration"],
                lambda pdf: plots.reliability_diagram(
                    probabilities, y_test, figures_dir, fmt=fmt, pdf=pdf
                ),
            ),
        ]
        try:
            inspected = plots.inspected_model(model)
            inspectable = True
            if inspected is not model:
                notes.append(
                    f"The filter, feature-map and embedding figures show {inspected.name!r}, "
                    "the first model inside this one."
                )
        except MnistCnnError as e:
            inspectable = False
            notes.append(f"No filter, feature-map or embedding figures: {e}.")
        try:  # the embedding needs a last Dense layer to take features from
            embeddable = inspectable and len(plots.penultimate_features(model, x_test[:2])) == 2
        except MnistCnnError as e:
            embeddable = False
            notes.append(f"No embedding figure: {e}.")
        if inspectable:
            plan += [
                (
                    FIGURES["first_layer_filters"],
                    lambda pdf: plots.first_layer_filters(model, figures_dir, fmt=fmt, pdf=pdf),
                ),
                (
                    FIGURES["feature_maps"],
                    lambda pdf: plots.feature_maps(model, digit, figures_dir, fmt=fmt, pdf=pdf),
                ),
            ]
        plan.append(
            (
                FIGURES["occlusion"],
                lambda pdf: plots.occlusion_maps(
                    model, x_test[examples], y_test[examples], figures_dir, fmt=fmt, pdf=pdf
                ),
            )
        )
        if embeddable:
            plan.append(
                (
                    FIGURES["embedding"],
                    lambda pdf: plots.embedding(
                        plots.penultimate_features(model, x_test[:n]),
                        y_test[:n],
                        figures_dir,
                        fmt=fmt,
                        pdf=pdf,
                    ),
                )
            )

    summary = _summary(name, config, metrics)
    metric_rows = _ordered({k: v for k, v in metrics.items() if k != "per_class"})
    config_rows = [(k, format_value(k, v)) for k, v in config.items()]
    if config_json.get("data_source"):
        config_rows.append(("data_source", str(config_json["data_source"])))
    version_rows = [(k, str(v)) for k, v in config_json.get("versions", {}).items()]
    left: list[Section] = [("Metrics", _table_lines(metric_rows))]
    if per_class:
        left.append(("Per-class test scores", _per_class_lines(per_class)))
    contents = [f"page {k:>2}  {figure.title}" for k, (figure, _) in enumerate(plan, start=2)]
    left.append(("Contents", contents or ["no figures"]))
    right: list[Section] = [("Configuration", _table_lines(config_rows))]
    if version_rows:
        right.append(("Versions", _table_lines(version_rows)))
    if notes:
        right.append(("Notes", [line for n in notes for line in _wrap(n, 58)]))

    made: list[tuple[Figure, Path]] = []

    def write_pdf(tmp: Path) -> None:
        made.clear()
        metadata = {"Title": f"mnist-cnn report: {name}", "Creator": "mnist-cnn"}
        with PdfPages(tmp, metadata=metadata) as pdf:
            _title_page(pdf, name, summary, (left, right))
            for figure, draw in plan:
                made.append((figure, draw(pdf)))

    pdf_path, html_path = run_dir / PDF_FILE, run_dir / HTML_FILE
    runs.atomic_write(pdf_path, write_pdf)
    page = _html(name, summary, metric_rows, per_class, config_rows, version_rows, made, notes)
    runs.atomic_write(html_path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    if not quiet:
        print(f"Report: {pdf_path} and {html_path} ({len(made)} figures in {figures_dir})")
    return pdf_path, html_path


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def _summary(name: str, config: dict, metrics: dict) -> str:
    """One sentence: model, epochs, test accuracy, loss and calibration."""
    parts = [f"Run {name}"]
    if metrics.get("model") or config.get("model"):
        parts[0] += f", model {metrics.get('model') or config.get('model')}"
    if metrics.get("epochs_run"):
        parts.append(
            f"trained {metrics['epochs_run']} epochs (best: {metrics.get('best_epoch', '-')})"
        )
    if "test_accuracy" in metrics:
        errors = metrics.get("test_errors")
        parts.append(
            f"test accuracy {metrics['test_accuracy']:.2%}"
            + (f" ({errors:,} errors)" if errors is not None else "")
        )
    if "test_loss" in metrics:
        parts.append(f"test loss {metrics['test_loss']:.4f}")
    if "test_ece" in metrics:
        parts.append(f"expected calibration error {metrics['test_ece']:.2%}")
    return "; ".join(parts) + "."
