"""``mnist-cnn serve``: the drawing web app and its REST API (FastAPI on uvicorn).

One `DigitReader` is loaded at start-up and shared by every request. The page at
``/`` (plain HTML, CSS and JavaScript shipped in ``mnist_cnn/static``) sends what
you draw to ``POST /api/predict`` and shows the number read, the ten class
probabilities, a box per digit and the 28x28 images the model saw.

Endpoints (interactive docs at ``/docs``, the schema at ``/openapi.json``):

- ``POST /api/predict``        one image: multipart ``file``, raw ``image/*`` bytes,
  JSON ``{"image": "<base64>"}`` or JSON ``{"pixels": 28x28 numbers}``
- ``POST /api/predict/batch``  several images: multipart ``files`` or JSON ``{"images": [...]}``
- ``GET /api/health`` (liveness, at once under any load), ``GET /api/ready`` (503 while
  the model loads), ``GET /api/model``

Every error is JSON ``{"detail": "what is wrong"}`` with a 4xx status, or 503 with
``Retry-After`` while the model loads or the server is reading all it can, and the
server keeps serving. The package, read in this order:

- `schemas`:    the requests and answers as Pydantic models (the OpenAPI schema)
- `bodies`:     reading the image(s) a request sends, in every accepted form
- `limits`:     readings at once, waiting, time and batch pixels (`ReadingGate`)
- `middleware`: the body size and time limits, and security headers
- `connections`: header time and size, and connection limits, in uvicorn's protocol
- `app`:        the routes and `create_app`
- `command`:    `serve`, behind ``mnist-cnn serve`` (the model loads in the background;
  ``--workers N`` forks processes sharing the port)

Example, in Python::

    from fastapi.testclient import TestClient
    from mnist_cnn.inference import DigitReader
    from mnist_cnn.server import create_app

    client = TestClient(create_app(DigitReader.load("runs/my-run")))
    with open("digit.png", "rb") as f:
        print(client.post("/api/predict", files={"file": f}).json()["prediction"])
"""

from mnist_cnn.server.app import create_app, get_reader
from mnist_cnn.server.command import serve
from mnist_cnn.server.middleware import MAX_BODY_BYTES, BodySizeLimit
from mnist_cnn.server.schemas import MAX_BATCH

__all__ = ["MAX_BATCH", "MAX_BODY_BYTES", "BodySizeLimit", "create_app", "get_reader", "serve"]
