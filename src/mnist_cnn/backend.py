"""Keras, imported without TensorFlow's start-up noise.

TensorFlow's C++ runtime prints a few lines to the stderr file descriptor while
it loads, before any log level applies. They say nothing to a user, so the
first import runs with file descriptor 2 pointed at /dev/null; Python errors
still reach the user because they are raised, not printed, during the import.

    from mnist_cnn.backend import keras
"""

import contextlib
import os
import sys
from collections.abc import Iterator

import mnist_cnn  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """File descriptor 2 pointed at /dev/null for a moment: C++ runtimes (TensorFlow's
    start-up, LiteRT's "Created TensorFlow Lite XNNPACK delegate") print there
    directly, whatever the log level."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


if os.environ["KERAS_BACKEND"] == "tensorflow" and "tensorflow" not in sys.modules:
    with quiet_stderr():
        import tensorflow  # noqa: F401

import keras  # noqa: E402

__all__ = ["keras"]
