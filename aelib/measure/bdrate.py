"""The Bjøntegaard delta rate: how many percent more (or fewer) bits a codec needs for the same quality.

Bjøntegaard (VCEG-M33, 2001) fits log(rate) of each codec as a function of the
quality metric, integrates both fits over the quality range the two curves
share, and turns the mean difference of log rates into a percentage,
``100 · (exp(mean difference) - 1)``. Negative means the test codec needs fewer
bits than the reference for the same quality.

The fit here is piecewise cubic Hermite interpolation (PCHIP) by default, as
in the JCT-VC and JVET common test conditions (JCTVC-L1100, JVET-T2010): a
single cubic through all points, the 2001 original, can swing between points
and change a BD-rate by tens of points (``method="cubic"`` keeps it for
comparison). ``tests/test_bdrate.py`` checks both against the ``bjontegaard``
package. SSIM and MS-SSIM crowd near 1, so they are fitted in decibels,
``-10 · log10(1 - x)`` (:func:`to_decibels`). The metric may grow with quality
(PSNR, SSIM) or shrink (LPIPS); the mean over a shared interval does not depend
on the direction.

:func:`bd_quality` is the other half of Bjøntegaard's report (the "BD-PSNR"):
quality fitted as a function of log(rate), integrated over the shared log-rate
range, the mean difference in the metric's units (dB at equal rate). It says
how far apart two curves are where their quality ranges hardly overlap and a
BD-rate has little to stand on.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.interpolate import PchipInterpolator

from aelib.errors import InputError

MIN_POINTS = 4
"""Points a curve needs (a cubic's four)."""

METHODS = ("pchip", "cubic")
"""Interpolation of log(rate) over quality: piecewise cubic Hermite (default) or one cubic polynomial."""


def to_decibels(similarity) -> np.ndarray:
    """SSIM or MS-SSIM in decibels, ``-10 · log10(1 - x)``: 0.9 → 10 dB, 0.99 → 20 dB."""
    similarity = np.asarray(similarity, np.float64)
    with np.errstate(divide="ignore"):
        return -10.0 * np.log10(1.0 - similarity)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InputError(f"unknown BD-rate method {method!r}; choose one of {', '.join(METHODS)}")


def _curve(rates, qualities) -> tuple[np.ndarray, np.ndarray] | None:
    """Quality in increasing order and the log rate there (points of equal quality merged); None under MIN_POINTS."""
    rates, qualities = np.asarray(rates, np.float64), np.asarray(qualities, np.float64)
    keep = np.isfinite(rates) & np.isfinite(qualities) & (rates > 0)
    unique, inverse = np.unique(qualities[keep], return_inverse=True)
    if len(unique) < MIN_POINTS:
        return None
    log_rates = np.bincount(inverse, weights=np.log(rates[keep])) / np.bincount(inverse)
    return unique, log_rates


def _quality_curve(rates, qualities) -> tuple[np.ndarray, np.ndarray] | None:
    """Log rate in increasing order and the quality there (equal rates merged); None under MIN_POINTS."""
    rates, qualities = np.asarray(rates, np.float64), np.asarray(qualities, np.float64)
    keep = np.isfinite(rates) & np.isfinite(qualities) & (rates > 0)
    unique, inverse = np.unique(np.log(rates[keep]), return_inverse=True)
    if len(unique) < MIN_POINTS:
        return None
    return unique, np.bincount(inverse, weights=qualities[keep]) / np.bincount(inverse)


def shared_range(reference_qualities, test_qualities) -> tuple[float, float]:
    """The quality interval both curves cover, (low, high); high < low when they do not meet."""
    reference = np.asarray(reference_qualities, np.float64)
    test = np.asarray(test_qualities, np.float64)
    reference, test = reference[np.isfinite(reference)], test[np.isfinite(test)]
    return float(max(reference.min(), test.min())), float(min(reference.max(), test.max()))


def _integral(qualities: np.ndarray, log_rates: np.ndarray, low: float, high: float, method: str) -> float:
    if method == "pchip":
        return float(PchipInterpolator(qualities, log_rates).integrate(low, high))
    antiderivative = np.polyint(np.polyfit(qualities, log_rates, 3))
    return float(np.polyval(antiderivative, high) - np.polyval(antiderivative, low))


def rate_at_quality(rates, qualities, quality: float, method: str = "pchip") -> float:
    """The rate a codec's curve needs for one quality: its log-rate fit (as in :func:`bd_rate`) read at quality.

    This is the single-point form of the BD-rate's comparison, for a model that
    is one point rather than a curve (the paper's autoencoders).

    Args:
        rates, qualities: the codec's points, any order.
        quality: where to read the fit.
        method: "pchip" (default) or "cubic", see :data:`METHODS`.

    Returns:
        The fitted rate at quality; NaN when the curve has fewer than four
        distinct usable points or quality lies outside the qualities it covers
        (no extrapolation).

    Raises:
        InputError: an unknown method.
    """
    _check_method(method)
    curve = _curve(rates, qualities)
    if curve is None or not curve[0][0] <= quality <= curve[0][-1]:
        return math.nan
    if method == "pchip":
        return float(np.exp(PchipInterpolator(*curve)(quality)))
    return float(np.exp(np.polyval(np.polyfit(*curve, 3), quality)))


def bd_rate(
    reference_rates,
    reference_qualities,
    test_rates,
    test_qualities,
    method: str = "pchip",
    min_overlap: float = 0.0,
) -> float:
    """BD-rate in percent of the test curve against the reference curve.

    Args:
        reference_rates, reference_qualities: the reference codec's points
            (e.g. bits per pixel and PSNR of JPEG at several qualities), any order.
        test_rates, test_qualities: the test codec's points.
        method: "pchip" (default) or "cubic", see :data:`METHODS`.
        min_overlap: the least width of shared quality range that gives a number.

    Returns:
        The mean rate difference in percent over the shared quality range; NaN
        where there is no such number: a curve with fewer than four distinct
        usable points, or curves that share no range, or less than min_overlap of it.

    Raises:
        InputError: an unknown method.
    """
    _check_method(method)
    reference = _curve(reference_rates, reference_qualities)
    test = _curve(test_rates, test_qualities)
    if reference is None or test is None:
        return math.nan
    low, high = max(reference[0][0], test[0][0]), min(reference[0][-1], test[0][-1])
    if not high - low > max(min_overlap, 0.0):
        return math.nan
    difference = _integral(*test, low, high, method) - _integral(*reference, low, high, method)
    return float(100.0 * math.expm1(difference / (high - low)))


def bd_quality(
    reference_rates,
    reference_qualities,
    test_rates,
    test_qualities,
    method: str = "pchip",
) -> float:
    """BD-quality (BD-PSNR for PSNR): the test curve's mean quality minus the reference's at equal rate.

    Quality is fitted over log(rate) (PCHIP by default, as :func:`bd_rate`) and
    both fits are averaged over the log-rate range the curves share.

    Args:
        reference_rates, reference_qualities: the reference codec's points, any order.
        test_rates, test_qualities: the test codec's points.
        method: "pchip" (default) or "cubic", see :data:`METHODS`.

    Returns:
        The mean quality difference in the metric's units (dB for PSNR and SSIM
        in dB; positive: the test codec's metric is higher at the same rate, better
        for PSNR, worse for LPIPS); NaN for a curve with fewer than four distinct
        usable rates, or curves whose rates do not overlap.

    Raises:
        InputError: an unknown method.
    """
    _check_method(method)
    reference = _quality_curve(reference_rates, reference_qualities)
    test = _quality_curve(test_rates, test_qualities)
    if reference is None or test is None:
        return math.nan
    low, high = max(reference[0][0], test[0][0]), min(reference[0][-1], test[0][-1])
    if not high > low:
        return math.nan
    difference = _integral(*test, low, high, method) - _integral(*reference, low, high, method)
    return float(difference / (high - low))
