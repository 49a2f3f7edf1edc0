"""The committed study in results/ is complete and its models work as codecs out of the box."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aelib.codec import decode, encode, load_codec_model
from aelib.config import PAPER_DEPTHS
from aelib.panel import find_models

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_the_study_has_every_depth_in_table1_and_its_figures():
    table = pd.read_csv(RESULTS / "tables" / "table1_test.csv")
    models = [f"{depth}-layer" for depth in PAPER_DEPTHS]
    assert list(table["method"][: len(models)]) == models
    assert {"JPEG q95", "JPEG q75", "JPEG q20", "JPEG q13"} <= set(table["method"])
    assert table["matched_jpeg_quality"][: len(models)].notna().all()
    for depth in PAPER_DEPTHS:
        for kind in ("bars", "distributions", "examples"):
            assert (RESULTS / "figures" / f"{kind}_{depth}L_test.png").is_file()
        assert (RESULTS / "runs" / f"depth-{depth}" / "04_evaluation.ipynb").is_file()
    readme = (RESULTS / "README.md").read_text()
    assert "utkface" in readme and "Machine:" in readme


@pytest.mark.parametrize("depth", PAPER_DEPTHS)
def test_committed_models_load_and_round_trip(depth, photos):
    path = RESULTS / "models" / f"autoencoder_{depth}L.keras"
    assert path in find_models(RESULTS / "models")
    codec = load_codec_model(path)
    image = photos[0]
    data = encode(image, codec)
    decoded = decode(data, codec)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert np.array_equal(decode(data, codec), decoded)
