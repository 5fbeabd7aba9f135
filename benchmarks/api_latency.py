"""Latency of ``POST /api/predict`` over loopback, as the drawing page uses it.

Starts ``mnist-cnn serve`` on 127.0.0.1 on a free port, waits for it, warms it
up, then sends sequential requests, each a typical drawing from the page (a
200x100 PNG, white strokes on black, of a 7; with ``--digits N``, N 7s in a row
on a wider board), and prints a table of percentiles and throughput with the
conditions of the run. Between blocks of requests it times the two stages of a
reading in its own process (finding the digits, the model call), so the table
shows where the median request spends its time. Traffic goes only to 127.0.0.1.

    python benchmarks/api_latency.py                      # newest run, else the packaged model
    python benchmarks/api_latency.py --model runs/cnn-... --requests 1000 --body base64
    python benchmarks/api_latency.py --digits 5           # a 5-digit number per request

Targets on 2 CPU cores: p50 under 10 ms and p99 under 30 ms for one digit; p50 under
15 ms and p99 under 40 ms for a number (`--digits 5`).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HOST = "127.0.0.1"  # never anything else
# Targets (p50, p99 in ms) by digits drawn: one digit, and a number of several.
TARGETS_MS = {1: (10.0, 30.0), "number": (15.0, 40.0)}
BLOCK = 50  # requests, then as many in-process readings, in turn
PAGE_HEIGHT = 100  # the height of the PNG the page sends (EXPORT_HEIGHT in static/app.js)


def drawn_digit_png(digits: int = 1, height: int = PAGE_HEIGHT) -> bytes:
    """A "7" as the page sends it: a 200x100 PNG (the board's export size), round white
    strokes 6.5% of the height wide on black; or `digits` 7s in a row, the board as much
    wider as they need."""
    from PIL import Image, ImageDraw

    step = 0.45  # from one 7 to the next, in board heights
    image = Image.new("L", (round((2 + step * (digits - 1)) * height), height), 0)
    draw = ImageDraw.Draw(image)
    pen = round(0.065 * height)
    for k in range(digits):
        points = [(0.85, 0.2), (1.15, 0.2), (0.96, 0.82)]  # board-height units, as the page keeps
        xy = [((x + step * k) * height, y * height) for x, y in points]
        draw.line(xy, fill=255, width=pen, joint="curve")
        for x, y in (xy[0], xy[-1]):  # round caps
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_size(png: bytes) -> str:
    """A PNG's width x height, from its header."""
    return f"{int.from_bytes(png[16:20], 'big')}x{int.from_bytes(png[20:24], 'big')}"


def request_body(png: bytes, kind: str) -> tuple[bytes, str]:
    """The body and content type for one request of the chosen kind."""
    if kind == "multipart":
        boundary = "----mnist-cnn-benchmark"
        head = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="board.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        return head + png + f"\r\n--{boundary}--\r\n".encode(), (
            f"multipart/form-data; boundary={boundary}"
        )
    if kind == "base64":
        return json.dumps({"image": base64.b64encode(png).decode()}).encode(), "application/json"
    return png, "image/png"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(model: str | None, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "mnist_cnn.cli", "serve", "--host", HOST, "--port", str(port)]
    if model:
        command += ["--model", model]
    with open(log, "wb") as out:  # a file, not a pipe: a full pipe would stall the server
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"mnist-cnn serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/api/ready")  # 503 while the model loads
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    sys.exit(f"mnist-cnn serve did not start in 180 s:\n{log.read_text()}")


def post(connection: http.client.HTTPConnection, body: bytes, content_type: str) -> dict:
    connection.request("POST", "/api/predict", body, {"Content-Type": content_type})
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        sys.exit(f"POST /api/predict answered {response.status}: {data[:300]!r}")
    return json.loads(data)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the two nearest ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def reading_stages(model: str | None, png: bytes) -> tuple[Callable, Callable, str]:
    """The two stages of reading `png` in this process, with the model the server
    loads and as it runs it: finding the digits (decoding included), and the model
    reading them (three views of each digit), and what runs the model. A request
    costs these plus HTTP and the server."""
    from mnist_cnn import imaging
    from mnist_cnn.inference import DigitReader

    reader = DigitReader.load(model, litert=True)  # as the server loads it
    lines = imaging.extract_lines(png)
    return (
        lambda: imaging.extract_lines(png),
        lambda: reader.read_lines([lines]),
        reader.engine,
    )


