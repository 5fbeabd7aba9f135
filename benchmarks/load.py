"""Load on ``mnist-cnn serve``: closed-loop clients on loopback, with 1 and 2 workers.

For each number of workers, starts ``mnist-cnn serve`` and, for each number of clients
(1, 8, 32, 128), runs that many clients for a fixed time, each sending a drawing of a
number and waiting for the answer before sending the next (waiting as ``Retry-After``
says after a 503). Meanwhile a process of its own asks ``/api/health`` every 50 ms. Prints,
per row: readings per second, their p50 and p99 latency, answers by status, connection
errors, health p50 and p99, and the server's memory (PSS of all its processes) before
and after. Then sends 16 of the worst image per byte at once (a transparent 6300x6300
PNG) and prints their answers, the slowest answer's time and the server's peak memory.

    python benchmarks/load.py                      # the shipped model, 5 s per row
    python benchmarks/load.py --seconds 10 --workers 1 2 --clients 1 8 32 128
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
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


def transparent_png(side: int = 6300) -> bytes:
    """The worst image per byte: a fully transparent side x side RGBA PNG (150 KB
    for 40 megapixels, under the one-image limit)."""
    buffer = io.BytesIO()
    Image.new("RGBA", (side, side), (0, 0, 0, 0)).save(buffer, format="PNG", compress_level=9)
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


def memory_mb(process: subprocess.Popen) -> float:
    """The server's memory: the PSS of all its processes (each shared page counted once
    in all, not once per worker as RSS would)."""
    parent = psutil.Process(process.pid)
    processes = [parent, *parent.children(recursive=True)]
    return sum(p.memory_full_info().pss for p in processes) / 2**20


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def multipart(image: bytes, boundary: str = "load-boundary") -> tuple[bytes, str]:
    """The body and content type of a form upload of `image` as ``file``, made once
    so that the clients spend their time on requests, not on encoding."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="n.png"'
        "\r\nContent-Type: image/png\r\n\r\n"
    )
    body = head.encode() + image + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def probe_health(url: str, seconds: float, results: multiprocessing.Queue) -> None:
    """Ask ``/api/health`` every 50 ms for `seconds`, from a process of its own (as a
    liveness probe would be), so that its times are the server's, not the load
    client's; puts the latencies of its 200 answers and its failures on `results`."""
    latencies, failures = [], 0
    with httpx.Client(base_url=url, timeout=10) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.perf_counter()
            try:
                ok = client.get("/api/health").status_code == 200
            except httpx.TransportError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - start)
            failures += not ok
            time.sleep(0.05)
    results.put((latencies, failures))


def status_kb(pid: int, field: str) -> int:
    """A ``VmRSS``/``VmHWM``-style field of ``/proc/PID/status``, in KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


async def run_burst(url: str, process: subprocess.Popen, image: bytes, n: int) -> dict:
    """`n` requests of `image` sent at once: each one's status and time, and the
    server's peak memory meanwhile: its PSS before, plus each process's rise to its
    peak RSS, which the kernel records exactly (``VmHWM``, reset first through
    ``clear_refs``), so nothing is sampled and nothing is missed."""
    parent = psutil.Process(process.pid)
    pids = [parent.pid, *(p.pid for p in parent.children(recursive=True))]
    before = memory_mb(process)
    rss_before = {}
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak RSS restarts from now
        rss_before[pid] = status_kb(pid, "VmRSS")

    async def one(session: aiohttp.ClientSession) -> tuple[int, float]:
        start = time.perf_counter()
        async with session.post(
            "/api/predict", data=image, headers={"Content-Type": "image/png"}
        ) as response:
            await response.read()
        return response.status, time.perf_counter() - start

    connector = aiohttp.TCPConnector(limit=n)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        answers = await asyncio.gather(*(one(session) for _ in range(n)))
    await asyncio.sleep(0.5)  # readings still running after their 503s end too
    rise = sum(status_kb(pid, "VmHWM") - rss_before[pid] for pid in pids)
    return {
        "statuses": dict(sorted(Counter(status for status, _ in answers).items())),
        "slowest_s": max(seconds for _, seconds in answers),
        "peak_mb": before + rise / 1024,
    }


async def run_load(url: str, clients: int, seconds: float, image: bytes) -> dict:
    """`clients` closed-loop readers for `seconds` (aiohttp: one Python process drives
    128 connections with a fraction of a core), and a health prober beside them."""
    latencies, statuses, errors = [], Counter(), Counter()
    body, content_type = multipart(image)
    health_results: multiprocessing.Queue = multiprocessing.Queue()
    prober = multiprocessing.Process(target=probe_health, args=(url, seconds, health_results))
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:
        end = time.monotonic() + seconds

        async def reader() -> None:
            while time.monotonic() < end:
                start = time.perf_counter()
                try:
                    async with session.post(
                        "/api/predict", data=body, headers={"Content-Type": content_type}
                    ) as response:
                        await response.read()
                except (aiohttp.ClientError, TimeoutError) as e:
                    errors[type(e).__name__] += 1
                    continue
                statuses[response.status] += 1
                if response.status == 200:
                    latencies.append(time.perf_counter() - start)
                elif response.status == 503:
                    await asyncio.sleep(float(response.headers.get("retry-after", 1)))

        prober.start()
        await asyncio.gather(*(reader() for _ in range(clients)))
    health, failures = health_results.get()
    prober.join()
    if failures:
        errors["health failed"] = failures
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
    parser.add_argument(
        "--burst", type=int, default=16, help="worst-case images sent at once (0: none)"
    )
    parser.add_argument("--log", type=Path, default=Path("serve-load.log"))
    args = parser.parse_args()

    image, worst = drawing(), transparent_png()
    print(f"{len(image):,} byte PNG of '2025'; {args.seconds:g} s per row")
    print("workers clients  read/s  p50 ms  p99 ms  health p50/p99 ms  PSS MB  answers, errors")
    for workers in args.workers:
        port = free_port()
        process = start_server(workers, port, args.log)
        try:
            for clients in args.clients:
                before = memory_mb(process)
                row = asyncio.run(run_load(f"http://{HOST}:{port}", clients, args.seconds, image))
                print(
                    f"{workers:7} {clients:7} {row['per_s']:7.1f} {row['p50']:7.1f} "
                    f"{row['p99']:7.1f} {row['health_p50']:8.1f} / {row['health_p99']:<7.1f}"
                    f" {before:4.0f}->{memory_mb(process):<4.0f} {row['statuses']} {row['errors']}",
                    flush=True,
                )
            if args.burst:
                row = asyncio.run(run_burst(f"http://{HOST}:{port}", process, worst, args.burst))
                print(
                    f"{workers:7} {args.burst:7} transparent 6300x6300 PNGs at once: answers "
                    f"{row['statuses']}, slowest {row['slowest_s']:.2f} s, "
                    f"server peak {row['peak_mb']:.0f} MB",
                    flush=True,
                )
        finally:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
