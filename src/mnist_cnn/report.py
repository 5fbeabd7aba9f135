"""A report of one training run: ``report.pdf`` and ``report.html`` in its folder.

Both hold the run's configuration and metrics, then every insight figure of
`mnist_cnn.plots`: learning curves, confusion matrix, error rate per digit, the
most confident mistakes, calibration, first-layer filters, feature maps,
occlusion maps and a 2-D embedding of the penultimate layer.

It is made in two steps. `collect` gathers what the run holds (configuration,
metrics, history) and what the report computes (test results, a look inside the
model) into a `Report`, writing each figure into the run's ``figures/`` folder.
Then `render_pdf` lays it out on A4 pages (a title page with the tables and a
list of the figures, then the figures with their captions), and `render_html`
fills the template ``templates/report.html.j2`` into one self-contained page
(figures embedded as data URIs), so either file can be mailed or archived on
its own. `write_report` does all three.

>>> from mnist_cnn.report import write_report
>>> pdf, html = write_report("runs/cnn-20260101-120000")   # doctest: +SKIP
>>> pdf.name, html.name                                    # doctest: +SKIP
('report.pdf', 'report.html')

A run that is incomplete (interrupted before its test evaluation, an ensemble
without a training history) still gets a report of what exists; its notes say
what is missing.
"""

from __future__ import annotations

import base64
import io
import os
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mnist_cnn import data, evaluation, introspection, metrics, plots, runs
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import NUM_CLASSES

PDF_FILE = "report.pdf"
HTML_FILE = "report.html"
TEMPLATE = "report.html.j2"
EMBEDDING_SIZE = 1500  # test images in the PCA/t-SNE figure; t-SNE takes seconds for this many
OCCLUSION_PATCH = 7  # pixels; about a stroke's width and a half
A4 = (210 / 25.4, 297 / 25.4)  # inches, portrait: 210 x 297 mm
MARGIN = 0.7  # inches, on every side of an A4 page


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

# -- One number format and readable names, for both files. --------------------------------------

# Metrics shown first, in this order.
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
PERCENT = {"test_ece", "precision", "recall", "f1"}  # and every "...accuracy"
LABELS = {
    "test_ece": "Expected calibration error",
    "best_val_accuracy": "Best validation accuracy",
    "best_val_loss": "Best validation loss",
    "test_accuracy_tta": "Test accuracy with test-time augmentation",
    "test_errors_tta": "Test errors with test-time augmentation",
    "params": "Parameters",
    "macs": "Multiply-accumulates per image",
    "train_seconds": "Training time",
    "lr": "Learning rate",
    "augment": "Augmentation strength",
    "schedule": "Learning-rate schedule",
    "patience": "Early-stopping patience (epochs)",
    "val_fraction": "Validation share",
    "limit": "Training images (limit)",
    "init": "Started from the weights of",
    "runs_dir": "Runs folder",
    "data_dir": "Data folder",
    "data_source": "Data read from",
    "tensorboard": "TensorBoard log",
    "report": "Report at the end",
    "f1": "F1",
    "mnist_cnn": "mnist-cnn",
    "keras_backend": "Keras backend",
    "tensorflow": "TensorFlow",
    "numpy": "NumPy",
}


def label(key: str) -> str:
    """A readable name for a metric, option or library.

    >>> label("test_accuracy"), label("lr"), label("keras_backend")
    ('Test accuracy', 'Learning rate', 'Keras backend')
    """
    return LABELS.get(key) or key.replace("_", " ").capitalize()


