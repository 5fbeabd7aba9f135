"""Steps 4 and 5: compile and train, with callbacks, into a run folder.

>>> from mnist_cnn.config import TrainConfig
>>> from mnist_cnn.training import train
>>> run_dir = train(TrainConfig(model="original", epochs=2))   # doctest: +SKIP

`train` reads as its steps, one function each: load and preprocess MNIST, build
the model, compile it with Adam and categorical crossentropy, start the run
folder (see `mnist_cnn.runs`), make the callbacks (early stopping and
checkpointing on the validation split, ...), fit, save the results, and end by
evaluating the best checkpoint on the test set.

Beside the best checkpoint a run keeps a backup of its last epoch, weights and
optimizer state (``backup/``, Keras' `BackupAndRestore`), until it is complete:
``train(config, resume=run_dir)`` (``mnist-cnn train --resume RUN``) continues a run
that was stopped, by Ctrl-C or a killed process, to its planned epochs.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import signal
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from mnist_cnn import calibration, ctc, data, evaluation, inference, models, plots, runs
from mnist_cnn.backend import keras
from mnist_cnn.config import TrainConfig, read_options
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.imaging import strip
from mnist_cnn.numbers import cut_parts, number_strips
from mnist_cnn.preprocessing import one_hot, preprocess
from mnist_cnn.progress import RunProgress

# Several training steps per call of the compiled function: for a small model the
# per-step Python overhead is otherwise a fifth of the time or more.
STEPS_PER_EXECUTION = 32

# The metric of a run with label smoothing: its crossentropy without the smoothing.
CROSSENTROPY = "crossentropy"

# The cosine schedule: a linear warm-up to the peak rate (`TrainConfig.lr`), then a
# cosine decay. A Fraction, so that the warm-up is exactly steps // 15.
WARMUP_SHARE = Fraction(1, 15)  # of all steps, spent warming up
START_SHARE = 0.1  # of the peak rate, at the first step
END_SHARE = 0.01  # of the peak rate, reached at the last step

# The plateau schedule: when the validation loss has not improved for
# PLATEAU_PATIENCE epochs, the rate is multiplied by PLATEAU_FACTOR, down to MIN_RATE.
PLATEAU_FACTOR = 0.3
PLATEAU_PATIENCE = 2
MIN_RATE = 1e-5

# In a run folder until the run is complete: the last epoch's weights and optimizer
# state, as Keras' BackupAndRestore writes them, for `train(..., resume=run_dir)`.
BACKUP_DIR = "backup"
BACKUP_EPOCH_FILE = "training_metadata.json"  # BackupAndRestore's record of the epochs done


class AtomicCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' ModelCheckpoint writing each new best to a numbered temporary file,
    then renaming it to ``model.keras``: the published file is always complete,
    even when training is interrupted while saving. Its SHA-256 goes into
    ``metrics.json`` (`runs.record_model_hash`) each time."""

    def __init__(self, model_file: Path, **kwargs):
        self.model_file = Path(model_file)
        pattern = str(self.model_file.with_name(".checkpoint-{epoch:03d}.keras"))
        super().__init__(pattern, **kwargs)
        self.best_epoch: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        written = Path(self._get_file_path(epoch, None, logs))
        try:
            super().on_epoch_end(epoch, logs)
        except BaseException:
            written.unlink(missing_ok=True)
            raise
        if written.exists():
            os.replace(written, self.model_file)
            runs.record_model_hash(self.model_file.parent)
            self.best_epoch = epoch + 1


def augmenter(strength: float) -> keras.layers.Pipeline:
    """Random rotation (up to 10 degrees x strength), shift and zoom (up to 10% x
    strength): distortions after which a digit is still the same digit."""
    layers = keras.layers
    # A Pipeline rather than a Sequential model: inside tf.data it stays in TensorFlow
    # whatever the Keras backend, where a Sequential would hand JAX or torch a graph tensor.
    return layers.Pipeline(
        [
            layers.RandomRotation(strength * 10 / 360, fill_mode="constant"),
            layers.RandomTranslation(strength * 0.1, strength * 0.1, fill_mode="constant"),
            layers.RandomZoom(strength * 0.1, fill_mode="constant"),
        ],
        name="augmentation",
    )


