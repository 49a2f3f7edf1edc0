"""Tables: per-depth Table 1 files combined, the depth comparison, and the CSV/Markdown pair."""

import json

import numpy as np
import pandas as pd

from aelib.layout import ResultsLayout
from aelib.report.readme import readme_findings
from aelib.report.summary import (
    combine_table1,
    depth_table,
    depth_trend,
    evaluation_set_name,
    read_table1s,
)
from aelib.report.tables import write_table


def _table(depth: int, quality: int, psnr: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": [f"{depth}-layer", f"JPEG q{quality} (SSIM-matched)", "JPEG q95", "JPEG q13"],
            "psnr": [psnr, psnr + 5, 40.0, 29.0],
            "ssim": [0.9, 0.9, 0.98, 0.8],
            "compression_ratio": [30.0, 20.0, 5.0, 40.0],
            "bits_per_pixel": [0.8, 1.2, 4.8, 0.6],
            "time_per_image_s": [0.01, 0.001, 0.001, 0.001],
            "matched_jpeg_quality": [quality, np.nan, np.nan, np.nan],  # as evaluate_model writes it
        }
    )


def test_combined_table1_lists_models_then_matched_jpeg_then_fixed_qualities():
    combined = combine_table1({5: _table(5, 30, 26.0), 3: _table(3, 40, 28.0)})
    assert list(combined["method"]) == [
        "3-layer",
        "5-layer",
        "JPEG q40 (SSIM-matched to 3-layer)",
        "JPEG q30 (SSIM-matched to 5-layer)",
        "JPEG q95",
        "JPEG q13",
    ]
    assert combined.loc[1, "psnr"] == 26.0 and combined.loc[3, "psnr"] == 31.0


def test_depth_table_puts_each_model_beside_its_matched_jpeg():
    table = depth_table({3: _table(3, 40, 28.0), 5: _table(5, 30, 26.0)})
    assert list(table["depth"]) == [3, 5]
    assert list(table["jpeg_quality"]) == [40, 30]
    np.testing.assert_allclose(table["model_psnr"], [28.0, 26.0])
    np.testing.assert_allclose(table["jpeg_psnr"], [33.0, 31.0])
    np.testing.assert_allclose(table["jpeg_compression_ratio"], [20.0, 20.0])


def test_write_table_round_trips_and_heads_markdown_with_provenance(tmp_path):
    table = _table(3, 40, 28.0)
    layout = ResultsLayout(tmp_path)
    csv, markdown = write_table(table, layout.table1(3, "test"), "Data: x. Command: `y`.")
    assert (csv, markdown) == (layout.table1(3, "test"), layout.table1(3, "test").with_suffix(".md"))
    pd.testing.assert_frame_equal(pd.read_csv(csv), table)
    lines = markdown.read_text().splitlines()
    assert lines[0] == "Data: x. Command: `y`."
    assert lines[2].startswith("| method") and "compression ratio" in lines[2]
    assert len(lines) == 3 + 1 + len(table)
    assert set(read_table1s(layout, [3, 5], "test")) == {3}


def test_names_of_evaluation_sets():
    assert evaluation_set_name(None) == "test"
    assert evaluation_set_name("/data/Kodak Photos/") == "kodak_photos"


def _model_rows(ssim, psnr, bpp):
    depths = [3, 5, 7, 10]
    return {
        d: pd.Series({"ssim": s, "psnr": p, "bits_per_pixel": b, "float32_latent_ratio": r})
        for d, s, p, b, r in zip(depths, ssim, psnr, bpp, [1.5, 1.6, 1.8, 2.0])
    }


def test_depth_trend_says_whether_the_papers_trend_holds_with_the_numbers():
    holds = depth_trend(_model_rows([0.96, 0.95, 0.93, 0.90], [31.6, 30.8, 29.9, 28.0], [2.1, 1.5, 1.1, 0.8]))
    assert holds.startswith("The paper's trend, quality falling and compression rising with depth, appears in our run")
    assert "SSIM 0.9600 → 0.9500 → 0.9300 → 0.9000 (falls at every step)" in holds
    assert "PSNR 31.60 → 30.80 → 29.90 → 28.00 dB (falls at every step)" in holds
    assert "bits per pixel 2.100 → 1.500 → 1.100 → 0.800 (fall at every step)" in holds
    assert "image bytes over float32 latents, is 1.50 → 1.60 → 1.80 → 2.00;" in holds
    part = depth_trend(_model_rows([0.96, 0.95, 0.93, 0.94], [31.6, 30.8, 29.9, 28.0], [2.1, 1.5, 1.1, 1.2]))
    assert "appears in our run only in part" in part
    assert "SSIM 0.9600 → 0.9500 → 0.9300 → 0.9400 (does not fall at 7→10 layers)" in part
    assert "bits per pixel 2.100 → 1.500 → 1.100 → 1.200 (does not fall at 7→10 layers)" in part
    reversed_trend = depth_trend(_model_rows([0.90, 0.93, 0.95, 0.96], [28.0, 29.0, 30.0, 31.0], [0.8, 1.1, 1.5, 2.1]))
    assert "does not appear in our run" in reversed_trend
    assert depth_trend(_model_rows([0.9], [28.0], [0.8])) == ""


def test_readme_findings_wait_for_notebook_06_of_the_same_run(tmp_path):
    # Tables of an earlier run's notebook 06 are there, but this run's manifest has not finished it.
    (tmp_path / "runs").mkdir()
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "rd_bd_rate_ours.csv").write_text("stale\n")
    manifest = {"command": "aelib reproduce --profile paper", "machine": "m", "steps": {"01_data_prep": {}}}
    (tmp_path / "runs" / "manifest.json").write_text(json.dumps(manifest))
    assert (
        readme_findings(tmp_path) == "Not yet written: `aelib reproduce --profile paper` has not finished notebook 06."
    )
