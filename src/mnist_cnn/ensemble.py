"""Ensembles: several trained models that vote by averaging their probabilities.

The ensemble is saved as one ordinary Keras model (the members side by side,
then an `Average` layer), so `evaluate`, `predict`, `serve` and `board` use it
like any other run.

>>> from mnist_cnn.ensemble import make_ensemble
>>> run_dir = make_ensemble(["runs/a", "runs/b", "runs/c"], name="abc")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mnist_cnn import data, evaluation, runs
from mnist_cnn.backend import keras
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import INPUT_SHAPE


def average_models(members: list[keras.Model]) -> keras.Model:
    """One model whose output is the mean of the members' class probabilities."""
    if len(members) < 2:
        raise MnistCnnError(f"an ensemble needs at least 2 members, got {len(members)}")
    inputs = keras.Input(INPUT_SHAPE)
    # Each member becomes one layer of the ensemble; Keras needs their names unique.
    outputs = []
    for i, member in enumerate(members):
        wrapped = keras.Model(member.inputs[0], member.outputs[0], name=f"member_{i}_{member.name}")
        outputs.append(wrapped(inputs))
    return keras.Model(inputs, keras.layers.Average()(outputs), name=f"ensemble_of_{len(members)}")


def make_ensemble(
    paths: list[str | os.PathLike],
    name: str | None = None,
    runs_dir: str | os.PathLike = "runs",
    data_dir: str | os.PathLike | None = None,
) -> Path:
    """Average the models in `paths` (run folders or ``.keras`` files), save the
    ensemble as a new run folder and evaluate it on the test set.

    Everything that can fail on the inputs is checked first; if saving or the
    evaluation fails after all, the new run folder is removed again."""
    files = [runs.resolve_model_file(p) for p in paths]
    if len({f.resolve() for f in files}) != len(files):
        raise MnistCnnError("the same model is named twice; an ensemble needs distinct members")
    model = average_models([runs.load_model(f) for f in files])
    # A member's figure that is missing or not a number reads as None: "unknown".
    member_metrics = [runs.read_metrics(f.parent) for f in files]
    member_accuracy = [m.test_accuracy for m in member_metrics]
    train_seconds = round(sum(m.train_seconds or 0 for m in member_metrics), 2)
    test_set = data.load_test_set(data_dir)

    run_dir = runs.create_run_dir(runs_dir, name, prefix="ensemble")
    try:
        runs.write_json(
            run_dir / runs.CONFIG_FILE,
            {
                "config": {"model": "ensemble", "members": [str(f) for f in files]},
                "versions": runs.library_versions(),
            },
        )
        runs.atomic_write(run_dir / runs.MODEL_FILE, model.save)
        metrics = runs.RunMetrics(
            model="ensemble",
            train_seconds=train_seconds,
            members=len(files),
            member_test_accuracy=member_accuracy,
            model_sha256=runs.file_sha256(run_dir / runs.MODEL_FILE),
        )
        runs.add_metrics(run_dir, metrics)
        print(f"Ensemble of {len(files)} models saved to {run_dir}")
        accuracies = ", ".join("unknown" if a is None else f"{a:.2%}" for a in member_accuracy)
        print(
            f"Members' test accuracy: {accuracies}; "
            f"their training time: {train_seconds:,.0f} s in all"
        )
        evaluation.evaluate_run(run_dir, test_set)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # no half-made run to trip over
        raise
    return run_dir
