"""Table 1's measurements: the paper's float32 ratio beside ours, the colour shift per channel and CIEDE2000."""

import numpy as np
import pytest

from aelib.codec.codec import decode, encode
from aelib.experiments.table1 import evaluate_model, float32_latent_ratio
from aelib.measure.metrics import ciede2000


def test_the_papers_ratio_counts_the_latents_as_float32(codec):
    # 3-layer model: a 128x128x3 image has a 16x16x32 latent; 49,152 bytes over 32,768 float32 values x 4 bytes.
    assert float32_latent_ratio(codec, 128, 128) == pytest.approx(49152 / (16 * 16 * 32 * 4))
    assert float32_latent_ratio(codec, 100, 60) == pytest.approx(100 * 60 * 3 / (13 * 8 * 32 * 4))


def test_table1_reports_each_channels_mean_shift(codec, images):
    evaluation = evaluate_model(codec, images[:3], jpeg_qualities=(75,))
    model = evaluation.summary.set_index("method").loc["3-layer"]
    decoded = np.stack([decode(encode(image, codec), codec) for image in images[:3]]).astype(np.float64)
    expected = (decoded.mean(axis=(1, 2)) - images[:3].astype(np.float64).mean(axis=(1, 2))).mean(axis=0)
    np.testing.assert_allclose([model[f"mean_shift_{c}"] for c in "rgb"], expected, atol=1e-9)
    colour_differences = [ciede2000(image, decoded.astype(np.uint8)) for image, decoded in zip(images[:3], decoded)]
    assert model["ciede2000"] == pytest.approx(np.mean(colour_differences)) and model["ciede2000"] > 0
    assert model["float32_latent_ratio"] == pytest.approx(float32_latent_ratio(codec, 32, 32))
    jpeg = evaluation.summary.set_index("method").loc["JPEG q75"]
    assert np.isnan(jpeg["float32_latent_ratio"]) and abs(jpeg["mean_shift_r"]) < 5
