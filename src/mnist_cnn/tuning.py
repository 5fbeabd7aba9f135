"""Hyperparameter search on Ray Tune: ``mnist-cnn tune``.

A search tries options for ``mnist-cnn train`` drawn from a search space. Each
trial is an ordinary training run (`mnist_cnn.training.train`) into the search's
``trials/<trial id>/`` folder. Optuna's TPE proposes each trial's options from the
results so far, and ASHA stops the trials whose validation loss trails the others'
at the same epoch, so that the CPUs go to the promising ones. The search ends with:

- a leaderboard: a table, ``leaderboard.csv`` and ``search.png``;
- ``best.json``, the best trial's options, which ``mnist-cnn train --config`` runs
  again.

Trials are ranked by their best validation loss, without label smoothing (which
alone raises the loss); the test set chooses nothing. All trials share one seed, so
they train and validate on the same split.

A search space is plain data: each option of ``mnist-cnn train`` either fixed (a
value) or drawn from a distribution, ``[kind, ...]``:

    ["loguniform", low, high]     ["uniform", low, high]
    ["randint", low, high]        ["choice", [a, b, ...]]

`SPACES` names the built-in ones; a TOML or JSON file holds another:

    lr = ["loguniform", 0.003, 0.03]
    model = ["choice", ["fast", "fast24"]]
    epochs = 8

Ray runs the trials on this machine or on a cluster (`mnist_cnn.cluster`). A
trial on a node that dies is run again elsewhere (`FAILURES` times at most); a
search whose own process stopped continues with ``mnist-cnn tune --resume DIR``.

>>> sorted(read_space("default"))
['augment', 'batch_size', 'label_smoothing', 'lr', 'model']
>>> read_space({"lr": ["loguniform", 1e-3, 1e-2], "epochs": 2})["epochs"]
2
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import fields
from pathlib import Path

from mnist_cnn import cluster, runs
from mnist_cnn.config import PRESETS, TrainConfig, checked_option, parse_file
from mnist_cnn.errors import MnistCnnError

# The built-in search spaces. "default": the training options that moved the default
# preset most (docs/experiments.md), and the strided design at two widths.
SPACES: dict[str, dict] = {
    "default": {
        "model": ["choice", ["fast", "fast24"]],
        "lr": ["loguniform", 0.003, 0.03],
        "batch_size": ["choice", [128, 256, 512]],
        "augment": ["uniform", 0.0, 1.0],
        "label_smoothing": ["uniform", 0.0, 0.2],
    },
}
KINDS = {"loguniform": 2, "uniform": 2, "randint": 2, "choice": 1}  # and their arguments
# Options that say where a run goes, not how it trains: the search sets them.
NOT_SEARCHED = {"preset", "name", "runs_dir", "data_dir", "tensorboard", "report"}
METRIC, MODE = "val_loss", "min"
FAILURES = 3  # times a trial is run again after its worker or node died
SEARCH_FILE, BEST_FILE, TABLE_FILE = "search.json", "best.json", "leaderboard.csv"


def read_space(space: str | os.PathLike | dict) -> dict:
    """A search space, checked: the name of a built-in one (`SPACES`), a TOML or
    JSON file, or a dict. Raises `MnistCnnError` naming what is wrong."""
    if isinstance(space, dict):
        where, options = Path("search space"), dict(space)
    elif str(space) in SPACES:
        where, options = Path(str(space)), dict(SPACES[str(space)])
    else:
        where = Path(space)
        if not where.exists() and where.suffix not in (".toml", ".json"):
            raise MnistCnnError(
                f"unknown search space {str(space)!r}: name one of {', '.join(SPACES)}, "
                "or a .toml or .json file"
            )
        options = parse_file(where)
    known = {f.name for f in fields(TrainConfig)} - NOT_SEARCHED
    for key, value in options.items():
        if key not in known:
            raise MnistCnnError(
                f"{where}: {key!r} is not an option to search; choose from: "
                + ", ".join(sorted(known))
            )
        if key == "init" and isinstance(value, list):
            raise MnistCnnError(f"{where}: init is the weights every trial starts from: fix it")
        if isinstance(value, list):
            _check_distribution(where, key, value)
        else:
            options[key] = checked_option(where, key, value)
    if options.get("init") is not None:
        # Each trial runs in a folder of its own, where a relative path leads nowhere.
        options["init"] = str(runs.resolve_model_file(options["init"]).resolve())
    return options


def _check_distribution(where: Path, key: str, spec: list) -> None:
    """A `MnistCnnError` unless `spec` is ``[kind, arguments...]`` with values `key` takes."""
    kind, *arguments = spec if spec else [None]
    if kind not in KINDS or len(arguments) != KINDS[kind]:
        forms = ", ".join(
            f"[{k!r}, {'low, high' if n == 2 else '[values]'}]" for k, n in KINDS.items()
        )
        raise MnistCnnError(f"{where}: {key} = {spec!r} is not a distribution; use one of {forms}")
    values = arguments[0] if kind == "choice" else arguments
    if kind == "choice" and (not isinstance(values, list) or not values):
        raise MnistCnnError(f"{where}: {key}: choice needs a list of values, got {values!r}")
    for value in values:
        checked_option(where, key, value)
    if kind != "choice" and not values[0] < values[1]:
        raise MnistCnnError(f"{where}: {key}: low must be below high, got {values}")
    if kind == "loguniform" and values[0] <= 0:
        raise MnistCnnError(f"{where}: {key}: loguniform needs a positive low, got {values[0]}")


def split_space(space: dict) -> tuple[dict, dict]:
    """(fixed options, distributions as Ray Tune's sampling objects)."""
    from ray import tune

    fixed = {k: v for k, v in space.items() if not isinstance(v, list)}
    drawn = {}
    for key, (kind, *arguments) in ((k, v) for k, v in space.items() if isinstance(v, list)):
        drawn[key] = (
            tune.choice(arguments[0]) if kind == "choice" else getattr(tune, kind)(*arguments)
        )
    return fixed, drawn


def run_trial(drawn: dict, options: dict) -> None:
    """One trial, in a Ray worker: a training run with `options` and the `drawn` ones,
    each epoch's validation loss and accuracy reported to Tune."""
    from ray import tune

    from mnist_cnn.backend import keras
    from mnist_cnn.training import CROSSENTROPY, train

    cluster.limit_threads()
    where = cluster.node()

    class Report(keras.callbacks.Callback):
        # Ray's own Keras callbacks do not work with Keras 3; this is all Tune needs.
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            # Without label smoothing, which alone would rank smoothed trials lower.
            loss = logs.get(f"val_{CROSSENTROPY}", logs["val_loss"])
            tune.report(
                {
                    "epoch": epoch + 1,
                    "val_loss": float(loss),
                    "val_accuracy": float(logs.get("val_accuracy", float("nan"))),
                    "node": where,
                }
            )

    trial_dir = Path(options["runs_dir"]) / tune.get_context().get_trial_id()
    config = TrainConfig.from_preset(**(options | drawn | {"runs_dir": str(trial_dir)}))
    train(config, verbose=0, extra_callbacks=[Report()])


def tune(
    space: str | os.PathLike | dict = "default",
    preset: str = "default",
    trials: int = 16,
    epochs: int | None = None,
    time_budget: float | None = None,
    asha: bool = True,
    cpus_per_trial: int = 1,
    gpus_per_trial: float = 0,
    limit: int | None = None,
    seed: int = 0,
    address: str | None = None,
    name: str | None = None,
    runs_dir: str | os.PathLike = "runs",
    data_dir: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    first: list[dict] | None = None,
) -> Path:
    """Search the training options in `space` and return the search's folder.

    Args:
        space: a search space (`read_space`).
        preset: the options the search starts from; the space's override them.
        trials: how many trials to run (at most).
        epochs: each trial's most epochs (default: the preset's).
        time_budget: stop starting and running trials after this many seconds.
        asha: stop trials that trail the others early; False runs each to the end.
        cpus_per_trial: the CPUs (and TensorFlow threads) each trial gets.
        gpus_per_trial: the GPUs (or share of one) each trial gets; Ray hides the
            GPUs from a trial that asks for none.
        limit: train each trial on only this many images (quick searches).
        seed: of the split, the initial weights and Optuna's proposals.
        address: a Ray cluster's address (default: $RAY_ADDRESS, else this machine).
        name: the search's folder name in `runs_dir` (default: tune-<date>-<time>).
        runs_dir: where the search's folder goes.
        data_dir: where every node finds MNIST (default: each node's own search).
        resume: a search folder whose search stopped: continue it as it was set up.
        first: drawn options to try first, one dict per trial (the preset's own,
            or another search's trials), before TPE proposes its own.

    Example:
        >>> tune("default", trials=16, epochs=6)               # doctest: +SKIP
        PosixPath('runs/tune-20261204-210000')
    """
    cluster.require_ray()  # before any folder is made
    if resume is not None:
        search_dir = Path(resume).resolve()
        setup = runs.read_json(search_dir / SEARCH_FILE)
        if not setup:
            raise MnistCnnError(f"{search_dir} is not a search folder (no {SEARCH_FILE})")
    else:
        if preset not in PRESETS:
            raise MnistCnnError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
        if trials < 1 or cpus_per_trial < 1:
            raise MnistCnnError("trials and cpus per trial must be at least 1")
        checked = read_space(space)
        fixed, _ = split_space(checked)
        base = TrainConfig.from_preset(preset, **fixed)
        epochs = base.epochs if epochs is None else epochs
        options = fixed | {
            "preset": preset,
            "epochs": epochs,
            # ASHA stops trials; early stopping would end them at different epochs.
            "patience": max(1, epochs),
            "seed": seed,
            "limit": limit,
        }
        if data_dir is not None:
            options["data_dir"] = str(Path(data_dir).resolve())
        TrainConfig.from_preset(**options).check()
        search_dir = runs.create_run_dir(runs_dir, name, prefix="tune").resolve()
        options["runs_dir"] = str(search_dir / "trials")
        setup = {
            "space": {k: v for k, v in checked.items() if k not in fixed},
            "options": options,
            "trials": trials,
            "time_budget": time_budget,
            "asha": asha,
            "cpus_per_trial": cpus_per_trial,
            "gpus_per_trial": gpus_per_trial,
            "first": first or [],
        }
        runs.write_json(search_dir / SEARCH_FILE, setup)
    results = _search(search_dir, setup, address, resume is not None)
    rows = leaderboard(results, setup["options"]["epochs"])
    print(write_leaderboard(rows, search_dir))
    if rows and rows[0]["best val_loss"] is not None:
        best = write_best(rows[0], setup, search_dir)
        print(f"\nBest: {rows[0]['trial']}; its options are in {best}; train them again with:")
        print(f"  mnist-cnn train --config {best}")
    return search_dir


def _search(search_dir: Path, setup: dict, address: str | None, resume: bool):
    """Run (or continue) the search that `setup` describes; Ray Tune's results."""
    ray = cluster.connect(address)
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    options = setup["options"]
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, options=options),
        {"cpu": setup["cpus_per_trial"], "gpu": setup["gpus_per_trial"]},
    )
    path = str(search_dir / "ray")
    if resume:
        if not tune.Tuner.can_restore(path):
            raise MnistCnnError(f"{search_dir}: the search has no state to resume from")
        tuner = tune.Tuner.restore(path, trainable, resume_errored=True)
    else:
        _, drawn = split_space(setup["space"])
        epochs = options["epochs"]
        scheduler = (
            ASHAScheduler(max_t=epochs, grace_period=max(1, epochs // 4), reduction_factor=3)
            if setup["asha"]
            else FIFOScheduler()
        )
        tuner = tune.Tuner(
            trainable,
            param_space=drawn,
            tune_config=tune.TuneConfig(
                metric=METRIC,
                mode=MODE,
                search_alg=OptunaSearch(
                    points_to_evaluate=setup["first"] or None, seed=options["seed"]
                ),
                scheduler=scheduler,
                num_samples=setup["trials"],
                time_budget_s=setup["time_budget"],
            ),
            run_config=tune.RunConfig(
                name="ray",
                storage_path=str(search_dir),
                failure_config=tune.FailureConfig(max_failures=FAILURES),
                callbacks=[_progress(tune)],
                verbose=0,
            ),
        )
    started = time.perf_counter()
    try:
        results = tuner.fit()
    except KeyboardInterrupt:
        print(f"\nStopped. Continue the search with: mnist-cnn tune --resume {search_dir}")
        raise
    print(f"Search took {time.perf_counter() - started:.0f} s; Ray now has {_cpus(ray)}")
    return results


def _progress(tune):
    """A line per trial event, in place of Ray Tune's tables."""

    class Progress(tune.Callback):
        def on_trial_start(self, iteration, trials, trial, **info) -> None:
            drawn = ", ".join(f"{k} {_cell(_plain(v))}" for k, v in trial.config.items())
            print(f"trial {trial.trial_id} started: {drawn}", flush=True)

        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            print(
                f"trial {trial.trial_id} epoch {result['epoch']}: val_loss "
                f"{result['val_loss']:.4f}, val_accuracy {result['val_accuracy']:.4f} "
                f"({result['node']})",
                flush=True,
            )

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            print(f"trial {trial.trial_id} ended", flush=True)

        def on_trial_recover(self, iteration, trials, trial, **info) -> None:
            print(
                f"trial {trial.trial_id} failed (a node or worker died?); running it again",
                flush=True,
            )

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            print(f"trial {trial.trial_id} failed for good (see {TABLE_FILE})", flush=True)

    return Progress()


def _cpus(ray) -> str:
    """The CPUs and nodes Ray has now, for the search's last line."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    total = sum(n["Resources"].get("CPU", 0) for n in nodes)
    return f"{total:g} CPUs of {len(nodes)} node{'s' if len(nodes) != 1 else ''}"


def leaderboard(results, epochs: int) -> list[dict]:
    """One row per trial, best first: its status, epochs run, best validation loss
    (and the accuracy at that epoch), node, seconds, times it was run again after a
    failure, and drawn options; its curve of validation losses under "curve"."""
    rows = []
    for result in results:
        frame = result.metrics_dataframe
        reported = frame is not None and METRIC in frame
        # A trial run again (its node died) reports from epoch 1 again: keep the last run.
        starts = [] if not reported else [i for i, e in enumerate(frame["epoch"]) if e == 1]
        last = frame.iloc[starts[-1] :] if starts else None
        curve = [] if last is None else [float(v) for v in last[METRIC]]
        best = min(range(len(curve)), key=curve.__getitem__) if curve else None
        metrics = result.metrics or {}
        if result.error is not None:
            status = "error: " + str(result.error).strip().splitlines()[-1][:120]
        else:
            status = "completed" if len(curve) >= epochs else "stopped early"
        rows.append(
            {
                "trial": metrics.get("trial_id", Path(result.path).name),
                "status": status,
                "epochs": len(curve),
                "best val_loss": None if best is None else round(curve[best], 5),
                "val_accuracy": None
                if best is None
                else round(float(last["val_accuracy"].iloc[best]), 5),
                "node": metrics.get("node"),
                "seconds": round(float(metrics.get("time_total_s", 0.0)), 1),
                "retries": max(0, len(starts) - 1),
                **{k: _plain(v) for k, v in (result.config or {}).items()},
                "curve": curve,
            }
        )
    rows.sort(key=lambda r: (r["best val_loss"] is None, r["best val_loss"] or 0.0))
    return rows


def _plain(value):
    """A drawn value as the options file keeps it (NumPy scalars become Python's)."""
    return value.item() if hasattr(value, "item") else value


def write_leaderboard(rows: list[dict], search_dir: Path) -> str:
    """Write ``leaderboard.csv`` and ``search.png`` into `search_dir`; returns the table."""
    from mnist_cnn import plots

    columns = [k for k in (rows[0] if rows else {}) if k != "curve"]
    with open(search_dir / TABLE_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    curves = {r["trial"]: r["curve"] for r in rows if r["curve"]}
    figure = plots.search_curves(curves, rows[0]["trial"] if curves else None, search_dir)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
    return "\n".join(
        [
            f"Leaderboard of {len(rows)} trials (by best validation loss)",
            "",
            *lines,
            "",
            f"Written: {search_dir / TABLE_FILE}, {figure}",
        ]
    )


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_best(row: dict, setup: dict, search_dir: Path) -> Path:
    """The best trial's options as ``best.json``, for ``mnist-cnn train --config``:
    on all the training images, whatever share of them (`limit`) the search used."""
    left_out = (NOT_SEARCHED - {"preset"}) | {"limit"}
    options = {k: v for k, v in setup["options"].items() if k not in left_out}
    drawn = {k: row[k] for k in setup["space"]}
    path = search_dir / BEST_FILE
    runs.write_json(path, options | drawn)
    return path
