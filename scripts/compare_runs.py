"""Compares two runs of ``aelib reproduce`` depth by depth: do they give the same models?

Reads ``tables/depths_test.csv`` of both results folders and prints, per depth,
each run's test SSIM and bits per pixel and the difference. Exits with status 1
when any SSIM differs by more than the tolerance (0.02 by default)::

    make reproduce OUT=/tmp/second-run       # the embedded default, again
    python scripts/compare_runs.py results/embedded /tmp/second-run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def compare(first: Path, second: Path) -> pd.DataFrame:
    """Per depth: model SSIM and bits per pixel of both runs and their absolute differences."""
    columns = ["depth", "model_ssim", "model_bits_per_pixel"]
    a = pd.read_csv(first / "tables" / "depths_test.csv")[columns]
    b = pd.read_csv(second / "tables" / "depths_test.csv")[columns]
    table = a.merge(b, on="depth", suffixes=("_first", "_second"))
    table["ssim_difference"] = (table["model_ssim_first"] - table["model_ssim_second"]).abs()
    table["bpp_difference"] = (table["model_bits_per_pixel_first"] - table["model_bits_per_pixel_second"]).abs()
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.02, help="largest SSIM difference accepted")
    args = parser.parse_args()
    table = compare(args.first, args.second)
    print(table.to_markdown(index=False, floatfmt=("g",) + (".4f",) * (table.shape[1] - 1)))
    worst = table["ssim_difference"].max()
    print(f"largest SSIM difference {worst:.4f} (tolerance {args.tolerance})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
