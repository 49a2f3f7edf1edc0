"""The project README's generated blocks: the comments that fence them and their replacement.

The library only builds text; ``scripts/write_docs.py`` (run by ``make reproduce`` and ``make docs``) is what
writes ``README.md``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from aelib.config import MATCHED_JPEG_SUFFIX, RATE_DISTORTION_STEP
from aelib.layout import ResultsLayout, paper_model_name
from aelib.report.summary import depth_trend, rate_distortion_findings


def readme_markers(folder: str, kind: str = "findings") -> tuple[str, str]:
    """The comments that fence the project README's block of one kind ("findings", "headline") from a results folder."""
    return (
        f"<!-- {kind} of {folder}: written by scripts/write_docs.py, not by hand -->",
        f"<!-- end of {kind} of {folder} -->",
    )


def replace_block(content: str, markers: tuple[str, str], text: str) -> str | None:
    """content with the lines between the two marker comments replaced by text; None when a marker is absent."""
    start, end = markers
    if start not in content or end not in content:
        return None
    before, rest = content.split(start, 1)
    return f"{before}{start}\n{text}\n{end}{rest.split(end, 1)[1]}"


def readme_findings(output_dir: str | Path) -> str:
    """The project README's block for a committed results folder: which run, then notebook 06's verdict."""
    manifest = json.loads(ResultsLayout(output_dir).manifest.read_text())
    done = RATE_DISTORTION_STEP in manifest["steps"]
    findings = rate_distortion_findings(output_dir, detailed=False) if done else ""
    if not findings:
        return f"Not yet written: `{manifest['command']}` has not finished notebook 06."
    return f"From `{manifest['command']}` on {manifest['machine']}.\n\n{findings}"


HEADLINE_COLUMNS = {
    "depth": "encoder",
    "psnr": "PSNR dB",
    "ssim": "SSIM",
    "bits_per_pixel": "bits per pixel",
    "colour_shift": "mean shift R / G / B",
    "jpeg": "optimised JPEG at the same SSIM",
    "paper": "paper: PSNR / SSIM",
    "epochs": "epochs",
    "epoch_seconds": "s per epoch (median)",
}


def readme_headline(output_dir: str | Path) -> str:
    """The project README's headline: each finished depth's Table 1 row on the test split, JPEG and the paper beside.

    Read from ``tables/table1_{N}L_test.csv`` of every depth whose evaluation the run's manifest
    records, so the block grows as a long run finishes depth after depth.
    """
    layout = ResultsLayout(output_dir)
    manifest = json.loads(layout.manifest.read_text())
    evaluated = [re.fullmatch(r"depth-(\d+)/04_evaluation", step) for step in manifest["steps"]]
    rows, models = [], {}
    for depth in sorted(int(match.group(1)) for match in evaluated if match):
        table = pd.read_csv(layout.table1(depth, "test"))
        is_jpeg = table["method"].str.endswith(MATCHED_JPEG_SUFFIX)
        ours, matched = table[table["method"] == f"{depth}-layer"].iloc[0], table[is_jpeg].iloc[0]
        table_images = table["images"].iloc[0]
        models[depth] = ours
        history = layout.history(paper_model_name(depth))
        epochs = pd.read_csv(history) if history.is_file() else pd.DataFrame({"seconds": []})
        shifts = " / ".join(f"{ours[f'mean_shift_{c}']:+.1f}" for c in "rgb")
        rows.append(
            {
                "depth": f"{depth}-layer",
                "psnr": f"{ours['psnr']:.2f}",
                "ssim": f"{ours['ssim']:.4f}",
                "bits_per_pixel": f"{ours['bits_per_pixel']:.3f}",
                "colour_shift": shifts,
                "jpeg": f"q{int(ours['matched_jpeg_quality'])}: {matched['bits_per_pixel']:.3f} bpp",
                "paper": f"{ours['paper_psnr']:.2f} / {ours['paper_ssim']:.4f}",
                "epochs": len(epochs),
                "epoch_seconds": f"{epochs['seconds'].median():.0f}" if epochs["seconds"].notna().any() else "–",
            }
        )
    if not rows:
        return ""
    table = pd.DataFrame(rows).rename(columns=HEADLINE_COLUMNS).to_markdown(index=False)
    images = int(table_images)
    trend = depth_trend(models)
    hours = sum(step["seconds"] for step in manifest["steps"].values()) / 3600
    return (
        f"From `{manifest['command']}` on {manifest['machine']}; depths evaluated: "
        f"{', '.join(row['depth'] for row in rows)}. The steps took {hours:.1f} h as "
        f"`{layout.relative(layout.manifest)}` records them, which for a training step resumed across sittings is "
        f"its last sitting; every epoch's time is in `{layout.relative(layout.history(paper_model_name('N')))}`. "
        f"Test split: {images} held-out images; bits per pixel of the real `.aec` files.\n\n{table}"
        + (f"\n\n{trend}" if trend else "")
    )
