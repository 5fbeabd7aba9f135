"""Training pieces: presets, the input pipeline, schedules, checkpoints, ensembles."""

import hashlib
import json
import os
import signal
from types import SimpleNamespace

import numpy as np
import pytest

from mnist_cnn import ensemble, inference, models, runs, training
from mnist_cnn.backend import keras
from mnist_cnn.config import PRESETS, TrainConfig
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import one_hot, preprocess


def test_presets_set_only_known_options_and_explicit_values_win():
    for name, values in PRESETS.items():
        config = TrainConfig.from_preset(name)
        assert all(getattr(config, k) == v for k, v in values.items())
        assert config.preset == name
        config.check()
    assert TrainConfig.from_preset("fast", epochs=7).epochs == 7
    with pytest.raises(MnistCnnError, match="unknown preset 'slow'"):
        TrainConfig.from_preset("slow")


DIGIT_PRESETS = sorted(p for p, v in PRESETS.items() if v.get("model") not in models.NUMBER_MODELS)


@pytest.mark.slow
@pytest.mark.parametrize("preset", DIGIT_PRESETS)
def test_every_digit_preset_builds_and_trains_a_few_steps(preset, mnist):
    config = TrainConfig.from_preset(preset)
    model = models.build(config.model)
    model.compile(
        keras.optimizers.Adam(training.learning_rate(config, 4)), "categorical_crossentropy"
    )
    ds = training.training_dataset(
        preprocess(mnist.x_train[:256]), one_hot(mnist.y_train[:256]), 64, config.augment, 0
    )
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])


def test_a_number_model_gets_composed_numbers_and_ctc(fake_mnist_dir):
    from mnist_cnn import evaluation

    config = training.resolve(TrainConfig.from_preset("numbers", numbers=40, batch_size=16))
    mnist, numbers, (x_val, y_val) = training.load_data(config)
    assert len(numbers) == training.steps_per_epoch(numbers, 16) == 3
    x, y = numbers[0]
    assert x.shape == (16, 32, 256, 1) and y.shape == (16, 8) and numbers[2][0].shape[0] == 8
    assert x_val.shape == (4, 32, 256, 1)  # a tenth as many, from the validation digits
    assert not np.array_equal(x[:4], x_val)
    # New numbers every epoch; the same ones for the same epoch (a resumed run).
    numbers.on_epoch_end()
    again, _ = numbers[0]
    assert not np.array_equal(again, x)
    numbers.epoch = 0
    assert np.array_equal(numbers[0][0], x)
    model = training.build_model(config)
    training.compile_model(model, config, steps_per_epoch=3)
    loss, accuracy = model.evaluate(x_val, y_val, verbose=0)
    assert np.isfinite(loss) and loss > 0 and accuracy == 0  # untrained: reads nothing right
    scores = evaluation.score_numbers(model, mnist.x_test, mnist.y_test, count=12)
    assert scores.test_errors == 12 and 0 <= scores.test_digit_accuracy < 0.5


def test_a_part_model_run_adds_parts_cut_by_the_shipped_reader_and_starts_from_it(
    fake_mnist_dir,
):
    config = training.resolve(TrainConfig.from_preset("parts", parts=20))
    mnist, (x, y), (x_val, y_val) = training.load_data(config)
    added, added_val = len(x) - len(mnist.x_train), len(x_val) - len(mnist.x_val)
    assert added >= 20 and 0 < added_val < added  # parts of 20 and of 2 numbers
    assert x.shape[1:] == (28, 28, 1) and y.shape == (len(x), 10)
    assert np.array_equal(y[: len(mnist.y_train)].argmax(axis=1), mnist.y_train)
    model = training.build_model(config)  # init "default": the shipped digit model's weights
    shipped = runs.load_model(inference.DEFAULT_MODEL)
    assert all(np.array_equal(a, b) for a, b in zip(model.weights, shipped.weights, strict=True))


