"""Tables: per-depth Table 1 files combined, the depth comparison, and the CSV/Markdown pair."""

import numpy as np
import pandas as pd

from aelib.study.report import combine_table1, depth_table, evaluation_set_name, read_table1s, table1_stem, write_table


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
    csv, markdown = write_table(table, tmp_path, table1_stem(3, "test"), "Data: x. Command: `y`.")
    pd.testing.assert_frame_equal(pd.read_csv(csv), table)
    lines = markdown.read_text().splitlines()
    assert lines[0] == "Data: x. Command: `y`."
    assert lines[2].startswith("| method") and "compression ratio" in lines[2]
    assert len(lines) == 3 + 1 + len(table)
    assert set(read_table1s(tmp_path, [3, 5], "test")) == {3}


def test_names_of_evaluation_sets():
    assert evaluation_set_name(None) == "test"
    assert evaluation_set_name("/data/Kodak Photos/") == "kodak_photos"
