"""The server's bounds: readings at once, time, batch pixels, loading, connections.

In-process tests use FastAPI's TestClient and `stand_ins.StandInReader` (slow
readings); the connection tests run the real uvicorn server of ``mnist-cnn serve``
(`make_server`) on a free local port, with a stand-in reader that loads slowly.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from mnist_cnn.server import create_app
from mnist_cnn.server.command import _listen, make_server
from mnist_cnn.server.connections import ConnectionLimits
from mnist_cnn.server.limits import Limits
from stand_ins import StandInReader, slow_loader

TESTS = Path(__file__).resolve().parent


def png(width: int = 56, height: int = 56) -> bytes:
    pixels = np.zeros((height, width), np.uint8)
    pixels[height // 4 : 3 * height // 4, width // 2 - 3 : width // 2 + 3] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with almost no image data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def assert_503(response, *fragments: str) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["retry-after"] == "1"
    detail = response.json()["detail"]
    for fragment in fragments:
        assert fragment in detail, detail


def timed(call, *args, **kwargs):
    start = time.perf_counter()
    result = call(*args, **kwargs)
    return result, time.perf_counter() - start


# -- Readings at once, and their time. --------------------------------------------------------


def test_readings_past_the_queue_are_503_at_once_and_health_still_answers():
    """One reading at a time and one waiting: of four at once, two are read and two
    answered 503 with Retry-After at once, and health answers meanwhile."""
    stand_in = StandInReader(delay=0.6)
    app = create_app(stand_in, limits=Limits(max_readings=1, max_waiting=1))
    answers = []
    with TestClient(app) as client:

        def post() -> None:
            answers.append(timed(client.post, "/api/predict", files={"file": ("7.png", png())}))

        threads = [threading.Thread(target=post) for _ in range(4)]
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        health, seconds = timed(client.get, "/api/health")
        assert health.json()["status"] == "ok" and seconds < 0.2
        model, seconds = timed(client.get, "/api/model")
        assert model.json()["name"] == "stand-in" and seconds < 0.2
        for thread in threads:
            thread.join()
    statuses = sorted(response.status_code for response, _ in answers)
    assert statuses == [200, 200, 503, 503], statuses
    for response, seconds in answers:
        if response.status_code == 503:
            assert_503(response, "busy")
            assert seconds < 0.3
    assert len(stand_in.calls) == 2


def test_a_reading_out_of_time_is_503_and_its_slot_is_kept_until_it_ends():
    stand_in = StandInReader(delay=0.8)
    app = create_app(stand_in, limits=Limits(max_readings=1, max_waiting=0, reading_timeout=0.2))
    with TestClient(app) as client:
        response, seconds = timed(client.post, "/api/predict", files={"file": ("7.png", png())})
        assert_503(response, "took over 0.2 s")
        assert seconds < 0.6
        assert app.state.gate.running == 1  # the thread still reads: no second reading yet
        assert_503(client.post("/api/predict", json={"pixels": [[0] * 28] * 28}), "busy")
        time.sleep(0.8)
        assert app.state.gate.running == 0
        stand_in.delay = 0
        assert client.post("/api/predict", files={"file": ("7.png", png())}).status_code == 200


def test_a_busy_server_refuses_a_reading_before_its_body_arrives():
    """The refusal comes from the headers alone: the body is never asked for, so a
    flood of uploads costs the server little while it reads."""
    app = create_app(StandInReader(), limits=Limits(max_readings=1, max_waiting=0))
    app.state.gate.running = 1  # one reading in progress, no room to wait
    sent: list[dict] = []

    async def receive() -> dict:
        raise AssertionError("the body was read")

    async def send(message: dict) -> None:
        sent.append(message)

    for path in ("/api/predict", "/api/predict/batch"):
        sent.clear()
        headers = [(b"content-type", b"image/png"), (b"content-length", b"100000")]
        scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
        scope |= {"query_string": b"", "root_path": "", "app": app, "http_version": "1.1"}
        asyncio.run(app(scope, receive, send))
        start = sent[0]
        assert start["status"] == 503
        assert (b"retry-after", b"1") in start["headers"]
        assert b"busy" in sent[1]["body"]
    app.state.gate.running = 0
    with TestClient(app) as client:  # with room again, it reads
        assert client.post("/api/predict", files={"file": ("7.png", png())}).status_code == 200


def test_a_batch_over_its_pixel_limit_is_413_before_decoding():
    """Two images of 30 megapixels, each under the one-image limit: refused by their
    headers, before anything is decoded or read."""
    stand_in = StandInReader()
    app = create_app(stand_in)
    files = [("files", (f"{i}.png", png_header(6000, 5000))) for i in range(2)]
    with TestClient(app) as client:
        response = client.post("/api/predict/batch", files=files)
        assert response.status_code == 413, response.text
        assert "60,000,000 pixels in all" in response.json()["detail"]
        assert stand_in.calls == []
        small = [("files", (f"{i}.png", png())) for i in range(3)]
        assert len(client.post("/api/predict/batch", files=small).json()["results"]) == 3


# -- While the model loads. ------------------------------------------------------------------


def test_while_the_model_loads_health_answers_and_reading_is_503():
    app = create_app(None)
    with TestClient(app) as client:
        assert client.get("/api/health").json() == {
            "status": "loading",
            "model": None,
            "version": client.get("/openapi.json").json()["info"]["version"],
        }
        for response in (
            client.get("/api/ready"),
            client.get("/api/model"),
            client.post("/api/predict", files={"file": ("7.png", png())}),
            client.post("/api/predict/batch", files={"files": ("7.png", png())}),
        ):
            assert_503(response, "loading")
        assert client.get("/").status_code == 200  # the page, which waits for the model
        app.state.reader = StandInReader()
        assert client.get("/api/ready").json() == {"status": "ready", "model": "stand-in"}
        assert client.get("/api/health").json()["status"] == "ok"
        assert client.post("/api/predict", files={"file": ("7.png", png())}).status_code == 200


# -- /docs, offline. -------------------------------------------------------------------------


def test_docs_page_and_every_asset_it_names_are_served_by_the_app():
    with TestClient(create_app(StandInReader())) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "SwaggerUIBundle" in page.text
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
        assert len(urls) >= 4, urls  # script, style, icon, schema
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            assert client.get(url).status_code == 200, url
        assert "://" not in page.text.replace("http://www.w3.org", "")
        assert client.get("/redoc").status_code == 404  # its script came from a CDN


# -- A real server: loading, slow and idle connections. --------------------------------------


@contextmanager
def running(load, **options):
    """`make_server(load, **options)` serving on a free local port: yields its URL."""
    sock = _listen("127.0.0.1", 0)
    server = make_server(load, **options)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(5)
    return sock


def closed_after(sock: socket.socket) -> tuple[float, bytes]:
    """Seconds until the server closes `sock`, and what it sent before."""
    start, data = time.perf_counter(), b""
    while chunk := sock.recv(4096):
        data += chunk
    return time.perf_counter() - start, data


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed `sock`, and close it here. A server that closes a
    connection before reading what was sent on it resets it instead of ending it."""
    sock.settimeout(0.05)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        sock.close()


