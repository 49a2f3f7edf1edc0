"""The layering rule of docs/architecture.md: a module imports from its own layer or those below, and no cycle."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "aelib"

LAYERS = {
    "foundation": ("errors", "config", "outputs"),
    "measures and formats": ("metrics", "bdrate", "baselines", "data", "format", "entropy", "layers"),
    "networks": ("models", "vgg", "lpips", "losses", "calibration"),
    "codec": ("codec", "files"),
    "training and evaluation": ("train", "evaluate", "ratedistortion"),
    "study": ("plots", "report", "pipeline", "panel"),
    "interface": ("cli",),
}
RANK = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}


def imports_of(module: str) -> set[str]:
    """The aelib modules that a module imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aelib."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "aelib":
            found |= {alias.name for alias in node.names if alias.name in RANK}
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("aelib.")}
    return found - {module}


def test_every_module_has_a_layer():
    modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(RANK), f"add to LAYERS (and docs/architecture.md): {modules ^ set(RANK)}"


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [
        f"{module} ({RANK[module]}) imports {target} ({RANK[target]})"
        for module in RANK
        for target in imports_of(module)
        if RANK[target] > RANK[module]
    ]
    assert not upward


def test_the_imports_have_no_cycle():
    graph = {module: imports_of(module) for module in RANK}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            assert state.get(target) != "open", f"import cycle: {' → '.join(path + [module, target])}"
            if target not in state:
                visit(target, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_the_rule_catches_a_cycle(tmp_path, monkeypatch):
    """The walker itself: two modules that import each other are reported."""
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    (tmp_path / "config.py").write_text("from aelib.outputs import x\n")
    (tmp_path / "outputs.py").write_text("def f():\n    from aelib.config import y\n")
    assert imports_of("config") == {"outputs"} and imports_of("outputs") == {"config"}


def test_importing_aelib_and_reading_a_header_leave_tensorflow_unloaded():
    script = (
        "import sys, aelib, aelib.format, aelib.files, aelib.cli;"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
