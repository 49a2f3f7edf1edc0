"""The README stays short and generated where it states numbers; the docs' generated pages are current."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from test_architecture import LAYERS

from aelib.codec.format import MAGIC
from aelib.measure.metrics import psnr

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


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    """The README's Python block, run as written in a folder holding a photo, with the models of this checkout."""
    from PIL import Image

    block = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S).group(1)
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(128, 40, (40, 56, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").symlink_to(ROOT / "results")
    names: dict = {}
    exec(compile(block, "README.md", "exec"), names)
    assert names["image"].shape == names["restored"].shape == (40, 56, 3)
    assert names["data"][:4] == MAGIC and 15 < psnr(names["image"], names["restored"]) < 60
