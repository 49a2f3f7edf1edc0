"""pyproject.toml and environment.yml must list the same dependencies."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _requirements(names) -> set[str]:
    return {name.split("=")[0].split(">")[0].split("[")[0].strip().lower() for name in names}


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_environment_yml_lists_the_pyproject_dependencies_and_extras():
    """The conda environment is the CPU one: everything but the gpu extra's TensorFlow build."""
    extras = PROJECT["optional-dependencies"]
    declared = set(PROJECT["dependencies"]).union(*(v for k, v in extras.items() if k != "gpu"))
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert sorted(pip_section) == sorted(declared)


def _third_party_imports(paths, top_level_only: bool = False) -> set[str]:
    """The distributions the modules at paths import (top_level_only: the imports run on import, not in functions)."""
    import ast
    import sys

    distributions = {
        "PIL": "pillow",
        "skimage": "scikit-image",
        "sklearn": "scikit-learn",
        "pillow_heif": "pillow-heif",
        "IPython": "ipython",
    }
    imported = set()
    for path in paths:
        tree = ast.parse(path.read_text())
        for node in tree.body if top_level_only else ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name != "aelib"}
    return {distributions.get(name, name).lower() for name in third_party}


STUDY_PACKAGES = ("training", "experiments", "report")
"""The packages of the study, which the study and panel extras serve; with them the curves' statistics (pandas) and,
of apps/, all but the CLI."""


def _is_study(path) -> bool:
    parts = path.relative_to(ROOT / "aelib").parts
    return (
        parts[0] in STUDY_PACKAGES
        or parts == ("measure", "curves.py")
        or (parts[0] == "apps" and parts[-1] != "cli.py")
    )


def test_the_codec_needs_only_the_core_dependencies_and_the_study_its_extras():
    """The codec's modules and the CLI import what `pip install aelib[cpu]` installs; only the study's packages
    (training, experiments, report, the panel and reproduce apps) need the study and panel extras; neither the core
    nor the cpu extra brings JupyterLab, papermill or Voilà."""
    extras = PROJECT["optional-dependencies"]
    core = _requirements(PROJECT["dependencies"])
    data = ROOT / "aelib" / "data.py"  # the embedded default's sample photos come from the study extra's packages
    study_modules = [path for path in (ROOT / "aelib").rglob("*.py") if _is_study(path)]
    codec_modules = [path for path in (ROOT / "aelib").rglob("*.py") if not _is_study(path) and path != data]
    assert _third_party_imports(codec_modules) - core == {"tensorflow"}  # the cpu or gpu extra
    assert _third_party_imports([data], top_level_only=True) <= core
    assert _requirements(extras["cpu"]) == {"tensorflow-cpu"} and _requirements(extras["gpu"]) == {"tensorflow"}
    assert _third_party_imports(study_modules) - core - _requirements(extras["study"] + extras["panel"]) <= {
        "tensorflow"
    }
    assert not {"jupyterlab", "papermill", "voila", "ipywidgets"} & (core | _requirements(extras["cpu"]))


def test_makefile_installs_the_vgg16_package_named_in_config():
    from aelib.config import VGG16_PACKAGE

    assert f"VGG16_PACKAGE := {VGG16_PACKAGE}" in (ROOT / "Makefile").read_text()
    assert VGG16_PACKAGE in (ROOT / "environment.yml").read_text()
