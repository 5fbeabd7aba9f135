"""The web API (`mnist_cnn.server`): every endpoint and every kind of bad input.

The app runs in-process under FastAPI's TestClient. Tests of reading use the
shipped model (the `model_file` fixture) on printed digits sent as PNG files;
tests of the HTTP layer swap in `stand_ins.StandInReader` through
``app.dependency_overrides``. Every bad request must get a 4xx JSON answer that
says what is wrong, and the next good request must still be read.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from bad_inputs import unusual_images
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.imaging import ImageError, ImageTooLarge, NotAnImage
from mnist_cnn.server import MAX_BATCH, BodySizeLimit, create_app
from stand_ins import StandInReader, fixed_reading

READING_KEYS = {"prediction", "confidence", "status", "digits"}
DIGIT_KEYS = {"label", "confidence", "probabilities", "box"}
PRINTED = (0, 2, 3, 4, 7, 8)  # the printed digits the shipped model reads surely


# -- Fixtures and helpers. ------------------------------------------------------------------


@pytest.fixture(scope="module")
def reader(model_file):
    from mnist_cnn.inference import DigitReader

    return DigitReader.load(model_file)


@pytest.fixture(scope="module")
def client(reader):
    with TestClient(create_app(reader)) as client:
        yield client


@pytest.fixture
def stand_in():
    return StandInReader()


@pytest.fixture
def plumbing(stand_in):
    """A client of an app whose reader is `stand_in`."""
    with TestClient(create_app(stand_in)) as client:
        yield client


def png_bytes(pixels: np.ndarray, scale: int = 4, invert: bool = False) -> bytes:
    """A uint8 array as a PNG, enlarged like a drawing (and optionally black on white)."""
    image = Image.fromarray(255 - pixels if invert else pixels, mode="L")
    image = image.resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def side_by_side(*digits: np.ndarray, gap: int = 6) -> np.ndarray:
    """Digits in a row with `gap` black columns between them, like a written number."""
    spacer = np.zeros((28, gap), np.uint8)
    parts = [spacer]
    for digit in digits:
        parts += [digit, spacer]
    return np.concatenate(parts, axis=1)


@pytest.fixture(scope="module")
def samples(digit_images, reader):
    """One printed digit of each class in `PRINTED` that the model reads correctly and
    surely when sent as a PNG image (so the tests check the server, not the model)."""
    found: dict[int, np.ndarray] = {}
    for pixels, label in zip(*digit_images, strict=True):
        label = int(label)
        if label in found or label not in PRINTED:
            continue
        reading = reader.read_image(png_bytes(pixels))
        if reading.prediction == str(label) and reading.confidence > 0.95:
            found[label] = pixels
    assert set(found) == set(PRINTED), f"the model read only printed {sorted(found)} surely"
    return found


@pytest.fixture(scope="module")
def good_png(samples) -> bytes:
    return png_bytes(samples[7])


def assert_error(response, status: int | None, *fragments: str) -> None:
    """A JSON error with this status (None: any 4xx) whose detail mentions every fragment."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert status in (None, response.status_code), (response.status_code, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail, detail
    for fragment in fragments:
        assert fragment.lower() in detail.lower(), detail


def assert_still_serving(client, good_png) -> None:
    response = client.post("/api/predict", files={"file": ("seven.png", good_png, "image/png")})
    assert response.status_code == 200, response.text
    assert response.json()["prediction"] == "7"


# -- The page, health, model and API docs. --------------------------------------------------


def test_health_and_model(client, reader):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["model"] == reader.info["name"]
    model = client.get("/api/model").json()
    # never the server's file path
    assert set(model) == {
        "name",
        "test_accuracy",
        "params",
        "source",
        "description",
        "number_model",
        "part_model",
    }
    assert model["name"] == reader.info["name"] and model["params"] > 1000
    assert model["source"] == "run" and "99.48%" in model["description"]


def test_model_answer_comes_from_the_injected_reader(plumbing, stand_in):
    assert plumbing.get("/api/model").json() == {
        "name": "stand-in",
        "test_accuracy": 0.5,
        "params": 9,
        "source": None,
        "description": None,
        "number_model": None,
        "part_model": None,
    }
    assert plumbing.get("/api/health").json()["model"] == "stand-in"