def test_a_run_with_label_smoothing_also_scores_its_loss_without_it(digit_images):
    x, y = preprocess(digit_images[0][:64]), one_hot(digit_images[1][:64])
    scores = {}
    for smoothing in (0.0, 0.2):
        config = TrainConfig(model="fast", label_smoothing=smoothing, precision="float32")
        model = training.build_model(config)
        training.compile_model(model, config, steps_per_epoch=3)
        scores[smoothing] = model.evaluate(x, y, verbose=0, return_dict=True)
    assert training.CROSSENTROPY not in scores[0.0]
    # The same untrained weights (seed 0): the metric is the unsmoothed loss.
    assert scores[0.2][training.CROSSENTROPY] == pytest.approx(scores[0.0]["loss"], rel=1e-5)


def test_a_model_can_start_from_another_models_weights_of_its_architecture(tiny_model_file):
    start = keras.models.load_model(tiny_model_file, compile=False)
    fresh = training.build_model(TrainConfig(model="original", seed=1))
    tuned = training.build_model(TrainConfig(model="original", seed=1, init=str(tiny_model_file)))
    assert all(
        np.array_equal(a, b) for a, b in zip(tuned.get_weights(), start.get_weights(), strict=True)
    )
    assert not np.array_equal(fresh.get_weights()[0], start.get_weights()[0])
    with pytest.raises(MnistCnnError, match="is not a fast network.*--model"):
        training.build_model(TrainConfig(model="fast", init=str(tiny_model_file)))


def test_dataset_reshuffles_each_epoch_and_keeps_every_image(digit_images):
    images, labels = digit_images[0][:100], digit_images[1][:100]
    ds = training.training_dataset(preprocess(images), one_hot(labels), 32, augment=0, seed=1)
    epochs = [np.concatenate([b[1].numpy().argmax(1) for b in ds]) for _ in range(2)]
    assert [len(e) for e in epochs] == [100, 100]
    assert sorted(epochs[0]) == sorted(labels)
    assert not np.array_equal(epochs[0], epochs[1])


def test_augmentation_changes_images_but_keeps_them_digits(digit_images):
    x = preprocess(digit_images[0][:32])
    distorted = training.augmenter(1.0)(x, training=True).numpy()
    assert distorted.shape == x.shape and not np.allclose(distorted, x)
    assert distorted.min() >= -1e-3 and distorted.max() <= 1.001
    # Ink is moved, not destroyed: total brightness stays within zoom's range.
    assert np.allclose(distorted.sum(axis=(1, 2, 3)), x.sum(axis=(1, 2, 3)), rtol=0.35)


def test_cosine_schedule_warms_up_then_decays():
    schedule = training.learning_rate(TrainConfig(lr=1e-3, epochs=10, schedule="cosine"), 100)
    rates = [float(schedule(step)) for step in (0, 66, 500, 999)]
    assert rates[0] < rates[1] == pytest.approx(1e-3, rel=0.05)
    assert rates[1] > rates[2] > rates[3] > 0
    assert training.learning_rate(TrainConfig(schedule="plateau", lr=0.01), 100) == 0.01


def test_callbacks_are_named_and_in_the_order_keras_calls_them(tmp_path):
    plain = training.make_callbacks(TrainConfig(), tmp_path)
    assert list(plain) == [
        "stop_on_ctrl_c",
        "log_learning_rate",
        "checkpoint",
        "early_stopping",
        "history",
        "backup",  # last: it never counts an epoch history.csv lacks
    ]
    config = TrainConfig(schedule="plateau", ema=0.99, tensorboard=True, patience=7)
    every = training.make_callbacks(config, tmp_path)
    assert list(every) == [
        "stop_on_ctrl_c",
        "reduce_lr_on_plateau",  # cuts the rate before it is logged
        "log_learning_rate",
        "swap_ema_weights",  # puts the averaged weights in before the checkpoint saves them
        "checkpoint",
        "early_stopping",
        "history",
        "tensorboard",
        "backup",
    ]
    assert every["early_stopping"].patience == 7
    assert every["reduce_lr_on_plateau"].factor == training.PLATEAU_FACTOR
    assert every["checkpoint"].model_file == tmp_path / runs.MODEL_FILE


