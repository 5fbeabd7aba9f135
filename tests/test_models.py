import numpy as np
import pytest

from mnist_cnn import models
from mnist_cnn.errors import MnistCnnError


@pytest.mark.parametrize("name", sorted(set(models.MODELS) - models.NUMBER_MODELS))
def test_every_model_maps_images_to_probabilities(name):
    model = models.build(name)
    out = model.predict(np.random.default_rng(0).random((4, 28, 28, 1), np.float32), verbose=0)
    assert out.shape == (4, 10)
    assert np.allclose(out.sum(axis=1), 1, atol=1e-4)
    assert models.count_macs(model) > model.count_params() > 0


@pytest.mark.parametrize("name", sorted(models.NUMBER_MODELS))
def test_number_models_map_strips_to_frame_logits(name):
    from mnist_cnn import ctc
    from mnist_cnn.imaging import strip

    model = models.build(name, "mixed_bfloat16")
    strips = np.random.default_rng(0).random((3, strip.HEIGHT, strip.WIDTH, 1), np.float32)
    out = model.predict(strips, verbose=0)
    assert out.shape == (3, strip.WIDTH // ctc.FRAME, ctc.CLASSES)
    assert out.dtype == np.float32  # logits in float32 even when the layers run in bfloat16
    assert models.count_macs(model) > model.count_params() > 0


def test_original_is_the_original_network():
    model = models.build("original")
    assert model.count_params() == 34826
    # conv1 26*26*32*9 + conv2 11*11*64*32*9 + dense 1600*10
    assert models.count_macs(model) == 194_688 + 2_230_272 + 16_000


def test_former_name_seed_still_builds_and_warns_once(monkeypatch, recwarn):
    monkeypatch.setattr(models, "_warned", set())
    assert models.build("seed").count_params() == 34826
    assert models.resolve_name("seed") == "original"
    deprecations = [w for w in recwarn if issubclass(w.category, FutureWarning)]
    assert len(deprecations) == 1
    assert "'seed' is deprecated: it is now called 'original'" in str(deprecations[0].message)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(MnistCnnError, match="unknown model 'resnet'.*original"):
        models.build("resnet")


def test_describe_lists_every_model_under_its_current_name():
    table = models.describe_models()
    names = [line.split()[0] for line in table.splitlines()[2:]]
    assert names == list(models.MODELS) and "original" in names and "seed" not in names
    assert "34,826" in table


def test_bfloat16_models_compute_in_bfloat16_and_answer_in_float32():
    model = models.build("fast", precision="mixed_bfloat16")
    convs = [layer for layer in model.layers if "conv" in layer.name]
    assert convs and all(layer.compute_dtype == "bfloat16" for layer in convs)
    assert all(w.dtype == "float32" for w in model.weights)  # weights stay full precision
    out = model(np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32))
    assert np.asarray(out).dtype == np.float32
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, rtol=1e-5)
    assert models.build("fast").layers[1].compute_dtype == "float32"  # policy restored


def test_auto_precision_uses_bfloat16_only_where_the_cpu_has_it(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx2 fma\n")
    assert not models.cpu_has_bfloat16(str(cpuinfo))
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n")
    assert models.cpu_has_bfloat16(str(cpuinfo))
    assert not models.cpu_has_bfloat16(str(tmp_path / "missing"))

    for native, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(models, "cpu_has_bfloat16", lambda native=native: native)
        assert models.resolve_precision("float32") == "float32"  # explicit values stay
        assert models.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
        assert models.build("fast", precision="auto").layers[1].compute_dtype == expected
