"""The benchmark scripts run end to end in their quick modes (no timing is asserted)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_speed_accuracy_quick_mode_prints_the_table():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "speed_accuracy.py"), "--quick", "--presets", "fast"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| model"))
    rows = [line.split("|")[1:-1] for line in lines[header + 2 : header + 4]]
    assert [r[0].strip() for r in rows] == ["keras example", "fast"]
    assert rows[0][-1].strip() == "1.00x"  # the example is its own reference
    assert all(float(r[1].split("%")[0]) > 10 for r in rows)  # better than chance
    columns = [c.strip() for c in lines[header].split("|")[1:-1]]
    assert columns[2:4] == ["s to 99.0%", "s to 99.5%"]
    peak = columns.index("CPU peak used")
    assert all(0 < float(r[peak].strip().rstrip("%")) < 100 for r in rows)


def test_api_latency_serves_and_prints_the_table():
    # A real `mnist-cnn serve` on a free loopback port, a few requests; no timing asserted.
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "api_latency.py"), "--requests", "5", "--warmup", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in lines[1:] if line)
    assert rows["requests"].startswith("5 sequential")
    assert rows["answer"] == "prediction '7', status ok"  # the drawn 7 is read as a 7
    assert float(rows["p50"].removesuffix(" ms")) > 0
    assert re.match(r"finding the digit \d+\.\d\d ms and the model \d+\.\d\d ms", rows["p50 parts"])


def test_load_runs_a_row_and_a_burst_per_worker_count(tmp_path):
    # A real `mnist-cnn serve` with 1 and 2 workers, 1 s of 4 clients, a burst of 3.
    command = [sys.executable, str(BENCHMARKS / "load.py"), "--seconds", "1", "--clients", "4"]
    command += ["--burst", "3", "--log", str(tmp_path / "serve.log")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"\s+\d", line)]
    readings = [row for row in rows if "transparent" not in row]
    bursts = [row for row in rows if "transparent" in row]
    assert [row[:2] for row in readings] == [["1", "4"], ["2", "4"]]
    for row in readings:
        assert float(row[2]) > 0 and row[-1] == "{}"  # readings answered, no connection errors
    assert len(bursts) == 2 and all("slowest" in " ".join(row) for row in bursts)


def table_rows(mnist_dir, script: str, *args: str) -> list[list[str]]:
    """Run a benchmark script on the real MNIST files: the cells of its table rows."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"MNIST_DATA_DIR": str(mnist_dir)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return [line.split("|")[1:-1] for line in result.stdout.splitlines()]


def read_right(mnist_dir, script: str) -> dict[str, float]:
    """What `script` reads right of 4 numbers of each kind, by kind, in its order."""
    rows = table_rows(mnist_dir, script, "--numbers", "4")
    kinds = [r for r in rows if len(r) == 6 and r[1].strip() == "4"]
    return {r[0].strip(): float(r[2].strip().rstrip("%")) for r in kinds}


def test_ruled_paper_reads_numbers_on_each_kind_of_paper(mnist_dir):
    right = read_right(mnist_dir, "ruled_paper.py")
    kinds = ["plain", "ruled", "ruled, turned", "squared", "margin", "box", "underline"]
    assert list(right) == kinds
    # Lines across the digits are taken out, turned too.
    assert min(right["plain"], right["ruled"], right["ruled, turned"]) >= 50, right


def test_photos_reads_numbers_turned_and_small_on_a_large_page(mnist_dir):
    right = read_right(mnist_dir, "photos.py")
    kinds = ["level", "turned 10", "turned 20", "small, 1500 px", "small, 3000 px", "shadow"]
    more = ["dim", "glare", "on a desk", "broad marker", "vignetted", "shadow along a side"]
    more += ["narrow shadow along a side"]
    assert list(right) == [*kinds, *more]
    # Levelled; found less blurred; blurred more; the glare no ink; the slip a sheet; the
    # marker's line thinned; the vignette a curved background; the shadows no light ink,
    # and no stroke.
    hard = ("turned 10", "small, 3000 px", *more)
    assert min(right[kind] for kind in hard) >= 50, right


def test_whole_numbers_quick_mode_reads_mnist_numbers_and_real_strings(mnist_dir):
    # Four numbers per spacing from the real MNIST test set, four real strings, four
    # test digits alone.
    rows = table_rows(mnist_dir, "whole_numbers.py", "--quick")
    conditions = [r for r in rows if len(r) == 10 and r[2].strip() == "4"]
    assert len(conditions) == 15
    apart = [float(r[5].strip().rstrip("%")) for r in conditions[:3]]
    assert all(a > 50 for a in apart), apart  # most digits of numbers apart are read right
    alone = [float(r[3].strip().rstrip("%")) for r in conditions if r[0].strip() == "alone"]
    assert len(alone) == 3 and all(a > 50 for a in alone), alone
    assert sum(len(r) == 3 and r[2].strip() in ("met", "not met") for r in rows) == 5