def test_page_and_its_assets_are_served_by_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<canvas id="ink"' in page.text and "/static/app.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN, no fonts
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
        assert "https://" not in response.text


def test_the_latency_benchmark_sends_the_drawing_the_page_sends(benchmark_script):
    # benchmarks/api_latency.py times the page's own request: its PNG's height must follow
    # the page's export height, or a faster benchmark would not mean a faster page.
    script = (Path(__file__).resolve().parents[1] / "src/mnist_cnn/static/app.js").read_text()
    page_height = int(re.search(r"const EXPORT_HEIGHT = (\d+);", script).group(1))
    png = Image.open(io.BytesIO(benchmark_script("api_latency").drawn_digit_png()))
    assert png.height == page_height and png.width == 2 * page_height


@pytest.mark.parametrize("path", ["/static/../server.py", "/static/%2e%2e/server.py", "/etc"])
def test_no_file_outside_the_static_folder(client, path):
    assert client.get(path).status_code == 404


def test_openapi_lists_every_route_body_form_and_answer(plumbing):
    """The schema FastAPI builds from the code: each route with its request forms,
    its answer model and each documented error."""
    assert plumbing.get("/docs").status_code == 200
    schema = plumbing.get("/openapi.json").json()
    paths, models = schema["paths"], schema["components"]["schemas"]
    assert set(paths) == {"/api/predict", "/api/predict/batch", "/api/health", "/api/model"} | {
        "/api/ready"
    }

    def ref(answer: dict) -> str:
        return answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    for path, answer in (("/api/predict", "Reading"), ("/api/predict/batch", "Batch")):
        post = paths[path]["post"]
        assert {code: ref(a) for code, a in post["responses"].items()} == {
            "200": answer,
            **{code: "Error" for code in ("400", "408", "413", "415", "422", "503")},
        }
        (inputs,) = post["parameters"]
        assert inputs["name"] == "inputs" and inputs["in"] == "query"
    assert ref(paths["/api/health"]["get"]["responses"]["200"]) == "Health"
    assert ref(paths["/api/model"]["get"]["responses"]["200"]) == "ModelInfo"

    one = paths["/api/predict"]["post"]["requestBody"]["content"]
    assert set(one) == {"multipart/form-data", "application/json", "image/*"} | {
        "application/octet-stream"
    }
    assert one["multipart/form-data"]["schema"]["required"] == ["file"]
    image, pixels = one["application/json"]["schema"]["oneOf"]
    assert image["required"] == ["image"] and pixels["required"] == ["pixels"]
    assert pixels["properties"]["pixels"]["minItems"] == 28
    many = paths["/api/predict/batch"]["post"]["requestBody"]["content"]
    assert set(many) == {"multipart/form-data", "application/json"}
    assert many["multipart/form-data"]["schema"]["properties"]["files"]["maxItems"] == MAX_BATCH
    assert many["application/json"]["schema"]["properties"]["images"]["maxItems"] == MAX_BATCH

    reading = models["Reading"]
    assert set(reading["properties"]) == READING_KEYS | {"inputs"}
    assert set(reading["required"]) == READING_KEYS
    assert reading["properties"]["status"]["enum"] == ["ok", "uncertain", "no digit"]
    assert set(models["Digit"]["properties"]) == DIGIT_KEYS
    assert set(models["ModelInfo"]["properties"]) == {
        "name",
        "test_accuracy",
        "params",
        "source",
        "description",
        "number_model",
        "part_model",
    }
    assert set(models["Error"]["properties"]) == {"detail"}
    assert models["InputsFormat"]["enum"] == ["png", "pixels"]


# -- Reading digits: every way to send one. -------------------------------------------------


