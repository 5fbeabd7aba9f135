"""The drawing page end to end in a real browser (Debian's Chromium via Playwright).

`mnist-cnn serve` runs as a subprocess on 127.0.0.1; the test draws digits with
the mouse on the canvas, as a person would, and reads what the page shows. A
screenshot is kept in ``test-artifacts/browser.png``.
"""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)"
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(model_file, tmp_path_factory):
    """`mnist-cnn serve` on a free local port; yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    command = [sys.executable, "-m", "mnist_cnn.cli", "serve", "--model", str(model_file)]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # importing TensorFlow on a busy CPU is slow
        while True:
            if process.poll() is not None:
                pytest.fail(f"mnist-cnn serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/api/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mnist-cnn serve did not start:\n{log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """The page, loaded; fails the test on any JavaScript error."""
    page = browser.new_page(viewport={"width": 1200, "height": 820})
    errors: list[str] = []

    def on_console(message) -> None:
        # A 4xx answer is logged by Chromium as "Failed to load resource"; that one is expected.
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(message.text)

    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", on_console)
    page.goto(server)
    page.wait_for_function("document.getElementById('ink').width > 0")
    yield page
    page.close()
    assert not errors, errors


# -- Drawing with the mouse, in units of the board's height (the board is 2 wide, 1 high).


def stroke(page, points: list[tuple[float, float]]) -> None:
    box = page.locator("#ink").bounding_box()
    x0, y0, h = box["x"], box["y"], box["height"]
    page.mouse.move(x0 + points[0][0] * h, y0 + points[0][1] * h)
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x * h, y0 + y * h, steps=6)
    page.mouse.up()


def draw_one(page, x: float) -> None:
    """A "1": one vertical stroke, slightly slanted like a handwritten one."""
    stroke(page, [(x + 0.03, 0.18), (x, 0.5), (x - 0.03, 0.82)])


def draw_zero(page, x: float) -> None:
    """A "0": an upright ellipse, closed."""
    stroke(
        page,
        [
            (x + 0.16 * math.sin(t), 0.5 - 0.32 * math.cos(t))
            for t in np.linspace(0, 2 * math.pi, 25)
        ],
    )


def draw_seven(page, x: float) -> None:
    """A "7": a bar, then the long diagonal down to the left."""
    stroke(page, [(x - 0.15, 0.2), (x + 0.15, 0.2), (x - 0.04, 0.82)])


def ink_pixels(page) -> int:
    """How many bright (ink) pixels the drawing canvas has."""
    return page.evaluate(
        """() => {
          const c = document.getElementById('ink');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++;
          return n;
        }"""
    )


# -- The tests. -------------------------------------------------------------------------------


def test_draw_read_clear_and_a_number(page):
    from playwright.sync_api import expect

    number, result = page.locator("#number"), page.locator("#result")
    expect(page.locator("#model-info")).to_contain_text("test accuracy")

    draw_zero(page, 1.0)
    expect(number).to_have_text("0")
    expect(result).to_have_attribute("data-status", "ok")
    expect(page.locator("#bars li.top .label")).to_have_text("0")
    expect(page.locator("#inputs img")).to_have_count(1)

    page.keyboard.press("n")  # as on the desktop board: N clears
    expect(number).to_have_text("–")
    expect(result).to_have_attribute("data-status", "empty")
    expect(page.locator("#hint")).to_be_visible()
    assert ink_pixels(page) == 0

    draw_one(page, 0.45)
    draw_seven(page, 0.95)
    draw_zero(page, 1.5)
    expect(number).to_have_text("170")
    expect(page.locator("#inputs img")).to_have_count(3)
    expect(page.locator("#digit-picker button")).to_have_count(3)
    page.locator("#digit-picker button").nth(1).click()
    expect(page.locator("#bars li.top .label")).to_have_text("7")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser.png"), full_page=True)

    page.get_by_role("button", name="Undo").click()  # takes the "0" away again
    expect(number).to_have_text("17")
    page.get_by_role("button", name="Clear").click()
    expect(number).to_have_text("–")


@pytest.mark.slow
def test_upload_an_image_and_see_api_errors(page, mnist, tmp_path):
    from PIL import Image
    from playwright.sync_api import expect

    digit = mnist.x_test[0]  # a 7
    path = tmp_path / "seven.png"
    Image.fromarray(255 - digit).resize((140, 140)).save(path)  # black on white, enlarged
    page.set_input_files("#upload", str(path))
    expect(page.locator("#number")).to_have_text(str(mnist.y_test[0]))
    expect(page.locator("#source-note")).to_contain_text("seven.png")

    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    page.set_input_files("#upload", str(text))
    expect(page.get_by_role("alert")).to_contain_text("not an image")


def test_clear_in_the_middle_of_a_stroke(page):
    from playwright.sync_api import expect

    box = page.locator("#ink").bounding_box()
    x0, y0, h = box["x"], box["y"], box["height"]
    page.mouse.move(x0 + 0.5 * h, y0 + 0.2 * h)
    page.mouse.down()
    page.mouse.move(x0 + 0.5 * h, y0 + 0.5 * h, steps=4)
    page.keyboard.press("n")  # the stroke ends here; the moves after it draw nothing
    page.mouse.move(x0 + 0.5 * h, y0 + 0.8 * h, steps=4)
    page.mouse.up()
    assert ink_pixels(page) == 0
    draw_one(page, 1.0)  # and the next stroke works (the page fixture fails on JS errors)
    expect(page.locator("#number")).to_have_text("1")


def test_an_answer_that_is_not_json_is_shown_as_such(page):
    from playwright.sync_api import expect

    page.route(
        "**/api/predict*",
        lambda route: route.fulfill(status=502, body="<html>Bad Gateway</html>"),
    )
    draw_one(page, 1.0)
    expect(page.get_by_role("alert")).to_have_text("The server answered 502 (Bad Gateway).")


def test_uploads_are_shown_as_read_and_large_ones_sent_smaller(page, tmp_path):
    from PIL import Image, ImageDraw
    from playwright.sync_api import expect

    # A white "1" on a transparent background: the server reads it over black (white
    # paper would hide it), and the board shows it over black too.
    clear = Image.new("RGBA", (140, 140), (255, 255, 255, 0))
    ImageDraw.Draw(clear).line([(70, 20), (70, 120)], fill=(255, 255, 255, 255), width=12)
    clear.save(tmp_path / "white-on-clear.png")
    page.set_input_files("#upload", str(tmp_path / "white-on-clear.png"))
    expect(page.locator("#result")).to_have_attribute("data-status", "ok")
    expect(page.locator("#result")).to_contain_text("1")
    centre = page.evaluate(
        """() => {
          const c = document.getElementById('ink');
          const pixel = c.getContext('2d').getImageData(c.width * 0.3, c.height / 2, 1, 1);
          return Array.from(pixel.data);
        }"""
    )
    assert centre[:3] == [0, 0, 0]  # black where the image is transparent

    # 7,000 x 6,000 pixels: more than the server takes (40 megapixels); the page sends
    # a smaller copy, which is read.
    big = Image.new("L", (7000, 6000), 255)
    ImageDraw.Draw(big).line([(3500, 1000), (3450, 5000)], fill=0, width=400)
    big.save(tmp_path / "big.png")
    page.set_input_files("#upload", str(tmp_path / "big.png"))
    expect(page.locator("#source-note")).to_contain_text("sent as a smaller copy", timeout=30_000)
    expect(page.locator("#number")).to_have_text("1", timeout=30_000)
