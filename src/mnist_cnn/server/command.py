"""``mnist-cnn serve``: serve the app on uvicorn, loading the model meanwhile.

The port is bound first and answers at once: while TensorFlow and the model load
(seconds), ``/api/health`` says ``"loading"`` and ``/api/ready`` and reading answer
503 with Retry-After. A model that fails to load stops the server with its error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from mnist_cnn.config import THRESHOLD
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.server.app import Reader, create_app
from mnist_cnn.server.connections import ConnectionLimits
from mnist_cnn.server.limits import Limits
from mnist_cnn.server.middleware import BODY_TIMEOUT_S

if TYPE_CHECKING:
    import uvicorn


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    model: str | None = None,
    max_readings: int | None = None,
    workers: int = 1,
    threshold: float = THRESHOLD,
) -> None:
    """Serve the app until Ctrl-C, loading the model in the background.

    Args:
        host: the address to listen on.
        port: the port (0: any free port).
        model: a run folder or ``.keras`` file; None: `mnist_cnn.inference.find_model`.
        max_readings: readings at once per process (default: the CPU count, shared
            out among the workers); see `Limits`.
        workers: processes sharing the port (`serve_in_processes`).
        threshold: how sure a reading must be to be "ok" (`DigitReader`).

    Example::

        serve("127.0.0.1", 8000, "runs/cnn-20250101-120000")
    """
    if max_readings is not None and max_readings < 1:
        raise MnistCnnError(f"--max-readings must be at least 1, got {max_readings}")
    if workers < 1:
        raise MnistCnnError(f"--workers must be at least 1, got {workers}")
    # Bind first: a busy port is reported at once, not after loading TensorFlow.
    sock = _listen(host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"Loading the model; http://{shown}:{sock.getsockname()[1]}/ answers meanwhile.")
    print("Press Ctrl-C to stop.", flush=True)

    def load() -> Reader:
        from mnist_cnn.inference import DigitReader

        # LiteRT where it can: one request's digits are read in a fraction of a millisecond.
        return DigitReader.load(model, threshold=threshold, litert=True)

    if max_readings is None:
        max_readings = max(1, (os.cpu_count() or 1) // workers)
    limits = Limits(max_readings=max_readings)
    try:
        if workers > 1:
            serve_in_processes(workers, sock, load, limits)
        else:
            _serve_here(sock, load, limits)
    finally:
        sock.close()


def _serve_here(sock: socket.socket, load: Callable[[], Reader], limits: Limits) -> None:
    """Serve on `sock` in this process; the model's load error, if any, is raised."""
    server = make_server(load, limits)
    server.run(sockets=[sock])
    error = server.config.app.state.load_error
    if error is not None:
        raise error


def serve_in_processes(
    workers: int, sock: socket.socket, load: Callable[[], Reader], limits: Limits
) -> None:
    """Fork `workers` processes that serve on `sock` (the kernel shares out its
    connections), each loading the model after the fork and pinned to one core
    (round robin), so that readings in different processes never compete for one.
    Returns when all have stopped; a worker that fails makes it raise.

    Example::

        serve_in_processes(2, _listen("127.0.0.1", 8000), load, Limits(max_readings=1))
    """
    cores = sorted(os.sched_getaffinity(0))
    children = []
    for i in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker: TensorFlow is imported only now, after the fork
            os.sched_setaffinity(0, {cores[i % len(cores)]})
            os.environ |= {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
            os._exit(_worker(sock, load, limits))
        children.append(pid)
    # A stop asked of this process (SIGTERM) is asked of every worker.
    signal.signal(signal.SIGTERM, lambda *_: [os.kill(pid, signal.SIGTERM) for pid in children])
    failed = 0
    try:
        for pid in children:
            failed += os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) not in (0, 130)
    except KeyboardInterrupt:  # Ctrl-C reached the workers too: let them finish
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        raise
    if failed:
        raise MnistCnnError(f"{failed} of {workers} workers failed (their errors are above)")


def _worker(sock: socket.socket, load: Callable[[], Reader], limits: Limits) -> int:
    """One worker's life: its exit code, with its error on stderr."""
    try:
        _serve_here(sock, load, limits)
    except KeyboardInterrupt:
        return 130
    except BaseException as e:
        print(f"mnist-cnn: error: worker {os.getpid()}: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


def make_server(
    load: Callable[[], Reader],
    limits: Limits | None = None,
    connections: ConnectionLimits = ConnectionLimits(),  # noqa: B008 - frozen
    body_timeout: float = BODY_TIMEOUT_S,
) -> uvicorn.Server:
    """A uvicorn server of the app, whose reader `load` returns in a background thread.

    Until it returns, the app answers as `mnist_cnn.server.app` says; if it raises,
    the server stops and ``app.state.load_error`` holds the error.

    Example::

        server = make_server(lambda: DigitReader.load("model.keras"))
        server.run(sockets=[sock])
    """
    import uvicorn

    app = create_app(None, limits=limits, body_timeout=body_timeout)
    app.state.load_error = None
    _log_to_stdout()
    config = uvicorn.Config(
        app=app, log_level="info", log_config=None, **connections.uvicorn_options()
    )
    server = uvicorn.Server(config)

    def load_reader() -> None:
        try:
            reader = load()
        except BaseException as e:  # the thread that runs the server raises it
            app.state.load_error = e
            server.should_exit = True
            return
        app.state.reader = reader
        print(f"Serving {reader.info.get('name')} (run by {reader.engine})", flush=True)

    threading.Thread(target=load_reader, name="load-model", daemon=True).start()
    return server


def _log_to_stdout() -> None:
    """uvicorn's logs on stdout: stderr is for the one-line error of a model that fails
    to load. (Handlers added, not a logging config: that would close other handlers.)"""
    from uvicorn.logging import AccessFormatter, DefaultFormatter

    formats = {
        "uvicorn": DefaultFormatter("%(levelprefix)s %(message)s"),
        "uvicorn.access": AccessFormatter(
            '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'
        ),
    }
    for name, formatter in formats.items():
        logger = logging.getLogger(name)
        if not any(isinstance(h, _Stdout) for h in logger.handlers):
            handler = _Stdout()
            handler.setFormatter(formatter)
            logger.addHandler(handler)
            logger.propagate = False


class _Stdout(logging.StreamHandler):
    """A log handler writing to whatever ``sys.stdout`` is when it writes."""

    @property
    def stream(self):  # noqa: D102
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so that a busy port is a one-line error."""
    if not 0 <= port <= 65535:  # getaddrinfo would silently wrap 99999 to 34463
        raise MnistCnnError(f"--port must be 0-65535, got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as e:
        raise MnistCnnError(f"cannot use --host {host!r} ({e})") from None
    # An explicit IPPROTO_TCP matters: asyncio turns Nagle's algorithm off (TCP_NODELAY)
    # only on sockets that say they are TCP; without it every answer waits ~40 ms.
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise MnistCnnError(
            f"cannot listen on {host}:{port} ({e.strerror}); choose another --port"
        ) from None
    return sock
