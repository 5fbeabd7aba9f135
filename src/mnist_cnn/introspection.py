"""Looking inside a model: what its layers hold and compute for given digits.

Each function takes a Keras model and uint8 images (N, 28, 28) and returns
NumPy arrays, which `mnist_cnn.plots` draws: the first layer's kernels, the
feature maps of each convolution, occlusion sensitivity (where the model looks)
and the penultimate layer's features with their 2-D embedding (PCA, t-SNE).

A model that wraps others (an ensemble) is looked into through its first nested
model with a convolution (`inspected_model`).

>>> from mnist_cnn import introspection, runs
>>> model = runs.load_model("runs/cnn-20260101-120000")  # doctest: +SKIP
>>> name, kernels = introspection.first_layer_kernels(model)  # doctest: +SKIP
>>> kernels.shape  # doctest: +SKIP
(32, 3, 3)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import INPUT_SHAPE, preprocess

if TYPE_CHECKING:
    import keras

EPS = 1e-7  # keeps log-probabilities finite


def _keras():
    from mnist_cnn.backend import keras  # deferred: importing this module needs no TensorFlow

    return keras


def conv_layers(model: keras.Model) -> list:
    """The model's top-level Conv2D layers, in order."""
    keras = _keras()
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def inspected_model(model: keras.Model) -> keras.Model:
    """The model whose layers the other functions look at.

    Args:
        model: a Keras model, built or not.

    Returns:
        `model` itself, or for a model that wraps others (an ensemble) the first
        nested model with a Conv2D layer.

    Raises:
        MnistCnnError: if there is no Conv2D layer anywhere.
    """
    keras = _keras()
    if not model.built:  # a Sequential model without an Input layer, never called yet
        model.build((None, *INPUT_SHAPE))
    if conv_layers(model):
        return model
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            try:
                return inspected_model(layer)
            except MnistCnnError:
                continue
    raise MnistCnnError(f"model {model.name!r} has no Conv2D layer to show")


def _graph_inputs(model: keras.Model):
    """The symbolic input of a built model (functional, or Sequential loaded from
    disk or built by a first call)."""
    if not model.built:
        model.build((None, *INPUT_SHAPE))
    inputs = model.inputs
    return inputs[0] if len(inputs) == 1 else inputs


def block_outputs(model: keras.Model) -> list[tuple[str, object]]:
    """(name, symbolic tensor) for each top-level Conv2D, taken after the batch
    norm and activation layers that directly follow it, so that a feature map
    shows what the next layer sees. Names read like "conv2d + BN + ReLU"."""
    keras = _keras()
    followers = (
        keras.layers.BatchNormalization,
        keras.layers.ReLU,
        keras.layers.Activation,
        keras.layers.LeakyReLU,
    )
    blocks = []
    for i, layer in enumerate(model.layers):
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        tensor, names = layer.output, [layer.name]
        for nxt in model.layers[i + 1 :]:
            if not isinstance(nxt, followers) or nxt.input is not tensor:
                break
            tensor = nxt.output
            names.append(type(nxt).__name__.replace("BatchNormalization", "BN"))
        blocks.append((" + ".join(names), tensor))
    return blocks


def first_layer_kernels(model: keras.Model) -> tuple[str, np.ndarray]:
    """The first convolution's kernels, averaged over input channels.

    Args:
        model: a Keras model (see `inspected_model`).

    Returns:
        (the layer's name, kernels as float32 (filters, height, width)).

    Example:
        >>> from mnist_cnn import models
        >>> name, kernels = first_layer_kernels(models.build("seed"))  # doctest: +SKIP
        >>> kernels.shape  # doctest: +SKIP
        (32, 3, 3)
    """
    conv = conv_layers(inspected_model(model))[0]
    kernel = np.asarray(conv.kernel.numpy() if hasattr(conv.kernel, "numpy") else conv.kernel)
    # (h, w, in, filters) -> (filters, h, w); MNIST's first layer has one input channel.
    return conv.name, np.moveaxis(kernel.mean(axis=2), -1, 0).astype(np.float32)


