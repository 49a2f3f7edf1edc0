"""The report's page templates (``aelib/report/templates/*.md``), filled from data with :class:`string.Template`.

A template holds a page's fixed words and its layout; the code that fills it decides only the values. Every
``${name}`` must be given (a missing one raises ``KeyError``), so a page never ships a placeholder.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).resolve().parent / "templates"
"""The folder of the templates, shipped inside the package."""


def render(name: str, **values: object) -> str:
    """The template ``TEMPLATES/name.md`` with every ``${key}`` replaced by ``str(values[key])``."""
    return Template((TEMPLATES / f"{name}.md").read_text()).substitute({key: str(v) for key, v in values.items()})
