"""Shared fixtures: small deterministic images, an untrained codec model, and the location of ../shared/data."""

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


def pytest_collection_modifyitems(config, items):
    """Tests marked ``longest`` first: under pytest-xdist (``make test`` runs a worker per core) the other workers
    share the rest beside them, rather than all waiting on a long test that happened to be collected last."""
    items.sort(key=lambda item: item.get_closest_marker("longest") is None)


@pytest.fixture(scope="session", autouse=True)
def progress_lines_on_stdout():
    """The tests read progress lines as an application shows them (the library alone only has a NullHandler)."""
    import aelib

    aelib.show_progress()


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


@pytest.fixture(scope="session")
def images():
    """Forty 32x32 crops of the embedded photos."""
    from aelib.data import embedded_crops

    crops, _ = embedded_crops(size=32, crops_per_photo=4, seed=9)
    return crops


@pytest.fixture(scope="session")
def codec(images):
    """An untrained 3-layer model with tables fitted to its latents: enough to test the format."""
    import keras

    from aelib.codec.codec import make_codec_model
    from aelib.nn.models import build_autoencoder

    keras.utils.set_random_seed(11)
    return make_codec_model(build_autoencoder(3), images)


@pytest.fixture(scope="session")
def saved(codec, tmp_path_factory):
    """The untrained codec model saved with its entropy tables."""
    from aelib.codec.codec import save_codec_model

    path = tmp_path_factory.mktemp("model") / "autoencoder_3L.keras"
    save_codec_model(codec, path)
    return path
