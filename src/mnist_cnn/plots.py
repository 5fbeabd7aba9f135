"""Matplotlib figures, one function each, written to PNG (default) or SVG files.

Every function takes plain arrays (or a model) and an output folder, saves its
figure and returns the path, so callers never touch Matplotlib state. Pass
``fmt="svg"`` for a vector file, and ``pdf=`` an open
`matplotlib.backends.backend_pdf.PdfPages` to add the figure to it as one more
page (that is how `mnist_cnn.report` builds its PDF).

Data figures: `sample_grid`, `class_distribution`, `mean_images`,
`pixel_histogram`. Training and test figures: `learning_curves`,
`confusion_matrix`, `per_class_errors`, `confident_mistakes`,
`reliability_diagram`. Looking inside a model: `first_layer_filters`,
`feature_maps`, `occlusion_maps`, `embedding`.

Colours are colour-blind-safe throughout: the Okabe-Ito palette for lines and
bars, 'cividis', 'viridis' and 'magma' for sequential values, ColorBrewer's
'PuOr' for signed ones, and for the ten digits `DIGIT_COLORS` together with a
different marker per digit.

>>> import numpy as np
>>> path = sample_grid(np.zeros((4, 28, 28), np.uint8), np.arange(4), "/tmp/figs")  # doctest: +SKIP
>>> path.name  # doctest: +SKIP
'samples.png'
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mnist_cnn.errors import MnistCnnError  # noqa: E402
from mnist_cnn.preprocessing import INPUT_SHAPE, NUM_CLASSES, preprocess  # noqa: E402
from mnist_cnn.runs import atomic_write  # noqa: E402

# Okabe-Ito: distinguishable with every common form of colour blindness.
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
# Ten classes need two more colours than Okabe-Ito has; grey and Paul Tol's
# "wine" keep the set distinguishable, and every digit also gets its own marker
# (and its label is written on the plot), so colour is never the only cue.
DIGIT_COLORS = COLORS + ["#999999", "#882255"]
DIGIT_MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "<", ">"]
FORMATS = ("png", "svg")
EPS = 1e-7  # keeps log-probabilities finite
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "savefig.facecolor": "white",  # readable in dark-mode viewers too
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=COLORS),
    "axes.titlesize": "medium",
    "figure.titlesize": "large",
    "image.cmap": "gray",
    "legend.framealpha": 0.9,
}


def _save(fig: plt.Figure, out: str | os.PathLike, stem: str, fmt: str = "png", pdf=None) -> Path:
    """Write `fig` to ``out/stem.fmt`` (or to `out` itself if it names a .png or
    .svg file), atomically, add it to `pdf` as a page if given, and close it."""
    out = Path(out)
    if out.suffix.lower() in (".png", ".svg"):
        path, fmt = out, out.suffix[1:].lower()
    elif fmt not in FORMATS:
        plt.close(fig)
        raise MnistCnnError(f"unknown image format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    else:
        path = out / f"{stem}.{fmt}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Atomic, because the web app may serve a figure while a report rewrites it.
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, bbox_inches="tight"))
        if pdf is not None:
            pdf.savefig(fig, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _digit_axes(axes) -> None:
    for ax in np.ravel(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)


def _framed_image_axes(axes) -> None:
    """No ticks, and a thin frame on all four sides, for images whose edge is
    white (filters, maps) and would otherwise melt into the page."""
    _digit_axes(axes)
    for ax in np.ravel(axes):
        for spine in ax.spines.values():
            spine.set_visible(True)
            spine.set_linewidth(0.5)
            spine.set_color("#999999")


def _epoch_axis(ax, last_epoch: int) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5, last_epoch + 0.5)


# -- data -------------------------------------------------------------------------------------


def read_history(path: str | os.PathLike) -> dict[str, list[float]]:
    """A CSVLogger file as {column: values}, epochs counted from 1."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    history = {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else [])}
    if "epoch" in history:
        history["epoch"] = [int(e) + 1 for e in history["epoch"]]
    return history


def sample_grid(images, labels, out, count: int = 40, *, fmt: str = "png", pdf=None) -> Path:
    """The first `count` images with their labels."""
    cols = 10
    rows = int(np.ceil(min(count, len(images)) / cols))
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(
            rows, cols, figsize=(cols * 1.1, rows * 1.3), squeeze=False, layout="constrained"
        )
        _digit_axes(axes)
        for i, ax in enumerate(axes.ravel()):
            if i >= len(images):
                ax.axis("off")
                continue
            ax.imshow(images[i], vmin=0, vmax=255)
            ax.set_title(str(labels[i]), fontsize=9)
        fig.suptitle("Sample training images and labels")
        return _save(fig, out, "samples", fmt, pdf)


