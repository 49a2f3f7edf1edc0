"""The Bjøntegaard delta rate: how many percent more (or fewer) bits a codec needs for the same quality.

Bjøntegaard (VCEG-M33, 2001): fit log(rate) of each codec as a cubic
polynomial of the quality metric, integrate both fits over the range of
quality the two curves share, and turn the mean difference of log rates into a
percentage, ``100 · (exp(mean difference) - 1)``. Negative means the test codec
needs fewer bits than the reference for the same quality. The metric may grow
with quality (PSNR, SSIM) or shrink (LPIPS); the mean over a shared interval
does not depend on the direction.
"""

from __future__ import annotations

import math

import numpy as np

from aelib.errors import AelibError

MIN_POINTS = 4
"""A cubic needs four points."""


def _log_rate_fit(rates, qualities) -> tuple[np.ndarray, float, float]:
    rates, qualities = np.asarray(rates, np.float64), np.asarray(qualities, np.float64)
    keep = np.isfinite(rates) & np.isfinite(qualities) & (rates > 0)
    if keep.sum() < MIN_POINTS:
        raise AelibError(f"BD-rate needs at least {MIN_POINTS} finite points per curve, got {int(keep.sum())}")
    rates, qualities = rates[keep], qualities[keep]
    return np.polyfit(qualities, np.log(rates), 3), float(qualities.min()), float(qualities.max())


def bd_rate(reference_rates, reference_qualities, test_rates, test_qualities) -> float:
    """BD-rate in percent of the test curve against the reference curve.

    Args:
        reference_rates, reference_qualities: the reference codec's points
            (e.g. bits per pixel and PSNR of JPEG at several qualities).
        test_rates, test_qualities: the test codec's points.

    Returns:
        The mean rate difference in percent over the shared quality range; NaN
        when the two curves share no quality range.

    Raises:
        AelibError: a curve has fewer than four usable points.
    """
    reference, reference_low, reference_high = _log_rate_fit(reference_rates, reference_qualities)
    test, test_low, test_high = _log_rate_fit(test_rates, test_qualities)
    low, high = max(reference_low, test_low), min(reference_high, test_high)
    if not high > low:
        return math.nan
    reference_integral, test_integral = (np.polyval(np.polyint(fit), [low, high]) for fit in (reference, test))
    mean_difference = (np.diff(test_integral)[0] - np.diff(reference_integral)[0]) / (high - low)
    return float(100.0 * (math.exp(mean_difference) - 1.0))