@pytest.mark.slow
def test_ema_saves_the_averaged_weights_that_were_validated(tmp_path, mnist_dir):
    from mnist_cnn import data

    split = data.load_mnist(mnist_dir, limit=1000)
    val_losses = {}
    for ema in (0.0, 0.9):
        config = TrainConfig(
            model="original",
            epochs=2,
            limit=1000,
            augment=0,
            ema=ema,
            name=f"ema{ema}",
            runs_dir=str(tmp_path),
            data_dir=str(mnist_dir),
        )
        run_dir = training.train(config, verbose=0)
        metrics = json.loads((run_dir / runs.METRICS_FILE).read_text())
        saved = runs.load_model(run_dir / runs.MODEL_FILE)
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        saved.compile(loss=loss)
        val_loss = saved.evaluate(preprocess(split.x_val), one_hot(split.y_val), verbose=0)
        assert val_loss == pytest.approx(metrics["best_val_loss"], rel=1e-4)
        val_losses[ema] = val_loss
    # After 16 steps the average still holds much of the initial weights.
    assert abs(val_losses[0.9] - val_losses[0.0]) > 0.05


@pytest.mark.slow
def test_a_run_records_the_precision_auto_chose(tmp_path, mnist_dir, monkeypatch, capsys):
    monkeypatch.setattr(models, "cpu_has_bfloat16", lambda: False)

    def no_gpu(device_type=None):  # as the JAX backend behaves on a machine without one
        if device_type is not None:
            raise RuntimeError(f"Unknown backend: {device_type!r} requested")
        return ["cpu:0"]

    monkeypatch.setattr(keras.distribution, "list_devices", no_gpu)
    config = TrainConfig(
        model="fast",
        epochs=1,
        limit=500,
        augment=0,
        precision="auto",
        runs_dir=str(tmp_path),
        data_dir=str(mnist_dir),
    )
    run_dir = training.train(config, verbose=0)
    saved = json.loads((run_dir / runs.CONFIG_FILE).read_text())["config"]
    assert saved["precision"] == "float32" and config.precision == "auto"
    out, err = capsys.readouterr()
    assert "float32) into" in out and "emulated" not in err
    # Asked for explicitly, bfloat16 is used anyway, with a note on what it costs here.
    config.precision, config.name = "mixed_bfloat16", "bf16"
    run_dir = training.train(config, verbose=0)
    assert json.loads((run_dir / runs.CONFIG_FILE).read_text())["config"]["precision"] == (
        "mixed_bfloat16"
    )
    assert "no bfloat16 instructions" in capsys.readouterr().err


def test_checkpoint_publishes_only_complete_files(tmp_path):
    model = models.build("original")
    checkpoint = training.AtomicCheckpoint(
        tmp_path / "model.keras", monitor="val_accuracy", mode="max", save_best_only=True
    )
    checkpoint.set_model(model)
    checkpoint.on_train_begin()
    checkpoint.on_epoch_end(0, {"val_accuracy": 0.5})
    checkpoint.on_epoch_end(1, {"val_accuracy": 0.4})  # worse: not saved
    assert checkpoint.best_epoch == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "model.keras"]
    assert runs.load_model(tmp_path / "model.keras").count_params() == model.count_params()
    # Each checkpoint's SHA-256 is recorded beside it, so a changed file is refused.
    recorded = runs.read_metrics(tmp_path).model_sha256
    assert recorded == hashlib.sha256((tmp_path / "model.keras").read_bytes()).hexdigest()


