"""Ray, for the work that is many independent trainings: ``mnist-cnn tune`` and
``mnist-cnn ensemble --train``.

Ray runs on this machine by default, with as many CPUs as it has, or joins a
running cluster given its address (``--address``, else ``$RAY_ADDRESS``; ``auto``
is the cluster this machine is a node of). Each
training then gets the CPUs Ray gives it and TensorFlow uses that many threads,
so that trainings side by side do not fight over the cores. Ray is an optional
extra: ``pip install "mnist-cnn[cluster]"``.

>>> limit = cpus_of({"CPU": 2.0, "memory": 1e9})
>>> limit
2
"""

from __future__ import annotations

import os
from types import ModuleType

from mnist_cnn.errors import MnistCnnError

ADDRESS_ENV = "RAY_ADDRESS"


def require_ray() -> ModuleType:
    """The `ray` module, or a one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise MnistCnnError(
            'this command runs on Ray, which is not installed: pip install "mnist-cnn[cluster]"'
        ) from None
    return ray


def connect(address: str | None = None) -> ModuleType:
    """Start Ray on this machine, or join the cluster at `address` (else
    ``$RAY_ADDRESS``); returns the `ray` module. Joining twice is harmless.

    Example:
        >>> ray = connect()                       # doctest: +SKIP
        >>> ray.cluster_resources()["CPU"]        # doctest: +SKIP
        2.0
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    # "local": a Ray of this process's own, even where a cluster this machine belongs
    # to (or a stopped one's leftover address file) would otherwise be joined.
    address = address or os.environ.get(ADDRESS_ENV) or "local"
    # A Ray started for one command reports no usage statistics (unless asked to).
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        # The workers' own output stays in Ray's logs: Tune and the ensemble report
        # progress themselves, and a failure comes back as the trial's error.
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except ConnectionError as e:
        raise MnistCnnError(f"could not join the Ray cluster at {address}: {e}") from None
    return ray


def cpus_of(resources: dict[str, float]) -> int:
    """Whole CPUs in a Ray resource assignment (at least 1)."""
    return max(1, int(resources.get("CPU", 1)))


def limit_threads() -> int:
    """Make TensorFlow in this Ray worker use as many threads as Ray gave it CPUs
    (else each of two trainings side by side would start a thread per core); returns
    that number. Call it before the first TensorFlow operation of the worker."""
    ray = require_ray()
    cpus = cpus_of(ray.get_runtime_context().get_assigned_resources())
    from mnist_cnn.backend import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(cpus)
            tf.config.threading.set_inter_op_parallelism_threads(cpus)
        except RuntimeError:
            pass  # a worker Ray reuses: its threads were set by the task before
    return cpus


def node() -> str:
    """This worker's node: its IP address and the start of Ray's node id (two nodes on
    one machine share the address)."""
    ray = require_ray()
    return f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()[:8]}"
