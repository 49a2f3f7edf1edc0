"""The rate–distortion study in words: BD cells, findings, standings against every codec, equal quality.

Each function turns rows of the tables of :mod:`aelib.measure.curves` into
Markdown lines; the pages they go into are templates (:mod:`aelib.report.text`).
"""

from __future__ import annotations

import math

import pandas as pd

from aelib.measure.curves import (
    EQUAL_QUALITY_METRICS,
    best_family,
    counted,
    meaningful,
    step_sweep_method,
    table_metrics,
)
from aelib.measure.registry import METRICS


def _format_bd_quality(row: pd.Series, metric: str) -> str:
    """ ", +1.23 dB [+0.9, +1.5] at equal rate", or nothing for a table without BD-quality (an earlier notebook 06)."""
    value = row.get(f"bd_{metric}", math.nan)
    if pd.isna(value):
        return ""
    unit = METRICS[metric].unit
    low, high = row[f"bd_{metric}_ci_low"], row[f"bd_{metric}_ci_high"]
    return f", {value:+.2f}{unit} [{low:+.2f}, {high:+.2f}] at equal rate"


def format_bd(row: pd.Series, metric: str) -> str:
    """One BD cell in words: "−24.1 % [−30.2, −18.0], +1.20 dB [+0.9, +1.5] at equal rate over 28.6–32.0 dB".

    "no overlap (…)" where the curves share too little quality range for a
    BD-rate, "no meaningful overlap (…)" where they share little and lie far
    apart (:func:`meaningful`); the BD-quality part where the table has it.
    """
    unit = METRICS[metric].unit
    span = f"{row[f'{metric}_from']:.3g}–{row[f'{metric}_to']:.3g}{unit}"
    value = row[f"bd_rate_{metric}"]
    quality = _format_bd_quality(row, metric)
    if math.isnan(value):
        if not row[f"{metric}_to"] > row[f"{metric}_from"]:
            return "no overlap" + (f" ({quality[2:]})" if quality else "")
        return f"no overlap (shared {span}{quality})"
    if not meaningful(row, metric):
        return f"no meaningful overlap ({value:+.0f} % over {span}{quality})"
    return f"{value:+.1f} % [{row[f'{metric}_ci_low']:+.1f}, {row[f'{metric}_ci_high']:+.1f}]{quality} over {span}"


def readable_bd_table(table: pd.DataFrame) -> pd.DataFrame:
    """A BD table with one cell per metric in words (:func:`format_bd`), for Markdown."""
    metrics = table_metrics(table)
    keys = [c for c in table.columns if not c.startswith("bd_") and not any(c.startswith(f"{m}_") for m in METRICS)]
    readable = table[keys].copy()
    for metric in metrics:
        readable[METRICS[metric].heading] = [format_bd(row, metric) for _, row in table.iterrows()]
    return readable


def _verdict(ci_low: float, ci_high: float) -> str:
    if ci_high < 0:
        return " — fewer bits"
    if ci_low > 0:
        return " — more bits"
    return " — level (the interval holds 0)"


def findings(table: pd.DataFrame, strongest: dict[str, str], metrics: tuple[str, ...] | None = None) -> str:
    """Markdown sentences: each family against the strongest classical codec of each test set, per metric.

    Args:
        table: :func:`ours_against_each` tables with a test_set column.
        strongest: test set → the classical codec to compare with (:func:`strongest_codec`).
        metrics: which keys of :data:`aelib.measure.registry.METRICS` to state (default: every one the table has).
    """
    metrics = table_metrics(table) if metrics is None else metrics
    lines = []
    table = counted(table)
    for (test_set, family), rows in table.groupby(["test_set", "family"], sort=False):
        row = rows[rows["against"] == strongest[test_set]].iloc[0]
        parts = []
        for metric in metrics:
            label = METRICS[metric].heading
            verdict = "" if not meaningful(row, metric) else _verdict(row[f"{metric}_ci_low"], row[f"{metric}_ci_high"])
            parts.append(f"{label} {format_bd(row, metric)}{verdict}")
        lines.append(f"- **{test_set}**, {family} against {row['against']}: " + "; ".join(parts))
    return "\n".join(lines)


def _standing_word(row: pd.Series, metrics: tuple[str, ...]) -> str:
    """ "wins" where every meaningful metric's interval lies below 0, "loses" where every one lies above, "level"
    where every one holds 0, else "mixed"."""
    intervals = [(row[f"{m}_ci_low"], row[f"{m}_ci_high"]) for m in metrics if meaningful(row, m)]
    if all(high < 0 for _, high in intervals):
        return "wins"
    if all(low > 0 for low, _ in intervals):
        return "loses"
    return "level" if all(low <= 0 <= high for low, high in intervals) else "mixed"