def format_value(key: str, value) -> str:
    """A metric, option or score as short text, the same everywhere in the report:
    shares as percentages, counts with thousands separators, durations in seconds,
    other numbers to four significant digits.

    >>> format_value("test_accuracy", 0.99123), format_value("params", 94634)
    ('99.12%', '94,634')
    >>> format_value("train_seconds", 536.44), format_value("interrupted", False)
    ('536.4 s', 'no')
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if key in PERCENT or key.endswith("accuracy"):
            return f"{value:.2%}"
        if key.endswith("seconds"):
            return f"{value:,.1f} s"
        return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(key, v) for v in value)
    return str(value)


# -- Step 1: collect. ----------------------------------------------------------------------------


@dataclass
class ReportFigure:
    """A figure as the report shows it: its `Figure` text, its file, and the
    same figure as PNG bytes for the PDF pages."""

    key: str
    title: str
    caption: str
    path: Path
    png: bytes = field(repr=False)


@dataclass
class Report:
    """Everything a report shows, as plain values: nothing here is drawn or formatted."""

    name: str
    run_dir: Path
    written: str  # date and time
    config: dict  # the run's options
    versions: dict  # library -> version
    data_source: str | None  # where the run read MNIST
    metrics: dict  # test results computed for the report included
    per_class: dict | None  # digit -> precision, recall, f1, support
    history: dict  # column -> one value per epoch
    notes: list[str]  # what is missing, and why
    figures: list[ReportFigure] = field(default_factory=list)


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
    from mnist_cnn.inference import is_shipped
    from mnist_cnn.models import NUMBER_MODELS

    if runs.summarize_run(run_dir).model in NUMBER_MODELS:
        raise MnistCnnError(
            f"{run_dir} is a number model's run: the report covers digit models. Its test "
            f"figures are in {runs.METRICS_FILE}, its learning curves in {runs.FIGURES_DIR}/"
        )
    if is_shipped(run_dir):
        raise MnistCnnError(
            f"{run_dir} is the model shipped with the package, which is read-only: "
            "copy the folder and report on the copy"
        )
    return run_dir


def _read_run(run_dir: Path) -> Report:
    """What the run folder holds, with a note for each part that is missing."""
    config_json = runs.read_json(run_dir / runs.CONFIG_FILE)
    config = config_json.get("config", {})
    run_metrics = runs.read_metrics(run_dir).to_dict()
    history = runs.read_history(run_dir)
    notes = []
    if not config_json:
        notes.append(f"No {runs.CONFIG_FILE}: the configuration is unknown.")
    if not history.get("epoch"):
        history = {}
        notes.append(f"No training history ({runs.HISTORY_FILE}): no learning curves.")
    return Report(
        name=config.get("name") or run_dir.resolve().name,
        run_dir=run_dir,
        written=time.strftime("%Y-%m-%d %H:%M"),
        config=config,
        versions=config_json.get("versions", {}),
        data_source=config_json.get("data_source"),
        metrics={k: v for k, v in run_metrics.items() if k != "per_class"},
        per_class=run_metrics.get("per_class"),
        history=history,
        notes=notes,
    )


class _PngCopy:
    """Stands in for a PdfPages in a plot function: keeps the figure as PNG bytes."""

    png = b""

    def savefig(self, fig, **kwargs) -> None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", **kwargs)
        self.png = buffer.getvalue()


def _add_figure(report: Report, key: str, draw: Callable, fmt: str) -> None:
    """Call `draw(folder, fmt=, pdf=)` (a `plots` function, its data bound) to write
    figure `key` into the run's figures folder, and add it to the report."""
    copy = None if fmt == "png" else _PngCopy()  # a PNG file is its own copy
    path = draw(report.run_dir / runs.FIGURES_DIR, fmt=fmt, pdf=copy)
    png = path.read_bytes() if copy is None else copy.png
    text = FIGURES[key]
    report.figures.append(ReportFigure(key, text.title, text.caption, path, png))


def _data_dir(data_dir, report: Report) -> str | os.PathLike | None:
    """`data_dir` if given, else the folder the run loaded MNIST from (if it is
    still there), else None: the usual search (``$MNIST_DATA_DIR``, cache, download)."""
    if data_dir is not None:
        return data_dir
    for recorded in (report.config.get("data_dir"), report.data_source):
        if recorded and recorded != "download" and Path(recorded).is_dir():
            return recorded
    return None


