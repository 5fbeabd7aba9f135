"""``mnist-cnn export``: every format is written atomically, read back by its runtime and
agrees with Keras; ``predict`` and ``serve`` read the LiteRT and ONNX exports directly."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from mnist_cnn import export, inference, runs, runtimes
from mnist_cnn.cli import main
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import preprocess


@pytest.fixture
def run_dir(tmp_path, shipped_model_dir):
    """A copy of the shipped model's folder, to export into."""
    return shutil.copytree(shipped_model_dir, tmp_path / "run")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, shipped_model_dir):
    """The shipped model exported once in each format that `predict` reads."""
    folder = shutil.copytree(shipped_model_dir, tmp_path_factory.mktemp("exported") / "run")
    model = runs.load_model(folder)
    images, source = np.zeros((8, 28, 28), np.uint8), runs.file_sha256(folder / "model.keras")
    for name in ("litert", "onnx"):
        export.export_model(model, name, folder / "export", images, model_sha256=source)
    return folder


def error_line(capsys) -> str:
    """The one error line on stderr (after the line naming the model, if any)."""
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(line.startswith("mnist-cnn: model ") for line in lines[:-1]), lines
    assert lines[-1].startswith("mnist-cnn: error: "), lines
    return lines[-1]


@pytest.mark.slow  # an export and its check: seconds each
@pytest.mark.parametrize("name", sorted(export.FORMATS))
def test_every_format_exports_loads_back_and_agrees_with_keras(
    run_dir, fake_mnist_dir, digit_images, capsys, name
):
    assert main(["export", str(run_dir), "--format", name]) == 0
    target = run_dir / "export" / export.FORMATS[name].file
    out = capsys.readouterr().out
    assert f"Exported {target}" in out and "on 200 of 200 test images" in out
    check = json.loads((run_dir / "export" / "checks.json").read_text())[name]
    assert check["images"] == check["same_top_class"] == 200  # the fake test set
    assert 0 <= check["max_abs_difference"] < 1e-4
    assert check["model_sha256"] == runs.file_sha256(run_dir / "model.keras")
    assert check["params"] == 262_826
    assert [p.name for p in (run_dir / "export").iterdir() if p.name.startswith(".")] == []
    # Read back in this process, on other digits than the check's.
    model = runs.load_model(run_dir)
    predict = export.load_export(target, name)
    x = preprocess(digit_images[0])
    np.testing.assert_allclose(predict(x), model.predict_on_batch(x), atol=1e-4)


@pytest.mark.slow  # several exports and re-checks: seconds each
def test_export_records_every_format_and_replaces_an_earlier_export(run_dir, fake_mnist_dir):
    export.export_run(run_dir, "saved_model")
    export.export_run(run_dir, "litert")
    first = (run_dir / "export" / "model.tflite").stat().st_ino
    export.export_run(run_dir, "saved_model")  # a folder replaced by a folder
    checks = json.loads((run_dir / "export" / "checks.json").read_text())
    assert set(checks) == {"saved_model", "litert"}
    assert (run_dir / "export" / "saved_model" / "saved_model.pb").is_file()
    assert (run_dir / "export" / "model.tflite").stat().st_ino == first
    assert sorted(p.name for p in (run_dir / "export").iterdir()) == [
        "checks.json",
        "model.tflite",
        "saved_model",
    ]


def test_a_failed_export_leaves_no_folder(run_dir, fake_mnist_dir, capsys, monkeypatch):
    def half_written(self, path, format, **kwargs):
        with open(path, "wb") as f:
            f.write(b"half a model")
        raise RuntimeError("converter crashed")

    monkeypatch.setattr("keras.Model.export", half_written)
    assert main(["export", str(run_dir), "--format", "litert"]) == 1
    assert "could not export the model as litert (RuntimeError: converter crashed)" in (
        error_line(capsys)
    )
    assert not (run_dir / "export").exists()


@pytest.mark.slow  # several exports and re-checks: seconds each
def test_an_export_that_disagrees_is_not_kept_and_the_earlier_one_stays(
    run_dir, fake_mnist_dir, capsys, monkeypatch
):
    export.export_run(run_dir, "litert")
    before = (run_dir / "export" / "model.tflite").read_bytes()
    monkeypatch.setattr(export, "check_export", lambda model, predict, images: (150, 0.9))
    assert main(["export", str(run_dir), "--format", "litert"]) == 1
    assert "another top class than Keras on 50 of 200 test images; it was not kept" in (
        error_line(capsys)
    )
    assert (run_dir / "export" / "model.tflite").read_bytes() == before
    assert sorted(p.name for p in (run_dir / "export").iterdir()) == [
        "checks.json",
        "model.tflite",
    ]


