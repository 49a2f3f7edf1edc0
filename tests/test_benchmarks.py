"""The benchmarks run (on a tiny setting); their numbers are measured by `make bench`, not here."""

import json
import subprocess
import sys
from pathlib import Path

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