def test_printed_digits_as_png_are_read_right(client, digit_images):
    """50 printed digits, enlarged to PNG drawings: as accurate as the model."""
    images, labels = digit_images
    chosen = np.isin(labels, PRINTED)
    right = 0
    for pixels, label in zip(images[chosen][:50], labels[chosen][:50], strict=True):
        response = client.post("/api/predict", files={"file": ("d.png", png_bytes(pixels))})
        assert response.status_code == 200, response.text
        right += response.json()["prediction"] == str(label)
    assert right >= 47, f"only {right} of 50 read right"


@pytest.mark.slow
def test_real_mnist_digits_as_png_are_read_right(client, mnist):
    """The first 50 test digits, enlarged to PNG drawings: as accurate as the model."""
    images, labels = mnist.x_test[:50], mnist.y_test[:50]
    right = 0
    for pixels, label in zip(images, labels, strict=True):
        response = client.post("/api/predict", files={"file": ("d.png", png_bytes(pixels))})
        assert response.status_code == 200, response.text
        right += response.json()["prediction"] == str(label)
    assert right >= 47, f"only {right} of 50 read right"


def test_response_has_exactly_the_documented_shape(client, good_png):
    reading = client.post("/api/predict", files={"file": ("7.png", good_png)}).json()
    assert set(reading) == READING_KEYS
    assert reading["prediction"] == "7" and reading["status"] == "ok"
    (digit,) = reading["digits"]
    assert set(digit) == DIGIT_KEYS and digit["label"] == 7
    assert len(digit["probabilities"]) == 10 and abs(sum(digit["probabilities"]) - 1) < 1e-3
    x0, y0, x1, y1 = digit["box"]
    assert 0 <= x0 < x1 <= 112 and 0 <= y0 < y1 <= 112  # in the sent image's pixels


def test_black_on_white_drawing(client, samples):
    response = client.post(
        "/api/predict", files={"file": ("3.png", png_bytes(samples[3], 8, True))}
    )
    assert response.json()["prediction"] == "3"


@pytest.mark.parametrize("prefix", ["", "data:image/png;base64,"])
def test_json_base64_image(client, good_png, prefix):
    image = prefix + base64.b64encode(good_png).decode()
    assert client.post("/api/predict", json={"image": image}).json()["prediction"] == "7"


def test_raw_image_body(client, good_png):
    response = client.post("/api/predict", content=good_png, headers={"content-type": "image/png"})
    assert response.json()["prediction"] == "7"


def test_json_pixels(client, samples):
    pixels = samples[4].tolist()
    assert client.post("/api/predict", json={"pixels": pixels}).json()["prediction"] == "4"
    floats = (samples[4] / 1.0).tolist()
    assert client.post("/api/predict", json={"pixels": floats}).json()["prediction"] == "4"


def test_every_form_reaches_the_reader_unchanged(plumbing, stand_in, good_png):
    encoded = base64.b64encode(good_png).decode()
    forms = [
        {"files": {"file": ("7.png", good_png)}},
        {"content": good_png, "headers": {"content-type": "image/png"}},
        {"content": good_png, "headers": {"content-type": "application/octet-stream"}},
        {"json": {"image": encoded}},
        {"json": {"image": "data:image/png;base64," + encoded}},
    ]
    for form in forms:
        assert plumbing.post("/api/predict", **form).json()["prediction"] == "7"
    assert stand_in.calls == [("read_image", good_png)] * len(forms)

    stand_in.calls.clear()
    plumbing.post("/api/predict", json={"pixels": [[1.5] * 28] * 28})
    assert stand_in.calls == [("read_pixels", [[1.5] * 28] * 28)]

    stand_in.calls.clear()
    batch = plumbing.post("/api/predict/batch", json={"images": [encoded] * 3}).json()
    assert [r["prediction"] for r in batch["results"]] == ["7"] * 3
    ((method, lines),) = stand_in.calls  # one line of one digit in each image
    assert method == "read_lines" and len(lines) == 3
    assert all(len(image) == 1 and len(image[0].crops) == 1 for image in lines)


def test_several_digits_read_as_one_number(client, samples):
    number = png_bytes(side_by_side(samples[4], samples[2], samples[0]))
    reading = client.post("/api/predict", files={"file": ("420.png", number)}).json()
    assert reading["prediction"] == "420", reading["prediction"]
    boxes = [d["box"] for d in reading["digits"]]
    assert [b[0] for b in boxes] == sorted(b[0] for b in boxes)  # left to right


