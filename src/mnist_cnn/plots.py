"""Matplotlib figures, one function each, written to PNG (default) or SVG files.

Every function takes plain arrays (results computed by `mnist_cnn.metrics`,
`mnist_cnn.introspection` or the caller) and an output folder, draws one
figure, saves it and returns the path, so callers never touch Matplotlib state.
All of them share the same keywords: ``fmt="svg"`` for a vector file, and
``pdf=`` an open `matplotlib.backends.backend_pdf.PdfPages` (or anything with
its ``savefig(fig)``) that also receives the figure.

Data figures: `sample_grid`, `class_distribution`, `mean_images`,
`pixel_histogram`. Training and test figures: `learning_curves`,
`confusion_matrix`, `per_class_errors`, `confident_mistakes`,
`reliability_diagram`; a search's trials: `search_curves`. Looking inside a
model: `first_layer_filters`, `feature_maps`, `occlusion_maps`, `embedding`.

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

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mnist_cnn import metrics  # noqa: E402
from mnist_cnn.errors import MnistCnnError  # noqa: E402
from mnist_cnn.preprocessing import NUM_CLASSES  # noqa: E402
from mnist_cnn.runs import atomic_write  # noqa: E402

# Okabe-Ito: distinguishable with every common form of colour blindness.
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
# Ten classes need two more colours than Okabe-Ito has; grey and Paul Tol's
# "wine" keep the set distinguishable, and every digit also gets its own marker
# (and its label is written on the plot), so colour is never the only cue.
DIGIT_COLORS = COLORS + ["#999999", "#882255"]
DIGIT_MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "<", ">"]
FORMATS = ("png", "svg")
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


def check_format(fmt: str) -> None:
    """A `MnistCnnError` unless `fmt` is one of `FORMATS`."""
    if fmt not in FORMATS:
        raise MnistCnnError(f"unknown image format {fmt!r}; choose one of: {', '.join(FORMATS)}")


def _save(fig: plt.Figure, out: str | os.PathLike, stem: str, fmt: str = "png", pdf=None) -> Path:
    """Write `fig` to ``out/stem.fmt`` (or to `out` itself if it names a .png or
    .svg file), atomically, add it to `pdf` as a page if given, and close it."""
    out = Path(out)
    try:
        if out.suffix.lower() in (".png", ".svg"):
            path, fmt = out, out.suffix[1:].lower()
        else:
            check_format(fmt)
            path = out / f"{stem}.{fmt}"
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


# -- data -------------------------------------------------------------------------------------


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
        ax.stairs(counts, np.arange(257), fill=True)  # one artist, not 256 bars
        ax.set(
            yscale="log",
            xlabel="pixel value",
            ylabel="pixels",
            title=f"Pixel histogram ({(counts[0] / counts.sum()):.0%} of pixels are 0)",
        )
        return _save(fig, out, "pixel_histogram", fmt, pdf)


# -- training and test results ----------------------------------------------------------------


def _stop_label(last: int, max_epochs: int | None, interrupted: bool) -> str | None:
    """Why the run ended before `max_epochs`, if it did."""
    if interrupted:
        return f"interrupted after epoch {last}"
    if max_epochs is not None and last < max_epochs:
        return f"early stopping after epoch {last} (of {max_epochs})"
    return None


def _mark_epochs(ax, last: int, best_epoch: int | None, stop_label: str | None) -> None:
    """Whole epochs 1 to `last` on the x axis, a dashed line at the best epoch and
    a dotted one at the last if the run stopped early."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5, last + 0.5)
    if best_epoch is not None:
        label = f"best epoch {best_epoch} (checkpoint)"
        ax.axvline(best_epoch, color=COLORS[3], linestyle="--", label=label)
    if stop_label is not None:
        ax.axvline(last, color=COLORS[7], linestyle=":", label=stop_label)


