"""What `mnist_cnn.introspection` returns, for every kind of model the report meets
(Sequential loaded from disk, functional, built lazily, nested like an ensemble)."""

import numpy as np
import pytest

from mnist_cnn import introspection, models, runs
from mnist_cnn.backend import keras
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.preprocessing import INPUT_SHAPE


def lazy_sequential():
    """A Sequential model with no Input layer, not built until first used."""
    layers = keras.layers
    return keras.Sequential(
        [
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )


def nested(members, name=None):
    """Models wrapped in one, averaging their outputs, like an ensemble."""
    inputs = keras.Input(INPUT_SHAPE)
    outputs = [m(inputs) for m in members]
    return keras.Model(
        inputs, outputs[0] if len(outputs) == 1 else keras.layers.Average()(outputs), name=name
    )


@pytest.fixture(scope="module")
def tiny(tiny_model_file):
    return runs.load_model(tiny_model_file)


@pytest.mark.parametrize(
    "kind, features, kernels, maps",
    [
        ("sequential", 1600, (32, 3, 3), [(26, 26, 32), (11, 11, 64)]),
        ("functional", 128, (32, 3, 3), [(26, 26, 32), (13, 13, 64), (11, 11, 64)]),
        ("lazy", 676, (4, 3, 3), [(26, 26, 4)]),
        ("nested", 1600, (32, 3, 3), [(26, 26, 32), (11, 11, 64)]),  # its first member
    ],
)
def test_every_kind_of_model(kind, features, kernels, maps, tiny, digit_images):
    x, _ = digit_images
    model = {
        "sequential": lambda: tiny,
        "functional": lambda: models.build("cnn"),  # conv + batch norm + ReLU blocks
        "lazy": lazy_sequential,
        "nested": lambda: nested([tiny, models.build("fast")]),
    }[kind]()
    assert introspection.penultimate_features(model, x[:7]).shape == (7, features)
    name, weights = introspection.first_layer_kernels(model)
    assert weights.shape == kernels and weights.dtype == np.float32 and name.startswith("conv2d")
    shapes = [fmap.shape for _, fmap in introspection.feature_maps(model, x[1])]
    assert shapes == maps


def test_feature_maps_are_taken_after_batch_norm_and_relu(digit_images):
    model = models.build("cnn")
    blocks = introspection.block_outputs(model)
    assert len(blocks) == 3
    assert all(name.startswith("conv2d") and name.endswith(" + BN + ReLU") for name, _ in blocks)
    maps = introspection.feature_maps(model, digit_images[0][0])
    assert all((fmap >= 0).all() for _, fmap in maps)  # after ReLU: nothing negative


def test_a_model_without_convolutions_is_a_clear_error():
    mlp = keras.Sequential(
        [keras.Input(INPUT_SHAPE), keras.layers.Flatten(), keras.layers.Dense(10)], name="mlp"
    )
    with pytest.raises(MnistCnnError, match="model 'mlp' has no Conv2D layer"):
        introspection.first_layer_kernels(mlp)
    with pytest.raises(MnistCnnError, match="model 'ensemble' has no Conv2D layer"):
        introspection.inspected_model(nested([mlp], name="ensemble"))


class TopLeftModel:
    """A stand-in model: the more ink in the top-left 8x8 corner, the surer it is
    of class 1; ink elsewhere means nothing to it."""

    def predict(self, x, batch_size=None, verbose=0):
        ink = x[:, :8, :8, 0].sum(axis=(1, 2))
        p1 = 1 / (1 + np.exp(-(ink - 5.0)))
        return np.stack([1 - p1] + [p1] + [np.zeros_like(p1)] * 8, axis=1)


def test_occlusion_finds_the_pixels_the_model_uses():
    image = np.zeros((28, 28), np.uint8)
    image[2:7, 2:7] = 255  # ink the model relies on
    image[18:24, 18:24] = 255  # ink it ignores
    maps, predicted = introspection.occlusion_sensitivity(TopLeftModel(), image[None], patch=6)
    assert maps.shape == (1, 28, 28) and predicted.tolist() == [1]
    heat = maps[0]
    assert heat[2:7, 2:7].mean() > 0.5 and np.abs(heat[18:24, 18:24]).max() < 1e-9


@pytest.mark.slow  # a projection of 200 embeddings: a second
def test_the_trained_model_separates_digits_in_its_embedding(model_file, digit_images):
    x, y = digit_images
    features = introspection.penultimate_features(runs.load_model(model_file), x[:100])
    e = introspection.embed(features, seed=0)
    assert e.pca.shape == e.tsne.shape == (100, 2) and e.dimensions == features.shape[1]
    assert 0 < e.variance[1] <= e.variance[0] < 1
    # Each point's nearest neighbour in the t-SNE map is mostly the same digit.
    distances = np.linalg.norm(e.tsne[:, None] - e.tsne[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    assert (y[:100][distances.argmin(axis=1)] == y[:100]).mean() > 0.8
    again = introspection.embed(features, seed=0)
    assert np.allclose(again.tsne, e.tsne)  # repeatable