def class_distribution(
    labels_by_split: dict[str, np.ndarray], out, *, fmt: str = "png", pdf=None
) -> Path:
    """Images per digit in each split, side by side."""
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(8, 3.6))
        width = 0.8 / len(labels_by_split)
        for k, (split, labels) in enumerate(labels_by_split.items()):
            counts = np.bincount(labels, minlength=10)
            ax.bar(np.arange(10) + k * width, counts, width, label=f"{split} ({len(labels):,})")
        ax.set(
            xticks=np.arange(10) + width * (len(labels_by_split) - 1) / 2,
            xticklabels=range(10),
            xlabel="digit",
            ylabel="images",
            title="Class distribution",
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, not on them
        return _save(fig, out, "class_distribution", fmt, pdf)


def mean_images(images, labels, out, *, fmt: str = "png", pdf=None) -> Path:
    """The average image of each digit: where the ink usually is."""
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(1, 10, figsize=(12, 1.8), layout="constrained")
        _digit_axes(axes)
        for digit, ax in enumerate(axes):
            ax.imshow(images[labels == digit].mean(axis=0), cmap="magma")
            ax.set_title(str(digit))
        fig.suptitle("Mean image per class")
        return _save(fig, out, "mean_images", fmt, pdf)


def pixel_histogram(images, out, *, fmt: str = "png", pdf=None) -> Path:
    """How pixel values 0-255 are distributed (log scale: most pixels are 0)."""
    counts = np.bincount(np.asarray(images, dtype=np.uint8).ravel(), minlength=256)
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 3.4))
        ax.bar(np.arange(256), counts, width=1.0)
        ax.set(
            yscale="log",
            xlabel="pixel value",
            ylabel="pixels",
            title=f"Pixel histogram ({(counts[0] / counts.sum()):.0%} of pixels are 0)",
        )
        return _save(fig, out, "pixel_histogram", fmt, pdf)


# -- training and test results ----------------------------------------------------------------


def learning_curves(
    history: dict[str, list[float]],
    best_epoch: int | None,
    out,
    *,
    max_epochs: int | None = None,
    interrupted: bool = False,
    fmt: str = "png",
    pdf=None,
) -> Path:
    """Loss, accuracy and learning rate per epoch, train vs validation.

    Marks the best epoch (the one ModelCheckpoint kept and EarlyStopping
    restored) and, when the run ended before `max_epochs` (early stopping) or
    was `interrupted`, the last epoch run.

    >>> h = {"epoch": [1, 2], "loss": [0.5, 0.3], "val_loss": [0.4, 0.35],
    ...      "accuracy": [0.8, 0.9], "val_accuracy": [0.85, 0.88]}
    >>> learning_curves(h, 2, "/tmp/figs", max_epochs=10).name  # doctest: +SKIP
    'learning_curves.png'
    """
    epochs = history["epoch"]
    last = max(epochs) if epochs else 1
    stop_label = None
    if interrupted:
        stop_label = f"interrupted after epoch {last}"
    elif max_epochs is not None and last < max_epochs:
        stop_label = f"early stopping after epoch {last} (of {max_epochs})"
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for ax, metric in zip(axes[:2], ("loss", "accuracy"), strict=True):
            ax.plot(epochs, history.get(metric, []), marker=".", label="train")
            ax.plot(epochs, history.get(f"val_{metric}", []), marker=".", label="validation")
            ax.set(xlabel="epoch", ylabel=metric, title=metric.capitalize())
        if "learning_rate" in history:
            axes[2].plot(epochs, history["learning_rate"], marker=".", color=COLORS[2])
            axes[2].set_yscale("log")
        axes[2].set(xlabel="epoch", ylabel="learning rate", title="Learning rate")
        for ax in axes:
            _epoch_axis(ax, last)
            if best_epoch is not None:
                ax.axvline(
                    best_epoch,
                    color=COLORS[3],
                    linestyle="--",
                    label=f"best epoch {best_epoch} (checkpoint)",
                )
            if stop_label is not None:
                ax.axvline(last, color=COLORS[7], linestyle=":", label=stop_label)
        if best_epoch is not None and best_epoch in epochs and "val_accuracy" in history:
            best_acc = history["val_accuracy"][epochs.index(best_epoch)]
            axes[1].plot(best_epoch, best_acc, marker="*", markersize=12, color=COLORS[3])
            axes[1].annotate(
                f"{best_acc:.2%}",
                (best_epoch, best_acc),
                textcoords="offset points",
                xytext=(-8, -4),
                ha="right",
                va="top",
                color=COLORS[3],
            )
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
        fig.suptitle(f"Learning curves ({len(epochs)} epochs)")
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        return _save(fig, out, "learning_curves", fmt, pdf)


