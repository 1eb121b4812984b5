"""The layout rules of DESIGN.md, read from the source tree (no imports but the last test).

A newcomer should find every command in `cli/`, the Qt face only in `gui/`, and files and
functions short enough to read in one sitting. These checks keep it that way.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "soundfinder"
FACES = ("gui", "cli")
FACE_IMPORTS = ("PySide6", "soundfinder.gui", "soundfinder.cli")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def _in_face(path: Path) -> bool:
    """gui/ and cli/, and `python -m soundfinder`'s entry point (it is the command line)."""
    parts = path.relative_to(PACKAGE).parts
    return (len(parts) > 1 and parts[0] in FACES) or parts == ("__main__.py",)


def _imported_names(tree: ast.AST, module: str) -> list[str]:
    """Every module an `import` or `from … import` anywhere in the file names (also inside
    functions), with relative imports resolved against `module`."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[:-node.level]
                base = ".".join([*parent, base] if base else parent)
            names.append(base)
            names.extend(f"{base}.{a.name}" for a in node.names)
    return names


def _dotted(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def test_no_cli_modules_outside_cli():
    stray = [_rel(p) for p in _modules() if p.name.endswith("_cli.py") and p.parent.name != "cli"]
    assert not stray, f"command-line faces belong in soundfinder/cli/: {stray}"


def test_every_package_folder_is_a_regular_package():
    """`packages.find` in pyproject.toml installs only folders with an __init__.py: a folder
    without one would be missing from a wheel (an implicit namespace package)."""
    folders = {p.parent for p in _modules()}
    bare = [_rel(f) for f in sorted(folders) if not (f / "__init__.py").exists()]
    assert not bare, f"package folders without __init__.py (left out of a wheel): {bare}"


def test_core_never_imports_a_face():
    offenders = []
    for path in _modules():
        if _in_face(path):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in _imported_names(tree, _dotted(path)):
            if any(name == f or name.startswith(f + ".") for f in FACE_IMPORTS):
                offenders.append(f"{_rel(path)} imports {name}")
    assert not offenders, "the core must run headless:\n" + "\n".join(offenders)


def test_the_face_scan_sees_imports_inside_functions():
    """The scan above is only worth something if it finds a face imported lazily."""
    tree = ast.parse("def f():\n    from PySide6.QtCore import QObject\n    import soundfinder.gui.app\n")
    names = _imported_names(tree, "soundfinder.query.x")
    assert "PySide6.QtCore" in names and "soundfinder.gui.app" in names
    rel = ast.parse("from ..gui import app\n")
    assert "soundfinder.gui" in _imported_names(rel, "soundfinder.query.x")


def test_long_modules_say_why():
    long = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n") + (0 if text.endswith("\n") else 1)
        if lines <= MAX_MODULE_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if not any(line.startswith("Long because:") for line in doc.splitlines()):
            long.append(f"{_rel(path)}: {lines} lines")
    assert not long, (f"modules over {MAX_MODULE_LINES} lines: split them by concern, or start a "
                      f"docstring line with 'Long because:'\n" + "\n".join(long))


def test_no_long_functions():
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{_rel(path)}:{node.lineno} {node.name}: {n} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def _command_modules() -> list[str]:
    from soundfinder.cli.main import COMMAND_MODULES

    return list(COMMAND_MODULES)


@pytest.mark.parametrize("name", _command_modules())
def test_every_command_module_imports_and_registers(name):
    module = importlib.import_module(name)
    assert callable(getattr(module, "register", None)), f"{name} has no register(subparsers)"
