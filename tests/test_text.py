"""The report's templates: every placeholder filled, none left over, and each template used."""

import re

import pytest

from aelib.report.text import TEMPLATES, render

PACKAGE = TEMPLATES.parents[1]


def test_a_template_is_filled_word_for_word():
    page = render("depth_section", depth=3, bars="![b](x.png)", distributions="", examples="![e](y.png)")
    assert page == "### 3-layer model\n\n![b](x.png)\n\n![e](y.png)\n\n"


def test_a_missing_value_is_refused_rather_than_left_as_a_placeholder():
    with pytest.raises(KeyError, match="examples"):
        render("depth_section", depth=3, bars="", distributions="")


def test_every_template_is_rendered_by_the_package():
    code = "".join(path.read_text() for path in PACKAGE.rglob("*.py"))
    for template in TEMPLATES.glob("*.md"):
        assert re.search(rf'render\(\s*"{template.stem}"', code), template.name
