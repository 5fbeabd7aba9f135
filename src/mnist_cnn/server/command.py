"""``mnist-cnn serve``: load the model once and serve the app on uvicorn."""

from __future__ import annotations

import socket

from mnist_cnn.errors import MnistCnnError
from mnist_cnn.server.app import create_app


def serve(host: str = "127.0.0.1", port: int = 8000, model: str | None = None) -> None:
    """Load the model once and serve the app until Ctrl-C.

    Example::

        serve("127.0.0.1", 8000, "runs/cnn-20250101-120000")
    """
    import uvicorn

    # Bind first: a busy port is reported at once, not after loading TensorFlow.
    sock = _listen(host, port)
    try:
        from mnist_cnn.inference import DigitReader

        # Loads the model and compiles it for LiteRT where it can: one request's digits
        # are then read in a fraction of a millisecond.
        reader = DigitReader.load(model, litert=True)
    except BaseException:
        sock.close()
        raise
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    name, engine = reader.info.get("name"), reader.engine
    print(f"Serving {name} (run by {engine}) at http://{shown}:{port}/  (API docs: /docs)")
    print("Press Ctrl-C to stop.", flush=True)
    config = uvicorn.Config(app=create_app(reader), host=host, port=port, log_level="info")
    uvicorn.Server(config).run(sockets=[sock])


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