def _best_epoch(report: Report) -> int | None:
    if report.metrics.get("best_epoch") is not None:
        return int(report.metrics["best_epoch"])
    if report.history.get("val_loss"):
        return report.history["epoch"][int(np.argmin(report.history["val_loss"]))]
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
    mistakes = metrics.confident_mistakes(probabilities, y_true, 3)
    return np.array(chosen + [int(i) for i in mistakes], dtype=int)


def _test_figures(report: Report, probabilities, x_test, y_test, fmt: str) -> None:
    """Score the model's test answers into `report.metrics`, and draw the figures
    of its answers."""
    if "test_accuracy" not in report.metrics:
        report.notes.append(
            "The run was never evaluated (interrupted?); the test results here were "
            "computed for this report."
        )
    scores = evaluation.score(probabilities, y_test)
    matrix = np.array(scores.pop("confusion_matrix"))
    report.per_class = scores.pop("per_class")
    ece = metrics.expected_calibration_error(probabilities, y_test)
    report.metrics |= scores | {"test_ece": ece}
    y_pred = probabilities.argmax(axis=1)
    _add_figure(report, "confusion_matrix", partial(plots.confusion_matrix, matrix), fmt)
    _add_figure(report, "per_class_errors", partial(plots.per_class_errors, y_test, y_pred), fmt)
    draw = partial(plots.confident_mistakes, x_test, y_test, probabilities)
    _add_figure(report, "confident_mistakes", draw, fmt)
    draw = partial(plots.reliability_diagram, probabilities, y_test)
    _add_figure(report, "calibration", draw, fmt)


def _inspected(report: Report, model):
    """The model the inside-the-model figures show, or None (and a note) if none."""
    try:
        inspected = introspection.inspected_model(model)
    except MnistCnnError as e:
        report.notes.append(f"No filter, feature-map or embedding figures: {e}.")
        return None
    if inspected is not model:
        report.notes.append(
            f"The filter, feature-map and embedding figures show {inspected.name!r}, "
            "the first model inside this one."
        )
    return inspected


def _model_figures(report: Report, model, probabilities, x_test, y_test, fmt, size: int) -> None:
    """Draw what the model holds and computes: filters, feature maps, occlusion
    and an embedding of `size` test images."""
    inspectable = _inspected(report, model) is not None
    y_pred = probabilities.argmax(axis=1)
    if inspectable:
        layer, kernels = introspection.first_layer_kernels(model)
        draw = partial(plots.first_layer_filters, kernels, layer=layer)
        _add_figure(report, "first_layer_filters", draw, fmt)
        correct = np.flatnonzero(y_pred == y_test)
        digit = x_test[correct[0] if len(correct) else 0]
        draw = partial(plots.feature_maps, digit, introspection.feature_maps(model, digit))
        _add_figure(report, "feature_maps", draw, fmt)
    chosen = _occlusion_examples(y_test, y_pred, probabilities)
    images, labels = x_test[chosen], y_test[chosen]
    maps, predicted = introspection.occlusion_sensitivity(model, images, patch=OCCLUSION_PATCH)
    draw = partial(plots.occlusion_maps, images, labels, maps, predicted, patch=OCCLUSION_PATCH)
    _add_figure(report, "occlusion", draw, fmt)
    if not inspectable:
        return
    try:  # the embedding needs a last Dense layer to take features from
        features = introspection.penultimate_features(model, x_test[:size])
    except MnistCnnError as e:
        report.notes.append(f"No embedding figure: {e}.")
        return
    draw = partial(plots.embedding, introspection.embed(features), y_test[:size])
    _add_figure(report, "embedding", draw, fmt)


