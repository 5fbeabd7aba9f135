"""Running models outside Keras: LiteRT and ONNX Runtime.

The reader runs its models with LiteRT where it can (`litert_predictor`): the few
digits of one image are read several times faster than by Keras. Models exported
by ``mnist-cnn export`` (`mnist_cnn.export`) are run by their own runtime
(`ExportedModel`), without Keras.

    predict = exported_predictor("runs/cnn-1/export/model.tflite")
    probabilities = predict(np.zeros((2, 28, 28, 1), np.float32))   # (2, 10)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnist_cnn import runs
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import IMAGE_SIZE, NUM_CLASSES

EXPORTED_SUFFIXES = {".tflite": "LiteRT", ".onnx": "ONNX Runtime"}  # suffix -> runtime
EXPORT_FOLDER = "export"  # in a run folder: the exports of its model.keras
EXPORT_CHECKS = "checks.json"  # in it: how each export was checked, and from which model


def litert_predictor(model) -> Callable[[np.ndarray], np.ndarray] | None:
    """`model` exported by Keras to LiteRT (``model.export(path, format="litert")``)
    and run by LiteRT's interpreter, as a function like `model.predict_on_batch`.
    None where that cannot be done, or gives other numbers than Keras: no
    ``ai_edge_litert``, a Keras backend without the export, or bfloat16 layers
    (LiteRT would need TensorFlow ops it does not ship).

    LiteRT's CPU kernels (XNNPACK) cost little per call. On 2 cores (AVX2 EPYC) the
    three views of one digit take 0.3 ms instead of 1.5 ms with `predict_on_batch`,
    3,000 views 0.30 s instead of 0.63 s, with probabilities equal to 1e-7. The
    export takes 1-2 s.
    """
    from mnist_cnn.backend import quiet_stderr

    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.tflite"
            model.export(str(path), format="litert", verbose=False)
            predict = litert_runner(path.read_bytes())

        shape = tuple(model.input_shape[1:])
        probe = np.random.default_rng(0).random((2, *shape), np.float32)
        with quiet_stderr():  # the first call announces its XNNPACK kernels
            fast = predict(probe)
        same = np.allclose(fast, model(probe, training=False), atol=1e-5)
    except Exception:  # whatever fails here, Keras itself reads the same digits
        return None
    return predict if same else None


class ExportedModel:
    """A model exported to a ``.tflite`` or ``.onnx`` file, run by its own runtime, with
    what `DigitReader` asks of a Keras model: `predict_on_batch`, the input and output
    shapes and `count_params` (as recorded by ``mnist-cnn export``; None if unknown).

    Args:
        path: the exported file.
    """

    input_shape = (None, IMAGE_SIZE, IMAGE_SIZE, 1)
    output_shape = (None, NUM_CLASSES)

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.engine = EXPORTED_SUFFIXES.get(self.path.suffix)
        if self.engine is None:
            raise MnistCnnError(
                f"{path}: an exported model is a .tflite or .onnx file (mnist-cnn export)"
            )
        self.predict_on_batch = exported_predictor(self.path)

    def count_params(self) -> int | None:
        try:
            checks = runs.read_json(self.path.parent / EXPORT_CHECKS)
        except MnistCnnError:  # a mangled record: the count is unknown, the model still runs
            return None
        recorded = [c.get("params") for c in checks.values() if isinstance(c, dict)]
        return next((p for p in recorded if isinstance(p, int)), None)


def exported_predictor(path: str | os.PathLike) -> Callable[[np.ndarray], np.ndarray]:
    """A function like `model.predict_on_batch` running an exported model: a ``.tflite``
    file with LiteRT, an ``.onnx`` file with ONNX Runtime.

    Args:
        path: the exported file.

    Returns:
        float32 (N, 28, 28, 1) inputs -> (N, 10) probabilities.

    Raises:
        MnistCnnError: no such file, not a model for 28x28x1 inputs and 10 classes, or
            the runtime is not installed (ONNX Runtime comes with ``mnist-cnn[export]``).

    Example:
        >>> predict = exported_predictor("runs/cnn-1/export/model.onnx")  # doctest: +SKIP
        >>> predict(np.zeros((2, 28, 28, 1), np.float32)).shape  # doctest: +SKIP
        (2, 10)
    """
    path = Path(path)
    if not path.is_file():
        raise MnistCnnError(f"{path}: no such model file")
    try:
        if path.suffix == ".onnx":
            predict, shapes = _onnx_runner(path)
        else:
            predict = litert_runner(path.read_bytes())
            shapes = predict.shapes
    except ImportError as e:
        raise MnistCnnError(
            f"{path}: reading it needs {e.name}: pip install 'mnist-cnn[export]'"
        ) from None
    except Exception as e:  # each runtime raises its own types for a bad file
        raise MnistCnnError(f"{path}: cannot load the model ({type(e).__name__}: {e})") from None
    if [list(shape[1:]) for shape in shapes] != [[IMAGE_SIZE, IMAGE_SIZE, 1], [NUM_CLASSES]]:
        raise MnistCnnError(
            f"{path}: takes {shapes[0]} and gives {shapes[1]}; "
            "expected a 28x28x1 MNIST input and 10 class probabilities"
        )
    from mnist_cnn.backend import quiet_stderr

    try:
        with quiet_stderr():  # LiteRT's first call announces its XNNPACK kernels
            predict(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1), np.float32))
    except Exception as e:
        raise MnistCnnError(f"{path}: cannot run the model ({type(e).__name__}: {e})") from None
    return predict


def litert_runner(content: bytes) -> Callable[[np.ndarray], np.ndarray]:
    """A LiteRT model (the bytes of a ``.tflite`` file) as a function like
    `model.predict_on_batch`, run by LiteRT's interpreter on every core; its ``shapes``
    attribute holds the input and output shapes."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=os.cpu_count())
    (source,) = interpreter.get_input_details()
    (target,) = interpreter.get_output_details()
    shape = None

    def predict(inputs: np.ndarray) -> np.ndarray:
        nonlocal shape
        inputs = np.ascontiguousarray(inputs, np.float32)
        if inputs.shape != shape:  # LiteRT plans its memory for one batch size
            interpreter.resize_tensor_input(source["index"], inputs.shape)
            interpreter.allocate_tensors()
            shape = inputs.shape
        interpreter.set_tensor(source["index"], inputs)
        interpreter.invoke()
        return interpreter.get_tensor(target["index"])

    predict.shapes = [list(source["shape_signature"]), list(target["shape_signature"])]
    return predict


def _onnx_runner(path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], list[list]]:
    """An ONNX model run by ONNX Runtime on the CPU, and its input and output shapes."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (source,), (target,) = session.get_inputs(), session.get_outputs()

    def predict(inputs: np.ndarray) -> np.ndarray:
        return session.run([target.name], {source.name: np.asarray(inputs, np.float32)})[0]

    return predict, [source.shape, target.shape]
