"""Ensembles: several trained models that vote by averaging their probabilities.

The ensemble is saved as one ordinary Keras model (the members side by side,
then an `Average` layer), so `evaluate`, `predict`, `serve` and `board` use it
like any other run. `train_members` trains the members first, side by side as
Ray tasks, on this machine or across a cluster (`mnist_cnn.cluster`).

>>> from mnist_cnn.ensemble import make_ensemble
>>> run_dir = make_ensemble(["runs/a", "runs/b", "runs/c"], name="abc")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from mnist_cnn import cluster, data, evaluation, runs
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


RETRIES = 3  # times a member is trained again after its worker or node died


def train_members(
    count: int,
    name: str,
    preset: str = "default",
    seed: int = 0,
    runs_dir: str | os.PathLike = "runs",
    address: str | None = None,
    cpus_per_member: int = 1,
    gpus_per_member: float = 0,
    **options: object,
) -> list[Path]:
    """Train `count` models of `preset` (seeds `seed`, `seed` + 1, ...) as Ray tasks,
    side by side wherever Ray has CPUs, into ``runs_dir/<name>-member-<i>`` (`name`:
    the ensemble's).

    Each member trains into a folder of its own node and comes back as files, so
    the nodes need no shared disk. A member whose node dies is trained again
    elsewhere; a member folder that is already complete (from an earlier call
    with the same `name` that stopped) is kept, not trained again.

    Args:
        gpus_per_member: GPUs (or a share of one) for each member; Ray hides the
            GPUs from a task that asks for none.
        **options: further training options for every member (``epochs``, ``limit``,
            ``data_dir``: where each node finds MNIST, ...).

    Returns:
        The members' run folders, in seed order.

    Example:
        >>> train_members(4, "four", preset="fast")             # doctest: +SKIP
        [PosixPath('runs/four-member-0'), ..., PosixPath('runs/four-member-3')]
    """
    from mnist_cnn.config import TrainConfig

    if count < 2:
        raise MnistCnnError(f"an ensemble needs at least 2 members, got {count}")
    folders = [Path(runs_dir) / f"{name}-member-{i}" for i in range(count)]
    configs = [TrainConfig.from_preset(preset, **options, seed=seed + i) for i in range(count)]
    for config in configs:
        config.check()
    to_train = [i for i, folder in enumerate(folders) if not _complete(folder)]
    if len(to_train) < count:
        print(f"{count - len(to_train)} of {count} members already trained; kept")
    if to_train:
        ray = cluster.connect(address)
        task = ray.remote(num_cpus=cpus_per_member, num_gpus=gpus_per_member, max_retries=RETRIES)(
            _train_member
        )
        pending = {task.remote(vars(configs[i])): i for i in to_train}
        print(f"Training {len(pending)} members of {preset!r} on Ray ({cpus_per_member} CPU each)")
        while pending:
            [done], _ = ray.wait(list(pending))
            i = pending.pop(done)
            files, where, seconds = ray.get(done)
            _write_run(folders[i], files)
            accuracy = runs.read_metrics(folders[i]).test_accuracy
            print(
                f"member {i} (seed {seed + i}) trained on {where} in {seconds:.0f} s: "
                f"test accuracy {'unknown' if accuracy is None else f'{accuracy:.2%}'}"
            )
    return folders


def _complete(folder: Path) -> bool:
    """Whether `folder` holds a finished run: its model, tested."""
    if not (folder / runs.MODEL_FILE).is_file():
        return False
    return runs.read_metrics(folder).test_accuracy is not None


def _train_member(options: dict) -> tuple[dict[str, bytes], str, float]:
    """In a Ray worker: train one member into a scratch folder and return its run
    folder's files (relative path -> bytes), the node and the seconds it took."""
    from mnist_cnn.config import TrainConfig
    from mnist_cnn.training import train

    cluster.limit_threads()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mnist-cnn-member-") as scratch:
        config = TrainConfig(**(options | {"runs_dir": scratch, "name": "member"}))
        run_dir = train(config, verbose=0)
        files = {
            str(path.relative_to(run_dir)): path.read_bytes()
            for path in run_dir.rglob("*")
            if path.is_file()
        }
    return files, cluster.node(), time.perf_counter() - started


def _write_run(folder: Path, files: dict[str, bytes]) -> None:
    """Write a member's files as `folder`, whole or not at all, its recorded options
    naming that folder rather than the node's scratch one."""
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    for relative, content in files.items():
        path = partial / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    record = runs.read_json(partial / runs.CONFIG_FILE)
    record["config"] |= {"name": folder.name, "runs_dir": str(folder.parent)}
    runs.write_json(partial / runs.CONFIG_FILE, record)
    shutil.rmtree(folder, ignore_errors=True)  # an incomplete folder of a stopped call
    partial.rename(folder)
