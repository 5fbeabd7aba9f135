"""Step 3: design the CNN. A registry of named architectures.

Each architecture is one function that returns an uncompiled `keras.Model`
taking preprocessed input (float32, 28x28x1, values in [0, 1]) and giving ten
class probabilities. Add one by writing a function and decorating it:

>>> @register("tiny")
... def tiny() -> keras.Model:
...     return keras.Sequential([keras.Input(INPUT_SHAPE), layers.Flatten(),
...                              layers.Dense(NUM_CLASSES, activation="softmax")])
>>> build("tiny").count_params()
7850
>>> del MODELS["tiny"]
"""

from __future__ import annotations

from collections.abc import Callable

from mnist_cnn.backend import keras
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import INPUT_SHAPE, NUM_CLASSES

layers = keras.layers

MODELS: dict[str, Callable[[], keras.Model]] = {}


def register(name: str):
    """Decorator that adds an architecture to `MODELS` under `name`."""

    def add(fn: Callable[[], keras.Model]) -> Callable[[], keras.Model]:
        MODELS[name] = fn
        return fn

    return add


def build(name: str) -> keras.Model:
    """A fresh, uncompiled model of the architecture called `name`."""
    if name not in MODELS:
        raise MnistCnnError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]()


@register("seed")
def seed() -> keras.Model:
    """The original project's network: two conv/pool stages and a softmax layer."""
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.25),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="seed",
    )


def conv_bn(x, filters: int, kernel_size: int = 3, padding: str = "same"):
    """Conv -> batch norm -> ReLU; the conv needs no bias since batch norm adds one."""
    x = layers.Conv2D(filters, kernel_size, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


@register("cnn")
def cnn() -> keras.Model:
    """The default: conv blocks with batch norm and dropout (see README for the figures)."""
    inputs = keras.Input(INPUT_SHAPE)
    x = conv_bn(inputs, 32)
    x = layers.MaxPooling2D()(x)
    x = conv_bn(x, 64)
    x = layers.MaxPooling2D()(x)
    x = conv_bn(x, 128)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="cnn")


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates for one image's forward pass (conv and dense layers).

    >>> count_macs(build("seed"))
    2440960
    """
    total = 0
    for layer in _leaf_layers(model):
        if isinstance(layer, layers.Conv2D) and not isinstance(layer, layers.DepthwiseConv2D):
            kh, kw, cin_per_group, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += h * w * cout * kh * kw * cin_per_group
        elif isinstance(layer, layers.DepthwiseConv2D):
            kh, kw, cin, mult = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += h * w * cin * mult * kh * kw
        elif isinstance(layer, layers.Dense):
            fan_in, units = layer.kernel.shape
            total += fan_in * units
    return int(total)


def _leaf_layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def describe_models() -> str:
    """A table of every registered model: parameters, multiply-adds, description."""
    rows = [f"{'model':<10}{'params':>10}{'MACs':>12}  description", "-" * 72]
    for name, fn in MODELS.items():
        model = fn()
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        rows.append(f"{name:<10}{model.count_params():>10,}{count_macs(model):>12,}  {doc}")
    return "\n".join(rows)
