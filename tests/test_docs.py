"""The README stays short and generated where it states numbers; the docs' generated pages are current."""

import re
import subprocess
import sys
from pathlib import Path

from test_architecture import LAYERS

ROOT = Path(__file__).resolve().parents[1]
README_LIMIT_BYTES = 8 * 1024


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_bytes()) <= README_LIMIT_BYTES


def test_every_number_in_the_readme_is_inside_a_generated_block():
    """Outside the blocks that `aelib reproduce` writes, the README states no measured number."""
    readme = (ROOT / "README.md").read_text()
    prose = re.sub(r"<!-- (\w+) of (\S+): written by .*?<!-- end of \1 of \2 -->", "", readme, flags=re.S)
    prose = re.sub(r"```.*?```", "", prose, flags=re.S)  # commands
    prose = re.sub(r"\([^)]*\.md\)|`[^`]*`", "", prose)  # links and code
    measured = re.findall(r"\d+(?:\.\d+)?\s*(?:%|dB|bpp|bits per pixel|s\b|min|MB|GB|images/s)", prose)
    assert not measured


def test_the_readme_links_to_pages_that_exist():
    readme = (ROOT / "README.md").read_text()
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        assert (ROOT / link).exists(), link


def test_the_generated_docs_are_current():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "write_docs.py"), "--check"], capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


def test_the_architecture_page_lists_each_module_in_its_layer():
    page = (ROOT / "docs" / "architecture.md").read_text()
    for layer, modules in LAYERS.items():
        row = next(line for line in page.splitlines() if line.startswith(f"| {layer} |"))
        assert set(re.findall(r"`([\w.]+)`", row.split("|")[2])) == set(modules), layer