def confusion_matrix(matrix: np.ndarray, out, *, fmt: str = "png", pdf=None) -> Path:
    """True (rows) vs predicted (columns) classes: counts on the left, each row as
    a share of its true class on the right. Colour shows only the errors; the
    diagonal (correct answers, on grey) would otherwise swamp them."""
    matrix = np.asarray(matrix)
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    panels = (
        (matrix, "Counts", "errors", lambda v: f"{v:d}"),
        (100 * matrix / totals, "Share of each true digit (%)", "% of true digit", None),
    )
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(13, 5.4))
        for ax, (values, title, bar_label, text) in zip(axes, panels, strict=True):
            off = values.astype(float).copy()
            np.fill_diagonal(off, 0)
            shown = off.copy()
            np.fill_diagonal(shown, np.nan)  # drawn in the colormap's "bad" colour: light grey
            cmap = matplotlib.colormaps["cividis"].with_extremes(bad="#e8e8e8")
            im = ax.imshow(shown, cmap=cmap, vmin=0, vmax=max(off.max(), 1e-9))
            fig.colorbar(im, ax=ax, label=bar_label, fraction=0.046, pad=0.04)
            for (i, j), v in np.ndenumerate(values):
                if text is None:  # percentages: blank for zero, one decimal otherwise
                    if v == 0:
                        continue
                    label = f"{v:.1f}" if v < 99.95 else "100"
                else:
                    label = text(int(v))
                dark_cell = off[i, j] <= off.max() / 2
                color = "black" if i == j or not dark_cell else "white"
                ax.text(j, i, label, ha="center", va="center", fontsize=7, color=color)
            ax.set(
                xticks=range(NUM_CLASSES),
                yticks=range(NUM_CLASSES),
                xlabel="predicted digit",
                ylabel="true digit",
                title=title,
            )
            ax.grid(False)
        errors = int(matrix.sum() - np.trace(matrix))
        fig.suptitle(
            f"Confusion matrix ({errors:,} errors in {int(matrix.sum()):,} images; "
            "grey diagonal: correct)"
        )
        return _save(fig, out, "confusion_matrix", fmt, pdf)