@pytest.mark.slow  # it starts a training
def test_a_failure_before_the_first_checkpoint_leaves_no_run_folder(tmp_path, fake_mnist_dir):
    class DiskFull(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise OSError(28, "No space left on device")

    config = TrainConfig(model="original", epochs=1, limit=200, runs_dir=str(tmp_path), name="r")
    with pytest.raises(OSError, match="No space"):
        training.train(config, verbose=0, extra_callbacks=[DiskFull()])
    assert list(tmp_path.iterdir()) == []  # the same --name can be used again


class FitFails:
    """A model whose `fit` raises `error`, after a first Ctrl-C if `pressed`."""

    def __init__(self, error: BaseException, pressed: bool):
        self.error, self.pressed = error, pressed

    def fit(self, *args, callbacks, **kwargs):
        callbacks[0].pressed = self.pressed  # StopOnCtrlC comes first
        raise self.error


@pytest.mark.parametrize("pressed", [True, False])
def test_an_error_from_a_second_ctrl_c_is_an_interruption_and_others_are_not(tmp_path, pressed):
    # A second Ctrl-C inside TensorFlow's loop can surface as a SystemError.
    config = TrainConfig(epochs=1, augment=0)
    callbacks = training.make_callbacks(config, tmp_path)
    data = np.zeros((4, 28, 28, 1), np.float32), np.zeros((4, 10), np.float32)
    model = FitFails(SystemError("bad argument to internal function"), pressed)
    expected = KeyboardInterrupt if pressed else SystemError
    with pytest.raises(expected):
        training.fit(model, config, data, data, callbacks, tmp_path, verbose=0)
    assert not tmp_path.exists()  # before the first checkpoint: nothing kept either way


def test_a_second_ctrl_c_stops_at_the_end_of_the_step_under_way():
    # Raised in the signal handler, it could land inside TensorFlow's calls back into
    # Python, which print it as a traceback and carry on.
    before = signal.getsignal(signal.SIGINT)
    stop = training.StopOnCtrlC()
    stop.set_model(SimpleNamespace(stop_training=False))
    stop.on_train_begin()
    try:
        assert signal.getsignal(signal.SIGINT) == stop._stop
        stop._stop(signal.SIGINT, None)  # the first press: stop after this step
        assert stop.model.stop_training
        stop.on_train_batch_end(0)
        stop.on_test_batch_end(0)
        stop._stop(signal.SIGINT, None)  # the second: at the end of the step under way
        with pytest.raises(KeyboardInterrupt):
            stop.on_test_batch_end(1)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # a third
    finally:
        stop.on_train_end()
    assert signal.getsignal(signal.SIGINT) == before


def test_json_files_must_hold_objects(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("[]")
    with pytest.raises(MnistCnnError, match="expected a JSON object, found list"):
        runs.read_json(path)


def test_create_run_dir_never_reuses_a_folder(tmp_path):
    first = runs.create_run_dir(tmp_path, None, "cnn")
    second = runs.create_run_dir(tmp_path, None, "cnn")
    assert first != second and first.is_dir() and second.is_dir()


def test_run_metrics_write_only_what_is_set_and_read_only_what_fits(tmp_path):
    runs.add_metrics(tmp_path, runs.RunMetrics(model="cnn", params=10, interrupted=False))
    runs.add_metrics(tmp_path, runs.RunMetrics(test_accuracy=0.99, params=12))
    on_disk = json.loads((tmp_path / runs.METRICS_FILE).read_text())
    assert on_disk == {"model": "cnn", "params": 12, "interrupted": False, "test_accuracy": 0.99}
    assert runs.read_metrics(tmp_path) == runs.RunMetrics.from_dict(on_disk)
    assert runs.read_metrics(tmp_path).to_dict() == on_disk
    mangled = {"test_accuracy": "n/a", "train_seconds": float("nan"), "params": True, "x": 1}
    assert runs.RunMetrics.from_dict(mangled) == runs.RunMetrics()
    assert runs.read_metrics(tmp_path / "absent") == runs.RunMetrics()


def test_ensemble_averages_member_probabilities(digit_images):
    members = []
    for seed in (1, 2, 3):
        keras.utils.set_random_seed(seed)
        members.append(models.build("original"))
    x = preprocess(digit_images[0][:50])
    expected = np.mean([np.asarray(m(x)) for m in members], axis=0)
    combined = ensemble.average_models(members)
    assert np.allclose(np.asarray(combined(x)), expected, atol=1e-6)
    with pytest.raises(MnistCnnError, match="at least 2"):
        ensemble.average_models(members[:1])


@pytest.mark.slow  # builds, evaluates and saves two models and their average: seconds
def test_ensemble_command_saves_a_loadable_evaluated_run(
    tmp_path, model_file, capsys, fake_mnist_dir
):
    from mnist_cnn.cli import main

    other = tmp_path / "other.keras"
    keras.utils.set_random_seed(5)
    models.build("original").save(other)
    code = main(
        [
            "ensemble",
            str(model_file.parent),
            str(other),
            "--runs-dir",
            str(tmp_path),
            "--name",
            "ens",
        ]
    )
    assert code == 0
    metrics = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    assert metrics["members"] == 2 and 0.1 < metrics["test_accuracy"] <= 1
    assert metrics["model_sha256"] == runs.file_sha256(tmp_path / "ens" / "model.keras")
    member = json.loads((model_file.parent / "metrics.json").read_text())
    out = capsys.readouterr().out
    assert f"Members' test accuracy: {member['test_accuracy']:.2%}, unknown;" in out
    assert f"their training time: {member['train_seconds']:,.0f} s in all" in out
    params = runs.load_model(model_file).count_params() + 34826
    assert runs.load_model(tmp_path / "ens").count_params() == params
    assert main(["ensemble", str(other), str(other), "--runs-dir", str(tmp_path)]) == 1
    relative = os.path.relpath(other)  # the same file named two ways
    assert main(["ensemble", str(other), relative, "--runs-dir", str(tmp_path)]) == 1


@pytest.mark.slow  # several ensembles built and evaluated
def test_ensemble_that_fails_leaves_no_run_folder(tmp_path, model_file, capsys, fake_mnist_dir):
    from mnist_cnn.cli import main

    other = tmp_path / "other"
    other.mkdir()
    models.build("original").save(other / "model.keras")
    args = ["ensemble", str(model_file.parent), str(other), "--runs-dir", str(tmp_path / "runs")]
    assert main([*args, "--data-dir", str(tmp_path / "no-such-folder")]) == 1
    (other / "metrics.json").write_text('{"test_accuracy": null, "train_seconds": "n/a"}')
    for metrics in ("[]", "{"):
        (other / "metrics.json").write_text(metrics)
        assert main([*args, "--name", "ens"]) == 1
    assert not (tmp_path / "runs").exists()
    (other / "metrics.json").write_text('{"test_accuracy": null, "train_seconds": "n/a"}')
    assert main([*args, "--name", "ens"]) == 0  # the name was not taken by the failures
    assert "unknown" in capsys.readouterr().out


@pytest.mark.slow  # a short real training of the number model on real MNIST digits
def test_the_numbers_preset_trains_an_evaluated_run(tmp_path, mnist_dir, capsys):
    from mnist_cnn.cli import main

    options = ["--numbers", "3000", "--epochs", "2", "--runs-dir", str(tmp_path), "--name", "n"]
    assert main(["train", "--preset", "numbers", *options, "--data-dir", str(mnist_dir)]) == 0
    run = tmp_path / "n"
    metrics = runs.read_metrics(run)
    assert metrics.model == "numbers" and metrics.epochs_run == 2
    assert 0 <= metrics.test_accuracy <= 1 and 0 <= metrics.test_digit_accuracy <= 1
    history = runs.read_history(run)
    assert history["loss"][1] < history["loss"][0]  # it learns
    assert (run / runs.FIGURES_DIR / "learning_curves.png").is_file()
    assert "Test numbers read right" in capsys.readouterr().out
    with pytest.raises(MnistCnnError, match="covers digit models"):
        from mnist_cnn import report

        report.check_run_dir(run)