def training_dataset(x, y, batch_size: int, augment: float, seed: int):
    """A `tf.data` pipeline: a new order every epoch, batches gathered by index
    (much cheaper than shuffling single images), augmented on the fly and
    prefetched so the next batch is prepared while the model trains."""
    import tensorflow as tf

    x, y = tf.constant(x), tf.constant(y)
    n = int(x.shape[0])
    indices = tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = indices.batch(batch_size).map(lambda i: (tf.gather(x, i), tf.gather(y, i)))
    if augment:
        distort = augmenter(augment)
        ds = ds.map(
            lambda a, b: (distort(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def learning_rate(config: TrainConfig, steps_per_epoch: int):
    """A constant rate (cut by ReduceLROnPlateau) or a warm-up then cosine decay."""
    if config.schedule == "plateau":
        return config.lr
    total = steps_per_epoch * config.epochs
    warmup_steps = int(total * WARMUP_SHARE)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.lr * START_SHARE,
        decay_steps=total - warmup_steps,
        alpha=END_SHARE,
        warmup_target=config.lr,
        warmup_steps=warmup_steps,
    )


class StopOnCtrlC(keras.callbacks.Callback):
    """The first Ctrl-C asks Keras to stop after the current step, as early stopping
    does, rather than raising inside TensorFlow's compiled loop. A second one stops
    at the end of the step under way, training or validation: the KeyboardInterrupt
    is raised here, in Python, because raised inside TensorFlow's own calls back
    into Python it can be printed as a traceback and lost. A third raises at once."""

    def __init__(self):
        super().__init__()
        self.pressed = self.again = False
        self._previous = None

    def on_train_begin(self, logs=None):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum, frame):
        if self.pressed:
            self.again = True
            signal.signal(signal.SIGINT, signal.default_int_handler)
            return
        self.pressed = True
        self.model.stop_training = True
        # os.write, not print: a handler that prints while the interrupted code is
        # printing raises "reentrant call" inside the stream.
        message = "Stopping after this step and its validation; Ctrl-C again skips the validation."
        os.write(2, f"\n{message}\n".encode())

    def on_train_batch_end(self, batch, logs=None):
        self._halt()

    def on_test_batch_end(self, batch, logs=None):
        self._halt()

    def _halt(self) -> None:
        if self.again:
            raise KeyboardInterrupt

    def on_train_end(self, logs=None):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


class LogLearningRate(keras.callbacks.Callback):
    """Adds the learning rate in force at each epoch's end to the logs (and so to
    history.csv), whether it is constant, cut on a plateau or scheduled."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(
                keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            )


def train(
    config: TrainConfig,
    verbose: int | None = None,
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
    resume: str | os.PathLike | None = None,
) -> Path:
    """Train a model as `config` says and return its run folder.

    Args:
        config: the options; checked first.
        verbose: the run's progress (`mnist_cnn.progress`): 1 a bar over all epochs
            and a line per epoch, 2 only the lines, 0 nothing; default: 1 on a
            terminal, else 2.
        extra_callbacks: run after the built-in ones (benchmarks use this to time
            and score each epoch without touching model selection).
        resume: a stopped run folder to continue from its backup instead of starting
            a new one; `config` is then its recorded options (`resume_options`).

    Returns:
        The new run folder, holding the best checkpoint, its history, metrics and
        figures, evaluated on the test set.

    Example:
        >>> train(TrainConfig(model="original", epochs=2))   # doctest: +SKIP
        PosixPath('runs/original-20260101-120000')
    """
    config = resolve(config)
    mnist, train_set, validation_set = load_data(config)
    model = build_model(config)
    compile_model(model, config, steps_per_epoch(train_set, config.batch_size))
    run_dir = start_run(config, mnist.source) if resume is None else Path(resume)
    callbacks = make_callbacks(config, run_dir)
    callbacks |= {f"extra_{i}": callback for i, callback in enumerate(extra_callbacks or [])}
    if resume is not None:
        done = restore_progress(run_dir, callbacks)
        if isinstance(train_set, FreshNumbers):
            train_set.epoch = done  # the numbers the stopped run would have gone on to
        print(f"Resuming {run_dir} after epoch {done} of {config.epochs}")
    print(
        f"Training {config.model} ({model.count_params():,} parameters, {config.precision}) "
        f"into {run_dir}"
    )
    seconds, interrupted = fit(
        model, config, train_set, validation_set, callbacks, run_dir, verbose
    )
    checkpoint = callbacks["checkpoint"]
    metrics = save_results(model, config, run_dir, checkpoint, seconds, interrupted)
    if interrupted:
        print(
            f"\nInterrupted. The best checkpoint (epoch {checkpoint.best_epoch}, "
            f"val_accuracy {metrics.best_val_accuracy:.4f}) is in {run_dir / runs.MODEL_FILE}; "
            f"evaluate it with: mnist-cnn evaluate {run_dir}, or continue the run with: "
            f"mnist-cnn train --resume {run_dir}"
        )
        raise KeyboardInterrupt
    print(
        f"Trained {metrics.epochs_run} epochs in {seconds:.1f} s; "
        f"best epoch {checkpoint.best_epoch} (val_loss {checkpoint.best:.4f}, "
        f"val_accuracy {metrics.best_val_accuracy:.4f})"
    )
    calibrate(run_dir, mnist, config)
    evaluation.evaluate_run(run_dir, (mnist.x_test, mnist.y_test))
    if config.report:
        from mnist_cnn.report import write_report

        write_report(run_dir, data_dir=config.data_dir)
    shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)  # complete: nothing to resume
    return run_dir


def resolve(config: TrainConfig) -> TrainConfig:
    """`config` checked, with the model's current name and the precision "auto"
    chose: the run records what it really used. Notes when bfloat16 is emulated."""
    config.check()
    if config.report and models.resolve_name(config.model) in models.NUMBER_MODELS:
        raise MnistCnnError("--report covers digit models; leave it out for a number model")
    config = dataclasses.replace(
        config,
        model=models.resolve_name(config.model),
        precision=models.resolve_precision(config.precision),
    )
    if (
        config.precision == "mixed_bfloat16"
        and not models.cpu_has_bfloat16()
        and not models.has_gpu()
    ):
        print(
            "note: this CPU has no bfloat16 instructions (AVX512_BF16 or AMX), so "
            "mixed_bfloat16 is emulated and trains several times slower than float32",
            file=sys.stderr,
        )
    return config


class FreshNumbers(keras.utils.PyDataset):
    """Numbers composed anew every epoch from `digits` (`mnist_cnn.numbers`), as
    strips with CTC labels, `batch_size` at a time: the number model never sees the
    same number twice, so it learns digits in context instead of memorising a fixed
    set (on 40,000 fixed numbers it read 98.6% of them and 93% of new ones). A share
    `sent` of them is drawn as a photo or a plain image and found again by the image
    pipeline (`mnist_cnn.numbers.as_sent`). Batch `i` of epoch `e` depends only on
    (`seed`, `e`, `i`); the next batches are made while the model trains.

    Example:
        >>> import numpy as np
        >>> digits = np.zeros((10, 28, 28), np.uint8); digits[:, 4:24, 12:16] = 255
        >>> numbers = FreshNumbers(digits, np.arange(10), count=5, batch_size=4, seed=0)
        >>> len(numbers), [x.shape for x, _ in (numbers[0], numbers[1])]
        (2, [(4, 32, 256, 1), (1, 32, 256, 1)])
    """

    def __init__(self, digits, labels, count: int, batch_size: int, seed: int, sent: float = 0.0):
        # Composing is cheap, and two threads keep up; the image pipeline is not, and
        # Python's lock would hold threads back, so then a process per core.
        workers, processes = (os.cpu_count() or 2, True) if sent > 0 else (2, False)
        super().__init__(workers=workers, use_multiprocessing=processes, max_queue_size=16)
        self.digits, self.labels, self.count, self.sent = digits, labels, count, sent
        self.batch_size, self.seed, self.epoch = batch_size, seed, 0

    def __len__(self) -> int:
        return -(-self.count // self.batch_size)

    def __getitem__(self, index: int):
        size = min(self.batch_size, self.count - index * self.batch_size)
        seed = [self.seed, self.epoch, index]
        x, y, _ = number_strips(self.digits, self.labels, size, seed, sent=self.sent)
        return preprocess(x, strip.SIZE), y

    def on_epoch_end(self) -> None:
        self.epoch += 1


def load_data(config: TrainConfig):
    """MNIST split as `config` says, and its training and validation parts as the
    model takes them: (mnist, training set, (x_val, y_val)). For a digit model the
    digits with one-hot labels, (x_train, y_train); for a number model, numbers
    composed of each part's digits (`mnist_cnn.numbers`) as strips with CTC labels:
    fixed ones for validation, new ones every epoch for training (`FreshNumbers`)."""
    mnist = data.load_mnist(config.data_dir, config.val_fraction, config.seed, config.limit)
    if config.model in models.NUMBER_MODELS:
        count, seed, sent = config.numbers, config.seed, config.augment
        train_set = FreshNumbers(mnist.x_train, mnist.y_train, count, config.batch_size, seed, sent)
        # Another seed: the validation numbers are not the training numbers' layouts.
        x_val, y_val, _ = number_strips(mnist.x_val, mnist.y_val, count // 10, seed + 1, sent=sent)
        return mnist, train_set, (preprocess(x_val, strip.SIZE), y_val)
    x_train, y_train, x_val, y_val = mnist.x_train, mnist.y_train, mnist.x_val, mnist.y_val
    if config.parts:
        x, y = part_digits(mnist.x_train, mnist.y_train, config.parts, config.seed)
        x_train, y_train = np.concatenate([x_train, x]), np.concatenate([y_train, y])
        x, y = part_digits(mnist.x_val, mnist.y_val, config.parts // 10, config.seed + 1)
        x_val, y_val = np.concatenate([x_val, x]), np.concatenate([y_val, y])
    return mnist, (preprocess(x_train), one_hot(y_train)), (preprocess(x_val), one_hot(y_val))


def part_digits(digits, labels, count: int, seed: int):
    """Parts cut from `count` numbers of touching `digits` by the shipped reader
    (`mnist_cnn.numbers.cut_parts`), with their labels."""
    reader = shipped_reader()
    print(f"Cutting parts out of {count:,} numbers of touching digits ...", flush=True)
    parts = cut_parts(digits, labels, count, seed, reader.numbers, reader.digit_probabilities)
    print(f"{len(parts[0]):,} parts")
    return parts


@functools.lru_cache(maxsize=1)
def shipped_reader() -> inference.DigitReader:
    """The reader shipped in the package, which cuts a part model's parts: loaded once
    a process (a run cuts training, validation and calibration parts)."""
    from mnist_cnn.number_reader import NUMBER_MODEL

    if not NUMBER_MODEL.is_file():
        raise MnistCnnError("--parts needs the number model shipped with the package")
    return inference.DigitReader.load("default", litert=True)


def steps_per_epoch(train_set, batch_size: int) -> int:
    """Training steps in an epoch of `train_set` (arrays or a `FreshNumbers`)."""
    if isinstance(train_set, FreshNumbers):
        return len(train_set)
    return -(-len(train_set[0]) // batch_size)


def build_model(config: TrainConfig) -> keras.Model:
    """A fresh model, its initial weights fixed by the seed, or, to fine-tune,
    those of the model `config.init`."""
    keras.utils.set_random_seed(config.seed)
    model = models.build(config.model, config.precision)
    if config.init is not None:
        start = runs.load_model(inference.resolve_model(config.init))
        shapes = [w.shape for w in start.weights]
        if shapes != [w.shape for w in model.weights]:
            raise MnistCnnError(
                f"{config.init} is not a {config.model} network: its weights have other "
                "shapes; give --model its architecture"
            )
        model.set_weights(start.get_weights())
    return model


def compile_model(model: keras.Model, config: TrainConfig, steps_per_epoch: int) -> None:
    """Adam (with an average of the weights if `config.ema`), the learning-rate
    schedule and categorical crossentropy (with label smoothing, and then also
    without it as the metric `CROSSENTROPY`); for a number model, CTC and the share
    of whole numbers read right as its accuracy."""
    if config.model in models.NUMBER_MODELS:
        loss, metrics = keras.losses.CTC(), [ctc.NumberAccuracy()]
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        metrics = ["accuracy"]
        if config.label_smoothing > 0:
            # The loss without smoothing: what runs of different smoothing compare on
            # (`mnist_cnn.tuning`), since smoothing alone raises the loss.
            metrics.append(keras.metrics.CategoricalCrossentropy(name=CROSSENTROPY))
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate(config, steps_per_epoch),
            use_ema=config.ema > 0,
            ema_momentum=config.ema or 0.99,
        ),
        loss=loss,
        metrics=metrics,
        # Keras' torch backend runs one step at a time.
        steps_per_execution=1 if keras.backend.backend() == "torch" else STEPS_PER_EXECUTION,
    )


def start_run(config: TrainConfig, data_source: str) -> Path:
    """A new run folder holding ``config.json``: the options, under the folder's
    name, where the data came from and the library versions."""
    run_dir = runs.create_run_dir(config.runs_dir, config.name, prefix=config.model)
    saved = dataclasses.asdict(config) | {"name": run_dir.name}
    runs.write_json(
        run_dir / runs.CONFIG_FILE,
        {"config": saved, "data_source": data_source, "versions": runs.library_versions()},
    )
    return run_dir


def make_callbacks(config: TrainConfig, run_dir: Path) -> dict[str, keras.callbacks.Callback]:
    """The callbacks of a run by name, in the order Keras calls them at each epoch's end."""
    callbacks = {"stop_on_ctrl_c": StopOnCtrlC()}
    if config.schedule == "plateau":
        callbacks["reduce_lr_on_plateau"] = keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE, min_lr=MIN_RATE
        )
    callbacks["log_learning_rate"] = LogLearningRate()  # after a cut, so it logs the new rate
    if config.ema:
        # Put the average of the weights in the model for validation and for the
        # callbacks below: the checkpoint then saves the averaged weights.
        callbacks["swap_ema_weights"] = keras.callbacks.SwapEMAWeights(swap_on_epoch=True)
    # Model selection watches the validation loss: it moves with every image's
    # confidence, where accuracy on 6,000 images moves in steps of 1/6,000 and
    # stalls for epochs in mid-schedule, which made early stopping cut cosine runs
    # short and keep a mid-schedule model.
    callbacks["checkpoint"] = AtomicCheckpoint(
        run_dir / runs.MODEL_FILE, monitor="val_loss", mode="min", save_best_only=True
    )
    callbacks["early_stopping"] = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=config.patience, restore_best_weights=True
    )
    # Appending: a resumed run continues its history (a new run starts the file).
    callbacks["history"] = keras.callbacks.CSVLogger(str(run_dir / runs.HISTORY_FILE), append=True)
    if config.tensorboard:
        callbacks["tensorboard"] = keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"))
    # Last, so that the backup never counts an epoch history.csv lacks. Kept when the
    # run stops (train deletes it once the run is complete); two copies, so that a
    # process killed while writing one leaves the other.
    callbacks["backup"] = keras.callbacks.BackupAndRestore(
        str(run_dir / BACKUP_DIR), double_checkpoint=True, delete_checkpoint=False
    )
    return callbacks


