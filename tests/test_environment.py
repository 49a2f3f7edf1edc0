"""pyproject.toml and environment.yml must list the same dependencies."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_lists_the_pyproject_dependencies_and_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project["dependencies"]).union(*project["optional-dependencies"].values())
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert sorted(pip_section) == sorted(declared)


def test_every_third_party_import_of_the_package_is_declared():
    """Each module aelib imports from outside the standard library is a dependency (test tools are extras)."""
    import ast
    import sys

    distributions = {
        "PIL": "pillow",
        "skimage": "scikit-image",
        "sklearn": "scikit-learn",
        "pillow_heif": "pillow-heif",
        "IPython": "ipython",
    }
    declared = {
        requirement.split("=")[0].split(">")[0].split("[")[0].strip().lower()
        for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    imported = set()
    for path in (ROOT / "aelib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name != "aelib"}
    missing = {distributions.get(name, name) for name in third_party} - declared - {"tensorflow"}
    assert "tensorflow-cpu" in declared and not missing


def test_makefile_installs_the_vgg16_package_named_in_config():
    from aelib.config import VGG16_PACKAGE

    assert f"VGG16_PACKAGE := {VGG16_PACKAGE}" in (ROOT / "Makefile").read_text()
    assert VGG16_PACKAGE in (ROOT / "environment.yml").read_text()