@pytest.mark.slow  # a real server on a socket
def test_serve_answers_while_a_slow_model_loads():
    with running(slow_loader(1.5)) as url:
        health, seconds = timed(httpx.get, f"{url}/api/health")
        assert health.json()["status"] == "loading" and seconds < 0.5
        assert_503(httpx.get(f"{url}/api/ready"), "loading")
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/api/ready").status_code != 200:
            assert time.monotonic() < deadline, "the model never became ready"
            time.sleep(0.1)
        assert httpx.post(f"{url}/api/predict", files={"file": png()}).status_code == 200


def test_a_model_that_fails_to_load_stops_the_server():
    def load():
        raise RuntimeError("a broken model")

    sock = _listen("127.0.0.1", 0)
    server = make_server(load)
    server.run(sockets=[sock])  # returns: the failed load stops it
    sock.close()
    assert str(server.config.app.state.load_error) == "a broken model"


@pytest.mark.slow  # a real server on a socket
def test_slow_headers_and_bodies_are_cut_off_and_others_are_served():
    limits = ConnectionLimits(header_timeout=0.5)
    with running(slow_loader(0), connections=limits, body_timeout=0.5) as url:
        half_header = connect(url)
        half_header.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        nothing = connect(url)
        slow_body = connect(url)
        slow_body.sendall(
            b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Content-Length: 1000\r\n\r\nabc"
        )
        assert httpx.get(f"{url}/api/health").status_code == 200  # served meanwhile
        for sock in (half_header, nothing):
            seconds, data = closed_after(sock)
            assert seconds < 1.5 and data == b""
        seconds, data = closed_after(slow_body)
        assert seconds < 1.5 and data.startswith(b"HTTP/1.1 408 ")
        assert b'"detail":"the request body did not arrive within 0.5 s"' in data
        assert httpx.post(f"{url}/api/predict", files={"file": png()}).status_code == 200


