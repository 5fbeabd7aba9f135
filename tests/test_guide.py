"""The guide notebook: stored clean, uses the public API, and runs top to bottom in
quick mode (GUIDE_QUICK=1) in a fresh folder."""

import re
from pathlib import Path

import nbformat
import pytest

GUIDE = Path(__file__).resolve().parents[1] / "notebooks" / "guide.ipynb"


@pytest.fixture(scope="module")
def notebook():
    nb = nbformat.read(GUIDE, as_version=4)
    nbformat.validate(nb)
    return nb


def code_of(nb) -> str:
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")


def test_guide_is_stored_without_outputs(notebook):
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert notebook.metadata.kernelspec.name == "python3"


def test_guide_uses_only_the_public_api(notebook):
    code = code_of(notebook)
    assert not re.search(r"\b(mnist_cnn|plots|runs|data|models|evaluation|report)\._", code)
    assert not re.search(r"/\s*255", code)  # scaling is preprocess's job
    for step in ("load_mnist", "preprocess(", "models.build", "training.train", "evaluate_run"):
        assert step in code


@pytest.mark.slow
def test_guide_runs_in_quick_mode(tmp_path, monkeypatch, mnist_dir):
    from nbclient import NotebookClient

    monkeypatch.setenv("GUIDE_QUICK", "1")
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_dir))
    # kernel_name "python3" starts this interpreter (jupyter_client swaps the
    # kernelspec's "python" for sys.executable), so the kernel sees this venv.
    client = NotebookClient(
        nbformat.read(GUIDE, as_version=4),
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    executed = client.execute()

    outputs = [out for cell in executed.cells for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.output_type == "error"]
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "quick mode" in text and "ModelCheckpoint wrote model.keras" in text
    assert "written 4096, read" in text
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) >= 14  # 4 data, 1 training, 4 test and 4 model figures, the reading
    run_dirs = [p for p in (tmp_path / "runs" / "guide").iterdir() if p.name != "figures"]
    assert len(run_dirs) == 1
    assert (run_dirs[0] / "report.pdf").is_file() and (run_dirs[0] / "report.html").is_file()
