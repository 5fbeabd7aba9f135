"""Every figure in mnist_cnn.plots, on tiny models and a few hundred real test images:
each writes a valid PNG (or SVG when asked), and the model figures work for every
kind of model (Sequential loaded from disk, functional, built lazily, nested)."""

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_cnn import data, models, plots
from mnist_cnn.backend import keras
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import INPUT_SHAPE, one_hot, preprocess

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PageGrabber:
    """Stands in for a PdfPages: keeps the figure a plot function hands it, so a
    test can read its legends, texts and ticks."""

    def __init__(self):
        self.figures = []

    def savefig(self, fig, **kwargs):
        self.figures.append(fig)


@pytest.fixture(scope="module")
def test_set(mnist_dir):
    x, y = data.load_test_set(mnist_dir)
    return x[:300], y[:300]


@pytest.fixture(scope="module")
def seed_model(test_set, tmp_path_factory):
    """The `seed` network after a few training steps, saved and loaded back: a
    Sequential model as the report meets it."""
    keras.utils.set_random_seed(0)
    x, y = test_set
    model = models.build("seed")
    model.compile("adam", "categorical_crossentropy")
    model.fit(preprocess(x), one_hot(y), batch_size=100, epochs=2, verbose=0)
    path = tmp_path_factory.mktemp("model") / "seed.keras"
    model.save(path)
    return keras.models.load_model(path, compile=False)


@pytest.fixture(scope="module")
def probabilities(seed_model, test_set):
    return np.asarray(seed_model.predict(preprocess(test_set[0]), verbose=0), np.float64)


def lazy_sequential():
    """A Sequential model with no Input layer, not built until first used."""
    layers = keras.layers
    return keras.Sequential(
        [
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )


def nested(members):
    """Models wrapped in one, averaging their outputs, like an ensemble."""
    inputs = keras.Input(INPUT_SHAPE)
    return keras.Model(inputs, keras.layers.Average()([m(inputs) for m in members]))


def figure_calls(seed_model, test_set, probabilities):
    """name -> function(out, fmt) drawing that figure."""
    x, y = test_set
    predicted = probabilities.argmax(axis=1)
    matrix = np.zeros((10, 10), int)
    np.add.at(matrix, (y, predicted), 1)
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
        "first_layer_filters": lambda out, fmt: plots.first_layer_filters(seed_model, out, fmt=fmt),
        "feature_maps": lambda out, fmt: plots.feature_maps(seed_model, x[0], out, fmt=fmt),
        "occlusion": lambda out, fmt: plots.occlusion_maps(seed_model, x[:3], y[:3], out, fmt=fmt),
        "embedding": lambda out, fmt: plots.embedding(
            plots.penultimate_features(seed_model, x[:150]), y[:150], out, fmt=fmt
        ),
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


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURE_NAMES)
def test_each_figure_writes_a_valid_png(name, seed_model, test_set, probabilities, tmp_path):
    path = figure_calls(seed_model, test_set, probabilities)[name](tmp_path, "png")
    assert path == tmp_path / f"{name}.png"
    assert_png(path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


@pytest.mark.slow
@pytest.mark.parametrize("name", ["learning_curves", "confusion_matrix", "feature_maps"])
def test_figures_write_svg_on_request(name, seed_model, test_set, probabilities, tmp_path):
    path = figure_calls(seed_model, test_set, probabilities)[name](tmp_path, "svg")
    assert path == tmp_path / f"{name}.svg"
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg") and len(list(root.iter())) > 50


@pytest.mark.slow
def test_a_file_path_picks_the_format_and_a_bad_format_is_refused(test_set, tmp_path):
    x, _ = test_set
    path = plots.pixel_histogram(x, tmp_path / "sub" / "hist.svg")
    assert path == tmp_path / "sub" / "hist.svg" and path.read_text().lstrip().startswith("<?xml")
    with pytest.raises(MnistCnnError, match="unknown image format 'jpg'"):
        plots.pixel_histogram(x, tmp_path, fmt="jpg")


def legend_labels(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


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


def test_expected_calibration_error():
    labels = np.array([0, 1, 0, 1])
    certain_and_right = np.eye(2)[labels]
    assert plots.expected_calibration_error(certain_and_right, labels) == 0.0
    # 99% sure every time but right only half the time: a gap of 0.49.
    overconfident = np.tile([0.99, 0.01], (4, 1))
    assert plots.expected_calibration_error(overconfident, labels) == pytest.approx(0.49)
    bins = plots.calibration_bins(overconfident, labels, bins=10)
    assert bins["count"].tolist() == [0] * 9 + [4] and bins["accuracy"][-1] == 0.5


@pytest.mark.slow
def test_reliability_diagram_puts_the_ece_in_the_title(probabilities, test_set, tmp_path):
    grab = PageGrabber()
    plots.reliability_diagram(probabilities, test_set[1], tmp_path, pdf=grab)
    ece = plots.expected_calibration_error(probabilities, test_set[1])
    assert f"ECE {ece:.2%}" in grab.figures[0].axes[0].get_title()


class TopLeftModel:
    """A stand-in model: the more ink in the top-left 8x8 corner, the surer it is
    of class 1; ink elsewhere means nothing to it."""

    def predict(self, x, batch_size=None, verbose=0):
        ink = x[:, :8, :8, 0].sum(axis=(1, 2))
        p1 = 1 / (1 + np.exp(-(ink - 5.0)))
        return np.stack([1 - p1] + [p1] + [np.zeros_like(p1)] * 8, axis=1)


def test_occlusion_finds_the_pixels_the_model_uses():
    image = np.zeros((28, 28), np.uint8)
    image[2:7, 2:7] = 255  # ink the model relies on
    image[18:24, 18:24] = 255  # ink it ignores
    maps, predicted = plots.occlusion_sensitivity(TopLeftModel(), image[None], patch=6)
    assert predicted.tolist() == [1]
    heat = maps[0]
    assert heat[2:7, 2:7].mean() > 0.5 and np.abs(heat[18:24, 18:24]).max() < 1e-9


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, features", [("sequential", 1600), ("functional", 128), ("lazy", 676), ("nested", 1600)]
)
def test_model_figures_work_for_every_kind_of_model(kind, features, seed_model, test_set, tmp_path):
    x, y = test_set
    model = {
        "sequential": lambda: seed_model,
        "functional": lambda: models.build("cnn"),  # conv + batch norm + ReLU blocks
        "lazy": lazy_sequential,
        "nested": lambda: nested([seed_model, models.build("fast")]),  # shows the first member
    }[kind]()
    assert plots.penultimate_features(model, x[:7]).shape == (7, features)
    assert_png(plots.feature_maps(model, x[1], tmp_path, channels=4))
    if kind != "sequential":  # the seed model's filters and occlusion are tested above
        assert_png(plots.first_layer_filters(model, tmp_path), min_height=80)
        assert_png(plots.occlusion_maps(model, x[:2], y[:2], tmp_path))


def test_a_model_without_convolutions_is_a_clear_error(tmp_path):
    mlp = keras.Sequential(
        [keras.Input(INPUT_SHAPE), keras.layers.Flatten(), keras.layers.Dense(10)], name="mlp"
    )
    with pytest.raises(MnistCnnError, match="model 'mlp' has no Conv2D layer"):
        plots.first_layer_filters(mlp, tmp_path)
    assert not any(tmp_path.iterdir())


def test_feature_maps_show_the_block_after_batch_norm_and_relu():
    blocks = plots._block_outputs(models.build("cnn"))
    assert len(blocks) == 3
    assert all(name.startswith("conv2d") and name.endswith(" + BN + ReLU") for name, _ in blocks)
