"""mnist-cnn: build, train, evaluate and apply a Keras CNN for MNIST digits.

The steps, one module each: `data` (load and explore), `preprocessing`,
`models` (design), `training` (compile and train), `evaluation` (test) and
`plots`; `cli` puts them behind the ``mnist-cnn`` command.
"""

import os

# Keras 3 runs on several backends; TensorFlow is the fastest here on CPU.
# A user's own choice (KERAS_BACKEND=jax or torch) is respected.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no C++ info/warning lines

__version__ = "0.1.0"
