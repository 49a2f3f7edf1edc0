"""The layering rule of docs/architecture.md: a module imports from its own layer or those below, and no cycle."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "aelib"

LAYERS = {
    "foundation": ("errors", "config", "layout", "outputs", "data", "tables"),
    "measure": ("measure.metrics", "measure.bdrate", "measure.registry", "measure.baselines", "measure.curves"),
    "nn": (
        "nn.layers",
        "nn.models",
        "nn.vgg",
        "nn.lpips",
        "nn.losses",
        "nn.calibration",
        "nn.entropy_models",
        "nn.integer",
        "nn.hyperprior",
    ),
    "codec": ("codec.format", "codec.rans", "codec.entropy", "codec.codec", "codec.hyper", "codec.files", "codec.zoo"),
    "training": ("training.autoencoder", "training.hyperprior", "training.families"),
    "experiments": ("experiments.table1", "experiments.ratedistortion", "experiments.reproduction"),
    "report": (
        "report.text",
        "report.tables",
        "report.figures",
        "report.prose",
        "report.readme",
        "report.summary",
        "report.reproduction",
    ),
    "apps": ("apps.reproduce", "apps.panel", "apps.cli"),
}
RANK = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}


def modules() -> set[str]:
    """Every module of the package, dotted below aelib ("codec.format"); package __init__ files left out."""
    return {
        ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py"
    }


def imports_of(module: str) -> set[str]:
    """The aelib modules that a module imports, at its top or inside a function."""
    found = set()
    source = (PACKAGE / (module.replace(".", "/") + ".py")).read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aelib."):
            target = node.module.removeprefix("aelib.")
            found |= {f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in RANK}
            found.add(target)
        elif isinstance(node, ast.Import):
            found |= {alias.name.removeprefix("aelib.") for alias in node.names if alias.name.startswith("aelib.")}
    return (found & set(RANK)) - {module}


def test_every_module_has_a_layer_and_sits_in_its_package():
    assert modules() == set(RANK), f"add to LAYERS (and docs/architecture.md): {modules() ^ set(RANK)}"
    for layer, members in LAYERS.items():
        if layer != "foundation":
            assert all(module.startswith(f"{layer}.") for module in members), layer


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
    (tmp_path / "codec").mkdir()
    (tmp_path / "codec" / "files.py").write_text("from aelib.training import autoencoder\nimport aelib.nn.models\n")
    assert imports_of("config") == {"outputs"} and imports_of("outputs") == {"config"}
    assert imports_of("codec.files") == {"training.autoencoder", "nn.models"}


WRITERS = {"write_text", "write_bytes", "to_csv", "to_parquet", "savefig", "save", "save_weights", "mkdir", "touch"}
"""Calls that put something on disk; with ``open(…, "w")`` and ``atomic_output``, what experiments may not call."""


def file_writes(module: str) -> list[str]:
    """Where a module writes a file: each call of :data:`WRITERS`, ``atomic_output`` or ``open`` with a write mode."""
    source = (PACKAGE / (module.replace(".", "/") + ".py")).read_text()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        modes = node.args[1:2] + [keyword.value for keyword in node.keywords if keyword.arg == "mode"]
        opens_to_write = name == "open" and any(
            isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set("wax") & set(mode.value)
            for mode in modes
        )
        if name in WRITERS or name == "atomic_output" or opens_to_write:
            found.append((node.lineno, node.col_offset, f"{module}:{node.lineno} {name}"))
    return [where for *_, where in sorted(found)]


def test_no_experiment_writes_a_file():
    """Experiments measure and return DataFrames; training writes models, report writes results."""
    assert not [write for module in LAYERS["experiments"] for write in file_writes(module)]


def test_the_writer_search_finds_each_kind_of_write(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "x.py").write_text(
        "def f(t, p):\n    t.to_csv(p)\n    open(p, 'w')\n    open(p)\n    open(p, mode='ab')\n"
        "    with atomic_output(p) as q:\n        q.write_text('')\n    return t.to_markdown()\n"
    )
    assert [w.split()[1] for w in file_writes("experiments.x")] == [
        "to_csv",
        "open",
        "open",
        "atomic_output",
        "write_text",
    ]


def test_fitting_a_network_does_not_touch_the_codec_layer():
    """Training returns a network; the codec's export step builds tables and files (docs/architecture.md)."""
    for training in ("training.autoencoder", "training.hyperprior"):
        assert not {target for target in imports_of(training) if target.startswith("codec.")}, training


def test_importing_aelib_and_reading_a_header_leave_tensorflow_unloaded():
    script = (
        "import sys, aelib, aelib.codec.format, aelib.codec.rans, aelib.codec.files, aelib.apps.cli;"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_importing_aelib_changes_no_environment_variable_and_adds_only_a_null_handler():
    script = (
        "import logging, os, sys; before = dict(os.environ); root = list(logging.getLogger().handlers);"
        "import aelib, aelib.apps.cli, aelib.codec.files;"
        "handlers = logging.getLogger('aelib').handlers;"
        "assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items());"
        "assert logging.getLogger().handlers == root;"
        "assert [type(h).__name__ for h in handlers] == ['NullHandler'], handlers;"
        "print('quiet')"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "quiet\n" and result.stderr == ""


def test_dir_of_aelib_is_its_public_api_names_imported_on_first_use_included():
    import aelib

    names = dir(aelib)
    assert {"encode", "decode", "load_codec_model", "load_hyper_codec", "compress_files"} <= set(names)
    assert not {"os", "sys", "importlib", "logging"} & set(names)
    assert all(callable(getattr(aelib, name)) or name.isupper() for name in names if name[0].islower())
