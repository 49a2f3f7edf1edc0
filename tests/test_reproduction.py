"""The reproduction report: every number of a new run against the committed one."""

import datetime

import pandas as pd
import pytest

from aelib.experiments.reproduction import compare_runs, rerun_folder, tolerance_for
from aelib.layout import ResultsLayout
from aelib.report.reproduction import report_summary, write_report


def _run(folder, psnr=(30.0, 32.5), seconds=(1.0, 2.0), bpp=(0.5, 0.8)):
    (folder / "tables").mkdir(parents=True)
    pd.DataFrame(
        {"method": ["3-layer", "JPEG q75"], "psnr": psnr, "bits_per_pixel": bpp, "time_per_image_s": seconds}
    ).to_csv(folder / "tables" / "table1_test.csv", index=False)
    return folder


def test_the_same_numbers_are_identical_whatever_the_timings(tmp_path):
    committed = _run(tmp_path / "committed")
    new = _run(tmp_path / "new", seconds=(9.0, 7.0))
    comparison = compare_runs(committed, new)
    assert comparison.verdict == "identical: all 4 numbers of 1 tables equal"
    assert comparison.timing_columns == 1 and set(comparison.numbers["column"]) == {"psnr", "bits_per_pixel"}


def test_a_column_added_since_the_committed_run_is_left_out_and_a_lost_one_stops_the_table(tmp_path):
    committed = _run(tmp_path / "committed")
    new = _run(tmp_path / "new")
    table = pd.read_csv(new / "tables" / "table1_test.csv")
    table.insert(1, "ciede2000", [1.5, 0.9])
    table.to_csv(new / "tables" / "table1_test.csv", index=False)
    assert compare_runs(committed, new).verdict == "identical: all 4 numbers of 1 tables equal"
    table.drop(columns="psnr").to_csv(new / "tables" / "table1_test.csv", index=False)
    assert compare_runs(committed, new).not_compared == {
        "table1_test.csv": "its shape differs ((2, 4) committed, (2, 4) new; lost: psnr)"
    }


def test_small_moves_are_within_their_tolerance_and_large_ones_are_named(tmp_path):
    committed = _run(tmp_path / "committed")
    near = compare_runs(committed, _run(tmp_path / "near", psnr=(30.05, 32.5), bpp=(0.505, 0.8)))
    assert near.verdict == "within tolerances: 2 of 4 numbers differ, every one within its tolerance"
    far = compare_runs(committed, _run(tmp_path / "far", psnr=(30.0, 33.5)))
    assert far.verdict.startswith("differs: 1 of 4 numbers beyond their tolerance (largest: table1_test.csv psnr")
    assert "JPEG q75, 32.5 → 33.5" in far.verdict


def test_tolerances_are_by_kind_of_number():
    assert tolerance_for("psnr").allows(30.0, 30.1) and not tolerance_for("psnr").allows(30.0, 30.2)
    assert tolerance_for("bd_rate_psnr").allows(-20.0, -18.5) and not tolerance_for("bd_rate_psnr").allows(-20, -17)
    assert tolerance_for("psnr_codec_bpp").allows(1.0, 1.019) and not tolerance_for("psnr_codec_bpp").allows(1, 1.03)
    assert tolerance_for("ssim").allows(0.9, 0.9019) and not tolerance_for("ssim").allows(0.9, 0.903)


def test_a_table_that_cannot_be_compared_says_why_and_the_report_holds_every_number(tmp_path):
    committed = _run(tmp_path / "committed")
    pd.DataFrame({"split": ["train"], "images": [10]}).to_csv(committed / "tables" / "data.csv", index=False)
    new = _run(tmp_path / "new", psnr=(30.0, 32.6))
    comparison = compare_runs(committed, new)
    assert comparison.not_compared == {"data.csv": "the new run has no such table"}
    report = write_report(comparison, committed, new, "this machine")
    text = report.read_text()
    assert report == ResultsLayout(new).reproduction_report and "**Verdict: within tolerances" in text
    assert "| table1_test.csv | JPEG q75 | psnr | 32.5 | 32.6 | +0.1 | ±0.1 | yes |" in text
    assert "`data.csv`: the new run has no such table" in text
    numbers = pd.read_csv(ResultsLayout(new).reproduction_numbers)
    assert len(numbers) == 4 and numbers["within"].all()
    summary = report_summary(text)
    assert summary["machine"] == "this machine" and summary["new"] == str(new)  # outside the workspace: absolute
    assert summary["verdict"] == comparison.verdict and summary["date"] == datetime.date.today().isoformat()
    assert report_summary("# Reproduction report\n\nsomething else") is None


def test_a_rerun_of_a_committed_example_goes_to_a_folder_of_its_own():
    from aelib.config import project_root

    assert (
        rerun_folder(project_root() / "results" / "embedded") == project_root() / "reproduced" / "results" / "embedded"
    )
    with pytest.raises(ValueError):
        rerun_folder("/somewhere/else")
