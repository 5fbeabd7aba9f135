"""The README and the documentation site: commands that exist, pages that exist, a short README."""

import importlib.util
import inspect
import re
import shlex
from pathlib import Path

import pytest
import yaml

from mnist_cnn import tuning
from mnist_cnn.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_LIMIT = 10_000  # bytes: a few screens; measurements belong in docs/


@pytest.fixture(scope="module")
def hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def results_commands() -> list[str]:
    """The first cell of every row of the README's results table."""
    section = README.read_text().split("## Results", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [re.match(r"\| `([^`]+)`", row).group(1) for row in rows]


def test_readme_is_short():
    assert len(README.read_bytes()) < README_LIMIT


def test_readme_results_table_names_commands():
    commands = results_commands()
    assert len(commands) >= 6
    assert all(c.startswith(("mnist-cnn ", "python benchmarks/")) for c in commands), commands


@pytest.mark.parametrize("command", results_commands())
def test_every_results_command_exists(command):
    words = shlex.split(command)
    if words[0] == "mnist-cnn":
        build_parser().parse_args(words[1:])  # an unknown command or option exits
    else:
        script = ROOT / words[1]
        assert script.is_file(), script
        source = script.read_text()
        for option in (w for w in words[2:] if w.startswith("--")):
            assert f'"{option}"' in source, f"{script.name} has no option {option}"


def test_readme_links_point_to_files():
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README.read_text())
    assert "docs/images/page.png" in links
    for link in links:
        assert (ROOT / link).exists(), link


def nav_pages(nav) -> list[str]:
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_every_nav_page_exists_or_is_made(hooks):
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = nav_pages(config["nav"])
    assert "guide.ipynb" in pages and "reference/index.md" in pages
    for page in pages:
        if page == "guide.ipynb":  # executed from notebooks/guide.ipynb before the build
            assert DOCS / page == hooks.GUIDE and (ROOT / "notebooks" / page).is_file()
        else:
            assert (DOCS / page).is_file(), page


def test_reference_has_a_page_per_module(hooks):
    modules = hooks.modules()
    for path in (ROOT / "src" / "mnist_cnn").glob("*.py"):
        if not path.name.startswith("_"):
            assert f"mnist_cnn.{path.stem}" in modules
    assert hooks.reference_page("mnist_cnn.imaging.decode") == "reference/imaging/decode.md"


def test_the_layout_names_every_module_and_folder_of_the_package(hooks):
    """docs/index.md's layout is where a newcomer learns what each file does."""
    layout = (DOCS / "index.md").read_text().split("## Layout", 1)[1].split("```")[1]
    package = hooks.PACKAGE
    subpackages = [path for path in package.iterdir() if (path / "__init__.py").is_file()]
    names = {
        path.name + ("/" if path.is_dir() else "")
        for folder in (package, *subpackages)
        for path in folder.iterdir()
        if path.name != "__init__.py" and not path.name.startswith((".", "__"))
    }
    assert names, package
    missing = sorted(
        name for name in names if not re.search(rf"(?<![\w/]){re.escape(name)}", layout)
    )
    assert not missing, f"not in the layout of docs/index.md: {missing}"


def test_train_options_table_is_read_from_the_parser(hooks):
    table = hooks.options_table("train")
    for option in ("--preset", "--model", "--epochs", "--lr", "--seed", "--report"):
        assert f"`{option}" in table
    assert re.search(r"\| `--epochs EPOCHS` \| `\d+` \|", table)  # the default from the help
    assert "(default:" not in table
    assert "`--report`, `--no-report` | `off`" in table


def test_tune_help_names_the_defaults_tune_applies(hooks):
    # The parser holds no defaults (only given options reach `tune`): its help, which
    # the options table reads, must say what `tune` itself does.
    defaults = {k: p.default for k, p in inspect.signature(tuning.tune).parameters.items()}
    checked = 0
    for action in hooks.subcommand("tune")._actions:
        said = hooks.DEFAULT.search(action.help or "")
        if said is None or action.dest not in defaults or not action.option_strings:
            continue
        value = defaults[action.dest]
        if value is None:  # said in words ("the preset's")
            continue
        expected = ("on" if value else "off") if isinstance(value, bool) else str(value)
        assert said.group(1) == expected, action.option_strings
        checked += 1
    assert checked >= 7  # space, preset, trials, asha, cpus, gpus, seed, runs-dir


def test_every_options_marker_names_a_command(hooks):
    markers = hooks.MARKER.findall((DOCS / "commands.md").read_text())
    assert "train" in markers
    for name in markers:
        hooks.subcommand(name)  # raises for a command that does not exist


def test_doctest_lines_become_code(hooks):
    lines = ["Text.", "", ">>> [a for a in x]", "[1, 2]", "", "More."]
    out = hooks.DoctestAsCode(None).run(lines)
    assert out == ["Text.", "", "```pycon", ">>> [a for a in x]", "[1, 2]", "```", "", "More."]
