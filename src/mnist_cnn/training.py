"""Steps 4 and 5: compile and train, with callbacks, into a run folder.

>>> from mnist_cnn.config import TrainConfig
>>> from mnist_cnn.training import train
>>> run_dir = train(TrainConfig(model="seed", epochs=2))   # doctest: +SKIP

`train` loads and preprocesses MNIST, builds the model, compiles it with Adam
and categorical crossentropy, fits it with early stopping and checkpointing on
the validation split, writes the run folder (see `mnist_cnn.runs`) and ends by
evaluating the best checkpoint on the test set.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from mnist_cnn import data, evaluation, models, plots, runs
from mnist_cnn.backend import keras
from mnist_cnn.config import TrainConfig
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import one_hot, preprocess

STEPS_PER_EXECUTION = 32


class AtomicCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' ModelCheckpoint writing each new best to a numbered temporary file,
    then renaming it to ``model.keras``: the published file is always complete,
    even when training is interrupted while saving."""

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
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.lr / 10,
        decay_steps=total - total // 15,
        alpha=0.01,
        warmup_target=config.lr,
        warmup_steps=total // 15,
    )


class StopOnCtrlC(keras.callbacks.Callback):
    """The first Ctrl-C asks Keras to stop after the current step, as early stopping
    does, rather than raising inside TensorFlow's compiled loop; a second one
    interrupts at once."""

    def __init__(self):
        super().__init__()
        self.pressed = False
        self._previous = None

    def on_train_begin(self, logs=None):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum, frame):
        self.pressed = True
        self.model.stop_training = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

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
) -> Path:
    """Train a model as `config` says and return its run folder.

    `extra_callbacks` run after the built-in ones (benchmarks use this to time
    and score each epoch without touching model selection)."""
    config.check()
    # The run records the precision it really used, not "auto".
    config = dataclasses.replace(config, precision=models.resolve_precision(config.precision))
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
    keras.utils.set_random_seed(config.seed)
    model = models.build(config.model, config.precision)

    mnist = data.load_mnist(config.data_dir, config.val_fraction, config.seed, config.limit)
    x_train, y_train = preprocess(mnist.x_train), one_hot(mnist.y_train)
    x_val, y_val = preprocess(mnist.x_val), one_hot(mnist.y_val)

    steps_per_epoch = -(-len(x_train) // config.batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate(config, steps_per_epoch),
            use_ema=config.ema > 0,
            ema_momentum=config.ema or 0.99,
        ),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
        # Several steps per call of the compiled function: for a small model the
        # per-step Python overhead is otherwise a fifth of the time or more.
        # Keras' torch backend runs one step at a time.
        steps_per_execution=1 if keras.backend.backend() == "torch" else STEPS_PER_EXECUTION,
    )

    run_dir = runs.create_run_dir(config.runs_dir, config.name, prefix=config.model)
    saved = dataclasses.asdict(config) | {"name": run_dir.name}
    runs.write_json(
        run_dir / runs.CONFIG_FILE,
        {"config": saved, "data_source": mnist.source, "versions": runs.library_versions()},
    )

    # Model selection watches the validation loss: it moves with every image's
    # confidence, where accuracy on 6,000 images moves in steps of 1/6,000 and
    # stalls for epochs in mid-schedule, which made early stopping cut cosine runs
    # short and keep a mid-schedule model.
    checkpoint = AtomicCheckpoint(
        run_dir / runs.MODEL_FILE, monitor="val_loss", mode="min", save_best_only=True
    )
    ctrl_c = StopOnCtrlC()
    callbacks = [
        ctrl_c,
        LogLearningRate(),
        # With an average of the weights, put it in the model for validation and
        # for the callbacks below: the checkpoint then saves the averaged weights.
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if config.ema else []),
        checkpoint,
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.patience, restore_best_weights=True
        ),
        keras.callbacks.CSVLogger(str(run_dir / runs.HISTORY_FILE)),
    ]
    if config.schedule == "plateau":
        callbacks.insert(
            1,
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.3, patience=2, min_lr=1e-5
            ),
        )
    if config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")))
    callbacks += extra_callbacks or []

    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    print(
        f"Training {config.model} ({model.count_params():,} parameters, {config.precision}) "
        f"into {run_dir}"
    )
    start = time.perf_counter()
    interrupted = False
    try:
        model.fit(
            training_dataset(x_train, y_train, config.batch_size, config.augment, config.seed),
            epochs=config.epochs,
            shuffle=False,  # the dataset reshuffles itself every epoch
            validation_data=(x_val, y_val),
            callbacks=callbacks,
            verbose=verbose,
        )
    except KeyboardInterrupt:
        interrupted = True
    except BaseException:
        if checkpoint.best_epoch is None:  # a full disk, say: nothing worth keeping
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        ctrl_c.on_train_end()  # Keras skips it when interrupted
    interrupted = interrupted or ctrl_c.pressed
    train_seconds = time.perf_counter() - start

    if checkpoint.best_epoch is None:
        shutil.rmtree(run_dir)  # only config.json and an empty history so far
        raise MnistCnnError("training stopped before the first epoch ended; nothing was saved")

    history = runs.read_history(run_dir)
    best_val_accuracy = history["val_accuracy"][history["epoch"].index(checkpoint.best_epoch)]
    runs.update_json(
        run_dir / runs.METRICS_FILE,
        {
            "model": config.model,
            "params": model.count_params(),
            "macs": models.count_macs(model),
            "epochs_run": len(history["epoch"]),
            "best_epoch": checkpoint.best_epoch,
            "best_val_accuracy": float(best_val_accuracy),
            "best_val_loss": float(checkpoint.best),
            "train_seconds": round(train_seconds, 2),
            "interrupted": interrupted,
        },
    )
    plots.learning_curves(
        history,
        checkpoint.best_epoch,
        run_dir / runs.FIGURES_DIR,
        max_epochs=config.epochs,
        interrupted=interrupted,
    )
    if interrupted:
        print(
            f"\nInterrupted. The best checkpoint (epoch {checkpoint.best_epoch}, "
            f"val_accuracy {best_val_accuracy:.4f}) is in {run_dir / runs.MODEL_FILE}; "
            f"evaluate it with: mnist-cnn evaluate {run_dir}"
        )
        raise KeyboardInterrupt
    print(
        f"Trained {len(history['epoch'])} epochs in {train_seconds:.1f} s; "
        f"best epoch {checkpoint.best_epoch} (val_loss {checkpoint.best:.4f}, "
        f"val_accuracy {best_val_accuracy:.4f})"
    )
    evaluation.evaluate_run(run_dir, (mnist.x_test, mnist.y_test))
    if config.report:
        from mnist_cnn.report import write_report

        write_report(run_dir, data_dir=config.data_dir)
    return run_dir