def _mark_best_accuracy(ax, history: dict, best_epoch: int) -> None:
    """A star and the value at the best epoch's validation accuracy."""
    best_acc = history["val_accuracy"][history["epoch"].index(best_epoch)]
    ax.plot(best_epoch, best_acc, marker="*", markersize=12, color=COLORS[3])
    ax.annotate(
        f"{best_acc:.2%}",
        (best_epoch, best_acc),
        textcoords="offset points",
        xytext=(-8, -4),
        ha="right",
        va="top",
        color=COLORS[3],
    )


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
            _mark_epochs(ax, last, best_epoch, _stop_label(last, max_epochs, interrupted))
        if best_epoch in epochs and "val_accuracy" in history:
            _mark_best_accuracy(axes[1], history, best_epoch)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
        fig.suptitle(f"Learning curves ({len(epochs)} epochs)")
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        return _save(fig, out, "learning_curves", fmt, pdf)


def search_curves(
    curves: dict[str, list[float]], best: str | None, out, *, fmt: str = "png", pdf=None
) -> Path:
    """Validation loss per epoch of each trial of a search (`mnist_cnn.tuning`): trials
    that ASHA stopped end early; the best trial is drawn bold and named.

    >>> search_curves({"a": [0.3, 0.2], "b": [0.4]}, "a", "/tmp/figs").name  # doctest: +SKIP
    'search.png'
    """
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, losses in curves.items():
            if name != best:
                ax.plot(range(1, len(losses) + 1), losses, marker=".", color="#999999", lw=1)
        if best in curves:
            losses = curves[best]
            ax.plot(
                range(1, len(losses) + 1),
                losses,
                marker="o",
                color=COLORS[3],
                lw=2.5,
                label=f"best: {best}",
            )
            ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(
            xlabel="epoch",
            ylabel="validation loss",
            yscale="log",
            title=f"Search: validation loss of {len(curves)} trials",
        )
        fig.tight_layout()
        return _save(fig, out, "search", fmt, pdf)


def _matrix_panel(fig, ax, values: np.ndarray, title: str, bar_label: str, percent: bool) -> None:
    """One confusion-matrix panel: colour for the errors only, the diagonal grey,
    every cell's value written in it (zeros blank when `percent`)."""
    off = values.astype(float).copy()
    np.fill_diagonal(off, 0)
    shown = off.copy()
    np.fill_diagonal(shown, np.nan)  # drawn in the colormap's "bad" colour: light grey
    cmap = matplotlib.colormaps["cividis"].with_extremes(bad="#e8e8e8")
    im = ax.imshow(shown, cmap=cmap, vmin=0, vmax=max(off.max(), 1e-9))
    fig.colorbar(im, ax=ax, label=bar_label, fraction=0.046, pad=0.04)
    for (i, j), v in np.ndenumerate(values):
        if percent and v == 0:
            continue
        label = (f"{v:.1f}" if v < 99.95 else "100") if percent else f"{int(v):d}"
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


def confusion_matrix(matrix: np.ndarray, out, *, fmt: str = "png", pdf=None) -> Path:
    """True (rows) vs predicted (columns) classes: counts on the left, each row as
    a share of its true class on the right. Colour shows only the errors; the
    diagonal (correct answers, on grey) would otherwise swamp them."""
    matrix = np.asarray(matrix)
    shares = 100 * matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(13, 5.4))
        _matrix_panel(fig, axes[0], matrix, "Counts", "errors", percent=False)
        _matrix_panel(fig, axes[1], shares, "Share of each true digit (%)", "% of true digit", True)
        errors = int(matrix.sum() - np.trace(matrix))
        fig.suptitle(
            f"Confusion matrix ({errors:,} errors in {int(matrix.sum()):,} images; "
            "grey diagonal: correct)"
        )
        return _save(fig, out, "confusion_matrix", fmt, pdf)


