"""MkDocs hooks: parts of the site built from the code, so they are written once.

- ``<!-- options: COMMAND -->`` in a page becomes the table of that ``mnist-cnn``
  subcommand's options, read from the argparse actions of `mnist_cnn.cli.build_parser`.
- ``API reference`` in the nav gets one page per module under ``src/mnist_cnn``,
  each rendered from its docstrings by mkdocstrings (``::: mnist_cnn.MODULE``).
- Doctest lines (``>>>`` and their output) in docstrings are shown as code, not
  read as Markdown (where ``[a]`` then ``[b]`` would be a link).
- ``guide.ipynb``, the guide notebook executed in quick mode, must exist in
  ``docs/``; the command that makes it is in the error below.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from markdown import Extension
from markdown.preprocessors import Preprocessor
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "mnist_cnn"
GUIDE = ROOT / "docs" / "guide.ipynb"
GUIDE_COMMAND = (
    "GUIDE_QUICK=1 jupyter nbconvert --to notebook --execute notebooks/guide.ipynb "
    "--output-dir docs --output guide.ipynb"
)
MARKER = re.compile(r"<!-- options: ([a-z-]+) -->")
DEFAULT = re.compile(r"\s*\(default: ([^()]*(?:\([^()]*\)[^()]*)*)\)")
REFERENCE = "API reference"


def modules(package: Path = PACKAGE) -> list[str]:
    """Dotted names of the public modules and packages below `package`, sorted."""
    names = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) > 1 and not any(p.startswith("_") for p in parts):
            names.append(".".join(parts))
    return names


def subcommand(name: str) -> argparse.ArgumentParser:
    """The parser of ``mnist-cnn NAME``."""
    if str(ROOT / "src") not in sys.path:  # this checkout's code, installed or not
        sys.path.insert(0, str(ROOT / "src"))
    from mnist_cnn.cli import build_parser

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]
    raise PluginError(f"docs: `mnist-cnn {name}` does not exist (marker <!-- options: {name} -->)")


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def option_row(action: argparse.Action) -> str:
    """One table row: the option's names, its default and its help."""
    if action.option_strings:
        value = f" {action.metavar or action.dest.upper()}" if action.nargs != 0 else ""
        names = ", ".join(f"`{s}{value}`" for s in action.option_strings)
    else:
        names = f"`{action.metavar or action.dest.upper()}`"
        names += "..." if action.nargs == "+" else ""
    help_text = (action.help or "").replace("%(default)s", str(action.default)).replace("%%", "%")
    default = ""
    if match := DEFAULT.search(help_text):  # "(default: x)" in the help wins: train's defaults
        default, help_text = match.group(1), DEFAULT.sub("", help_text, count=1)
    elif action.nargs == 0 and action.option_strings:
        default = "off"
    elif action.default not in (None, argparse.SUPPRESS):
        default = str(action.default)
    if action.choices:
        help_text = f"{help_text}; one of: {', '.join(map(str, action.choices))}".lstrip("; ")
    default = f"`{default}`" if default and " " not in default else default
    return f"| {cell(names)} | {cell(default)} | {cell(help_text.strip())} |"


def options_table(name: str) -> str:
    """The Markdown table of ``mnist-cnn NAME``'s arguments and options."""
    rows = [
        option_row(a) for a in subcommand(name)._actions if not isinstance(a, argparse._HelpAction)
    ]
    return "\n".join(["| argument | default | meaning |", "| --- | --- | --- |", *rows])


class DoctestAsCode(Preprocessor):
    """Fences each run of doctest lines (``>>>`` up to the next blank line) as ``pycon``."""

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        fenced = in_doctest = False
        indent = ""
        for line in lines:
            text = line.strip()
            if in_doctest and not text:
                out.append(indent + "```")
                in_doctest = False
            elif text.startswith("```"):
                fenced = not fenced
            elif not fenced and not in_doctest and text.startswith(">>>"):
                indent = line[: len(line) - len(line.lstrip())]
                out.append(indent + "```pycon")
                in_doctest = True
            out.append(line)
        if in_doctest:
            out.append(indent + "```")
        return out


class DoctestExtension(Extension):
    def extendMarkdown(self, md) -> None:
        # Before the fenced-code preprocessor (priority 25), which then reads the fences.
        md.preprocessors.register(DoctestAsCode(md), "doctest_as_code", 27)


def reference_page(module: str) -> str:
    """Where the reference page of `module` goes, relative to docs/."""
    return f"reference/{module.removeprefix('mnist_cnn.').replace('.', '/')}.md"


def on_config(config):
    # In place: mkdocstrings renders docstrings with this same list of extensions.
    config.markdown_extensions.append(DoctestExtension())
    if not GUIDE.is_file():
        raise PluginError(f"docs: {GUIDE} is missing; make it with:\n  {GUIDE_COMMAND}")
    pages = [{module: reference_page(module)} for module in modules()]
    for entry in config.nav:
        if isinstance(entry, dict) and REFERENCE in entry:
            entry[REFERENCE] = [*entry[REFERENCE], *pages]
    return config


def on_files(files, config):
    for module in modules():
        content = f"::: {module}\n    options:\n      heading_level: 1\n"
        files.append(File.generated(config, reference_page(module), content=content))
    return files


def on_page_markdown(markdown, page, config, files):
    return MARKER.sub(lambda m: options_table(m.group(1)), markdown)
