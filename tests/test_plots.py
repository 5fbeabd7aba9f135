"""Every figure in mnist_cnn.plots, drawn from printed digits and synthetic results
(no model, no MNIST): each writes a valid PNG (or SVG when asked), and what a
figure says (legends, titles, cell texts) is what its data says."""

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_cnn import metrics, plots
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.introspection import Embedding

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PageGrabber:
    """Stands in for a PdfPages: keeps the figure a plot function hands it, so a
    test can read its legends, texts and ticks."""

    def __init__(self):
        self.figures = []

    def savefig(self, fig, **kwargs):
        self.figures.append(fig)


@pytest.fixture(scope="module")
def results(digit_images):
    """Printed digits with made-up answers: about one in ten wrong, the
    probabilities as sure as a small model's."""
    x, y = digit_images
    rng = np.random.default_rng(0)
    predicted = np.where(rng.random(len(y)) < 0.1, rng.integers(0, 10, len(y)), y)
    logits = rng.normal(0, 1, (len(y), 10))
    logits[np.arange(len(y)), predicted] += 4
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    matrix = np.zeros((10, 10), int)
    np.add.at(matrix, (y, predicted), 1)
    return x, y, probabilities, predicted, matrix


def figure_calls(results):
    """name -> function(out, fmt) drawing that figure."""
    x, y, probabilities, predicted, matrix = results
    rng = np.random.default_rng(1)
    maps = [("conv2d + ReLU", rng.random((26, 26, 32))), ("conv2d_1", rng.random((11, 11, 64)))]
    occlusion = rng.normal(0, 1, (3, 28, 28))
    points = rng.normal(0, 1, (150, 2)) + 5 * np.eye(10)[y[:150], :2]
    projection = Embedding(points, np.array([0.3, 0.2]), points[:, ::-1], 128)
    history = {
        "epoch": [1, 2, 3],
        "loss": [0.9, 0.5, 0.4],
        "val_loss": [0.6, 0.45, 0.5],
        "accuracy": [0.7, 0.85, 0.9],
        "val_accuracy": [0.8, 0.88, 0.87],
        "learning_rate": [1e-3, 1e-3, 3e-4],
    }
    return {
        "samples": lambda out, fmt: plots.sample_grid(x, y, out, fmt=fmt),
        "class_distribution": lambda out, fmt: plots.class_distribution({"test": y}, out, fmt=fmt),
        "mean_images": lambda out, fmt: plots.mean_images(x, y, out, fmt=fmt),
        "pixel_histogram": lambda out, fmt: plots.pixel_histogram(x, out, fmt=fmt),
        "learning_curves": lambda out, fmt: plots.learning_curves(
            history, 2, out, max_epochs=10, fmt=fmt
        ),
        "confusion_matrix": lambda out, fmt: plots.confusion_matrix(matrix, out, fmt=fmt),
        "per_class_errors": lambda out, fmt: plots.per_class_errors(y, predicted, out, fmt=fmt),
        "confident_mistakes": lambda out, fmt: plots.confident_mistakes(
            x, y, probabilities, out, fmt=fmt
        ),
        "calibration": lambda out, fmt: plots.reliability_diagram(probabilities, y, out, fmt=fmt),
        "first_layer_filters": lambda out, fmt: plots.first_layer_filters(
            rng.normal(0, 1, (32, 3, 3)), out, layer="conv2d", fmt=fmt
        ),
        "feature_maps": lambda out, fmt: plots.feature_maps(x[0], maps, out, fmt=fmt),
        "occlusion": lambda out, fmt: plots.occlusion_maps(
            x[:3], y[:3], occlusion, predicted[:3], out, fmt=fmt
        ),
        "embedding": lambda out, fmt: plots.embedding(projection, y[:150], out, fmt=fmt),
    }


