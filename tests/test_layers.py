"""fer_core's layers: every import points down (data -> inference -> training -> runs -> app -> commands).

A module may import from its own layer and from the layers below it, never from one above: the
folders are the architecture, and this test keeps them honest (imports inside functions count).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fer_core"
# Lowest first. The loose modules config, errors and storage are the foundation every layer uses.
LAYERS = ("foundation", "data", "inference", "training", "runs", "app", "commands")
FOUNDATION = {"__init__", "config", "errors", "storage"}
TOP = {"cli", "__main__"}


def layer_of(module):
    """The layer of a dotted module name under fer_core ("fer_core.data.base" -> "data")."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in FOUNDATION:
        return "foundation"
    if parts[0] in TOP:
        return "commands"
    if parts[0] not in LAYERS:
        raise AssertionError(f"{module}: not in a known layer; put it in one of {LAYERS[1:]}")
    return parts[0]


def module_name(path, package=PACKAGE):
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path, package=PACKAGE):
    """Every fer_core module a file imports, with its line (absolute imports; relative ones resolved)."""
    own = module_name(path, package)
    package = own.split(".") if path.name == "__init__.py" else own.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            names = [base] if base != "fer_core" else [f"fer_core.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "fer_core" or name.startswith("fer_core."):
                yield name, node.lineno


def upward_imports(package=PACKAGE):
    """(file:line, importer's layer, imported module, its layer) for each import that points up."""
    found = []
    for path in sorted(package.rglob("*.py")):
        own = LAYERS.index(layer_of(module_name(path, package)))
        for name, line in imported_modules(path, package):
            target = layer_of(name)
            if LAYERS.index(target) > own:
                found.append((f"{path.relative_to(package.parent)}:{line}", LAYERS[own], name, target))
    return found


def test_no_import_points_up_the_layers():
    assert upward_imports() == []


def test_the_package_is_layered_in_folders():
    loose = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    layers = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert len(loose) <= 6, loose
    assert set(LAYERS[1:]) <= set(layers)


def test_only_the_app_layer_imports_streamlit():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if layer_of(module_name(path)) == "app":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}:{node.lineno}" for n in names if n.split(".")[0] in ("streamlit", "streamlit_webrtc")]
    assert offenders == []


def test_the_check_catches_an_import_that_points_up(tmp_path):
    fake = tmp_path / "fer_core"
    (fake / "data").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "data" / "__init__.py").write_text("")
    (fake / "data" / "bad.py").write_text("def f():\n    from fer_core.runs.records import find_runs\n")
    (fake / "data" / "relative.py").write_text("from ..app import charts\n")
    assert [(where, target) for where, _, _, target in upward_imports(fake)] == [
        ("fer_core/data/bad.py:2", "runs"), ("fer_core/data/relative.py:1", "app")]


@pytest.mark.parametrize("module, layer", [("fer_core.config", "foundation"), ("fer_core.data.base", "data"),
                                           ("fer_core.cli", "commands"), ("fer_core", "foundation")])
def test_layer_of(module, layer):
    assert layer_of(module) == layer
