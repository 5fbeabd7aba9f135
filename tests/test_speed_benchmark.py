"""benchmarks/speed_accuracy.py: the CPU's peak and the share of it training used."""

import pytest

from mnist_cnn import models


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("speed_accuracy")


def cpuinfo(tmp_path, flags: str, mhz: float = 2000.0) -> str:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\ncpu MHz\t\t: {mhz}\nflags\t\t: fpu {flags}\n")
    return str(path)


@pytest.mark.parametrize(
    ("flags", "float32", "bfloat16"),
    [("avx2 fma", 16, 16), ("avx2 fma avx512f", 32, 32), ("avx2 fma avx512f avx512_bf16", 32, 64)],
)
def test_the_peak_follows_the_cpu_flags(bench, tmp_path, monkeypatch, flags, float32, bfloat16):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})  # 2 cores
    info = cpuinfo(tmp_path, flags)
    # Multiply-adds per cycle per core, times 2 GHz and 2 cores.
    assert bench.peak_macs_per_second("float32", info) == float32 * 2e9 * 2
    assert bench.peak_macs_per_second("mixed_bfloat16", info) == bfloat16 * 2e9 * 2


def test_training_counts_three_passes_a_training_image_and_one_a_validation_image(bench):
    model = models.build("original")
    per_image = models.count_macs(model)
    macs = bench.training_macs_per_second(model, 1000, 100, epochs=2, seconds=4.0)
    assert macs == per_image * (3 * 1000 + 100) * 2 / 4.0