def fit(
    model: keras.Model,
    config: TrainConfig,
    train_set: tuple,
    validation_set: tuple,
    callbacks: dict[str, keras.callbacks.Callback],
    run_dir: Path,
    verbose: int | None,
) -> tuple[float, bool]:
    """Fit `model` and return the seconds it took and whether Ctrl-C stopped it.
    If it stops before the first checkpoint, `run_dir` is removed again."""
    checkpoint, ctrl_c = callbacks["checkpoint"], callbacks["stop_on_ctrl_c"]
    shown = list(callbacks.values())
    if verbose != 0:
        steps = steps_per_epoch(train_set, config.batch_size)
        bar = sys.stdout.isatty() if verbose is None else verbose == 1
        shown.append(RunProgress(config.epochs, steps, bar))
    start = time.perf_counter()
    interrupted = False
    try:
        if isinstance(train_set, FreshNumbers):
            dataset = train_set
        else:
            dataset = training_dataset(*train_set, config.batch_size, config.augment, config.seed)
        model.fit(
            dataset,
            epochs=config.epochs,
            shuffle=False,  # the dataset reshuffles itself every epoch
            validation_data=validation_set,
            callbacks=shown,
            verbose=0,  # RunProgress shows it instead
        )
    except BaseException as error:
        # A third Ctrl-C raises wherever Python is, and inside TensorFlow's loop that
        # can surface as another error (a SystemError from a half-done list operation).
        if not (isinstance(error, KeyboardInterrupt) or ctrl_c.pressed):
            if checkpoint.best_epoch is None:  # a full disk, say: nothing worth keeping
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        interrupted = True
    finally:
        ctrl_c.on_train_end()  # Keras skips it when interrupted
    if checkpoint.best_epoch is None:
        shutil.rmtree(run_dir)  # only config.json and an empty history so far
        if interrupted or ctrl_c.pressed:  # Ctrl-C exits 130 however often it is pressed
            print("\nInterrupted before the first epoch ended; nothing was saved.")
            raise KeyboardInterrupt
        raise MnistCnnError("training stopped before the first epoch ended; nothing was saved")
    return time.perf_counter() - start, interrupted or ctrl_c.pressed