def per_class_errors(y_true, y_pred, out, *, fmt: str = "png", pdf=None) -> Path:
    """Error rate per true digit (`metrics.class_errors`), each bar labelled with
    errors/images and the digit it is most often mistaken for."""
    e = metrics.class_errors(y_true, y_pred)
    rate = 100 * e.rate
    overall = 100 * e.errors.sum() / max(e.support.sum(), 1)
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.bar(range(NUM_CLASSES), rate, color=COLORS[0])
        ax.axhline(overall, color=COLORS[3], linestyle="--", label=f"all digits: {overall:.2f}%")
        top = max(rate.max(), overall, 1e-3)
        for d in range(NUM_CLASSES):
            note = f"{e.errors[d]}/{e.support[d]}"
            if e.errors[d]:
                note += f"\nmostly {e.confused_with[d]}"
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
    """The wrongly classified images the model was most sure about
    (`metrics.confident_mistakes`), with their true label and the answer."""
    y_pred = probabilities.argmax(axis=1)
    order = metrics.confident_mistakes(probabilities, y_true, count)
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


def reliability_diagram(
    probabilities, labels, out, *, bins: int = 15, fmt: str = "png", pdf=None
) -> Path:
    """Calibration: accuracy vs confidence per bin (`metrics.calibration_bins`;
    the diagonal is perfect calibration) beside how many predictions fall in
    each bin; the expected calibration error is in the title."""
    b = metrics.calibration_bins(probabilities, labels, bins)
    ece = metrics.expected_calibration_error(probabilities, labels, bins)
    width = 1.0 / bins
    centers = b.edges[:-1] + width / 2
    used = b.count > 0
    low = np.minimum(b.accuracy, b.confidence)[used]
    gap = np.abs(b.accuracy - b.confidence)[used]
    with plt.style.context(STYLE):
        fig, (ax, ax_count) = plt.subplots(1, 2, figsize=(11, 4.4))
        ax.bar(centers[used], b.accuracy[used], width, edgecolor="white", label="accuracy")
        ax.bar(
            centers[used],
            gap,
            width,
            bottom=low,
            color="none",
            edgecolor=COLORS[3],
            hatch="//",
            label="gap to confidence",
        )
        ax.plot([0, 1], [0, 1], color=COLORS[7], linestyle="--", label="perfect calibration")
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence (top probability)")
        ax.set(ylabel="accuracy", title=f"Reliability diagram (ECE {ece:.2%})")
        ax.legend(loc="upper left")
        ax_count.bar(centers, b.count, width, color=COLORS[5], edgecolor="white")
        ax_count.set(xlim=(0, 1), yscale="log" if b.count.max() > 0 else "linear")
        ax_count.set(xlabel="confidence (top probability)", ylabel="predictions")
        ax_count.set_title(f"Predictions per confidence bin ({bins} bins)")
        fig.suptitle(f"Calibration on {len(labels):,} images: expected calibration error {ece:.2%}")
        fig.tight_layout()
        return _save(fig, out, "calibration", fmt, pdf)


# -- inside the model -------------------------------------------------------------------------


def first_layer_filters(kernels, out, *, layer: str = "", fmt: str = "png", pdf=None) -> Path:
    """Kernels (filters, h, w) of a first convolution (`introspection.first_layer_kernels`)
    as small images, on one colour scale centred on zero (orange: positive
    weights, purple: negative); `layer` names the layer in the title."""
    kernels = np.asarray(kernels, float)
    count, h, w = kernels.shape
    cols = min(8, count)
    rows = int(np.ceil(count / cols))
    limit = float(np.abs(kernels).max()) or 1.0
    cmap = matplotlib.colormaps["PuOr_r"].with_extremes(bad="#c8c8c8")
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(cols * 0.9 + 1.4, rows * 0.9 + 0.8))
        im = ax.imshow(tile(kernels, cols, min_size=12), cmap=cmap, vmin=-limit, vmax=limit)
        _digit_axes(ax)
        fig.colorbar(im, ax=ax, label="weight", fraction=0.04, pad=0.02)
        ax.set_xlabel(f"kernels 0-{count - 1}, row by row", fontsize=8)
        name = f"{layer}, " if layer else ""
        fig.suptitle(f"First-layer filters: {name}{count} kernels of {h}x{w}")
        return _save(fig, out, "first_layer_filters", fmt, pdf)