def per_class_errors(y_true, y_pred, out, *, fmt: str = "png", pdf=None) -> Path:
    """Error rate per true digit, each bar labelled with errors/images and the
    digit it is most often mistaken for."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    support = np.bincount(y_true, minlength=NUM_CLASSES)
    wrong = y_true != y_pred
    errors = np.bincount(y_true[wrong], minlength=NUM_CLASSES)
    rate = 100 * errors / np.maximum(support, 1)
    overall = 100 * wrong.mean() if len(y_true) else 0.0
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.bar(range(NUM_CLASSES), rate, color=COLORS[0])
        ax.axhline(overall, color=COLORS[3], linestyle="--", label=f"all digits: {overall:.2f}%")
        top = max(rate.max(), overall, 1e-3)
        for d in range(NUM_CLASSES):
            note = f"{errors[d]}/{support[d]}"
            if errors[d]:
                confused = np.bincount(y_pred[wrong & (y_true == d)], minlength=NUM_CLASSES)
                note += f"\nmostly {confused.argmax()}"
            ax.text(d, rate[d] + top * 0.02, note, ha="center", va="bottom", fontsize=8)
        ax.set(
            xticks=range(NUM_CLASSES),
            xlabel="true digit",
            ylabel="error rate (%)",
            ylim=(0, top * 1.3),
            title="Error rate per digit (labels: errors/images, most common wrong answer)",
        )
        ax.legend(loc="upper right")
        return _save(fig, out, "per_class_errors", fmt, pdf)


def confident_mistakes(
    images, y_true, probabilities, out, count: int = 16, *, fmt: str = "png", pdf=None
) -> Path:
    """The wrongly classified images the model was most sure about."""
    y_pred = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(y_pred != y_true)
    order = wrong[np.argsort(-probabilities[wrong, y_pred[wrong]])][:count]
    cols = 8
    rows = max(1, int(np.ceil(len(order) / cols)))
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(
            rows, cols, figsize=(cols * 1.4, rows * 1.7), squeeze=False, layout="constrained"
        )
        _digit_axes(axes)
        for ax in axes.ravel()[len(order) :]:
            ax.axis("off")
        for ax, i in zip(axes.ravel()[: len(order)], order, strict=True):
            ax.imshow(images[i], vmin=0, vmax=255)
            ax.set_title(
                f"true {y_true[i]}\npred {y_pred[i]} {probabilities[i, y_pred[i]]:.0%}", fontsize=8
            )
        fig.suptitle(
            "Most confident mistakes" if len(order) else "Most confident mistakes (none: no errors)"
        )
        return _save(fig, out, "confident_mistakes", fmt, pdf)


def calibration_bins(probabilities, labels, bins: int = 15) -> dict[str, np.ndarray]:
    """Group predictions by confidence (the top probability) into equal-width bins.

    Returns the bin `edges`, and per bin the `count`, the mean `confidence` and
    the `accuracy` (NaN for empty bins).
    """
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, confidence, minlength=bins) / count
        accuracy = np.bincount(which, correct.astype(float), minlength=bins) / count
    return {"edges": edges, "count": count, "confidence": mean_conf, "accuracy": accuracy}


def expected_calibration_error(probabilities, labels, bins: int = 15) -> float:
    """ECE: the gap between confidence and accuracy, averaged over confidence bins
    weighted by how many predictions fall in each. 0 is perfectly calibrated.

    >>> p = np.array([[0.95, 0.05], [0.95, 0.05], [0.25, 0.75], [0.45, 0.55]])
    >>> round(expected_calibration_error(p, np.array([0, 1, 1, 1]), bins=10), 4)
    0.4
    """
    b = calibration_bins(probabilities, labels, bins)
    used = b["count"] > 0
    gaps = np.abs(b["accuracy"][used] - b["confidence"][used])
    return float((b["count"][used] * gaps).sum() / max(b["count"].sum(), 1))


def reliability_diagram(
    probabilities, labels, out, *, bins: int = 15, fmt: str = "png", pdf=None
) -> Path:
    """Calibration: accuracy vs confidence per bin (the diagonal is perfect
    calibration) beside how many predictions fall in each bin; the expected
    calibration error (`expected_calibration_error`) is in the title."""
    b = calibration_bins(probabilities, labels, bins)
    ece = expected_calibration_error(probabilities, labels, bins)
    edges, width = b["edges"], 1.0 / bins
    centers = edges[:-1] + width / 2
    used = b["count"] > 0
    with plt.style.context(STYLE):
        fig, (ax, ax_count) = plt.subplots(1, 2, figsize=(11, 4.4))
        ax.bar(
            centers[used],
            b["accuracy"][used],
            width,
            color=COLORS[0],
            edgecolor="white",
            label="accuracy",
        )
        gap_bottom = np.minimum(b["accuracy"], b["confidence"])[used]
        ax.bar(
            centers[used],
            np.abs(b["accuracy"] - b["confidence"])[used],
            width,
            bottom=gap_bottom,
            color="none",
            edgecolor=COLORS[3],
            hatch="//",
            label="gap to confidence",
        )
        ax.plot([0, 1], [0, 1], color=COLORS[7], linestyle="--", label="perfect calibration")
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1.02),
            xlabel="confidence (top probability)",
            ylabel="accuracy",
            title=f"Reliability diagram (ECE {ece:.2%})",
        )
        ax.legend(loc="upper left")
        ax_count.bar(centers, np.maximum(b["count"], 0), width, color=COLORS[5], edgecolor="white")
        ax_count.set(
            xlim=(0, 1),
            yscale="log" if b["count"].max() > 0 else "linear",
            xlabel="confidence (top probability)",
            ylabel="predictions",
            title=f"Predictions per confidence bin ({bins} bins)",
        )
        fig.suptitle(f"Calibration on {len(labels):,} images: expected calibration error {ece:.2%}")
        fig.tight_layout()
        return _save(fig, out, "calibration", fmt, pdf)


# -- inside the model -------------------------------------------------------------------------


def _keras():
    from mnist_cnn.backend import keras  # deferred: the data figures need no TensorFlow

    return keras


def _conv_layers(model) -> list:
    keras = _keras()
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def inspected_model(model):
    """The model whose layers the model figures show: `model` itself, or for a
    model that wraps others (an ensemble) the first nested model with a Conv2D
    layer. Raises `MnistCnnError` if there is none."""
    keras = _keras()
    if not model.built:  # a Sequential model without an Input layer, never called yet
        model.build((None, *INPUT_SHAPE))
    if _conv_layers(model):
        return model
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            try:
                return inspected_model(layer)
            except MnistCnnError:
                continue
    raise MnistCnnError(f"model {model.name!r} has no Conv2D layer to show")


def _graph_inputs(model):
    """The symbolic input of a built model (functional, or Sequential loaded from
    disk or built by a first call)."""
    if not model.built:
        model.build((None, *INPUT_SHAPE))
    inputs = model.inputs
    return inputs[0] if len(inputs) == 1 else inputs


def _block_outputs(model) -> list[tuple[str, object]]:
    """(name, tensor) for each top-level Conv2D, taken after the batch norm and
    activation layers that directly follow it, so the maps show what the next
    layer sees."""
    keras = _keras()
    followers = (
        keras.layers.BatchNormalization,
        keras.layers.ReLU,
        keras.layers.Activation,
        keras.layers.LeakyReLU,
    )
    layers_ = model.layers
    blocks = []
    for i, layer in enumerate(layers_):
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        tensor, names = layer.output, [layer.name]
        for nxt in layers_[i + 1 :]:
            if not isinstance(nxt, followers) or nxt.input is not tensor:
                break
            tensor = nxt.output
            names.append(type(nxt).__name__.replace("BatchNormalization", "BN"))
        blocks.append((" + ".join(names), tensor))
    return blocks


def tile(images: np.ndarray, cols: int, gap: int = 1, min_size: int = 1) -> np.ndarray:
    """Images (N, h, w) side by side in rows of `cols`, as one float image with
    NaN in the `gap` between them and in unused cells (drawn in the colormap's
    "bad" colour). Images smaller than `min_size` pixels are enlarged by a whole
    factor first, so that the gaps stay thin. One image draws far faster than N
    separate axes.

    >>> tile(np.ones((3, 2, 2)), cols=2).shape
    (5, 5)
    >>> tile(np.ones((3, 2, 2)), cols=2, min_size=4).shape
    (9, 9)
    """
    images = np.asarray(images, dtype=float)
    scale = max(1, -(-min_size // max(images.shape[1:])))
    images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w = images.shape
    rows = int(np.ceil(n / cols))
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for k, image in enumerate(images):
        r, c = divmod(k, cols)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = image
    return out


def first_layer_filters(model, out, *, fmt: str = "png", pdf=None) -> Path:
    """The first Conv2D layer's kernels as small images, on one colour scale
    centred on zero (orange: positive weights, purple: negative)."""
    model = inspected_model(model)
    conv = _conv_layers(model)[0]
    kernel = np.asarray(conv.kernel.numpy() if hasattr(conv.kernel, "numpy") else conv.kernel)
    kernel = kernel.mean(axis=2)  # (h, w, filters); MNIST's first layer has one input channel
    h, w, count = kernel.shape
    cols = min(8, count)
    rows = int(np.ceil(count / cols))
    limit = float(np.abs(kernel).max()) or 1.0
    cmap = matplotlib.colormaps["PuOr_r"].with_extremes(bad="#c8c8c8")
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(cols * 0.9 + 1.4, rows * 0.9 + 0.8))
        tiled = tile(np.moveaxis(kernel, -1, 0), cols, min_size=12)
        im = ax.imshow(tiled, cmap=cmap, vmin=-limit, vmax=limit)
        _digit_axes(ax)
        fig.colorbar(im, ax=ax, label="weight", fraction=0.04, pad=0.02)
        ax.set_xlabel(f"kernels 0-{count - 1}, row by row", fontsize=8)
        fig.suptitle(f"First-layer filters: {conv.name}, {count} kernels of {h}x{w}")
        return _save(fig, out, "first_layer_filters", fmt, pdf)


def feature_maps(model, image, out, *, channels: int = 16, fmt: str = "png", pdf=None) -> Path:
    """One digit (uint8 28x28) through each conv layer: the `channels` most
    active channels of every layer, each scaled to its own range (bright =
    strong response)."""
    keras = _keras()
    model = inspected_model(model)
    blocks = _block_outputs(model)
    extractor = keras.Model(_graph_inputs(model), [tensor for _, tensor in blocks])
    outputs = extractor(preprocess(np.asarray(image)), training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    maps = [np.asarray(o)[0] for o in outputs]
    cols = min(8, channels)
    rows = int(np.ceil(channels / cols))
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(
            len(maps),
            2,
            figsize=(11, len(maps) * (rows * 9 / cols + 0.5) + 0.3),
            width_ratios=[1, 4.2],
            squeeze=False,
            layout="constrained",
        )
        _digit_axes(axes)
        axes[0, 0].imshow(np.asarray(image).reshape(28, 28), vmin=0, vmax=255)
        axes[0, 0].set_title("input digit")
        for ax in axes[1:, 0]:
            ax.axis("off")
        for ax, (name, _), fmap in zip(axes[:, 1], blocks, maps, strict=True):
            shown = min(channels, fmap.shape[-1])
            strongest = np.argsort(-fmap.mean(axis=(0, 1)))[:shown]
            chosen = np.moveaxis(fmap[..., strongest], -1, 0)
            low = chosen.min(axis=(1, 2), keepdims=True)
            span = chosen.max(axis=(1, 2), keepdims=True) - low
            scaled = np.divide(chosen - low, span, out=np.zeros_like(chosen), where=span > 0)
            ax.imshow(tile(scaled, cols, min_size=20), cmap=cmap, vmin=0, vmax=1)
            h, w, c = fmap.shape
            ax.set_title(f"{name}: {h}x{w}x{c}, the {shown} most active channels", fontsize=9)
            for spine in ax.spines.values():
                spine.set_visible(False)
        fig.suptitle("Feature maps of one digit, layer by layer")
        return _save(fig, out, "feature_maps", fmt, pdf)


def occlusion_sensitivity(
    model, images, *, patch: int = 6, stride: int = 2, batch_size: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """How much the predicted class's log-probability drops when a `patch` x
    `patch` square of each image is erased (set to 0, MNIST's background), per
    pixel averaged over every patch that covers it.

    Returns (maps (N, 28, 28), predicted classes (N,)). Positive: the ink there
    supported the prediction; negative: erasing it made the model surer.
    """
    images = np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28)
    base = np.asarray(model.predict(preprocess(images), verbose=0))
    predicted = base.argmax(axis=1)
    steps = range(0, 28 - patch + 1, stride)
    corners = [(r, c) for r in steps for c in steps]
    # Every occluded copy of every image, in one batch: (N * len(corners), 28, 28).
    occluded = np.repeat(images, len(corners), axis=0).reshape(len(images), len(corners), 28, 28)
    covered = np.zeros((28, 28))
    for k, (r, c) in enumerate(corners):
        occluded[:, k, r : r + patch, c : c + patch] = 0
        covered[r : r + patch, c : c + patch] += 1
    probs = model.predict(
        preprocess(occluded.reshape(-1, 28, 28)), batch_size=batch_size, verbose=0
    )
    probs = np.asarray(probs).reshape(len(images), len(corners), -1)
    maps = np.zeros(images.shape, np.float64)
    for n in range(len(images)):
        # In log-probability: a confident model's probability barely moves from 0.999
        # to 0.99, while its log-probability (its evidence) clearly does.
        drop = np.log(base[n, predicted[n]] + EPS) - np.log(probs[n, :, predicted[n]] + EPS)
        for (r, c), d in zip(corners, drop, strict=True):
            maps[n, r : r + patch, c : c + patch] += d
    maps /= np.maximum(covered, 1)
    return maps, predicted


def occlusion_maps(
    model, images, labels, out, *, patch: int = 7, fmt: str = "png", pdf=None
) -> Path:
    """Occlusion sensitivity (`occlusion_sensitivity`) for a few digits: each
    digit above, and below it where erasing a patch lowers (orange) or raises
    (purple) the log-probability of the class the model predicts, with the
    digit's outline on top. Each map has its own scale (its largest effect is
    printed under it): a confident, correct prediction moves far less than a
    mistake, and one shared scale would show it blank."""
    images = np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28)
    labels = np.asarray(labels)
    maps, predicted = occlusion_sensitivity(model, images, patch=patch)
    n = len(images)
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(2, n, figsize=(1.6 * n + 1.4, 4.1), squeeze=False)
        _framed_image_axes(axes)
        for k in range(n):
            top, bottom = axes[0, k], axes[1, k]
            top.imshow(images[k], vmin=0, vmax=255)
            verdict = "" if predicted[k] == labels[k] else " (wrong)"
            top.set_title(f"true {labels[k]}\npred {predicted[k]}{verdict}", fontsize=8)
            limit = float(np.abs(maps[k]).max()) or 1.0
            im = bottom.imshow(maps[k] / limit, cmap="PuOr_r", vmin=-1, vmax=1)
            bottom.contour(images[k], levels=[128], colors="#444444", linewidths=0.6)
            bottom.set_xlabel(f"max {limit:.2g}", fontsize=8)
        axes[0, 0].set_ylabel("digit", fontsize=8)
        axes[1, 0].set_ylabel("erasing here", fontsize=8)
        bar = fig.colorbar(im, ax=axes[1, :], fraction=0.05, pad=0.02, ticks=[-1, 0, 1])
        bar.ax.set_yticklabels(["raises", "no effect", "lowers"], fontsize=8)
        bar.set_label("effect on log p(predicted)", fontsize=8)
        fig.suptitle(f"Occlusion: where the model looks ({patch}x{patch} patches erased)")
        return _save(fig, out, "occlusion", fmt, pdf)


def penultimate_features(model, images, batch_size: int = 500) -> np.ndarray:
    """The input of the model's last Dense layer (what the classifier sees) for
    uint8 images (N, 28, 28), as float32 (N, features)."""
    keras = _keras()
    model = inspected_model(model)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise MnistCnnError(f"model {model.name!r} has no Dense layer")
    extractor = keras.Model(_graph_inputs(model), dense[-1].input)
    features = extractor.predict(preprocess(images), batch_size=batch_size, verbose=0)
    return np.asarray(features, np.float32).reshape(len(features), -1)


def _project(features: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA to 2-D (with the explained variance) and t-SNE to 2-D of PCA-50."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    # One thread: on a busy machine OpenMP's spinning threads make t-SNE many
    # times slower, and one core does ~2,000 points in seconds.
    with threadpool_limits(1):
        pca = PCA(n_components=min(50, *features.shape), random_state=seed).fit(features)
        reduced = pca.transform(features)
        perplexity = min(30.0, (len(features) - 1) / 3)
        tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed, max_iter=500)
        return reduced[:, :2], pca.explained_variance_ratio_[:2], tsne.fit_transform(reduced)


def embedding(features, labels, out, *, seed: int = 0, fmt: str = "png", pdf=None) -> Path:
    """2-D maps of feature vectors (e.g. `penultimate_features`), PCA on the left
    and t-SNE on the right, one colour and marker per digit. Well-separated
    clusters mean the last layer has an easy job; stray points are the hard
    images."""
    features = np.asarray(features, np.float32).reshape(len(features), -1)
    labels = np.asarray(labels)
    pca, variance, tsne = _project(features, seed)
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(13, 6))
        titles = (
            f"PCA (PC1 {variance[0]:.0%}, PC2 {variance[1]:.0%} of variance)",
            "t-SNE (neighbourhoods kept; distances between clusters mean little)",
        )
        for ax, points, title in zip(axes, (pca, tsne), titles, strict=True):
            for d in range(NUM_CLASSES):
                mine = points[labels == d]
                if not len(mine):
                    continue
                ax.scatter(
                    mine[:, 0],
                    mine[:, 1],
                    s=9,
                    alpha=0.7,
                    color=DIGIT_COLORS[d],
                    marker=DIGIT_MARKERS[d],
                    linewidths=0,
                    label=str(d),
                )
                cx, cy = np.median(mine, axis=0)
                ax.text(
                    cx,
                    cy,
                    str(d),
                    fontsize=14,
                    fontweight="bold",
                    ha="center",
                    va="center",
                    path_effects=[patheffects.withStroke(linewidth=3, foreground="white")],
                )
            ax.set(title=title, xticks=[], yticks=[])
            ax.grid(False)
        axes[0].set(xlabel="PC1", ylabel="PC2")
        axes[1].set(xlabel="t-SNE 1", ylabel="t-SNE 2")
        axes[1].legend(title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2.5)
        fig.suptitle(
            f"Penultimate-layer features of {len(labels):,} test images "
            f"({features.shape[1]:,} dimensions) in 2-D"
        )
        return _save(fig, out, "embedding", fmt, pdf)
