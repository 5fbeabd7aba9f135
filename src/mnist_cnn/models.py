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

import warnings
from collections.abc import Callable

from mnist_cnn import runs
from mnist_cnn.backend import keras
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import INPUT_SHAPE, NUM_CLASSES

layers = keras.layers

# Keras' default 0.99 makes the moving statistics lag for a few hundred steps,
# which spoils validation in short runs; 0.9 settles within an epoch.
BN_MOMENTUM = 0.9

MODELS: dict[str, Callable[[], keras.Model]] = {}
NUMBER_MODELS: set[str] = set()  # those reading a strip of digits (`numbers`), not one digit

# Former names that still work, with a warning: old name -> current name.
# "seed" read like the --seed option.
RENAMED = {"seed": "original"}
_warned: set[str] = set()  # the former names already warned about in this process


def register(name: str, reads_numbers: bool = False):
    """Decorator that adds an architecture to `MODELS` under `name` (and to
    `NUMBER_MODELS` if it reads whole numbers)."""

    def add(fn: Callable[[], keras.Model]) -> Callable[[], keras.Model]:
        MODELS[name] = fn
        if reads_numbers:
            NUMBER_MODELS.add(name)
        return fn

    return add


def cpu_flags(cpuinfo_path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags as the Linux kernel lists them ("avx2", "avx512_bf16",
    ...); empty where it does not say."""
    return set(next(iter(runs.cpuinfo("flags", cpuinfo_path)), "").split())


def cpu_has_bfloat16(cpuinfo_path: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512_BF16 or AMX-BF16).

    Read from the Linux kernel's CPU flags, so False elsewhere. Without these
    instructions TensorFlow emulates bfloat16, and training runs several times
    slower than in float32 (8x for the `fast` preset on an AVX2-only CPU).
    """
    return not {"avx512_bf16", "amx_bf16"}.isdisjoint(cpu_flags(cpuinfo_path))


def has_gpu() -> bool:
    """Whether the Keras backend in use sees a GPU."""
    if keras.backend.backend() == "torch":  # it has no keras.distribution
        import torch

        return torch.cuda.is_available()
    # All devices, not list_devices("gpu"): the JAX backend raises where it has no GPU.
    return any(device.startswith("gpu") for device in keras.distribution.list_devices())


def resolve_precision(precision: str) -> str:
    """Precision "auto" becomes "mixed_bfloat16" where the CPU has bfloat16 instructions,
    else "float32"; other values are returned as they are.

    >>> resolve_precision("float32")
    'float32'
    """
    if precision != "auto":
        return precision
    return "mixed_bfloat16" if cpu_has_bfloat16() else "float32"


def resolve_name(name: str) -> str:
    """The registered name of the architecture `name`: itself, or the current name
    of a former one (with a FutureWarning, once per process); unknown names are an error.

    >>> resolve_name("cnn")
    'cnn'
    """
    if name in RENAMED:
        if name not in _warned:
            _warned.add(name)
            warnings.warn(
                f"model {name!r} is deprecated: it is now called {RENAMED[name]!r}",
                FutureWarning,
                stacklevel=3,
            )
        return RENAMED[name]
    if name not in MODELS:
        raise MnistCnnError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return name


def build(name: str, precision: str = "float32") -> keras.Model:
    """A fresh, uncompiled model of the architecture called `name`.

    precision "mixed_bfloat16" makes its layers compute in bfloat16 (the weights
    and the final softmax stay float32); the layers keep that policy when saved.
    "auto" picks it only where the CPU computes bfloat16 natively.
    """
    name = resolve_name(name)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve_precision(precision))
    try:
        return MODELS[name]()
    finally:
        keras.config.set_dtype_policy(previous)


@register("original")
def original(dropout: float = 0.25) -> keras.Model:
    """The original project's network: two conv/pool stages and a softmax layer.

    With ``dropout=0.5`` it is the Keras "Simple MNIST convnet" example.
    """
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(dropout),
            layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32"),
        ],
        name="original",
    )