def collect(
    run_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    image_format: str = "png",
    *,
    embedding_size: int | None = None,
) -> Report:
    """Gather a run's report: read the run folder, test its model, look inside
    it, and write every figure into its ``figures/`` folder.

    Args:
        run_dir: a folder made by ``mnist-cnn train`` (or an ensemble's).
        data_dir: MNIST folder; default: where the run found it, else the usual search.
        image_format: "png" or "svg", for the figure files.
        embedding_size: how many test images the PCA/t-SNE figure shows
            (default `EMBEDDING_SIZE`).

    Returns:
        A `Report`, for `render_pdf` and `render_html`.

    Example:
        >>> report = collect("runs/cnn-20260101-120000")  # doctest: +SKIP
        >>> [f.key for f in report.figures][:2]  # doctest: +SKIP
        ['learning_curves', 'confusion_matrix']
    """
    run_dir = check_run_dir(run_dir)
    plots.check_format(image_format)
    report = _read_run(run_dir)
    if report.history:
        draw = partial(
            plots.learning_curves,
            report.history,
            _best_epoch(report),
            max_epochs=report.config.get("epochs"),
            interrupted=bool(report.metrics.get("interrupted")),
        )
        _add_figure(report, "learning_curves", draw, image_format)
    if not (run_dir / runs.MODEL_FILE).is_file():
        report.notes.append(f"No {runs.MODEL_FILE}: no test results or model figures.")
        return report
    model = runs.load_model(run_dir)
    x_test, y_test = data.load_test_set(_data_dir(data_dir, report))
    probabilities = evaluation.predict_probabilities(model, x_test)
    _test_figures(report, probabilities, x_test, y_test, image_format)
    size = min(embedding_size or EMBEDDING_SIZE, len(x_test))
    _model_figures(report, model, probabilities, x_test, y_test, image_format, size)
    return report


# -- Step 2: render. -----------------------------------------------------------------------------


class Table(NamedTuple):
    """A table of text, as both files show it."""

    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]


def summary(report: Report) -> str:
    """One sentence: model, epochs, test accuracy, loss and calibration."""
    m = report.metrics
    parts = [f"Run {report.name}"]
    if m.get("model") or report.config.get("model"):
        parts[0] += f", model {m.get('model') or report.config.get('model')}"
    if m.get("epochs_run"):
        best = format_value("best_epoch", m.get("best_epoch"))
        parts.append(f"trained {format_value('epochs_run', m['epochs_run'])} epochs (best: {best})")
    if "test_accuracy" in m:
        errors = m.get("test_errors")
        parts.append(
            f"test accuracy {format_value('test_accuracy', m['test_accuracy'])}"
            + (f" ({format_value('test_errors', errors)} errors)" if errors is not None else "")
        )
    for key in ("test_loss", "test_ece"):
        if key in m:
            parts.append(f"{label(key).lower()} {format_value(key, m[key])}")
    return "; ".join(parts) + "."


def tables(report: Report) -> tuple[list[Table], list[Table]]:
    """The report's tables, in two columns: results on the left, setup on the right."""
    m = report.metrics
    keys = [k for k in METRIC_ORDER if k in m] + sorted(k for k in m if k not in METRIC_ORDER)
    rows = [(label(k), format_value(k, m[k])) for k in keys if not isinstance(m[k], dict)]
    left = [Table("Metrics", ("Metric", "Value"), rows)]
    if report.per_class:
        columns = ("precision", "recall", "f1", "support")
        rows = [
            (digit, *(format_value(c, scores[c]) for c in columns))
            for digit, scores in report.per_class.items()
        ]
        left.append(Table("Per-digit test scores", ("Digit", *map(label, columns)), rows))
    config = dict(report.config)
    if report.data_source:
        config["data_source"] = report.data_source
    rows = [(label(k), format_value(k, v)) for k, v in config.items()]
    right = [Table("Configuration", ("Option", "Value"), rows)]
    if report.versions:
        rows = [(label(k), str(v)) for k, v in report.versions.items()]
        right.append(Table("Versions", ("Library", "Version"), rows))
    return left, right


