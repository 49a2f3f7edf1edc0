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


def test_the_rate_distortion_study_beats_jpeg_on_faces_in_psnr_and_ms_ssim():
    bd = pd.read_csv(RESULTS / "tables" / "rd_bd_rate.csv").set_index(["test_set", "method"])
    faces = bd.loc["test"]
    assert faces.loc["ours (mse)", "bd_rate_psnr"] < 0
    assert faces.loc["ours (mse)", "bd_rate_ms_ssim"] < 0
    points = pd.read_csv(RESULTS / "tables" / "rd_points_test.csv")
    for family in ("ours (hybrid)", "ours (mse)"):
        assert (points["method"] == family).sum() >= 5
    assert (
        (points.groupby("method").size() >= 8)
        .drop(["ours (hybrid)", "ours (mse)", *(f"{d}-layer" for d in PAPER_DEPTHS)])
        .all()
    )
    for test_set in ("test", "kodak"):
        assert (RESULTS / "figures" / f"rd_curves_{test_set}.png").is_file()
    assert (RESULTS / "runs" / "06_rate_distortion.ipynb").is_file()


@pytest.mark.parametrize("name", ["rd_mse_0.0015", "rd_hybrid_200"])
def test_committed_rate_distortion_models_round_trip(name, photos):
    codec = load_codec_model(RESULTS / "models" / f"{name}.keras")
    data = encode(photos[0], codec)
    assert np.array_equal(decode(data, codec), decode(data, codec))
    assert decode(data, codec).shape == photos[0].shape