def test_onnx_without_its_packages_says_what_to_install(
    run_dir, fake_mnist_dir, capsys, monkeypatch
):
    def no_tf2onnx(self, path, format, **kwargs):
        raise ImportError("No module named 'tf2onnx'", name="tf2onnx")

    monkeypatch.setattr("keras.Model.export", no_tf2onnx)
    assert main(["export", str(run_dir), "--format", "onnx"]) == 1
    err = error_line(capsys)
    assert "needs onnx, onnxruntime and tf2onnx" in err and "tf2onnx is missing" in err
    assert "pip install 'mnist-cnn[export]'" in err
    assert not (run_dir / "export").exists()


@pytest.mark.slow  # several exports and re-checks: seconds each
def test_the_shipped_model_is_exported_only_elsewhere(capsys, tmp_path, fake_mnist_dir):
    shipped = str(inference.DEFAULT_MODEL.parent)
    assert main(["export", shipped]) == 1
    assert "read-only; export it with --out DIR" in error_line(capsys)
    assert not (inference.DEFAULT_MODEL.parent / "export").exists()
    assert main(["export", shipped, "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "model.tflite").is_file()


@pytest.mark.slow  # exports a model and reads a folder through it
def test_predict_reads_an_export_as_it_reads_the_keras_model(
    exported, tmp_path, digit_images, capsys
):
    files = []
    for i in (0, 1, 7):  # dark ink on white paper, 120 pixels tall
        ink = Image.fromarray(digit_images[0][i]).resize((120, 120), Image.BICUBIC)
        files.append(str(tmp_path / f"digit{i}.png"))
        Image.fromarray(255 - np.pad(np.asarray(ink), 30)).save(files[-1])
    readings = {}
    for model in ("model.keras", "export/model.tflite", "export/model.onnx"):
        assert main(["predict", *files, "--model", str(exported / model), "--json"]) == 0
        readings[model] = json.loads(capsys.readouterr().out)
    keras_rows = readings.pop("model.keras")
    assert all(row["prediction"] for row in keras_rows)
    for rows in readings.values():
        assert [r["prediction"] for r in rows] == [r["prediction"] for r in keras_rows]
        for row, expected in zip(rows, keras_rows, strict=True):
            assert row["confidence"] == pytest.approx(expected["confidence"], abs=1e-4)


@pytest.mark.slow  # uses the module's exports (two formats, seconds)
def test_a_reader_of_an_export_names_its_run_and_runtime(exported):
    for file, engine in (("model.tflite", "LiteRT"), ("model.onnx", "ONNX Runtime")):
        reader = inference.DigitReader.load(exported / "export" / file)
        assert reader.engine == engine
        assert reader.info["name"] == "run" and reader.info["params"] == 262_826
        assert reader.info["test_accuracy"] == pytest.approx(0.9948)


@pytest.mark.slow  # uses the module's exports (two formats, seconds)
def test_serve_runs_a_current_litert_export_without_exporting_again(
    exported, tmp_path, monkeypatch
):
    monkeypatch.setattr(runtimes, "litert_predictor", lambda model: pytest.fail("exported again"))
    reader = inference.DigitReader.load(exported, litert=True)
    assert isinstance(reader.model, runtimes.ExportedModel) and reader.engine == "LiteRT"
    assert reader.info["name"] == "run"
    # A model.keras changed since its export: the export no longer belongs to it.
    changed = shutil.copytree(exported, tmp_path / "changed")
    runs.load_model(changed).save(changed / "model.keras")  # the same weights, other bytes
    runs.record_model_hash(changed)  # as training does whenever it writes model.keras
    assert export.current_export(changed / "model.keras", "litert") is None
    calls = []
    monkeypatch.setattr(runtimes, "litert_predictor", lambda model: calls.append(model))
    reader = inference.DigitReader.load(changed, litert=True)
    assert calls and not isinstance(reader.model, runtimes.ExportedModel)


@pytest.mark.slow  # uses the module's exports (two formats, seconds)
def test_a_tampered_export_is_not_used_by_serve(exported, tmp_path):
    copy = shutil.copytree(exported, tmp_path / "copy")
    with open(copy / "export" / "model.tflite", "ab") as f:
        f.write(b"\0")
    assert export.current_export(copy / "model.keras", "litert") is None
    assert export.current_export(exported / "model.keras", "litert") is not None


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("model.tflite", b"not a model", "cannot load the model"),
        ("model.onnx", b"not a model", "cannot load the model"),
        ("absent.tflite", None, "no such model file"),
    ],
)
def test_a_bad_export_is_a_one_line_error(tmp_path, capsys, name, content, fragment):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["predict", str(tmp_path), "--model", str(path)]) == 1
    assert fragment in error_line(capsys)


def test_an_export_for_other_inputs_is_refused(tmp_path, capsys):
    from mnist_cnn.backend import keras

    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(10)])
    other(np.zeros((1, 8)))  # Keras exports only a model once called
    other.export(str(tmp_path / "other.onnx"), format="onnx", verbose=False)
    with pytest.raises(MnistCnnError, match=r"takes \[.*8\] and gives .*expected a 28x28x1"):
        inference.DigitReader.load(tmp_path / "other.onnx")
