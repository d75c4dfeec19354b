"""The library's modules import only from layers below their own, as the package docstring documents."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import minima

LIBRARY = Path(minima.__file__).parent


def documented_layers() -> dict[str, int]:
    """Module → layer number, read from the numbered list in ``minima/__init__.py``'s docstring."""
    layers, current = {}, None
    for line in minima.__doc__.splitlines():
        numbered = re.match(r"^(\d+)\. ", line)
        if numbered:
            current = int(numbered.group(1))
        elif not line.startswith("   "):
            current = None
        if current is not None:
            for name in re.findall(r"``(\w+)``", line.split(":")[0] if numbered is None else line):
                layers.setdefault(name, current)
    return {name: layer for name, layer in layers.items() if (LIBRARY / f"{name}.py").is_file()}


def imported_modules(path: Path) -> set[str]:
    """The sibling modules ``path`` imports (``from .x import …``, ``from . import x``), at any depth."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                names.add(node.module.split(".")[0])
            else:
                names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("minima."):
            names.add(node.module.split(".")[1])
    return names


def test_every_module_has_a_documented_layer():
    layers = documented_layers()
    modules = {path.stem for path in LIBRARY.glob("*.py") if path.stem != "__init__"}
    assert modules == set(layers), f"undocumented: {modules - set(layers)}; documented but absent: {set(layers) - modules}"


def test_imports_run_downwards_only():
    layers = documented_layers()
    upward = []
    for name, layer in layers.items():
        for imported in imported_modules(LIBRARY / f"{name}.py"):
            if imported in layers and layers[imported] >= layer:
                upward.append(f"{name} (layer {layer}) imports {imported} (layer {layers[imported]})")
    assert not upward, "imports against the layering: " + "; ".join(upward)


def test_the_check_catches_an_upward_import(tmp_path):
    bad = tmp_path / "rank.py"
    bad.write_text("from .derivatives import gradient_matrix\n")
    assert imported_modules(bad) == {"derivatives"}
    layers = documented_layers()
    assert layers["derivatives"] > layers["rank"]  # the edge the old rank.py had would fail the test above


def test_every_public_docstring_names_its_chapter():
    """Each public function and class says which chapter explains or uses it (or that none does yet)."""
    import importlib
    import inspect

    missing = []
    for path in sorted(LIBRARY.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        module = importlib.import_module(f"minima.{path.stem}")
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                if not re.search(r"\b[Cc]hapters? \d|Not used by a chapter", inspect.getdoc(obj) or ""):
                    missing.append(f"{path.stem}.{name}")
    assert not missing, f"docstrings that name no chapter: {missing}"
