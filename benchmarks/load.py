"""Load on ``mnist-cnn serve``: closed-loop clients on loopback, with 1 and 2 workers.

For each number of workers, starts ``mnist-cnn serve`` and, for each number of clients
(1, 8, 32, 128), runs that many clients for a fixed time, each sending a drawing of a
number and waiting for the answer before sending the next (waiting as ``Retry-After``
says after a 503). Meanwhile one more client asks ``/api/health`` every 50 ms. Prints,
per row: readings per second, their p50 and p99 latency, answers by status, connection
errors, health p50 and p99, and the server's memory (RSS of all its processes) before
and after.

    python benchmarks/load.py                      # the shipped model, 5 s per row
    python benchmarks/load.py --seconds 10 --workers 1 2 --clients 1 8 32 128
"""

from __future__ import annotations

import argparse
import asyncio
import io
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import psutil
from PIL import Image, ImageDraw, ImageFont

HOST = "127.0.0.1"


def drawing(text: str = "2025", height: int = 300) -> bytes:
    """A photo-like PNG of a written number: dark strokes on light grey paper."""
    font = ImageFont.load_default(size=int(height * 0.6))
    image = Image.new("L", (int(height * 0.5 * len(text)) + 80, height), 215)
    ImageDraw.Draw(image).text((40, height // 6), text, fill=40, font=font)
    noise = np.random.default_rng(0).normal(0, 4, (image.height, image.width))
    pixels = np.clip(np.asarray(image, np.float64) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(workers: int, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "mnist_cnn.cli", "serve", "--port", str(port)]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)], stdout=out, stderr=subprocess.STDOUT
        )
    deadline, ready = time.monotonic() + 180, 0
    while ready < 20:  # every worker has loaded its model: 20 ready answers in a row
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"mnist-cnn serve did not start:\n{log.read_text()}")
        try:
            ok = httpx.get(f"http://{HOST}:{port}/api/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            ok = False
        ready = ready + 1 if ok else 0
        time.sleep(0.05 if ok else 0.3)
    return process


def rss_mb(process: subprocess.Popen) -> float:
    parent = psutil.Process(process.pid)
    return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 2**20


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


async def run_load(url: str, clients: int, seconds: float, image: bytes) -> dict:
    """`clients` closed-loop readers and one health prober for `seconds`."""
    latencies, statuses, errors, health = [], Counter(), Counter(), []
    limits = httpx.Limits(max_connections=clients + 1, max_keepalive_connections=clients + 1)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        end = time.monotonic() + seconds

        async def reader() -> None:
            while time.monotonic() < end:
                start = time.perf_counter()
                try:
                    response = await client.post(
                        "/api/predict", files={"file": ("n.png", image, "image/png")}
                    )
                except httpx.TransportError as e:
                    errors[type(e).__name__] += 1
                    continue
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - start)
                elif response.status_code == 503:
                    await asyncio.sleep(float(response.headers.get("retry-after", 1)))

        async def prober() -> None:
            while time.monotonic() < end:
                start = time.perf_counter()
                try:
                    if (await client.get("/api/health")).status_code == 200:
                        health.append(time.perf_counter() - start)
                except httpx.TransportError as e:
                    errors["health " + type(e).__name__] += 1
                await asyncio.sleep(0.05)

        await asyncio.gather(prober(), *(reader() for _ in range(clients)))
    return {
        "per_s": len(latencies) / seconds,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "statuses": dict(sorted(statuses.items())),
        "errors": dict(errors),
        "health_p50": percentile(health, 50),
        "health_p99": percentile(health, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--log", type=Path, default=Path("serve-load.log"))
    args = parser.parse_args()

    image = drawing()
    print(f"{len(image):,} byte PNG of '2025'; {args.seconds:g} s per row")
    print("workers clients  read/s  p50 ms  p99 ms  health p50/p99 ms  RSS MB  answers, errors")
    for workers in args.workers:
        port = free_port()
        process = start_server(workers, port, args.log)
        try:
            for clients in args.clients:
                before = rss_mb(process)
                row = asyncio.run(run_load(f"http://{HOST}:{port}", clients, args.seconds, image))
                print(
                    f"{workers:7} {clients:7} {row['per_s']:7.1f} {row['p50']:7.1f} "
                    f"{row['p99']:7.1f} {row['health_p50']:8.1f} / {row['health_p99']:<7.1f}"
                    f" {before:4.0f}->{rss_mb(process):<4.0f} {row['statuses']} {row['errors']}",
                    flush=True,
                )
        finally:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