def against_every_codec(table: pd.DataFrame, strongest: dict[str, str], metrics: tuple[str, ...]) -> str:
    """Markdown: per test set, the best family (:func:`best_family`) against every classical codec in a line.

    Each codec: the BD-rates in metrics ("−31 % / −22 %"), then "wins" (every 95 % interval below 0),
    "loses" (every one above), "level" (every one holds 0) or "mixed"; "no meaningful overlap" where no metric
    has one (:func:`meaningful`). Container bytes counted.
    """
    lines = []
    for test_set, rows in counted(table).groupby("test_set", sort=False):
        family = best_family(rows, test_set, strongest[test_set])
        cells = []
        for _, row in rows[rows["family"] == family].iterrows():
            if not any(meaningful(row, m) for m in metrics):
                cells.append(f"{row['against']} no meaningful overlap")
                continue
            values = " / ".join(f"{row[f'bd_rate_{m}']:+.0f} %" if meaningful(row, m) else "–" for m in metrics)
            cells.append(f"{row['against']} {values} ({_standing_word(row, metrics)})")
        labels = " / ".join(METRICS[m].heading for m in metrics)
        lines.append(
            f"- **{test_set}**, our best family, {family}, against every codec, BD-rate in {labels}: "
            + "; ".join(cells)
        )
    return "\n".join(lines)


def _single_point_words(row: pd.Series, metric: str) -> str:
    """One model against the codec in one metric: the bits ratio, or where the model lies outside the codec's range."""
    label, unit, against = METRICS[metric].label, METRICS[metric].unit, row["against"]
    ratio = row[f"{metric}_bits_ratio"]
    if not math.isnan(ratio):
        return (
            f"at {label} {row[metric]:.3g}{unit}, {against} needs {row[f'{metric}_codec_bpp']:.3f} bpp: "
            f"we spend {ratio:.2f}× its bits" + (" (fewer)" if ratio < 1 else "")
        )
    side = "low" if row[metric] < row[f"{metric}_codec_low"] else "high"
    word = "below" if side == "low" else "above"
    return (
        f"at {label} {row[metric]:.3g}{unit}, {word} every {against} setting (its {side}est, "
        f"{row[f'{metric}_codec_{side}']:.3g}{unit}, takes {row[f'{metric}_codec_{side}_bpp']:.3f} bpp)"
    )


def _family_words(rows: pd.DataFrame, metric: str) -> str:
    """A family's members against the codec in one metric: the range of their bits ratios, and how many lie outside."""
    ratios = rows[f"{metric}_bits_ratio"]
    measured, outside = ratios.dropna(), rows[ratios.isna()]
    below = int((outside[metric] < outside[f"{metric}_codec_low"]).sum())
    words = []
    if len(measured):
        words.append(
            f"we spend {measured.min():.2f}–{measured.max():.2f}× its bits at {len(measured)} of {len(rows)} points"
        )
    for count, word in ((below, "below"), (len(outside) - below, "above")):
        if count:
            words.append(f"{count} of {len(rows)} lie {word} every {rows['against'].iloc[0]} setting")
    return ", ".join(words)


def equal_quality_findings(table: pd.DataFrame, families: list[str]) -> str:
    """Markdown lines from :func:`equal_quality_table` tables with a test_set column: what each of our models spends.

    The paper's single models get a line each; each family is summed up by the
    range of its members' ratios.

    Args:
        table: equal-quality rows of one or more test sets.
        families: the family labels ("ours (mse)" …), as opposed to the paper's single models.
    """
    lines = []
    for (test_set, method), rows in table.groupby(["test_set", "method"], sort=False):
        against = rows["against"].iloc[0]
        parts = []
        for metric in EQUAL_QUALITY_METRICS:
            if method in families:
                parts.append(f"{METRICS[metric].label}: {_family_words(rows, metric)}")
            else:
                parts.append(_single_point_words(rows.iloc[0], metric))
        spent = "" if method in families else f" ({rows['bpp'].iloc[0]:.3f} bpp)"
        lines.append(f"- **{test_set}**, {method}{spent} against {against}: " + "; ".join(parts))
    return "\n".join(lines)


def equal_quality_summary(table: pd.DataFrame, families: list[str]) -> str:
    """One Markdown line per test set: the bits ratio of each single model (not the families, not the quantisation-step
    sweeps) in each metric.

    The short form of :func:`equal_quality_findings`, for the project README.
    """
    lines = []
    curves_of_singles = table["method"].str.endswith(step_sweep_method(""))
    singles = table[~table["method"].isin(families) & ~curves_of_singles]
    for test_set, rows in singles.groupby("test_set", sort=False):
        against = rows["against"].iloc[0]
        labels = " / ".join(METRICS[metric].label for metric in EQUAL_QUALITY_METRICS)
        models = []
        for _, row in rows.iterrows():
            ratios = [row[f"{metric}_bits_ratio"] for metric in EQUAL_QUALITY_METRICS]
            models.append(f"{row['method']} " + " / ".join("outside" if math.isnan(r) else f"{r:.2f}×" for r in ratios))
        lines.append(
            f"- **{test_set}**, against {against} at equal {labels} (our bits over its bits; outside: beyond "
            f"its settings): " + ", ".join(models)
        )
    return "\n".join(lines)