def save_results(
    model: keras.Model,
    config: TrainConfig,
    run_dir: Path,
    checkpoint: AtomicCheckpoint,
    seconds: float,
    interrupted: bool,
) -> runs.RunMetrics:
    """Write the training part of ``metrics.json`` and the learning curves; return
    that part."""
    history = runs.read_history(run_dir)
    best_val_accuracy = history["val_accuracy"][history["epoch"].index(checkpoint.best_epoch)]
    metrics = runs.RunMetrics(
        model=config.model,
        params=model.count_params(),
        macs=models.count_macs(model),
        epochs_run=len(history["epoch"]),
        best_epoch=checkpoint.best_epoch,
        best_val_accuracy=float(best_val_accuracy),
        best_val_loss=float(checkpoint.best),
        train_seconds=round(seconds, 2),
        interrupted=interrupted,
    )
    runs.add_metrics(run_dir, metrics)
    plots.learning_curves(
        history,
        checkpoint.best_epoch,
        run_dir / runs.FIGURES_DIR,
        max_epochs=config.epochs,
        interrupted=interrupted,
    )
    return metrics


def calibrate(run_dir: Path, mnist: data.Mnist, config: TrainConfig) -> float:
    """Fit the best checkpoint's temperature on the validation split, as the reader
    reads, record it in ``metrics.json`` and return it (`mnist_cnn.calibration`).

    A digit model reads the validation digits with test-time augmentation. A number
    model reads numbers composed of them as the reader meets numbers: drawn as images
    (plain, a photo of paper or of a board) and found again by the image pipeline
    (`mnist_cnn.numbers.as_sent`). It is surer of clean composed strips than it should
    be of those: the shipped number model needs 1.11 on the former, 1.41 on the latter.
    A part model (`config.parts`) reads only parts cut from validation numbers, as it
    will read only such parts.
    """
    model = runs.load_model(run_dir)
    if len(model.output_shape) == 3:  # a number model's frame logits
        x_val, y_val, _ = number_strips(
            mnist.x_val, mnist.y_val, config.numbers // 10, config.seed + 2, sent=1.0
        )
        logits = model.predict(preprocess(x_val, strip.SIZE), batch_size=256, verbose=0)
        temperature = calibration.number_temperature(logits, y_val)
    else:
        x_val, y_val = mnist.x_val, mnist.y_val
        if config.parts:
            x_val, y_val = part_digits(x_val, y_val, config.parts // 10, config.seed + 2)
        probabilities = inference.tta_probabilities(model.predict_on_batch, x_val)
        temperature = calibration.digit_temperature(probabilities, y_val)
        if config.parts:  # what a part model is for: reading parts better
            right = (probabilities.argmax(axis=1) == y_val).mean()
            before = shipped_reader().digit_probabilities(x_val).argmax(axis=1)
            before = (before == y_val).mean()
            print(f"Parts read right: {right:.2%} (the shipped digit model: {before:.2%})")
    runs.add_metrics(run_dir, runs.RunMetrics(temperature=temperature))
    print(f"Calibrated on the validation split: temperature {temperature:.3f}")
    return temperature


def calibrate_run(run_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> float:
    """`calibrate` a run folder again, or an older one that has no temperature, on the
    validation split its ``config.json`` records (``mnist-cnn calibrate RUN``).

    Example:
        >>> calibrate_run("runs/cnn-20260101-120000")   # doctest: +SKIP
        1.1875
    """
    run_dir = Path(run_dir)
    model_file = runs.resolve_model_file(run_dir)
    if inference.is_shipped(model_file) or model_file.parent != run_dir:
        raise MnistCnnError(
            f"{run_dir} is not a run folder of yours (the models shipped with the package "
            "are read-only): copy the folder and calibrate the copy"
        )
    options = read_options(run_dir / runs.CONFIG_FILE)
    if data_dir is not None:
        options["data_dir"] = str(data_dir)
    config = resolve(dataclasses.replace(TrainConfig.from_preset(**options), report=False))
    mnist = data.load_mnist(config.data_dir, config.val_fraction, config.seed, config.limit)
    return calibrate(run_dir, mnist, config)


# -- Resuming a stopped run ----------------------------------------------------------------------


def resume_options(run_dir: str | os.PathLike) -> dict:
    """The recorded options of a run to resume, or an error saying why it cannot be.

    Args:
        run_dir: a run folder stopped before it was complete, holding a backup.

    Returns:
        Its options from ``config.json``, for `TrainConfig.from_preset`, with its name
        and folder, and no `init`.

    Example:
        >>> resume_options("no/such/run")
        Traceback (most recent call last):
        ...
        mnist_cnn.errors.MnistCnnError: no/such/run: no such run folder
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MnistCnnError(f"{run_dir}: no such run folder")
    if not (run_dir / runs.CONFIG_FILE).is_file():
        raise MnistCnnError(f"{run_dir}: not a run folder (it has no {runs.CONFIG_FILE})")
    if not (run_dir / BACKUP_DIR / BACKUP_EPOCH_FILE).is_file():
        metrics = runs.read_metrics(run_dir)
        if metrics.test_accuracy is not None:
            raise MnistCnnError(
                f"{run_dir} is complete ({metrics.epochs_run} epochs, test accuracy "
                f"{metrics.test_accuracy:.2%}): there is nothing to resume"
            )
        raise MnistCnnError(
            f"{run_dir} has no backup to resume from (it stopped before the end of its "
            "first epoch was saved); train it again with: "
            f"mnist-cnn train --config {run_dir / runs.CONFIG_FILE}"
        )
    options = read_options(run_dir / runs.CONFIG_FILE)
    # Its weights come from the backup, not from a model it started from (`init`,
    # which may be gone by now); config.json keeps recording that model.
    return options | {"name": run_dir.name, "runs_dir": str(run_dir.parent), "init": None}


def restore_progress(run_dir: Path, callbacks: dict[str, keras.callbacks.Callback]) -> int:
    """Bring a stopped run's history and callbacks to its backup's last epoch.

    Rows of ``history.csv`` after that epoch (written just before the process was
    killed) are dropped, to be trained again; the checkpoint keeps its best so far,
    so that only a better epoch replaces ``model.keras``. Early stopping and the
    plateau schedule count their patience afresh.

    Returns:
        The number of epochs done.
    """
    try:
        done = int(json.loads((run_dir / BACKUP_DIR / BACKUP_EPOCH_FILE).read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MnistCnnError(f"{run_dir / BACKUP_DIR}: cannot read the backup ({e})") from None
    history_file = run_dir / runs.HISTORY_FILE
    lines = history_file.read_text().splitlines(keepends=True) if history_file.is_file() else []
    runs.atomic_write(history_file, lambda tmp: tmp.write_text("".join(lines[: done + 1])))
    history = runs.read_history(run_dir)
    if not history.get("val_loss"):
        raise MnistCnnError(f"{run_dir}: {runs.HISTORY_FILE} has no epoch to continue from")
    checkpoint = callbacks["checkpoint"]
    checkpoint.best = min(history["val_loss"])
    checkpoint.best_epoch = history["epoch"][history["val_loss"].index(checkpoint.best)]
    if "swap_ema_weights" in callbacks:
        # The backup was written after the average was swapped into the model: the
        # first epoch must swap it back out.
        callbacks["swap_ema_weights"]._ema_weights_in_model = True
    return done
