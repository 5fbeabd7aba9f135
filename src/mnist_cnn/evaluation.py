"""Step 6: test. Accuracy, loss, per-class scores, confusion matrix, mistakes.

>>> from mnist_cnn.evaluation import evaluate_run
>>> metrics = evaluate_run("runs/cnn-20260101-120000")   # doctest: +SKIP
>>> metrics["test_accuracy"]                              # doctest: +SKIP
0.9951
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from mnist_cnn import ctc, data, inference, plots, runs
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.imaging import strip
from mnist_cnn.inference import TTA_DEGREES, tta_probabilities
from mnist_cnn.numbers import number_strips
from mnist_cnn.preprocessing import NUM_CLASSES, preprocess


def predict_probabilities(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities (N, 10) for uint8 images (N, 28, 28)."""
    x = preprocess(images)
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)


def score(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, crossentropy loss, per-class precision/recall/F1 and the
    confusion matrix of predicted probabilities against true labels."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    predicted = probabilities.argmax(axis=1)
    p_true = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=range(NUM_CLASSES), zero_division=0
    )
    metrics = runs.RunMetrics(
        test_accuracy=float((predicted == labels).mean()),
        test_loss=float(-np.log(p_true).mean()),
        test_errors=int((predicted != labels).sum()),
        per_class={
            str(d): {
                "precision": float(precision[d]),
                "recall": float(recall[d]),
                "f1": float(f1[d]),
                "support": int(support[d]),
            }
            for d in range(NUM_CLASSES)
        },
    )
    matrix = confusion_matrix(labels, predicted, labels=range(NUM_CLASSES)).tolist()
    return metrics.to_dict() | {"confusion_matrix": matrix}


def format_table(metrics: dict | runs.RunMetrics) -> str:
    """A compact text table of the test results (`score`'s or `evaluate_run`'s)."""
    if isinstance(metrics, dict):
        metrics = runs.RunMetrics.from_dict(metrics)
    lines = [
        f"test accuracy {metrics.test_accuracy:.2%}  "
        f"({metrics.test_errors} errors)  test loss {metrics.test_loss:.4f}",
    ]
    if metrics.test_accuracy_tta is not None:
        lines.append(
            f"with test-time augmentation (each digit also turned {TTA_DEGREES:g} degrees "
            "either way, as `predict` reads): "
            f"{metrics.test_accuracy_tta:.2%} "
            f"({metrics.test_errors_tta} errors)"
        )
    lines += [
        "",
        f"{'digit':>5}{'precision':>11}{'recall':>9}{'f1':>9}{'support':>9}",
    ]
    for digit, s in metrics.per_class.items():
        lines.append(
            f"{digit:>5}{s['precision']:>11.4f}{s['recall']:>9.4f}{s['f1']:>9.4f}{s['support']:>9}"
        )
    return "\n".join(lines)


def writable_run_dir(model_file: Path, quiet: bool = False) -> Path | None:
    """Where `evaluate_run` writes by default: the model's run folder, or None for a
    loose model file and for the read-only model shipped in the package (said on
    stderr unless `quiet`)."""
    if inference.is_shipped(model_file):
        if not quiet:
            print(
                "mnist-cnn: the model shipped with the package is read-only: results are "
                "printed, not written; pass --out DIR to write them",
                file=sys.stderr,
            )
        return None
    return runs.run_dir_of(model_file)


