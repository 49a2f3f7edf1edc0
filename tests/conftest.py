"""Shared fixtures: small deterministic images and the location of ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_folder(name: str) -> Path:
    """A folder of ../shared/data, or a skip naming what is missing."""
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent: the shared data sets are not next to this checkout")
    return folder


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Processed arrays go to a temporary folder; the converted VGG16 weights are shared by the session."""
    monkeypatch.setenv("AELIB_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "aelib-cache"))


@pytest.fixture(scope="session")
def photos() -> np.ndarray:
    """Four 64x64 crops of real photos (scikit-image), uint8."""
    import skimage.data

    sources = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
    return np.stack([image[100:164, 100:164] for image in sources])
