"""Rate–distortion curves from per-image rows: mean points, BD-rates with bootstrap intervals, equal quality.

Curves are compared by BD-rate (:mod:`aelib.measure.bdrate`, piecewise cubic,
SSIM and MS-SSIM in dB), each with the quality range it is taken over and a
95 % bootstrap interval over the images. Every function here reads
DataFrames of per-image rows (method, setting, image, bpp, one column per
metric of :data:`aelib.measure.registry.METRICS`) and returns DataFrames.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from aelib.config import DEFAULT_SEED
from aelib.errors import InputError
from aelib.measure.baselines import CODECS
from aelib.measure.bdrate import MIN_POINTS, bd_qualities, bd_rates, rate_at_quality, shared_range, to_decibels
from aelib.measure.metrics import COLOUR_COLUMNS
from aelib.measure.registry import METRICS, per_image_columns

REFERENCE_METHOD = "JPEG 4:2:0"
"""The codec every BD-rate is measured against."""


def step_sweep_method(method: str) -> str:
    """The rows of a paper model swept over quantisation steps: "3-layer, Δ sweep"."""
    return f"{method}, Δ sweep"


CLASSICAL_SWEEPS = {codec.name: (codec.key, codec.sweep) for codec in CODECS.values()}
"""Method name → (codec key, quality settings), from :data:`aelib.measure.baselines.CODECS`."""


FAR_APART = 2.0
"""A bits ratio (either way) beyond which a BD-rate over less than a metric's ``meaningful_overlap``
(:class:`aelib.measure.registry.Metric`) says little: two curves that meet over a dB or two and are far apart
there give a percentage driven by the fits' ends."""


CONTAINERS = ("counted", "excluded")
"""How a file's fixed bytes (headers, tables, container; ``header_bytes`` of each per-image row) enter its rate:
counted as every user pays them, or left out to compare the coding alone."""


BOOTSTRAP_RESAMPLES = 200
"""Resamples of the test images behind each BD-rate's 95 % interval."""


def without_container(per_image: pd.DataFrame) -> pd.DataFrame:
    """Per-image rows whose bpp counts the payload only: each file's ``header_bytes`` taken off its bytes.

    Raises:
        InputError: rows measured before the header bytes were recorded (notebook 06 of an earlier aelib).
    """
    if "header_bytes" not in per_image.columns:
        raise InputError("these per-image rows do not record header_bytes; run notebook 06 again to measure them")
    payload = per_image["bytes"] - per_image["header_bytes"]
    return per_image.assign(bpp=per_image["bpp"] * payload / per_image["bytes"])


def counted(table: pd.DataFrame) -> pd.DataFrame:
    """A BD table's rows with container bytes counted, the rates every user pays (all rows of a table made before
    both ways were measured); the payload-only rows are for the tables."""
    return table[table["container"] == "counted"] if "container" in table.columns else table


def _with_container(per_image: pd.DataFrame, container: str) -> pd.DataFrame:
    if container not in CONTAINERS:
        raise InputError(f"unknown container choice {container!r}; choose one of {', '.join(CONTAINERS)}")
    return per_image if container == "counted" else without_container(per_image)