def _data_uri(path: Path) -> str:
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def render_html(report: Report, path: str | os.PathLike) -> Path:
    """Write the report as one self-contained HTML page (the template
    ``templates/report.html.j2``, the figure files embedded as data URIs).

    Args:
        report: from `collect`.
        path: the file to write.

    Returns:
        `path`, as a Path.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mnist_cnn", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails, not a blank
    )
    left, right = tables(report)
    page = env.get_template(TEMPLATE).render(
        report=report,
        summary=summary(report),
        columns=(left, right),
        figures=[(f, _data_uri(f.path)) for f in report.figures],
    )
    path = Path(path)
    runs.atomic_write(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return path


# -- The PDF: A4 pages. ------------------------------------------------------------------------

CAPTION_CHARS = 105  # characters per caption line at 8.5 pt across the page
LINE = 0.17  # inches per line of 8.5 pt text
HEADING = 0.32  # inches for a figure's title
GAP = 0.3  # inches between two figures on a page


class _Block(NamedTuple):
    """A figure placed on a page: its image (RGB) and caption lines, with the
    size its image is shown at, in inches."""

    figure: ReportFigure
    image: np.ndarray
    caption: list[str]
    width: float
    height: float

    @property
    def total(self) -> float:
        return HEADING + self.height + LINE * (len(self.caption) + 0.5)


def _block(figure: ReportFigure) -> _Block:
    """`figure` sized to the page's width, or to its height if it is tall."""
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(figure.png)).convert("RGB"))
    caption = textwrap.wrap(figure.caption, CAPTION_CHARS)
    room = A4[1] - 2 * MARGIN - 0.4 - HEADING - LINE * (len(caption) + 0.5)
    width = A4[0] - 2 * MARGIN
    height = width * image.shape[0] / image.shape[1]
    if height > room:
        width, height = width * room / height, room
    return _Block(figure, image, caption, width, height)


def _pages(figures: list[ReportFigure]) -> list[list[_Block]]:
    """The figures in order, as many to a page as fit one above the other."""
    room = A4[1] - 2 * MARGIN - 0.4  # less a line for the page's header
    pages: list[list[_Block]] = []
    used = room
    for block in map(_block, figures):
        if used + GAP + block.total > room:
            pages.append([])
            used = -GAP
        pages[-1].append(block)
        used += GAP + block.total
    return pages


def _new_page(number: int, count: int):
    """An empty A4 page with its number at the foot."""
    import matplotlib.figure

    page = matplotlib.figure.Figure(figsize=A4)
    footer = f"page {number} of {count}"
    x, y = 1 - MARGIN / A4[0], (MARGIN - 0.35) / A4[1]
    page.text(x, y, footer, fontsize=8, color="#666666", ha="right")
    return page


def _figure_page(report: Report, blocks: list[_Block], number: int, count: int):
    """One A4 page of figures under the report's name, each figure with its title
    above and its caption below."""
    page = _new_page(number, count)
    w, h = A4
    header = f"mnist-cnn report: {report.name}"
    page.text(MARGIN / w, 1 - (MARGIN - 0.25) / h, header, fontsize=8, color="#666666")
    top = h - MARGIN - 0.4  # inches from the bottom
    for block in blocks:
        page.text(MARGIN / w, (top - 0.22) / h, block.figure.title, fontsize=12, weight="bold")
        top -= HEADING
        left = MARGIN + (w - 2 * MARGIN - block.width) / 2
        ax = page.add_axes((left / w, (top - block.height) / h, block.width / w, block.height / h))
        ax.imshow(block.image, interpolation="none")  # the PDF keeps every pixel
        ax.set_axis_off()
        top -= block.height + LINE
        for line in block.caption:
            page.text(MARGIN / w, top / h, line, fontsize=8.5, color="#333333")
            top -= LINE
        top -= GAP
    return page


def _write_column(page, x: float, y: float, column: list[Table], extra) -> None:
    """Tables as monospaced text from (x, y) down, in figure coordinates."""
    for title, lines in [(t.title, _table_lines(t)) for t in column] + extra:
        page.text(x, y, title, fontsize=11, weight="bold", color=plots.COLORS[0])
        y -= 0.022
        for line in lines:
            page.text(x, y, line, fontsize=7.4, family="monospace")
            y -= 0.0142
        y -= 0.018


