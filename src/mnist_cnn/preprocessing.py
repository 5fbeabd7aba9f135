"""Step 2: preprocess. The one place where pixels become model input.

Every caller (training, evaluation, prediction, the server, the board) turns
images into model input with `preprocess`, and nothing else divides by 255.
It accepts only uint8 pixels 0-255 (MNIST's own format), so an image that was
already scaled cannot be scaled twice, and an unscaled float image cannot slip
into the model: the train/predict mismatch of scaling differently in two
places is impossible by construction.

>>> import numpy as np
>>> x = preprocess(np.full((2, 28, 28), 255, np.uint8))
>>> x.shape, x.dtype, float(x.max())
((2, 28, 28, 1), dtype('float32'), 1.0)
"""

from __future__ import annotations

import numpy as np

from mnist_cnn.errors import MnistCnnError

IMAGE_SIZE = 28
NUM_CLASSES = 10
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)


def preprocess(images: np.ndarray, size: tuple[int, int] = (IMAGE_SIZE, IMAGE_SIZE)) -> np.ndarray:
    """uint8 images (N, 28, 28), (N, 28, 28, 1) or one (28, 28) -> float32 (N, 28, 28, 1) in [0, 1].

    Images must be MNIST-style: white digit on black, 0-255. Anything else raises
    `MnistCnnError` saying what was wrong. `size` is (height, width): the number
    model's strips (`mnist_cnn.imaging.strip.SIZE`) come through here too.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise MnistCnnError(
            f"expected uint8 pixels 0-255, got dtype {images.dtype}; "
            "convert with np.clip(x, 0, 255).astype(np.uint8) (do not pre-scale to [0, 1])"
        )
    if images.shape == tuple(size):
        images = images[None]
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != tuple(size):
        raise MnistCnnError(
            f"expected images of shape (N, {size[0]}, {size[1]}), got {images.shape}"
        )
    return (images.astype(np.float32) / 255.0)[..., None]


def one_hot(labels: np.ndarray) -> np.ndarray:
    """Digits 0-9 -> float32 one-hot rows, the targets of categorical crossentropy.

    >>> one_hot(np.array([2]))[0].tolist()
    [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise MnistCnnError(f"labels must be digits 0-9, got range {labels.min()}-{labels.max()}")
    return np.eye(NUM_CLASSES, dtype=np.float32)[labels]