def test_blank_image_is_no_digit(client):
    blank = png_bytes(np.zeros((28, 28), np.uint8))
    reading = client.post("/api/predict", files={"file": ("blank.png", blank)}).json()
    assert reading["status"] == "no digit" and reading["prediction"] is None
    assert reading["digits"] == []


def test_inputs_on_request(client, samples):
    number = png_bytes(side_by_side(samples[4], samples[8]))
    reading = client.post("/api/predict?inputs=png", files={"file": ("48.png", number)}).json()
    assert set(reading) == READING_KEYS | {"inputs"}
    assert len(reading["inputs"]) == len(reading["digits"]) == 2
    for url in reading["inputs"]:
        assert url.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        assert image.size == (28, 28) and image.mode == "L"

    reading = client.post("/api/predict?inputs=pixels", json={"pixels": samples[2].tolist()})
    (pixels,) = reading.json()["inputs"]
    assert np.array(pixels).shape == (28, 28) and 0 <= np.min(pixels) <= np.max(pixels) <= 255


def test_inputs_are_the_readers_own(plumbing, good_png):
    """The model's input images come back exactly, as a PNG data URL or as pixels."""
    (expected,) = fixed_reading().inputs
    send = {"files": {"file": ("7.png", good_png)}}
    (pixels,) = plumbing.post("/api/predict?inputs=pixels", **send).json()["inputs"]
    assert np.array_equal(pixels, expected)
    (url,) = plumbing.post("/api/predict?inputs=png", **send).json()["inputs"]
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert np.array_equal(np.asarray(image), expected)


def test_batch_multipart_and_json(client, samples):
    files = [("files", (f"{d}.png", png_bytes(samples[d]))) for d in (0, 3, 8)]
    results = client.post("/api/predict/batch", files=files).json()["results"]
    assert [r["prediction"] for r in results] == ["0", "3", "8"]
    assert all(set(r) == READING_KEYS for r in results)

    images = [base64.b64encode(png_bytes(samples[d])).decode() for d in (2, 7)]
    response = client.post("/api/predict/batch?inputs=png", json={"images": images})
    results = response.json()["results"]
    assert [r["prediction"] for r in results] == ["2", "7"]
    assert all(len(r["inputs"]) == 1 for r in results)


# -- Bad input: a 4xx JSON error that says what is wrong, and the server goes on. ----------