def evaluate_run(
    path: str | os.PathLike,
    test_set: tuple[np.ndarray, np.ndarray] | None = None,
    data_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    quiet: bool = False,
) -> dict:
    """Evaluate a run folder or ``.keras`` file on the MNIST test set.

    Prints a table and, for a run folder (or when `out` is given), writes
    ``metrics.json`` (updated, not replaced), ``confusion_matrix.json`` and
    figures. The model shipped in the package is read-only: for it, files are
    written only where `out` says, never into the package. Returns the metrics.
    """
    model_file = runs.resolve_model_file(path)
    out = Path(out) if out is not None else writable_run_dir(model_file, quiet)
    if out is not None and out.resolve().is_relative_to(inference.DEFAULT_MODEL.parent.resolve()):
        raise MnistCnnError(
            f"--out {out} is in the folder of the model shipped with the package, which is "
            "read-only; choose another folder"
        )
    model = runs.load_model(model_file)
    if out is not None:
        runs.read_metrics(out)  # a broken metrics.json fails now, not after the work
    x_test, y_test = test_set if test_set is not None else data.load_test_set(data_dir)
    if len(model.output_shape) == 3:  # frames of CTC logits: a number model
        return _evaluate_numbers(model, x_test, y_test, out, quiet)
    probabilities = predict_probabilities(model, x_test)
    scores = score(probabilities, y_test)
    matrix = scores.pop("confusion_matrix")
    metrics = runs.RunMetrics.from_dict(scores)
    # Also as `mnist-cnn predict` and the server read digits: with test-time augmentation.
    read = tta_probabilities(model.predict_on_batch, x_test).argmax(axis=1)
    metrics.test_accuracy_tta = float((read == y_test).mean())
    metrics.test_errors_tta = int((read != y_test).sum())
    metrics.params = model.count_params()
    if not quiet:
        print(format_table(metrics))

    if out is None:
        return metrics.to_dict() | {"confusion_matrix": matrix}
    out.mkdir(parents=True, exist_ok=True)
    runs.write_json(
        out / "confusion_matrix.json",
        {"rows": "true digit", "columns": "predicted digit", "matrix": matrix},
    )
    recorded = runs.add_metrics(out, metrics)
    figures = out / runs.FIGURES_DIR
    plots.confusion_matrix(np.array(matrix), figures)
    plots.confident_mistakes(x_test, y_test, probabilities, figures)
    if not quiet:
        print(f"\nResults written to {out}")
    return recorded | {"confusion_matrix": matrix}


# -- Number models ---------------------------------------------------------------------------

TEST_NUMBERS = 5_000  # numbers composed of the test digits, to score a number model on
TEST_SEED = 20_000  # their layouts: fixed, and unlike any training seed in use


def score_numbers(
    model, x_test: np.ndarray, y_test: np.ndarray, count: int = TEST_NUMBERS
) -> runs.RunMetrics:
    """Whole numbers and digits read right by a number model, on `count` numbers of
    1-8 digits composed of the test digits (`mnist_cnn.numbers`, seed `TEST_SEED`)."""
    strips, _, texts = number_strips(x_test, y_test, count, TEST_SEED)
    x = preprocess(strips, strip.SIZE)
    logits = np.asarray(model.predict(x, batch_size=256, verbose=0), np.float32)
    read = [ctc.read(frames) for frames in logits]
    errors = sum(r != t for r, t in zip(read, texts, strict=True))
    wrong_digits = sum(ctc.edit_distance(r, t) for r, t in zip(read, texts, strict=True))
    return runs.RunMetrics(
        test_accuracy=1 - errors / count,
        test_errors=errors,
        # 1 - the digit error rate; spurious digits can push that below 0.
        test_digit_accuracy=max(0.0, 1 - wrong_digits / sum(len(t) for t in texts)),
    )


def _evaluate_numbers(
    model, x_test: np.ndarray, y_test: np.ndarray, out: Path | None, quiet: bool
) -> dict:
    """`evaluate_run` for a number model: `score_numbers`, printed and recorded."""
    metrics = score_numbers(model, x_test, y_test)
    metrics.params = model.count_params()
    if not quiet:
        print(
            f"Test numbers read right: {metrics.test_accuracy:.2%} of {TEST_NUMBERS:,} "
            f"({metrics.test_errors} wrong); digits: {metrics.test_digit_accuracy:.2%}"
        )
    if out is None:
        return metrics.to_dict()
    out.mkdir(parents=True, exist_ok=True)
    return runs.add_metrics(out, metrics)
