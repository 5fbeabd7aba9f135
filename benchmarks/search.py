"""What does ASHA save a search? The same trials with and without it.

A search (`mnist_cnn.tuning.tune`, Optuna's TPE) runs `--trials` trials with ASHA
stopping the ones that trail; then the very same trials (their drawn options tried
first, in the same order) run again, each to its last epoch. Printed: wall time,
epochs trained, the best validation loss and the trial that reached it, for each.
The test set is not used.

    python benchmarks/search.py                          # 16 trials, 6 epochs, 15,000 images
    python benchmarks/search.py --trials 4 --epochs 2 --limit 2000   # a quick look
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import tempfile
import time
from pathlib import Path

from mnist_cnn import runs, tuning
from mnist_cnn.runs import cpu_name, library_versions


def summary(search_dir: Path, seconds: float) -> dict:
    """Wall time, epochs trained, and the best trial of a finished search."""
    with open(search_dir / tuning.TABLE_FILE) as f:
        rows = list(csv.DictReader(f))
    return {
        "seconds": seconds,
        "epochs": sum(int(r["epochs"]) for r in rows),
        "stopped": sum(r["status"] == "stopped early" for r in rows),
        "best": min(rows, key=lambda r: float(r["best val_loss"] or "inf")),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="default", help="search space (default: default)")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=6, help="each trial's most epochs")
    parser.add_argument("--limit", type=int, default=15_000, help="training images per trial")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", help="keep the searches here (default: a temporary folder)")
    args = parser.parse_args(argv)

    versions = library_versions()
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} CPU cores, {platform.system()}, Python "
        f"{versions['python']}, Keras {versions['keras']} on {versions['keras_backend']}"
    )
    print(
        f"search: space {args.space!r}, {args.trials} trials of at most {args.epochs} epochs "
        f"on {args.limit:,} training images, 1 CPU each, seed {args.seed}\n"
    )
    with tempfile.TemporaryDirectory() as scratch:
        runs_dir = args.runs_dir or scratch
        common = dict(trials=args.trials, epochs=args.epochs, limit=args.limit, seed=args.seed)
        started = time.perf_counter()
        asha = tuning.tune(args.space, runs_dir=runs_dir, name="with-asha", **common)
        with_asha = summary(asha, time.perf_counter() - started)
        # The same options, in the same order, each trial run to its end.
        keys = list(runs.read_json(asha / tuning.SEARCH_FILE)["space"])  # the drawn options
        first = [{k: _parsed(r[k]) for k in keys} for r in _in_order(asha, with_asha["rows"])]
        started = time.perf_counter()
        full = tuning.tune(
            args.space, runs_dir=runs_dir, name="to-the-end", asha=False, first=first, **common
        )
        to_the_end = summary(full, time.perf_counter() - started)

    print("\n| search | wall time s | epochs trained | trials stopped early | best val_loss "
          "| best trial's options |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, s in (("with ASHA", with_asha), ("every trial to the end", to_the_end)):
        options = ", ".join(
            f"{k} {_parsed(s['best'][k]):.4g}"
            if isinstance(_parsed(s["best"][k]), float)
            else f"{k} {s['best'][k]}"
            for k in keys
        )
        print(
            f"| {name} | {s['seconds']:.0f} | {s['epochs']} | {s['stopped']} "
            f"| {float(s['best']['best val_loss']):.4f} | {options} |"
        )
    return 0


def _in_order(search_dir: Path, rows: list[dict]) -> list[dict]:
    """`rows` in the order Tune made their trials (Ray names each trial's folder
    run_trial_<id>_<number>_<options>)."""
    number = {}
    for folder in (search_dir / "ray").glob("run_trial_*"):
        _, _, trial, index, *_ = folder.name.split("_")
        number[trial] = int(index)
    return sorted(rows, key=lambda r: number.get(r["trial"], len(number)))


def _parsed(text: str):
    """A CSV cell back as the number or name it was."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


if __name__ == "__main__":
    raise SystemExit(main())
