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


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The derivatives at the points of each row that make its Hermite cubic monotone between points.

    Fritsch & Butland's weighted harmonic mean of the neighbouring slopes inside (zero where they differ in sign
    or one is flat) and a one-sided three-point estimate, kept monotone, at the ends: the choice of
    ``scipy.interpolate.PchipInterpolator``, which ``tests/test_bdrate.py`` checks this against.
    """
    h = np.diff(x, axis=1)
    m = np.diff(y, axis=1) / h
    d = np.zeros_like(y)
    left, right = m[:, :-1], m[:, 1:]
    w1, w2 = 2.0 * h[:, 1:] + h[:, :-1], h[:, 1:] + 2.0 * h[:, :-1]
    same_sign = (np.sign(left) == np.sign(right)) & (left != 0.0) & (right != 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        d[:, 1:-1] = np.where(same_sign, (w1 + w2) / (w1 / left + w2 / right), 0.0)
    for end, (h0, h1, m0, m1) in (
        (0, (h[:, 0], h[:, 1], m[:, 0], m[:, 1])),
        (-1, (h[:, -1], h[:, -2], m[:, -1], m[:, -2])),
    ):
        slope = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        slope = np.where(np.sign(slope) != np.sign(m0), 0.0, slope)
        d[:, end] = np.where((np.sign(m0) != np.sign(m1)) & (np.abs(slope) > 3.0 * np.abs(m0)), 3.0 * m0, slope)
    return d


def pchip_integral(x, y, low, high) -> np.ndarray:
    """The integral from low to high of each row's piecewise cubic Hermite interpolant (PCHIP).

    Closed form, segment by segment, so that thousands of bootstrap curves are integrated in one call.

    Args:
        x: (curves, points), each row strictly increasing, at least three points.
        y: the values at x, same shape.
        low, high: per row (or one for all), within the row's x range.

    Returns:
        One integral per row.
    """
    x, y = np.atleast_2d(np.asarray(x, np.float64)), np.atleast_2d(np.asarray(y, np.float64))
    d = _pchip_slopes(x, y)
    h = np.diff(x, axis=1)
    low = np.broadcast_to(np.asarray(low, np.float64), x.shape[:1])[:, None]
    high = np.broadcast_to(np.asarray(high, np.float64), x.shape[:1])[:, None]
    y0, y1, d0, d1 = y[:, :-1], y[:, 1:], d[:, :-1] * h, d[:, 1:] * h

    def antiderivative(t: np.ndarray) -> np.ndarray:
        """∫₀ᵗ of the Hermite cubic on [0, 1] in the segment's own unit: the basis functions integrated."""
        t2, t3, t4 = t * t, t**3, t**4
        return (
            y0 * (t4 / 2 - t3 + t) + d0 * (t4 / 4 - 2 * t3 / 3 + t2 / 2) + y1 * (-t4 / 2 + t3) + d1 * (t4 / 4 - t3 / 3)
        )

    start = np.clip((low - x[:, :-1]) / h, 0.0, 1.0)
    stop = np.clip((high - x[:, :-1]) / h, 0.0, 1.0)
    return (h * (antiderivative(stop) - antiderivative(start))).sum(axis=1)


def _integral(qualities: np.ndarray, log_rates: np.ndarray, low: float, high: float, method: str) -> float:
    if method == "pchip":
        return float(pchip_integral(qualities, log_rates, low, high)[0])
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


def _rows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's points in increasing x, and which rows need no merging or dropping of points (all finite, x
    distinct): those the batched path takes as they are."""
    order = np.argsort(x, axis=1, kind="stable")
    x, y = np.take_along_axis(x, order, axis=1), np.take_along_axis(y, order, axis=1)
    plain = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1) & (np.diff(x, axis=1) > 0).all(axis=1)
    return x, y, plain & (x.shape[1] >= MIN_POINTS)


def _mean_differences(reference, test, min_overlap: float) -> np.ndarray:
    """Per row, the mean of test's interpolant minus reference's over the x range both cover (NaN at or under
    min_overlap of it); both already sorted rows of :func:`_rows`."""
    low = np.maximum(reference[0][:, 0], test[0][:, 0])
    high = np.minimum(reference[0][:, -1], test[0][:, -1])
    width = high - low
    result = np.full(len(low), math.nan)
    wide = width > max(min_overlap, 0.0)
    if wide.any():
        ends = low[wide], high[wide]
        integrals = (pchip_integral(*(part[wide] for part in curve[:2]), *ends) for curve in (test, reference))
        result[wide] = (next(integrals) - next(integrals)) / width[wide]
    return result


def _batched(arrays, fitted, min_overlap: float, finish, one_row) -> np.ndarray:
    """The body of :func:`bd_rates` and :func:`bd_qualities`: arrays are (reference rates, reference qualities,
    test rates, test qualities), one pair of curves per row; fitted turns (log rates, qualities) into the (x, y)
    of the fit; finish turns the mean differences of the rows integrated together into the result, and
    one_row gives it for a row with a point to merge or drop."""
    arrays = [np.atleast_2d(np.asarray(a, np.float64)) for a in arrays]
    with np.errstate(divide="ignore", invalid="ignore"):
        reference, test = (_rows(*fitted(np.log(arrays[i]), arrays[i + 1])) for i in (0, 2))
    plain = reference[2] & test[2]
    result = np.full(len(plain), math.nan)
    if plain.any():
        chosen = [tuple(part[plain] for part in curve[:2]) for curve in (reference, test)]
        result[plain] = finish(_mean_differences(*chosen, min_overlap))
    for row in np.flatnonzero(~plain):
        result[row] = one_row(*(a[row] for a in arrays))
    return result


def bd_rates(reference_rates, reference_qualities, test_rates, test_qualities, min_overlap: float = 0.0) -> np.ndarray:
    """:func:`bd_rate` (PCHIP) of many pairs of curves at once, one pair per row of (pairs, points) arrays.

    Rows whose points all count and differ in quality are integrated together; the others (a point to merge or
    drop) go through :func:`bd_rate` one by one, so each result equals :func:`bd_rate` of its row.
    """
    return _batched(
        (reference_rates, reference_qualities, test_rates, test_qualities),
        lambda log_rates, qualities: (qualities, log_rates),
        min_overlap,
        lambda differences: 100.0 * np.expm1(differences),
        lambda *row: bd_rate(*row, min_overlap=min_overlap),
    )


def bd_qualities(reference_rates, reference_qualities, test_rates, test_qualities) -> np.ndarray:
    """:func:`bd_quality` (PCHIP) of many pairs of curves at once, one pair per row; each equals
    :func:`bd_quality` of its row (rows with points to merge or drop go through it)."""
    return _batched(
        (reference_rates, reference_qualities, test_rates, test_qualities),
        lambda log_rates, qualities: (log_rates, qualities),
        0.0,
        lambda differences: differences,
        bd_quality,
    )