def test_headers_over_their_limit_are_431():
    with running(slow_loader(0)) as url:
        sock = connect(url)
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70_000)
        seconds, data = closed_after(sock)
        assert data.startswith(b"HTTP/1.1 431 ") and b"65,536 bytes" in data


@pytest.mark.slow  # a real server on a socket
def test_idle_connections_make_room_for_new_ones():
    """At the cap, the connection idle the longest is closed: 40 half-open connections
    against a cap of 20 leave 20 open, and normal requests are still served."""
    limits = ConnectionLimits(header_timeout=30, max_connections=20)
    with running(slow_loader(0), connections=limits) as url:
        idle = [connect(url) for _ in range(40)]
        for sock in idle:
            sock.sendall(b"GET /api/health HTTP/1.1\r\n")
        for _ in range(5):
            response, seconds = timed(httpx.get, f"{url}/api/health", timeout=5)
            assert response.status_code == 200 and seconds < 1
        time.sleep(0.2)
        closed = sum(closed_by_server(sock) for sock in idle)
        assert closed >= 20, closed


@contextmanager
def stand_in_process(delay: float, busy: bool, max_readings: int, workers: int = 1):
    """`stand_ins.serve_stand_in` in a process of its own: yields its URL."""
    arguments = f"{delay}, {busy}, {max_readings}, {workers}"
    code = f"from stand_ins import serve_stand_in; serve_stand_in({arguments})"
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)])}
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    try:
        url = f"http://127.0.0.1:{int(process.stdout.readline())}"
        deadline = time.monotonic() + 30
        while True:
            with suppress(httpx.TransportError):
                if httpx.get(f"{url}/api/ready").status_code == 200:
                    break
            assert time.monotonic() < deadline, "the stand-in server did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


async def health_under_load(url: str, path: str, clients: int) -> list[float]:
    """Latencies of `path` while `clients` send readings, each waiting as a 503 says."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        stop = asyncio.Event()

        async def read() -> None:
            while not stop.is_set():
                response = await client.post("/api/predict", files={"file": png()})
                if response.status_code == 503:
                    await asyncio.sleep(float(response.headers["retry-after"]))

        readers = [asyncio.create_task(read()) for _ in range(clients)]
        await asyncio.sleep(1.0)
        latencies = []
        for _ in range(5):
            start = time.perf_counter()
            assert (await client.get(path)).status_code == 200
            latencies.append(time.perf_counter() - start)
        stop.set()
        await asyncio.gather(*readers)
    return latencies


@pytest.mark.slow  # a server process of its own, which imports TensorFlow: 10 s
def test_health_and_model_answer_at_once_under_load():
    """32 clients whose readings compute for 0.2 s each (holding the interpreter, as
    image work in Python does): health and model information answer in a fraction of
    a second, as the server runs only two readings at once."""
    with stand_in_process(delay=0.2, busy=True, max_readings=2) as url:
        for path in ("/api/health", "/api/model"):
            latencies = asyncio.run(health_under_load(url, path, clients=32))
            assert sorted(latencies)[2] < 0.2, (path, latencies)


async def read_at_once(url: str, count: int) -> tuple[list[int], float]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        start = time.perf_counter()
        answers = await asyncio.gather(
            *(client.post("/api/predict", files={"file": png()}) for _ in range(count))
        )
        return [a.status_code for a in answers], time.perf_counter() - start


@pytest.mark.slow  # server processes that import TensorFlow
def test_workers_share_the_port_and_read_side_by_side():
    """Two worker processes serve one port: they answer health and read, and
    stopping the first process (SIGTERM) stops them all."""
    with stand_in_process(delay=0.2, busy=True, max_readings=1, workers=2) as url:
        assert all(httpx.get(f"{url}/api/health").json()["status"] == "ok" for _ in range(10))
        statuses, _ = asyncio.run(read_at_once(url, 2))
        assert statuses == [200, 200], statuses
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/api/health", timeout=2)