def truncated_png(good_png: bytes) -> bytes:
    return good_png[: len(good_png) // 2]


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming 10 gigapixels, with almost no data: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


BAD_UPLOADS = {
    "not an image": (b"hello, I am text", (415, 422)),
    "truncated": (None, (400, 422)),
    "decompression bomb": (bomb_png(), (413,)),
    "empty file": (b"", (422,)),
    "a grid of dots": (dict(unusual_images())["dot-grid-7225.png"], (422,)),
}


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_bad_uploads(client, good_png, case):
    data, statuses = BAD_UPLOADS[case]
    if data is None:
        data = truncated_png(good_png)
    response = client.post("/api/predict", files={"file": ("x.png", data, "image/png")})
    assert_error(response, None)
    assert response.status_code in statuses, (response.status_code, response.text)
    if case == "decompression bomb":
        assert "pixels" in response.json()["detail"]
    if case == "a grid of dots":
        assert "7,225 pieces of ink" in response.json()["detail"]
    assert_still_serving(client, good_png)


def json_text(text: bytes) -> dict:
    return {"content": text, "headers": {"content-type": "application/json"}}


BAD_BODIES = [  # refused before any reading: the HTTP layer's own checks
    ({}, 400, "empty"),
    (json_text(b""), 400, "empty"),
    ({"content": b"x=1", "headers": {"content-type": "text/plain"}}, 415, "content type"),
    (json_text(b"{not json"), 400, "JSON"),
    ({"json": [1, 2]}, 422, "JSON object"),
    ({"json": {}}, 422, "exactly one of"),
    ({"json": {"img": "abc"}}, 422, "exactly one of"),
    ({"json": {"image": "aGk=", "pixels": [[0]]}}, 422, "exactly one of"),
    ({"json": {"image": 42}}, 422, "base64 string"),
    ({"json": {"image": "not base64!"}}, 422, "base64"),
    ({"json": {"image": ""}}, 422, "empty"),
    ({"json": {"pixels": "zeros"}}, 422, "28 rows"),
    (json_text(b'{"pixels": ' + b"[" * 5000 + b"]" * 5000 + b"}"), 400, "nested"),
    (json_text(b'{"pixels": NaN}'), 400, "NaN"),
    ({"files": {"image": ("x.png", b"abc")}}, 422, "'file' is missing"),
    ({"data": {"file": "text"}, "files": {"x": ("x.png", b"a")}}, 422, "must be a file"),
    ({"content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data"}}, 400, ""),
]
BAD_PIXELS = [  # refused by the reader
    ({"json": {"image": base64.b64encode(b"GIF89a but no").decode()}}, None, "image"),
    ({"json": {"pixels": [[0] * 28] * 27}}, 422, "(27, 28)"),
    ({"json": {"pixels": [[0] * 28] * 27 + [[0] * 27]}}, 422, "rows differ"),
    ({"json": {"pixels": [["a"] * 28] * 28}}, 422, "numbers"),
    ({"json": {"pixels": [[True] * 28] * 28}}, 422, "numbers"),
    ({"json": {"pixels": [[300] * 28] * 28}}, 422, "255"),
    ({"json": {"pixels": [[-1] * 28] * 28}}, 422, "255"),
]


@pytest.mark.parametrize(("kwargs", "status", "fragment"), BAD_BODIES)
def test_bad_bodies(plumbing, stand_in, good_png, kwargs, status, fragment):
    response = plumbing.post("/api/predict", **kwargs)
    assert_error(response, status, fragment)
    assert stand_in.calls == []
    assert_still_serving(plumbing, good_png)


@pytest.mark.parametrize(("kwargs", "status", "fragment"), BAD_PIXELS)
def test_bad_images_and_pixels(client, good_png, kwargs, status, fragment):
    response = client.post("/api/predict", **kwargs)
    assert_error(response, status, fragment)
    assert_still_serving(client, good_png)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ImageTooLarge("the image has too many pixels"), 413),
        (NotAnImage("'file' is not an image"), 415),
        (ImageError("the image is truncated"), 422),
        (MnistCnnError("pixels must be 28x28"), 422),
    ],
)
def test_reader_errors_become_answers(plumbing, stand_in, good_png, error, status):
    stand_in.error = error
    response = plumbing.post("/api/predict", files={"file": ("7.png", good_png)})
    assert_error(response, status, str(error))
    stand_in.error = None
    assert_still_serving(plumbing, good_png)


def test_a_failing_reader_is_a_500_and_the_server_goes_on(reader, good_png):
    stand_in = StandInReader(error=RuntimeError("a bug"))
    app = create_app(stand_in)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/api/predict", content=good_png).status_code == 415
        response = client.post("/api/predict", files={"file": ("7.png", good_png)})
        assert response.status_code == 500 and "a bug" not in response.text
        stand_in.error = None
        assert_still_serving(client, good_png)


def test_two_files_where_one_is_expected(plumbing, good_png):
    files = [("file", ("a.png", good_png)), ("file", ("b.png", good_png))]
    assert_error(plumbing.post("/api/predict", files=files), 400, "files")
    assert_still_serving(plumbing, good_png)


def test_bad_query_flag(plumbing, good_png):
    response = plumbing.post("/api/predict?inputs=jpeg", files={"file": ("7.png", good_png)})
    assert_error(response, 422, "inputs")
    assert_still_serving(plumbing, good_png)


