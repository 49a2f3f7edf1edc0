"""Figures: the detail window against a brute-force search, and each figure's titles, axes and PNG."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from aelib.report.figures import (
    detail_window,
    plot_comparison,
    plot_depth_comparison,
    plot_distributions,
    plot_metric_bars,
    plot_training_curves,
    save_figure,
)


def _brute_force_window(image: np.ndarray, side: int) -> tuple[int, int]:
    gray = image.astype(np.float64).mean(axis=-1)
    energy = np.abs(np.diff(gray, axis=0, append=gray[-1:])) + np.abs(np.diff(gray, axis=1, append=gray[:, -1:]))
    best, where = -1.0, (0, 0)
    for top in range(gray.shape[0] - side + 1):
        for left in range(gray.shape[1] - side + 1):
            total = energy[top : top + side, left : left + side].sum()
            if total > best:
                best, where = total, (top, left)
    return where


def test_detail_window_is_the_most_textured_square():
    rng = np.random.default_rng(0)
    image = np.full((40, 56, 3), 128, np.uint8)
    image[22:34, 30:42] = rng.integers(0, 256, (12, 12, 3))
    top, left, side = detail_window(image, fraction=0.25)
    assert side == 10
    assert (top, left) == _brute_force_window(image, side)
    assert 22 - side < top < 34 and 30 - side < left < 42


@pytest.fixture
def summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": ["3-layer", "JPEG q40 (SSIM-matched)", "JPEG q95"],
            "psnr": [28.0, 33.0, 40.0],
            "ssim": [0.93, 0.93, 0.98],
            "compression_ratio": [35.0, 25.0, 5.0],
            "bits_per_pixel": [0.69, 0.96, 4.8],
            "time_per_image_s": [0.01, 0.0004, 0.0005],
            "paper_psnr": [27.09, np.nan, 41.11],
            "paper_ssim": [0.9738, np.nan, 0.9742],
            "paper_compression_ratio": [1.11, np.nan, 4.58],
            "paper_time_per_image_s": [1.46, np.nan, 0.02],
        }
    )


def _labels(figure) -> list[str]:
    return [axis.get_ylabel() for axis in figure.axes]


def test_metric_bars_have_units_and_save_as_png(summary, tmp_path):
    figure = plot_metric_bars(summary, "a title")
    assert figure._suptitle.get_text() == "a title"
    assert _labels(figure) == ["PSNR (dB)", "SSIM", "compression ratio (×)", "time per image (ms)"]
    path = save_figure(figure, tmp_path / "sub" / "bars.png")
    plt.close(figure)
    with Image.open(path) as png:
        assert png.format == "PNG" and png.width > 500


def test_depth_comparison_has_four_panels_against_depth(tmp_path):
    table = pd.DataFrame({"depth": [3, 5], "jpeg_quality": [40, 30]})
    for prefix in ("model", "jpeg"):
        for column in ("psnr", "ssim", "compression_ratio", "time_per_image_s"):
            table[f"{prefix}_{column}"] = [1.0, 2.0]
    figure = plot_depth_comparison(table, "by depth")
    assert [axis.get_xlabel() for axis in figure.axes] == ["encoder depth (convolutional layers)"] * 4
    assert [axis.get_title() for axis in figure.axes] == ["(a)", "(b)", "(c)", "(d)"]
    plt.close(figure)


def test_training_curves_show_each_logged_component():
    history = pd.DataFrame({"epoch": [1, 2], "loss": [0.5, 0.4], "val_loss": [0.6, 0.5], "ssim_loss": [0.3, 0.2]})
    figure = plot_training_curves(history, "training")
    assert len(figure.axes) == 2
    assert len(figure.axes[0].lines) == 2 and len(figure.axes[1].lines) == 1
    plt.close(figure)


def test_distributions_and_comparison(photos):
    per_image = pd.DataFrame(
        {
            "method": ["3-layer"] * 4 + ["JPEG q9"] * 4,
            "psnr": np.arange(8.0),
            "ssim": np.linspace(0.5, 0.9, 8),
            "compression_ratio": np.arange(8.0) + 10,
        }
    )
    figure = plot_distributions(per_image, ["3-layer", "JPEG q9"], "histograms")
    assert [axis.get_xlabel() for axis in figure.axes] == ["PSNR (dB)", "SSIM", "compression ratio (×)"]
    plt.close(figure)
    rows = [{"name": "a", "original": photos[0], "panels": [("model", photos[1]), ("JPEG", photos[2])]}]
    figure = plot_comparison(rows, "examples")
    assert len(figure.axes) == 6  # (original, model, JPEG) x (whole, detail)
    plt.close(figure)


def test_rd_curves_scale_to_the_curves_and_label_off_scale_points(tmp_path):
    from aelib.report.figures import plot_rd_curves

    rows = [
        {"method": "JPEG 4:2:0", "setting": q, "bpp": b, "psnr": p, "ssim": s, "ms_ssim": s, "lpips": 1 - s}
        for q, b, p, s in [(10, 0.6, 29.0, 0.83), (50, 1.1, 36.0, 0.95), (90, 2.2, 42.0, 0.98)]
    ]
    rows += [
        {"method": "ours (mse)", "setting": lam, "bpp": b, "psnr": p, "ssim": s, "ms_ssim": s, "lpips": 1 - s}
        for lam, b, p, s in [(0.01, 0.3, 30.0, 0.9), (0.1, 0.6, 32.0, 0.93)]
    ]
    rows.append(
        {
            "method": "5-layer",
            "setting": "paper",
            "bpp": 0.02,
            "psnr": 12.6,
            "ssim": 0.41,
            "ms_ssim": 0.17,
            "lpips": 0.75,
        }
    )
    figure = plot_rd_curves(pd.DataFrame(rows), "test", ["ours (mse)"], ["5-layer"])
    psnr_axis, ms_ssim_axis = figure.axes[0], figure.axes[1]
    low, high = ms_ssim_axis.get_ylim()
    assert 0.8 < low < 0.83 and 0.98 < high < 1.0
    assert any("5-layer (0.17, off scale)" == text.get_text() for text in ms_ssim_axis.texts)
    assert {"JPEG 4:2:0", "ours (mse)", "the paper's models"} <= {
        t.get_text() for t in psnr_axis.get_legend().get_texts()
    }
    save_figure(figure, tmp_path / "rd.png")
    assert Image.open(tmp_path / "rd.png").size[0] > 1000
    plt.close(figure)
