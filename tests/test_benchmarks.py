"""The benchmarks run (on a tiny setting); their numbers are measured by `make bench`, not here."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the benchmarks, each in fresh processes

ROOT = Path(__file__).resolve().parents[1]


def test_entropy_coding_benchmark_runs(tmp_path):
    out = tmp_path / "entropy.json"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "entropy_coding.py"),
            "--images",
            "2",
            "--repeats",
            "2",
            "--size",
            "32",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    result = json.loads(out.read_text())
    assert result["images"] == 2 and result["image_size"] == 32
    assert result["median"]["entropy_total_ms"] > 0
    assert result["machine"]["cores"] >= 1


@pytest.mark.longest
def test_speed_benchmark_runs_and_reports_every_target(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--quick", "--depths", "3", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    result = json.loads((tmp_path / "benchmarks.json").read_text())
    assert [row["depth"] for row in result["training"]] == [3]
    assert result["training"][0]["images_per_s"] > 0 and result["training"][0]["peak_rss_mib"] > 0
    methods = [row["method"] for row in result["coding"]]
    assert methods[0].startswith("aelib") and "JPEG" in methods
    assert result["peak"]["float32_gflops"] > 0
    assert result["codec_training"]["steps_per_s"] > 0 and result["codec_training"]["peak_rss_mib"] > 0
    assert len(result["verdicts"]) == 7 and all(isinstance(v["met"], bool) for v in result["verdicts"])
    cold = {row["what"]: row["seconds"] for row in result["cold_start"]}
    assert cold["aelib compress, 128x128 face"] > cold["import aelib"] > 0  # a whole command costs more than its import
    assert "Pillow WebP encode, 128x128 face" in cold
    assert all(v["shortfall"].endswith("of the target") for v in result["verdicts"])
    assert "| target | measured | met |" in (tmp_path / "benchmarks.md").read_text()


def test_large_images_benchmark_runs(saved, tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "large_images.py"), "--model", str(saved), "--side", "1100"]
        + ["--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    result = json.loads((tmp_path / "benchmarks_large_images.json").read_text())
    assert result["photo"]["compress"]["status"] == 0 and result["photo"]["decompress"]["status"] == 0
    assert [bomb["status"] for bomb in result["bombs"]] == [
        2 if bomb["command"].startswith("aelib info") else 1 for bomb in result["bombs"]
    ]
    assert "| compress the photo | 0 |" in (tmp_path / "benchmarks_large_images.md").read_text()