def test_body_over_the_limit(plumbing, stand_in, good_png):
    """Over 10 MB: refused by Content-Length, and by the bytes really read when a
    chunked request has no length."""
    big = b"\0" * (10 * 1024 * 1024 + 1)
    response = plumbing.post("/api/predict", content=big, headers={"content-type": "image/png"})
    assert_error(response, 413, "limit")
    step = 1 << 20
    chunked = plumbing.post(
        "/api/predict",
        content=(big[i : i + step] for i in range(0, len(big), step)),
        headers={"content-type": "image/png"},
    )
    assert "content-length" not in chunked.request.headers
    assert_error(chunked, 413, "limit")
    assert stand_in.calls == []
    assert_still_serving(plumbing, good_png)


def test_understated_content_length_is_caught_while_reading():
    """A client that claims 10 bytes and sends more is stopped at the limit."""
    seen = []

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        seen.append(scope)

    messages = [{"type": "http.request", "body": b"x" * 60, "more_body": True}] * 3
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "headers": [(b"content-length", b"10")], "method": "POST"}
    asyncio.run(BodySizeLimit(app, max_bytes=100)(scope, receive, send))
    assert not seen and sent[0]["status"] == 413


def test_batch_bad_input(plumbing, stand_in, good_png):
    def post(**kwargs):
        return plumbing.post("/api/predict/batch", **kwargs)

    good = base64.b64encode(good_png).decode()
    assert_error(post(json={"images": []}), 422, "non-empty")
    assert_error(post(json={"images": good}), 422, "array")
    assert_error(post(json={"files": [good]}), 422, "images")
    assert_error(post(json={"images": [good] * (MAX_BATCH + 1)}), 413, str(MAX_BATCH))
    for extra in (1, 10):  # Starlette's own limit on files must answer 413 too
        too_many = [("files", (f"{i}.png", good_png)) for i in range(MAX_BATCH + extra)]
        assert_error(post(files=too_many), 413, str(MAX_BATCH))
    assert_error(post(json={"images": [good, "%%%"]}), 422, "images[1]")
    not_image = base64.b64encode(b"text").decode()
    assert_error(post(json={"images": [good, not_image]}), 415, "image 1: not an image")
    assert_error(
        post(files=[("files", ("a.png", good_png)), ("files", ("b.png", b"xyz"))]),
        None,
        "image 1:",
    )
    assert_error(post(files={"file": ("a.png", good_png)}), 422, "files")
    assert_error(post(content=b"abc", headers={"content-type": "image/png"}), 415, "files")
    assert_error(post(), 400, "empty")
    assert stand_in.calls == []  # a bad image anywhere fails the batch before reading
    assert_still_serving(plumbing, good_png)


# -- Serving: the event loop, the command line. ---------------------------------------------


def test_inference_does_not_block_the_event_loop(reader, good_png):
    app = create_app(StandInReader(delay=0.5))
    answers = []
    with TestClient(app) as client:

        def read_slowly() -> None:
            answers.append(client.post("/api/predict", files={"file": ("7.png", good_png)}))

        worker = threading.Thread(target=read_slowly)
        worker.start()
        time.sleep(0.1)  # the slow read has started
        start = time.perf_counter()
        assert client.get("/api/health").status_code == 200
        assert time.perf_counter() - start < 0.3
        worker.join()
    assert answers[0].json()["prediction"] == "7"


def test_serve_with_bad_model_is_a_one_line_error(capsys, tmp_path):
    from mnist_cnn.cli import main

    code = main(["serve", "--model", str(tmp_path / "absent.keras"), "--port", "0"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("mnist-cnn: error: ") and err.count("\n") == 1, err
    assert "absent.keras" in err


def test_serve_on_a_busy_port_is_a_one_line_error(capsys):
    import socket

    from mnist_cnn.cli import main

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        code = main(["serve", "--port", str(port)])
    *chosen, error = capsys.readouterr().err.splitlines()  # which model, then the error
    assert code == 1 and error.startswith("mnist-cnn: error: cannot listen"), error
    assert all(line.startswith(("mnist-cnn: model ", "mnist-cnn: skipped ")) for line in chosen)

    assert main(["serve", "--port", "99999"]) == 1  # not wrapped round to another port
    assert "0-65535" in capsys.readouterr().err
