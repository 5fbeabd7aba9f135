"""Make docs/images/page.png: the drawing page of `mnist-cnn serve` with "170" drawn on it.

Starts `mnist-cnn serve` with the model shipped in the package on a free local port,
draws three digits with the mouse in headless Chromium (Playwright), waits until the
page has read them, and saves a palette PNG of the page, 1,000 px wide.

    python docs/screenshot.py [--out docs/images/page.png] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import io
import math
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from PIL import Image

import mnist_cnn

ROOT = Path(__file__).resolve().parents[1]
MODEL = Path(mnist_cnn.__file__).parent / "default_model"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 180) -> None:
    """Wait until `url` answers; importing TensorFlow can take a while."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"mnist-cnn serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"mnist-cnn serve did not answer at {url}")


def stroke(page, points: list[tuple[float, float]]) -> None:
    """Drag the mouse through `points`, in units of the board's height."""
    box = page.locator("#ink").bounding_box()
    x0, y0, h = box["x"], box["y"], box["height"]
    page.mouse.move(x0 + points[0][0] * h, y0 + points[0][1] * h)
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x * h, y0 + y * h, steps=6)
    page.mouse.up()


def draw_170(page) -> None:
    stroke(page, [(0.48, 0.18), (0.45, 0.5), (0.42, 0.82)])  # 1
    stroke(page, [(0.8, 0.2), (1.1, 0.2), (0.91, 0.82)])  # 7
    ellipse = [(1.5 + 0.16 * math.sin(t / 4), 0.5 - 0.32 * math.cos(t / 4)) for t in range(26)]
    stroke(page, ellipse)  # 0


def screenshot(url: str, out: Path, chromium: str, width: int) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 760})
        page.goto(url)
        page.wait_for_function("document.getElementById('ink').width > 0")
        draw_170(page)
        expect(page.locator("#number")).to_have_text("170")
        expect(page.locator("#inputs img")).to_have_count(3)
        png = page.screenshot(full_page=True)
        browser.close()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"{out}: {image.width}x{image.height}, {out.stat().st_size // 1024} KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "page.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--width", type=int, default=1000)
    args = parser.parse_args()

    port = free_port()
    command = [sys.executable, "-m", "mnist_cnn.cli", "serve", "--model", str(MODEL)]
    process = subprocess.Popen([*command, "--port", str(port)], stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/api/ready", process)  # 503 while the model loads
        screenshot(url, args.out, args.chromium, args.width)
    finally:
        process.terminate()
        process.wait(timeout=15)


if __name__ == "__main__":
    main()