def conv_bn(x, filters: int, kernel_size: int = 3, padding: str = "same", strides: int = 1):
    """Conv -> batch norm -> ReLU; the conv needs no bias since batch norm adds one."""
    x = layers.Conv2D(filters, kernel_size, strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    return layers.ReLU()(x)


@register("cnn")
def cnn() -> keras.Model:
    """The shipped model's design: three conv layers with batch norm, a dense layer, dropout."""
    inputs = keras.Input(INPUT_SHAPE)
    x = conv_bn(inputs, 32, padding="valid")  # 26x26
    x = layers.MaxPooling2D()(x)  # 13x13
    x = conv_bn(x, 64)  # 13x13
    x = conv_bn(x, 64, padding="valid")  # 11x11
    x = layers.MaxPooling2D()(x)  # 5x5
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(128, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="cnn")


def strided_plain(width: int, name: str) -> keras.Model:
    """A strided 5x5 first layer, then `width`, 2x and 4x channels, no batch norm."""
    # Batch norm would add 0.2-0.3% after two epochs, but on 2 CPU cores it makes
    # each step 1.5-2x slower; a higher learning rate gets most of that back.
    inputs = keras.Input(INPUT_SHAPE)
    x = layers.Conv2D(width, 5, strides=2, padding="same", activation="relu")(inputs)  # 14x14
    x = layers.Conv2D(2 * width, 3, activation="relu")(x)  # 12x12
    x = layers.MaxPooling2D()(x)  # 6x6
    x = layers.Conv2D(4 * width, 3, activation="relu")(x)  # 4x4
    x = layers.Flatten()(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


@register("fast")
def fast() -> keras.Model:
    """Built for speed: 16/32/64 channels, about 1M MACs; 99.1% in two epochs."""
    return strided_plain(16, "fast")


@register("fast24")
def fast24() -> keras.Model:
    """The default: `fast` at 24/48/96 channels, 2.3M MACs; 99.5% in 12 epochs."""
    # At 32/64/128 (4M MACs) 10 epochs scored as 12 do here, in more time; at
    # 16/32/64, 20 epochs stayed under 99.5% (docs/experiments.md).
    return strided_plain(24, "fast24")


@register("wide")
def wide() -> keras.Model:
    """For accuracy: two conv pairs at 28x28 and 14x14, a 5x5 stage, dropout."""
    # 48/96/192 channels rather than 32/64/128: 2.2x the multiply-adds and 1.7x the time
    # per epoch on 2 cores, for a lower validation loss (README, "What helped").
    inputs = keras.Input(INPUT_SHAPE)
    x = conv_bn(inputs, 48)
    x = conv_bn(x, 48)
    x = layers.MaxPooling2D()(x)  # 14x14
    x = layers.Dropout(0.2)(x)
    x = conv_bn(x, 96)
    x = conv_bn(x, 96)
    x = layers.MaxPooling2D()(x)  # 7x7
    x = layers.Dropout(0.2)(x)
    x = conv_bn(x, 192, padding="valid")  # 5x5
    x = layers.Flatten()(x)
    x = layers.Dropout(0.4)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="wide")


@register("strided")
def strided() -> keras.Model:
    """A second design for ensembles with wide: strided 5x5 convs instead of pooling."""
    # Members of one design tend to miss the same digits; a second design (the layer
    # pattern of Kaggle's widely cited 15-CNN, 99.75% MNIST ensemble) is meant to miss
    # others. README, "What helped", gives how mixed ensembles scored.
    inputs = keras.Input(INPUT_SHAPE)
    x = conv_bn(inputs, 32)
    x = conv_bn(x, 32)
    x = conv_bn(x, 32, 5, strides=2)  # 14x14
    x = layers.Dropout(0.4)(x)
    x = conv_bn(x, 64)
    x = conv_bn(x, 64)
    x = conv_bn(x, 64, 5, strides=2)  # 7x7
    x = layers.Dropout(0.4)(x)
    x = conv_bn(x, 128, 4, padding="valid")  # 4x4
    x = layers.Flatten()(x)
    x = layers.Dropout(0.4)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="strided")


@register("numbers", reads_numbers=True)
def numbers() -> keras.Model:
    """Reads a whole number: a strip of digits in, CTC logits per 4-pixel frame out.

    Convolution only, so that it exports to LiteRT: the strip (32x256, see
    `mnist_cnn.imaging.strip`) is pooled to 64 frames of 4 columns, its height folded
    into channels, and a 1-D convolution over neighbouring frames lets each see a
    digit and a half either way before the per-frame classes (`mnist_cnn.ctc`).
    """
    from mnist_cnn import ctc
    from mnist_cnn.imaging import strip

    inputs = keras.Input((strip.HEIGHT, strip.WIDTH, 1))
    x = layers.Conv2D(16, 5, strides=2, padding="same", activation="relu")(inputs)  # 16x128
    x = conv_bn(x, 32)
    x = layers.MaxPooling2D()(x)  # 8x64: one column per 4-pixel frame
    x = conv_bn(x, 64)
    x = conv_bn(x, 64)
    x = layers.MaxPooling2D((2, 1))(x)  # 4x64
    x = conv_bn(x, 128, (4, 1), padding="valid")  # 1x64: each frame's column as one vector
    x = layers.Reshape((strip.WIDTH // ctc.FRAME, 128))(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Conv1D(128, 7, padding="same", activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(ctc.CLASSES, dtype="float32")(x)  # logits: CTC wants them
    return keras.Model(inputs, outputs, name="numbers")


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates for one image's forward pass (conv and dense layers).

    >>> count_macs(build("original"))
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
        elif isinstance(layer, layers.Conv1D):
            k, cin_per_group, cout = layer.kernel.shape
            _, t, _ = layer.output.shape
            total += t * cout * k * cin_per_group
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