def _strongest_channels(fmap: np.ndarray, channels: int) -> np.ndarray:
    """The `channels` most active channels of a (h, w, c) map as (channels, h, w),
    each scaled to 0-1 on its own range."""
    strongest = np.argsort(-fmap.mean(axis=(0, 1)))[:channels]
    chosen = np.moveaxis(fmap[..., strongest], -1, 0)
    low = chosen.min(axis=(1, 2), keepdims=True)
    span = chosen.max(axis=(1, 2), keepdims=True) - low
    return np.divide(chosen - low, span, out=np.zeros_like(chosen), where=span > 0)


def feature_maps(
    image, maps: list[tuple[str, np.ndarray]], out, *, channels: int = 16, fmt="png", pdf=None
) -> Path:
    """One digit (uint8 28x28) and its feature maps (`introspection.feature_maps`:
    (name, (h, w, c)) per layer): the `channels` most active channels of every
    layer, each scaled to its own range (bright = strong response)."""
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
        for ax, (name, fmap) in zip(axes[:, 1], maps, strict=True):
            shown = _strongest_channels(fmap, channels)
            ax.imshow(tile(shown, cols, min_size=20), cmap=cmap, vmin=0, vmax=1)
            h, w, c = fmap.shape
            ax.set_title(f"{name}: {h}x{w}x{c}, the {len(shown)} most active channels", fontsize=9)
            for spine in ax.spines.values():
                spine.set_visible(False)
        fig.suptitle("Feature maps of one digit, layer by layer")
        return _save(fig, out, "feature_maps", fmt, pdf)


def occlusion_maps(
    images, labels, maps, predicted, out, *, patch: int = 7, fmt: str = "png", pdf=None
) -> Path:
    """Occlusion sensitivity (`introspection.occlusion_sensitivity`: `maps` and
    `predicted` classes, for `patch` x `patch` squares) of a few digits: each
    digit above, and below it where erasing a patch lowers (orange) or raises
    (purple) the log-probability of the predicted class, with the digit's
    outline on top. Each map has its own scale (its largest effect is printed
    under it): a confident, correct prediction moves far less than a mistake,
    and one shared scale would show it blank."""
    images = np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28)
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


def _scatter_digits(ax, points: np.ndarray, labels: np.ndarray) -> None:
    """Points in each digit's colour and marker, the digit written at its median."""
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
        outline = [patheffects.withStroke(linewidth=3, foreground="white")]
        ax.text(
            cx,
            cy,
            str(d),
            fontsize=14,
            fontweight="bold",
            ha="center",
            va="center",
            path_effects=outline,
        )


def embedding(projection, labels, out, *, fmt: str = "png", pdf=None) -> Path:
    """2-D maps of feature vectors (`introspection.embed`: an `Embedding`), PCA on
    the left and t-SNE on the right, one colour and marker per digit.
    Well-separated clusters mean the last layer has an easy job; stray points
    are the hard images."""
    labels = np.asarray(labels)
    variance = projection.variance
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(13, 6))
        titles = (
            f"PCA (PC1 {variance[0]:.0%}, PC2 {variance[1]:.0%} of variance)",
            "t-SNE (neighbourhoods kept; distances between clusters mean little)",
        )
        for ax, points, title in zip(axes, (projection.pca, projection.tsne), titles, strict=True):
            _scatter_digits(ax, points, labels)
            ax.set(title=title, xticks=[], yticks=[])
            ax.grid(False)
        axes[0].set(xlabel="PC1", ylabel="PC2")
        axes[1].set(xlabel="t-SNE 1", ylabel="t-SNE 2")
        axes[1].legend(title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2.5)
        fig.suptitle(
            f"Penultimate-layer features of {len(labels):,} test images "
            f"({projection.dimensions:,} dimensions) in 2-D"
        )
        return _save(fig, out, "embedding", fmt, pdf)