def _table_lines(table: Table, width: int = 58) -> list[str]:
    """A table as lines of text: the first column padded, the rest right-aligned."""
    first = max(len(row[0]) for row in [table.header, *table.rows])
    if len(table.header) == 2:
        lines = [f"{k:<{first}}  {v}" for k, v in table.rows]
    else:
        lines = [f"{r[0]:<{first}}" + "".join(f"{c:>10}" for c in r[1:]) for r in table.rows]
        lines.insert(
            0, f"{table.header[0]:<{first}}" + "".join(f"{c:>10}" for c in table.header[1:])
        )
    return [line[:width] for line in lines]


def _title_page(report: Report, pages: list[list[_Block]]):
    """Page 1: the run's name and summary, the tables in two columns, the notes
    and the list of figures with their pages."""
    page = _new_page(1, 1 + len(pages))
    page.text(0.08, 0.93, f"mnist-cnn report: {report.name}", fontsize=17, weight="bold")
    page.text(0.08, 0.912, f"Written {report.written}", fontsize=8.5, color="#666666")
    y = 0.89
    for line in textwrap.wrap(summary(report), 100):
        page.text(0.08, y, line, fontsize=9.5)
        y -= 0.016
    contents = [
        f"{number:>4}  {block.figure.title}"
        for number, blocks in enumerate(pages, start=2)
        for block in blocks
    ]
    notes = [line for note in report.notes for line in textwrap.wrap(note, 58)]
    left, right = tables(report)
    _write_column(page, 0.08, y - 0.015, left, [("Figures (page)", contents or ["none"])])
    _write_column(page, 0.53, y - 0.015, right, [("Notes", notes)] if notes else [])
    return page


def render_pdf(report: Report, path: str | os.PathLike) -> Path:
    """Write the report as A4 pages: a title page with the tables and the list of
    figures, then the figures, as many to a page as fit, each with its caption.

    Args:
        report: from `collect`.
        path: the file to write.

    Returns:
        `path`, as a Path.
    """
    from matplotlib.backends.backend_pdf import PdfPages

    pages = _pages(report.figures)
    metadata = {"Title": f"mnist-cnn report: {report.name}", "Creator": "mnist-cnn"}

    def write(tmp: Path) -> None:
        with PdfPages(tmp, metadata=metadata) as pdf:
            pdf.savefig(_title_page(report, pages))
            for number, blocks in enumerate(pages, start=2):
                pdf.savefig(_figure_page(report, blocks, number, 1 + len(pages)))

    path = Path(path)
    runs.atomic_write(path, write)
    return path


def write_report(
    run_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    image_format: str = "png",
    *,
    embedding_size: int | None = None,
    quiet: bool = False,
) -> tuple[Path, Path]:
    """Write ``report.pdf`` and ``report.html`` (and the figures, in
    ``figures/``) into the run folder `run_dir`: `collect`, then `render_pdf`
    and `render_html`.

    Args:
        run_dir: a folder made by ``mnist-cnn train`` (or an ensemble's).
        data_dir: MNIST folder; default: where the run found it, else the usual search.
        image_format: "png" or "svg", for the figure files and the HTML.
        embedding_size: how many test images the PCA/t-SNE figure shows
            (default `EMBEDDING_SIZE`).
        quiet: print nothing.

    Returns:
        The paths of the PDF and the HTML file.
    """
    report = collect(run_dir, data_dir, image_format, embedding_size=embedding_size)
    pdf_path = render_pdf(report, report.run_dir / PDF_FILE)
    html_path = render_html(report, report.run_dir / HTML_FILE)
    if not quiet:
        figures = report.run_dir / runs.FIGURES_DIR
        print(f"Report: {pdf_path} and {html_path} ({len(report.figures)} figures in {figures})")
    return pdf_path, html_path