FIGURE_NAMES = [
    "samples",
    "class_distribution",
    "mean_images",
    "pixel_histogram",
    "learning_curves",
    "confusion_matrix",
    "per_class_errors",
    "confident_mistakes",
    "calibration",
    "first_layer_filters",
    "feature_maps",
    "occlusion",
    "embedding",
]


def assert_png(path: Path, min_width: int = 300, min_height: int = 100) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    with Image.open(path) as image:
        image.load()  # decodes every pixel, not just the header
        width, height = image.size
    assert min_width <= width <= 4000 and min_height <= height <= 4000, (path, image.size)


# Figures whose content tests below check their PNG too: again in the slow tier only.
DRAWN_BELOW = {
    "learning_curves",
    "confusion_matrix",
    "per_class_errors",
    "confident_mistakes",
    "calibration",
    "occlusion",
}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in DRAWN_BELOW else n for n in FIGURE_NAMES],
)
def test_each_figure_writes_a_valid_png(name, results, tmp_path):
    path = figure_calls(results)[name](tmp_path, "png")
    assert path == tmp_path / f"{name}.png"
    assert_png(path, min_height=80)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


@pytest.mark.parametrize("name", ["learning_curves", "feature_maps"])
def test_figures_write_svg_on_request(name, results, tmp_path):
    path = figure_calls(results)[name](tmp_path, "svg")
    assert path == tmp_path / f"{name}.svg"
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg") and len(list(root.iter())) > 50


def test_a_file_path_picks_the_format_and_a_bad_format_is_refused(digit_images, tmp_path):
    x, _ = digit_images
    path = plots.pixel_histogram(x, tmp_path / "sub" / "hist.svg")
    assert path == tmp_path / "sub" / "hist.svg" and path.read_text().lstrip().startswith("<?xml")
    with pytest.raises(MnistCnnError, match="unknown image format 'jpg'"):
        plots.pixel_histogram(x, tmp_path, fmt="jpg")
    assert [p.name for p in tmp_path.iterdir()] == ["sub"]


