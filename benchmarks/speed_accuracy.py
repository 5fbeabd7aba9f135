"""Speed and accuracy of the presets against the Keras "Simple MNIST convnet" example.

Trains, in one invocation and on the same data split, the Keras example
(https://keras.io/examples/vision/mnist_convnet/: Conv32-Pool-Conv64-Pool-
Dropout0.5-Dense10, Adam, batch 128, 15 epochs) and each preset, for several
seeds, then prints one table: test accuracy, seconds of training to reach 99.0%
and 99.5% test accuracy, total `fit` time, the share of the CPU's peak that
training used, inference images/s, and each figure's ratio to the Keras example.

The share of the peak: multiply-adds per second during `fit` (a training image
costs about three forward passes, a validation image one, `count_macs` each)
against what the CPU's cores could do at their clock, from its flags: 2 fused
multiply-adds per cycle of 16 float32 lanes with AVX-512, 8 with AVX2, twice
that in bfloat16 with AVX512_BF16 (an upper bound: AMD's Zen 4 runs AVX-512 at
half that width).

Model selection and early stopping use the validation split only. The test set
is scored at each epoch's end by a benchmark-only callback, purely to measure
time-to-accuracy; its own time is subtracted from the training time.

    python benchmarks/speed_accuracy.py                 # fast and default, 3 seeds
    python benchmarks/speed_accuracy.py --quick         # a smoke run in about a minute
    python benchmarks/speed_accuracy.py --presets cnn --seeds 1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from mnist_cnn import data, models, runs
from mnist_cnn.backend import keras
from mnist_cnn.config import PRESETS, TrainConfig
from mnist_cnn.evaluation import predict_probabilities
from mnist_cnn.preprocessing import one_hot, preprocess
from mnist_cnn.training import train

TARGETS = (0.99, 0.995)


class TestAccuracyClock(keras.callbacks.Callback):
    """Benchmark only: test accuracy and training time at every epoch's end.
    The time spent here is excluded from the training time it reports."""

    def __init__(self, x_test: np.ndarray, y_test: np.ndarray):
        super().__init__()
        self.x_test, self.y_test = x_test, y_test
        self.points: list[tuple[float, float]] = []  # (training seconds, test accuracy)

    def on_train_begin(self, logs=None):
        self.start, self.own = time.perf_counter(), 0.0

    def on_epoch_end(self, epoch, logs=None):
        t0 = time.perf_counter()
        accuracy = float(
            (predict_probabilities(self.model, self.x_test).argmax(1) == self.y_test).mean()
        )
        self.points.append((t0 - self.start - self.own, accuracy))
        self.own += time.perf_counter() - t0

    def time_to(self, target: float) -> float | None:
        """Training seconds until the test accuracy first reached `target`, if it did."""
        return next((seconds for seconds, accuracy in self.points if accuracy >= target), None)


def cpu_clock(cpuinfo: str = "/proc/cpuinfo") -> float:
    """The CPU's clock in Hz (the fastest core's, as Linux reports it); 0 if unknown."""
    return 1e6 * max(map(float, runs.cpuinfo("cpu MHz", cpuinfo)), default=0.0)


def peak_macs_per_second(precision: str, cpuinfo: str = "/proc/cpuinfo") -> float | None:
    """Multiply-adds per second all cores could do, as the module says; None where
    Linux does not say (no /proc/cpuinfo)."""
    flags = models.cpu_flags(cpuinfo)
    lanes = 16 if "avx512f" in flags else 8 if {"avx2", "fma"} <= flags else 4
    per_cycle = 2 * lanes * (2 if precision == "mixed_bfloat16" and "avx512_bf16" in flags else 1)
    return per_cycle * cpu_clock(cpuinfo) * len(os.sched_getaffinity(0)) or None


def training_macs_per_second(model, images: int, validation: int, epochs: int, seconds: float):
    """Multiply-adds per second of `fit`: three forward passes a training image, one a
    validation image."""
    return models.count_macs(model) * (3 * images + validation) * epochs / seconds


def images_per_second(model, images: np.ndarray, repeats: int = 3) -> float:
    predict_probabilities(model, images[:2000], batch_size=2000)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        predict_probabilities(model, images, batch_size=2000)
        best = min(best, time.perf_counter() - start)
    return len(images) / best


def run_keras_example(mnist, epochs: int, seed: int, clock: TestAccuracyClock) -> dict:
    keras.utils.set_random_seed(seed)
    model = models.original(dropout=0.5)  # the Keras example's network
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(
        preprocess(mnist.x_train),
        one_hot(mnist.y_train),
        batch_size=128,
        epochs=epochs,
        validation_data=(preprocess(mnist.x_val), one_hot(mnist.y_val)),
        callbacks=[clock],
        verbose=0,
    )
    fit_seconds = time.perf_counter() - start - clock.own
    return {
        "accuracy": clock.points[-1][1],
        "fit_seconds": fit_seconds,
        "model": model,
        "epochs": epochs,
        "precision": "float32",
    }


def run_preset(preset: str, mnist, seed: int, clock, runs_dir: str, overrides: dict) -> dict:
    config = TrainConfig.from_preset(preset, seed=seed, runs_dir=runs_dir, **overrides)
    run_dir = train(config, verbose=0, extra_callbacks=[clock])
    metrics = runs.read_metrics(run_dir)
    return {
        "accuracy": metrics.test_accuracy,
        "fit_seconds": metrics.train_seconds - clock.own,
        "model": runs.load_model(run_dir),
        "epochs": metrics.epochs_run,
        "precision": runs.read_json(run_dir / runs.CONFIG_FILE)["config"]["precision"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    number_models = models.NUMBER_MODELS
    digit_presets = [p for p in PRESETS if TrainConfig.from_preset(p).model not in number_models]
    parser.add_argument("--presets", nargs="+", default=["fast", "default"], choices=digit_presets)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 seed, 1 epoch, 5,000 images")
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    overrides = {"data_dir": args.data_dir} | ({"epochs": 1, "limit": 5000} if args.quick else {})
    seeds = range(1 if args.quick else args.seeds)
    mnist = data.load_mnist(args.data_dir, limit=overrides.get("limit"))
    example_epochs = 1 if args.quick else 15

    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as runs_dir:
        for seed in seeds:
            for name in ["keras example", *args.presets]:
                clock = TestAccuracyClock(mnist.x_test, mnist.y_test)
                print(f"[seed {seed}] training {name} ...", flush=True)
                if name == "keras example":
                    result = run_keras_example(mnist, example_epochs, seed, clock)
                else:
                    result = run_preset(name, mnist, seed, clock, runs_dir, overrides)
                result["to"] = [clock.time_to(target) for target in TARGETS]
                model = result.pop("model")
                seen = len(mnist.x_train), len(mnist.x_val), result["epochs"]
                macs = training_macs_per_second(model, *seen, result["fit_seconds"])
                peak = peak_macs_per_second(result["precision"])
                result["peak_share"] = macs / peak if peak else None
                result["images_per_second"] = images_per_second(model, mnist.x_test)
                rows.setdefault(name, []).append(result)

    print_table(rows, args, len(seeds))


def print_table(rows: dict[str, list[dict]], args, n_seeds: int) -> None:
    def mean(values):
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None

    summary = {}
    for name, results in rows.items():
        summary[name] = {
            "accuracy": mean([r["accuracy"] for r in results]),
            "accuracy_sd": float(np.std([r["accuracy"] for r in results])),
            "to": [[r["to"][i] for r in results] for i in range(len(TARGETS))],
            "fit": mean([r["fit_seconds"] for r in results]),
            "peak": mean([r["peak_share"] for r in results]),
            "ips": mean([r["images_per_second"] for r in results]),
        }
    base = summary["keras example"]

    def fmt(value, spec, suffix=""):
        return "-" if value is None else f"{value:{spec}}{suffix}"

    def reached(seconds: list[float | None]) -> str:
        """Mean seconds to a target over the runs that reached it, and how many did."""
        got = [s for s in seconds if s is not None]
        runs_note = f" ({len(got)}/{n_seeds} runs)" if len(got) < n_seeds else ""
        return fmt(mean(got), ".1f") + runs_note

    print(
        f"\nMNIST test set, mean of {n_seeds} seed(s){' (--quick)' if args.quick else ''}; "
        f"{runs.cpu_name()}, {len(os.sched_getaffinity(0))} cores, "
        f"bfloat16 instructions: {'yes' if models.cpu_has_bfloat16() else 'no'}; "
        f"Keras {keras.__version__} on {keras.backend.backend()}"
    )
    header = [
        "model",
        "test accuracy",
        *(f"s to {target:.1%}" for target in TARGETS),
        "fit s",
        "CPU peak used",
        "images/s",
        "fit time vs example",
        "images/s vs example",
    ]
    table = [header]
    for name, s in summary.items():
        table.append(
            [
                name,
                f"{fmt(s['accuracy'], '.2%')} ± {s['accuracy_sd']:.2%}",
                *(reached(seconds) for seconds in s["to"]),
                f"{s['fit']:.1f}",
                fmt(s["peak"], ".1%"),
                f"{s['ips']:,.0f}",
                f"{s['fit'] / base['fit']:.2f}x",
                f"{s['ips'] / base['ips']:.2f}x",
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


if __name__ == "__main__":
    main()