def main(argv: list[str] | None = None) -> int:
    from mnist_cnn import runs

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default="default",
        help="run folder, .keras file or 'default', the model shipped with the package "
        "(the default)",
    )
    parser.add_argument("--requests", type=int, default=500, help="measured requests (500)")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured requests first (50)")
    parser.add_argument(
        "--max-seconds", type=float, default=60, help="stop measuring after this long (60)"
    )
    parser.add_argument(
        "--body",
        choices=["multipart", "base64", "raw"],
        default="multipart",
        help="how the PNG is sent: multipart 'file' as the page does, JSON base64, or raw bytes",
    )
    parser.add_argument(
        "--digits", type=int, default=1, help="7s drawn in a row, each read (1: one digit)"
    )
    args = parser.parse_args(argv)

    png = drawn_digit_png(args.digits)
    body, content_type = request_body(png, args.body)
    *stages, engine = reading_stages(args.model, png)
    stage_times: tuple[list[float], list[float]] = ([], [])
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        load_before = os.getloadavg()
        server = start_server(args.model, port, Path(tmp) / "serve.log")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=30)
            connection.request("GET", "/api/model")
            model = json.loads(connection.getresponse().read())
            for _ in range(args.warmup):
                reading = post(connection, body, content_type)
            times: list[float] = []
            started = time.perf_counter()
            while len(times) < args.requests and time.perf_counter() - started < args.max_seconds:
                t0 = time.perf_counter()
                reading = post(connection, body, content_type)
                times.append((time.perf_counter() - t0) * 1000)
                # In-process stage timings in turn with the requests, as the machine's
                # speed drifts; each stage in a block of its own, since right after a
                # model call TensorFlow's idle threads still hold the cores for a moment.
                if len(times) % BLOCK == 0 or len(times) == args.requests:
                    for stage, spent in zip(stages, stage_times, strict=True):
                        for _ in range(BLOCK):
                            t0 = time.perf_counter()
                            stage()
                            spent.append((time.perf_counter() - t0) * 1000)
            connection.close()
        finally:
            server.terminate()
            server.wait(timeout=15)

    p50, p99 = percentile(times, 50), percentile(times, 99)
    target_p50, target_p99 = TARGETS_MS.get(args.digits, TARGETS_MS["number"])
    find, read = (percentile(t, 50) if t else float("nan") for t in stage_times)
    rows = [
        ("requests", f"{len(times)} sequential, after {args.warmup} warm-up"),
        ("p50", f"{p50:.2f} ms"),
        ("p90", f"{percentile(times, 90):.2f} ms"),
        ("p99", f"{p99:.2f} ms"),
        ("max", f"{max(times):.2f} ms"),
        ("mean", f"{statistics.fmean(times):.2f} ms"),
        ("requests/s", f"{1000 * len(times) / sum(times):.1f}"),
        (
            "target",
            f"p50 < {target_p50:.0f} ms, p99 < {target_p99:.0f} ms: "
            + ("met" if p50 < target_p50 and p99 < target_p99 else "MISSED"),
        ),
        (
            "p50 parts",
            f"finding the digit {find:.2f} ms and the model {read:.2f} ms (in-process), "
            f"the rest (HTTP, server) {p50 - find - read:.2f} ms",
        ),
        ("body", f"{args.body}, {len(body):,} bytes (PNG {png_size(png)}, {len(png):,} bytes)"),
        ("answer", f"prediction {reading['prediction']!r}, status {reading['status']}"),
        ("model", f"{model['name']} ({model['params']:,} parameters), run by {engine}"),
        ("machine", f"{runs.cpu_name()}, {os.cpu_count()} logical CPUs, {platform.system()}"),
        ("load avg", "before {:.2f} {:.2f} {:.2f} (1, 5, 15 min)".format(*load_before)),
        ("python", platform.python_version()),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"POST /api/predict on {HOST}:{port}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