def feature_maps(model: keras.Model, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """One digit through each convolutional block (`block_outputs`).

    Args:
        model: a Keras model (see `inspected_model`).
        image: one uint8 digit, 28x28.

    Returns:
        [(block name, activations as float32 (height, width, channels))], in
        the order of the layers.
    """
    keras = _keras()
    model = inspected_model(model)
    blocks = block_outputs(model)
    extractor = keras.Model(_graph_inputs(model), [tensor for _, tensor in blocks])
    outputs = extractor(preprocess(np.asarray(image)), training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    names = [name for name, _ in blocks]
    return [(name, np.asarray(o, np.float32)[0]) for name, o in zip(names, outputs, strict=True)]


def occlusion_sensitivity(
    model: keras.Model,
    images: np.ndarray,
    *,
    patch: int = 6,
    stride: int = 2,
    batch_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """How much the predicted class's log-probability drops when a `patch` x
    `patch` square of each image is erased (set to 0, MNIST's background), per
    pixel averaged over every patch that covers it.

    Args:
        model: anything with Keras' ``predict(x, batch_size=, verbose=)``.
        images: uint8 digits (N, 28, 28).
        patch: side of the erased square, in pixels.
        stride: step between patch positions.
        batch_size: images per ``predict`` call.

    Returns:
        (maps as float64 (N, 28, 28), predicted classes (N,)). Positive: the ink
        there supported the prediction; negative: erasing it made the model surer.
    """
    images = np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28)
    base = np.asarray(model.predict(preprocess(images), verbose=0))
    predicted = base.argmax(axis=1)
    steps = range(0, 28 - patch + 1, stride)
    corners = [(r, c) for r in steps for c in steps]
    # Every occluded copy of every image, in one batch: (N, corners, 28, 28).
    occluded = np.repeat(images, len(corners), axis=0).reshape(len(images), len(corners), 28, 28)
    covered = np.zeros((28, 28))
    for k, (r, c) in enumerate(corners):
        occluded[:, k, r : r + patch, c : c + patch] = 0
        covered[r : r + patch, c : c + patch] += 1
    probs = model.predict(
        preprocess(occluded.reshape(-1, 28, 28)), batch_size=batch_size, verbose=0
    )
    probs = np.asarray(probs).reshape(len(images), len(corners), -1)
    maps = np.zeros(images.shape, np.float64)
    for n in range(len(images)):
        # In log-probability: a confident model's probability barely moves from 0.999
        # to 0.99, while its log-probability (its evidence) clearly does.
        drop = np.log(base[n, predicted[n]] + EPS) - np.log(probs[n, :, predicted[n]] + EPS)
        for (r, c), d in zip(corners, drop, strict=True):
            maps[n, r : r + patch, c : c + patch] += d
    return maps / np.maximum(covered, 1), predicted


def penultimate_features(
    model: keras.Model, images: np.ndarray, batch_size: int = 500
) -> np.ndarray:
    """What the classifier sees: the input of the model's last Dense layer.

    Args:
        model: a Keras model (see `inspected_model`).
        images: uint8 digits (N, 28, 28).
        batch_size: images per ``predict`` call.

    Returns:
        float32 (N, features).

    Raises:
        MnistCnnError: if the model has no Dense layer.
    """
    keras = _keras()
    model = inspected_model(model)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise MnistCnnError(f"model {model.name!r} has no Dense layer")
    extractor = keras.Model(_graph_inputs(model), dense[-1].input)
    features = extractor.predict(preprocess(images), batch_size=batch_size, verbose=0)
    return np.asarray(features, np.float32).reshape(len(features), -1)


class Embedding(NamedTuple):
    """Feature vectors mapped to 2-D, two ways."""

    pca: np.ndarray  # (N, 2) the first two principal components
    variance: np.ndarray  # (2,) share of the variance each of them explains
    tsne: np.ndarray  # (N, 2) t-SNE of the first 50 principal components
    dimensions: int  # length of the feature vectors


def embed(features: np.ndarray, *, seed: int = 0) -> Embedding:
    """PCA and t-SNE of feature vectors (e.g. `penultimate_features`).

    Args:
        features: (N, features) with N >= 4.
        seed: for PCA's solver and t-SNE's start, so that a run is repeatable.

    Returns:
        An `Embedding`.

    Example:
        >>> e = embed(np.random.default_rng(0).normal(size=(40, 5)))
        >>> e.pca.shape, e.tsne.shape, e.dimensions
        ((40, 2), (40, 2), 5)
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    features = np.asarray(features, np.float32).reshape(len(features), -1)
    # One thread: on a busy machine OpenMP's spinning threads make t-SNE many
    # times slower, and one core does ~2,000 points in seconds.
    with threadpool_limits(1):
        pca = PCA(n_components=min(50, *features.shape), random_state=seed).fit(features)
        reduced = pca.transform(features)
        perplexity = min(30.0, (len(features) - 1) / 3)
        tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed, max_iter=500)
        projected = tsne.fit_transform(reduced)
    return Embedding(
        reduced[:, :2], pca.explained_variance_ratio_[:2], projected, features.shape[1]
    )