def legend_labels(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def legend_labels_of(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


HISTORY = {
    "epoch": [1, 2, 3, 4],
    "loss": [0.9, 0.5, 0.4, 0.35],
    "val_loss": [0.6, 0.45, 0.5, 0.5],
    "accuracy": [0.7, 0.85, 0.9, 0.92],
    "val_accuracy": [0.8, 0.88, 0.87, 0.86],
}


def test_learning_curves_mark_the_best_epoch_and_an_early_stop(tmp_path):
    grab = PageGrabber()
    plots.learning_curves(HISTORY, 2, tmp_path, max_epochs=15, pdf=grab)
    fig = grab.figures[0]
    assert legend_labels(fig) == [
        "train",
        "validation",
        "best epoch 2 (checkpoint)",
        "early stopping after epoch 4 (of 15)",
    ]
    for ax in fig.axes:  # whole epochs only, and nothing outside 1-4
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks == [1, 2, 3, 4]
    assert_png(tmp_path / "learning_curves.png")


def test_learning_curves_of_a_full_or_interrupted_run(tmp_path):
    grab = PageGrabber()
    plots.learning_curves(HISTORY, 2, tmp_path, max_epochs=4, pdf=grab)  # used every epoch
    plots.learning_curves(HISTORY, 2, tmp_path, max_epochs=15, interrupted=True, pdf=grab)
    plots.learning_curves(HISTORY, None, tmp_path, pdf=grab)  # as training.py calls it
    full, interrupted, plain = (legend_labels(f) for f in grab.figures)
    assert full == ["train", "validation", "best epoch 2 (checkpoint)"]
    assert interrupted[-1] == "interrupted after epoch 4"
    assert plain == ["train", "validation"]


def test_confusion_matrix_shows_counts_and_row_shares(tmp_path):
    matrix = np.diag(np.full(10, 100))
    matrix[7, 7], matrix[7, 2] = 90, 10  # a tenth of the sevens read as twos
    grab = PageGrabber()
    plots.confusion_matrix(matrix, tmp_path, pdf=grab)
    counts, shares = (ax for ax in grab.figures[0].axes if ax.get_title())
    assert counts.get_title() == "Counts" and "10" in [t.get_text() for t in counts.texts]
    share_texts = {t.get_position(): t.get_text() for t in shares.texts}
    assert share_texts[(2, 7)] == "10.0" and share_texts[(7, 7)] == "90.0"
    assert share_texts[(0, 0)] == "100" and (1, 0) not in share_texts  # zeros stay blank
    assert "10 errors in 1,000 images" in grab.figures[0].get_suptitle()
    assert_png(tmp_path / "confusion_matrix.png")


def test_per_class_errors_label_each_bar_with_its_counts(tmp_path):
    y_true = np.repeat(np.arange(10), 10)
    y_pred = y_true.copy()
    y_pred[70:73] = 2  # three sevens read as twos
    grab = PageGrabber()
    plots.per_class_errors(y_true, y_pred, tmp_path, pdf=grab)
    ax = grab.figures[0].axes[0]
    notes = [t.get_text() for t in ax.texts]
    assert notes[7] == "3/10\nmostly 2" and notes[0] == "0/10"
    assert [round(bar.get_height(), 6) for bar in ax.patches][7] == 30.0
    assert legend_labels_of(ax) == ["all digits: 3.00%"]
    assert_png(tmp_path / "per_class_errors.png")


def test_reliability_diagram_draws_the_bins_and_puts_the_ece_in_the_title(tmp_path):
    p = np.array([[0.95, 0.05], [0.95, 0.05], [0.25, 0.75], [0.45, 0.55]])
    labels = np.array([0, 1, 1, 1])
    grab = PageGrabber()
    plots.reliability_diagram(p, labels, tmp_path, bins=10, pdf=grab)
    ax, ax_count = grab.figures[0].axes
    assert ax.get_title() == "Reliability diagram (ECE 40.00%)"  # see tests/test_metrics.py
    accuracy_bars = [b.get_height() for b in ax.containers[0]]
    assert accuracy_bars == pytest.approx([1.0, 1.0, 0.5])
    assert [b.get_height() for b in ax_count.containers[0]] == [0, 0, 0, 0, 0, 1, 0, 1, 0, 2]
    assert_png(tmp_path / "calibration.png")


def test_confident_mistakes_show_the_surest_first(digit_images, tmp_path):
    x, y = digit_images
    p = np.eye(10)[y[:20]] * 0.5 + 0.05
    p[3], p[8] = np.eye(10)[(y[3] + 1) % 10] * 0.6 + 0.04, np.eye(10)[(y[8] + 1) % 10]
    grab = PageGrabber()
    plots.confident_mistakes(x[:20], y[:20], p, tmp_path, pdf=grab)
    titles = [ax.get_title() for ax in grab.figures[0].axes if ax.get_title()]
    assert [t.split("\n")[1] for t in titles] == [
        f"pred {(y[8] + 1) % 10} 100%",
        f"pred {(y[3] + 1) % 10} 64%",
    ]
    assert metrics.confident_mistakes(p, y[:20]).tolist() == [8, 3]
    assert_png(tmp_path / "confident_mistakes.png", min_height=80)


def test_occlusion_maps_say_which_answers_are_wrong(digit_images, tmp_path):
    x, y = digit_images
    predicted = y[:3].copy()
    predicted[1] = (predicted[1] + 1) % 10
    grab = PageGrabber()
    plots.occlusion_maps(x[:3], y[:3], np.ones((3, 28, 28)), predicted, tmp_path, pdf=grab)
    titles = [ax.get_title() for ax in grab.figures[0].axes[:3]]
    assert [t.endswith("(wrong)") for t in titles] == [False, True, False]
    assert "7x7 patches" in grab.figures[0].get_suptitle()
    assert_png(tmp_path / "occlusion.png", min_height=80)