def curves(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean rate and metrics per (method, setting): one point of a rate–distortion curve per row.

    Every registered metric's mean (:data:`aelib.measure.registry.METRICS`), and for one on a decibel axis that
    mean in decibels under its key (``ssim_db``, ``ms_ssim_db``); the colour columns
    (:data:`aelib.measure.metrics.COLOUR_COLUMNS`) are means too, where the per-image table has them.
    """
    columns = ["bpp", *per_image_columns(), *(column for column in COLOUR_COLUMNS if column in per_image.columns)]
    points = per_image.groupby(["method", "setting"], sort=False)[columns].mean().reset_index()
    for metric in METRICS.values():
        if metric.decibels:
            points[metric.key] = to_decibels(points[metric.column])
    points["images"] = per_image.groupby(["method", "setting"], sort=False).size().to_numpy()
    return points


def _settings_by_images(rows: pd.DataFrame, column: str, images: list[str]) -> np.ndarray:
    """(settings, images) array of one column of one method's per-image rows."""
    return rows.pivot_table(index="setting", columns="image", values=column, aggfunc="first")[images].to_numpy()


def _measured_throughout(rows: pd.DataFrame, column: str) -> set[str]:
    """The images whose column is measured at every setting of rows."""
    complete = rows[column].notna().groupby(rows["image"]).all()
    return set(complete[complete].index)


def bd_rate_with_interval(
    per_image: pd.DataFrame, reference: str, test: str, metric: str, seed: int = DEFAULT_SEED
) -> dict:
    """BD-rate of test against reference in one metric, its shared range and a 95 % bootstrap interval.

    The images are resampled with replacement (:data:`BOOTSTRAP_RESAMPLES`
    times), both curves' means recomputed on each resample, and the BD-rate
    taken again; the interval is the 2.5th and 97.5th percentile. Only images
    with the metric measured for every setting of both methods count (LPIPS is
    measured on the first images only).

    Args:
        per_image: rows of (method, setting, image, bpp and the metrics).
        reference, test: method names.
        metric: a key of :data:`aelib.measure.registry.METRICS`.
        seed: seed of the resampling.

    Returns:
        ``bd_rate`` (%, NaN below the metric's ``min_overlap``), ``from`` and ``to``
        (the shared quality range), ``ci_low`` and ``ci_high``; ``bd_quality``
        (:func:`aelib.measure.bdrate.bd_quality`, the metric's mean difference at
        equal rate, e.g. BD-PSNR in dB) with ``quality_ci_low`` and ``quality_ci_high``
        from the same resamples.
    """
    quality_metric = METRICS[metric]
    column = quality_metric.column
    rows = {name: per_image[per_image["method"] == name] for name in (reference, test)}
    measured = set.intersection(*(_measured_throughout(r, column) for r in rows.values()))
    images = [name for name in dict.fromkeys(rows[test]["image"]) if name in measured]
    empty = dict.fromkeys(("bd_rate", "from", "to", "ci_low", "ci_high", *_QUALITY_KEYS), math.nan)
    if not images:
        return empty
    rates = {name: _settings_by_images(r, "bpp", images) for name, r in rows.items()}
    values = {name: _settings_by_images(r, column, images) for name, r in rows.items()}

    def measure(chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """BD-rates and BD-qualities of the curves of each row of chosen (resamples, images): image indices."""
        means = {
            name: (
                rates[name][:, chosen].mean(axis=2).T,
                quality_metric.quality(values[name][:, chosen].mean(axis=2).T),
            )
            for name in (reference, test)
        }
        curves = (*means[reference], *means[test])
        return bd_rates(*curves, min_overlap=quality_metric.min_overlap), bd_qualities(*curves)

    everything = np.arange(len(images))[None]
    (value,), (quality,) = measure(everything)
    low, high = shared_range(
        *(quality_metric.quality(values[name][:, everything[0]].mean(axis=1)) for name in (reference, test))
    )
    if math.isnan(value) and math.isnan(quality):
        return {**empty, "from": low, "to": high}
    generator = np.random.default_rng(seed)
    draws = np.stack(measure(generator.integers(0, len(images), (BOOTSTRAP_RESAMPLES, len(images)))), axis=1)
    result = {"bd_rate": value, "from": low, "to": high, "bd_quality": quality}
    for key, estimate, column in (("", value, 0), ("quality_", quality, 1)):
        finite = draws[:, column][np.isfinite(draws[:, column])]
        ends = np.percentile(finite, [2.5, 97.5]) if len(finite) and not math.isnan(estimate) else (math.nan,) * 2
        result |= {f"{key}ci_low": float(ends[0]), f"{key}ci_high": float(ends[1])}
    return result


_QUALITY_KEYS = ("bd_quality", "quality_ci_low", "quality_ci_high")


def _bd_row(per_image: pd.DataFrame, reference: str, test: str) -> dict:
    """One table row: per metric m, ``bd_rate_m``, ``m_ci_low/high``, ``m_from/to``, and ``bd_m`` (BD-quality)
    with ``bd_m_ci_low/high``."""
    row = {}
    for metric in METRICS:
        result = bd_rate_with_interval(per_image, reference, test, metric)
        row[f"bd_rate_{metric}"] = result["bd_rate"]
        for key in ("ci_low", "ci_high", "from", "to"):
            row[f"{metric}_{key}"] = result[key]
        row[f"bd_{metric}"] = result["bd_quality"]
        row[f"bd_{metric}_ci_low"] = result["quality_ci_low"]
        row[f"bd_{metric}_ci_high"] = result["quality_ci_high"]
    return row


def _curve_methods(per_image: pd.DataFrame) -> list[str]:
    """Methods with enough settings for a curve (the paper's single models are left out)."""
    settings = per_image.groupby("method", sort=False)["setting"].nunique()
    return [method for method, count in settings.items() if count >= MIN_POINTS]


def bd_rate_table(
    per_image: pd.DataFrame, reference: str = REFERENCE_METHOD, container: str = "counted"
) -> pd.DataFrame:
    """BD-rate (%) and BD-quality of every curve against the reference, per metric, with shared range and 95 % interval.

    Columns: ``container`` (:data:`CONTAINERS`), then per metric m of
    :data:`aelib.measure.registry.METRICS`: ``bd_rate_m``, ``m_ci_low``, ``m_ci_high``, ``m_from``,
    ``m_to``, ``bd_m``, ``bd_m_ci_low``, ``bd_m_ci_high``.
    """
    rows = _with_container(per_image, container)
    return pd.DataFrame(
        [
            {"method": method, "container": container, **_bd_row(rows, reference, method)}
            for method in _curve_methods(rows)
            if method != reference
        ]
    )


def ours_against_each(per_image: pd.DataFrame, ours: list[str], container: str = "counted") -> pd.DataFrame:
    """BD-rate (%) and BD-quality of each of our families against each classical codec, with ranges and intervals."""
    rows = _with_container(per_image, container)
    present = set(rows["method"])
    classical = [method for method in CLASSICAL_SWEEPS if method in present]
    return pd.DataFrame(
        [
            {"family": family, "against": codec, "container": container, **_bd_row(rows, codec, family)}
            for family in ours
            for codec in classical
        ]
    )


def meaningful(row: pd.Series, metric: str) -> bool:
    """Whether a BD-rate stands on enough shared range: wide enough, or the curves close enough there.

    A BD-rate that doubles or halves the bits (:data:`FAR_APART`) over less than
    the metric's ``meaningful_overlap`` of shared quality says more about the ends
    of two fits than about the codecs.
    """
    value, width = row[f"bd_rate_{metric}"], row[f"{metric}_to"] - row[f"{metric}_from"]
    if math.isnan(value):
        return False
    ratio = 1.0 + value / 100.0
    return width >= METRICS[metric].meaningful_overlap or 1.0 / FAR_APART <= ratio <= FAR_APART


def table_metrics(table: pd.DataFrame) -> tuple[str, ...]:
    """The registered metrics a BD table has columns for (a table holds the metrics of the day it was made)."""
    return tuple(m for m in METRICS if f"bd_rate_{m}" in table.columns)


def strongest_codec(bd_table: pd.DataFrame, metric: str = "psnr") -> str:
    """The classical codec with the lowest BD-rate against the reference in metric (from :func:`bd_rate_table`).

    The reference itself when no other classical curve overlaps it.
    """
    bd_table = counted(bd_table)  # ranked by what every user pays
    classical = bd_table[bd_table["method"].isin(CLASSICAL_SWEEPS)].dropna(subset=[f"bd_rate_{metric}"])
    if classical.empty:
        return REFERENCE_METHOD
    return str(classical.loc[classical[f"bd_rate_{metric}"].idxmin(), "method"])


def best_family(table: pd.DataFrame, test_set: str, against: str) -> str:
    """The family with the lowest BD-rate in PSNR against one codec on one test set, container counted; where no
    family overlaps that codec, the lowest mean over the codecs it does overlap; else the first family."""
    table = counted(table)
    rows = table[table["test_set"] == test_set]
    for ranking in (
        rows[rows["against"] == against].set_index("family")["bd_rate_psnr"],
        rows.groupby("family", sort=False)["bd_rate_psnr"].mean(),
    ):
        if ranking.notna().any():
            return str(ranking.idxmin())
    return str(rows["family"].iloc[0])


EQUAL_QUALITY_METRICS = ("psnr", "ms_ssim_db")
"""The metrics in which each of our points is set beside the strongest codec at equal quality."""


def equal_quality_table(points: pd.DataFrame, against: str) -> pd.DataFrame:
    """Each of our points beside the bits a classical codec needs for the same quality.

    For every point that is not a classical codec's (the families' members and
    the paper's single models) and each metric of :data:`EQUAL_QUALITY_METRICS`,
    the classical codec's log-rate fit is read at our point's quality
    (:func:`aelib.measure.bdrate.rate_at_quality`, PCHIP as in the BD-rates).
    A single model has no curve, so this is how it meets the codecs.

    Args:
        points: a :func:`curves` table.
        against: the classical codec, e.g. :func:`strongest_codec`'s.

    Returns:
        One row per our point: method, setting, bpp, then per metric m its value
        ``m``, ``m_codec_bpp`` (NaN outside the codec's range), ``m_bits_ratio``
        (our bits over the codec's: below 1 we need fewer), and the codec's
        lowest and highest quality with their rates (``m_codec_low``,
        ``m_codec_low_bpp``, ``m_codec_high``, ``m_codec_high_bpp``), which say
        where a point outside its range lies.
    """
    codec = points[points["method"] == against]
    ends = {
        metric: (codec.loc[codec[metric].idxmin()], codec.loc[codec[metric].idxmax()])
        for metric in EQUAL_QUALITY_METRICS
    }
    rows = []
    for _, point in points[~points["method"].isin(CLASSICAL_SWEEPS)].iterrows():
        row = {"against": against, "method": point["method"], "setting": point["setting"], "bpp": point["bpp"]}
        for metric in EQUAL_QUALITY_METRICS:
            needed = rate_at_quality(codec["bpp"], codec[metric], point[metric])
            low, high = ends[metric]
            row |= {
                metric: point[metric],
                f"{metric}_codec_bpp": needed,
                f"{metric}_bits_ratio": point["bpp"] / needed,
                f"{metric}_codec_low": low[metric],
                f"{metric}_codec_low_bpp": low["bpp"],
                f"{metric}_codec_high": high[metric],
                f"{metric}_codec_high_bpp": high["bpp"],
            }
        rows.append(row)
    return pd.DataFrame(rows)
