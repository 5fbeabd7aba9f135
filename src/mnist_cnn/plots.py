"""Matplotlib figures, one function each, written to PNG files.

Every function takes plain arrays and a folder (or file path), saves its figure
and returns the path, so callers never touch Matplotlib state.

>>> import numpy as np
>>> path = sample_grid(np.zeros((4, 28, 28), np.uint8), np.arange(4), "/tmp/figs")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# Okabe-Ito: distinguishable with every common form of colour blindness.
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=COLORS),
    "image.cmap": "gray",
}


def _save(fig: plt.Figure, out: str | os.PathLike, filename: str) -> Path:
    out = Path(out)
    path = out / filename if out.suffix == "" else out
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def _digit_axes(axes) -> None:
    for ax in np.ravel(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)


def read_history(path: str | os.PathLike) -> dict[str, list[float]]:
    """A CSVLogger file as {column: values}, epochs counted from 1."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    history = {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else [])}
    if "epoch" in history:
        history["epoch"] = [int(e) + 1 for e in history["epoch"]]
    return history


def learning_curves(history: dict[str, list[float]], best_epoch: int | None, out) -> Path:
    """Loss, accuracy and learning rate per epoch, train vs validation, with the
    best (checkpointed) epoch marked."""
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        epochs = history["epoch"]
        for ax, metric in zip(axes[:2], ("loss", "accuracy"), strict=True):
            ax.plot(epochs, history[metric], marker=".", label="train")
            ax.plot(epochs, history[f"val_{metric}"], marker=".", label="validation")
            ax.set(xlabel="epoch", ylabel=metric, title=metric.capitalize())
        if "learning_rate" in history:
            axes[2].plot(epochs, history["learning_rate"], marker=".", color=COLORS[2])
            axes[2].set_yscale("log")
        axes[2].set(xlabel="epoch", ylabel="learning rate", title="Learning rate")
        if best_epoch is not None:
            for ax in axes:
                ax.axvline(best_epoch, color=COLORS[3], linestyle="--", label="best (checkpoint)")
        axes[0].legend()
        return _save(fig, out, "learning_curves.png")


def confusion_matrix(matrix: np.ndarray, out) -> Path:
    """Counts of true (rows) vs predicted (columns) classes; the diagonal is dimmed
    so that the errors stand out."""
    matrix = np.asarray(matrix)
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 5.6))
        im = ax.imshow(off, cmap="cividis")
        fig.colorbar(im, ax=ax, label="errors")
        for (i, j), v in np.ndenumerate(matrix):
            color = "gray" if i == j else ("black" if off[i, j] > off.max() / 2 else "white")
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color=color)
        ax.set(
            xticks=range(10),
            yticks=range(10),
            xlabel="predicted",
            ylabel="true",
            title="Confusion matrix (diagonal: correct)",
        )
        ax.grid(False)
        return _save(fig, out, "confusion_matrix.png")


def confident_mistakes(images, y_true, probabilities, out, count: int = 16) -> Path:
    """The wrongly classified images the model was most sure about."""
    y_pred = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(y_pred != y_true)
    order = wrong[np.argsort(-probabilities[wrong, y_pred[wrong]])][:count]
    cols = 8
    rows = max(1, int(np.ceil(len(order) / cols)))
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.4, rows * 1.7), squeeze=False)
        _digit_axes(axes)
        for ax in axes.ravel()[len(order) :]:
            ax.axis("off")
        for ax, i in zip(axes.ravel()[: len(order)], order, strict=True):
            ax.imshow(images[i], vmin=0, vmax=255)
            ax.set_title(
                f"true {y_true[i]}\npred {y_pred[i]} {probabilities[i, y_pred[i]]:.0%}", fontsize=8
            )
        fig.suptitle("Most confident mistakes")
        return _save(fig, out, "confident_mistakes.png")


def sample_grid(images, labels, out, count: int = 40) -> Path:
    """The first `count` images with their labels."""
    cols = 10
    rows = int(np.ceil(min(count, len(images)) / cols))
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.3), squeeze=False)
        _digit_axes(axes)
        for i, ax in enumerate(axes.ravel()):
            if i >= len(images):
                ax.axis("off")
                continue
            ax.imshow(images[i], vmin=0, vmax=255)
            ax.set_title(str(labels[i]), fontsize=9)
        fig.suptitle("Sample training images and labels")
        return _save(fig, out, "samples.png")


def class_distribution(labels_by_split: dict[str, np.ndarray], out) -> Path:
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
        ax.legend()
        return _save(fig, out, "class_distribution.png")


def mean_images(images, labels, out) -> Path:
    """The average image of each digit: where the ink usually is."""
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(1, 10, figsize=(12, 1.8))
        _digit_axes(axes)
        for digit, ax in enumerate(axes):
            ax.imshow(images[labels == digit].mean(axis=0), cmap="magma")
            ax.set_title(str(digit))
        fig.suptitle("Mean image per class")
        return _save(fig, out, "mean_images.png")


def pixel_histogram(images, out) -> Path:
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
        return _save(fig, out, "pixel_histogram.png")
