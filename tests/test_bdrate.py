import math

import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from aelib.errors import AelibError
from aelib.measure.bdrate import (
    bd_qualities,
    bd_quality,
    bd_rate,
    bd_rates,
    pchip_integral,
    rate_at_quality,
    shared_range,
    to_decibels,
)

PSNR = np.array([28.0, 31.0, 34.0, 37.0, 40.0])
RATES = np.array([0.3, 0.5, 0.8, 1.3, 2.1])


def test_a_codec_needing_ten_percent_fewer_bits_everywhere_scores_minus_ten():
    assert bd_rate(RATES, PSNR, 0.9 * RATES, PSNR) == pytest.approx(-10.0, abs=1e-9)
    assert bd_rate(RATES, PSNR, 1.25 * RATES, PSNR) == pytest.approx(25.0, abs=1e-9)


def test_identical_curves_score_zero_and_the_order_of_points_does_not_matter():
    order = [3, 0, 4, 1, 2]
    assert bd_rate(RATES, PSNR, RATES[order], PSNR[order]) == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_by_hand_over_the_shared_quality_range_only():
    # log R_ref = 0.1·q on q in [30, 40]; log R_test = 0.1·q - 0.05 + 0.01·(q - 30) on q in [35, 40].
    # Over the shared range [35, 40] the mean log difference is -0.05 + 0.01·7.5 = 0.025.
    q_reference, q_test = np.linspace(30, 40, 6), np.linspace(35, 40, 6)
    reference = np.exp(0.1 * q_reference)
    test = np.exp(0.1 * q_test - 0.05 + 0.01 * (q_test - 30))
    assert bd_rate(reference, q_reference, test, q_test) == pytest.approx(100 * (math.exp(0.025) - 1), rel=1e-9)


def test_a_metric_where_lower_is_better_works_the_same_way():
    lpips = np.array([0.40, 0.30, 0.20, 0.12, 0.06])
    assert bd_rate(RATES, lpips, 0.8 * RATES, lpips) == pytest.approx(-20.0, abs=1e-9)


def test_curves_that_do_not_overlap_or_are_too_short_give_nan():
    assert math.isnan(bd_rate(RATES, PSNR, RATES, PSNR + 20))
    assert math.isnan(bd_rate(RATES[:3], PSNR[:3], RATES, PSNR))
    assert math.isnan(bd_rate(RATES, np.full(len(RATES), 30.0), RATES, PSNR))  # one distinct quality


# The bjontegaard package's own example (its README), and a face-like pair of curves whose ranges differ.
PACKAGE_EXAMPLE = (
    [9487.76, 4593.60, 2486.44, 1358.24],
    [40.037, 38.615, 36.845, 34.851],
    [9787.80, 4469.00, 2451.52, 1356.24],
    [40.121, 38.651, 36.970, 34.987],
)
FACES = (
    [0.29, 0.46, 0.69, 0.87, 1.02, 1.26, 1.63, 2.11, 3.54],
    [18.6, 21.0, 23.4, 24.8, 25.7, 26.9, 28.2, 29.6, 33.5],
    [0.08, 0.16, 0.30, 0.48, 0.97],
    [21.6, 24.5, 27.4, 29.9, 32.8],
)


@pytest.mark.parametrize("points", [PACKAGE_EXAMPLE, FACES], ids=["package-example", "faces"])
@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_rate_equals_the_bjontegaard_package(points, method):
    bjontegaard = pytest.importorskip("bjontegaard")
    expected = bjontegaard.bd_rate(*points, method=method, require_matching_points=False, min_overlap=0)
    assert bd_rate(*points, method=method) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_points_given_in_any_order_or_with_repeated_qualities_give_the_same_number():
    reference_rates, reference_q, test_rates, test_q = FACES
    order = np.argsort(np.asarray(test_q))[::-1]
    shuffled = bd_rate(reference_rates, reference_q, np.asarray(test_rates)[order], np.asarray(test_q)[order])
    assert shuffled == pytest.approx(bd_rate(*FACES), abs=1e-12)
    # A setting that repeats a quality at another rate counts once, at the geometric mean of its rates.
    repeated = bd_rate(reference_rates + [2.0], reference_q + [28.2], test_rates, test_q)
    merged_rates = list(reference_rates)
    merged_rates[6] = math.sqrt(1.63 * 2.0)
    assert repeated == pytest.approx(bd_rate(merged_rates, reference_q, test_rates, test_q), abs=1e-12)


def test_too_little_overlap_gives_nan_and_the_shared_range_says_why():
    assert shared_range(PSNR, PSNR + 4.5) == (32.5, 40.0)
    assert not math.isnan(bd_rate(RATES, PSNR, RATES, PSNR + 11.5, min_overlap=0.0))
    assert math.isnan(bd_rate(RATES, PSNR, RATES, PSNR + 11.5, min_overlap=1.0))  # 0.5 dB shared
    with pytest.raises(AelibError, match="unknown BD-rate method"):
        bd_rate(RATES, PSNR, RATES, PSNR, method="akima")


def test_decibels_of_similarity_by_hand():
    assert to_decibels([0.9, 0.99, 0.999]) == pytest.approx([10.0, 20.0, 30.0])
    assert np.isinf(to_decibels(1.0))


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_rate_at_quality_reads_the_fit_between_points_and_nowhere_outside(method):
    # log R = 0.1·q - 3 exactly: both fits reproduce a straight line, so R(33.3) = exp(0.33).
    rates = np.exp(0.1 * PSNR - 3.0)
    assert rate_at_quality(rates, PSNR, 33.3, method) == pytest.approx(math.exp(0.33), rel=1e-9)
    assert rate_at_quality(RATES, PSNR, 31.0, "pchip") == pytest.approx(0.5, rel=1e-12)  # a measured point
    assert math.isnan(rate_at_quality(RATES, PSNR, 27.9, method))
    assert math.isnan(rate_at_quality(RATES, PSNR, 40.1, method))
    assert math.isnan(rate_at_quality(RATES[:3], PSNR[:3], 30.0, method))


def test_bd_quality_is_the_constant_gap_between_parallel_curves():
    assert bd_quality(RATES, PSNR, RATES, PSNR + 1.5) == pytest.approx(1.5, abs=1e-9)
    assert bd_quality(RATES, PSNR, 2 * RATES, PSNR) < 0  # the same quality for twice the bits: lower at equal rate
    assert math.isnan(bd_quality(RATES, PSNR, 100 * RATES, PSNR))  # no shared rates
    assert math.isnan(bd_quality(RATES[:3], PSNR[:3], RATES, PSNR))


@pytest.mark.parametrize("points", [PACKAGE_EXAMPLE, FACES], ids=["package-example", "faces"])
@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_quality_equals_the_bjontegaard_package(points, method):
    bjontegaard = pytest.importorskip("bjontegaard")
    expected = bjontegaard.bd_psnr(*points, method=method, require_matching_points=False, min_overlap=0)
    assert bd_quality(*points, method=method) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_the_closed_form_pchip_integral_equals_scipys():
    """Random rows, rising, falling and with flat stretches and sign changes, against PchipInterpolator.integrate."""
    generator = np.random.default_rng(3)
    for trial in range(300):
        points = int(generator.integers(3, 12))
        x = np.sort(generator.choice(1000, points, replace=False) / 37.0)
        y = generator.normal(size=points) if trial % 2 else np.sort(generator.normal(size=points))
        if trial % 5 == 0:
            y[generator.integers(1, points)] = y[0]
        low, high = np.sort(generator.uniform(x[0], x[-1], 2))
        expected = PchipInterpolator(x, y).integrate(low, high)
        assert pchip_integral(x, y, low, high)[0] == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_batched_bd_rates_and_qualities_equal_one_call_per_row():
    """Plain rows take the batched path; rows with a point to merge or drop (a repeated quality, a zero rate, a NaN,
    curves that do not meet) take the scalar one: every row must equal bd_rate and bd_quality of it."""
    generator = np.random.default_rng(4)
    rows = 40
    reference_rates = RATES * generator.uniform(0.8, 1.2, (rows, len(RATES)))
    reference_psnr = PSNR + generator.normal(0, 0.3, (rows, len(PSNR)))
    test_rates = RATES * generator.uniform(0.6, 1.1, (rows, len(RATES)))
    test_psnr = PSNR + generator.normal(0.5, 0.5, (rows, len(PSNR)))
    test_psnr[1, 2] = test_psnr[1, 3]
    test_rates[2, 0] = 0.0
    reference_psnr[3, 4] = np.nan
    test_psnr[4] += 20.0
    test_rates[5, 1] = test_rates[5, 2]
    arrays = (reference_rates, reference_psnr, test_rates, test_psnr)
    for overlap in (0.0, 9.0):
        expected = [bd_rate(*(a[row] for a in arrays), min_overlap=overlap) for row in range(rows)]
        np.testing.assert_allclose(bd_rates(*arrays, min_overlap=overlap), expected, rtol=1e-12, atol=1e-12)
    expected = [bd_quality(*(a[row] for a in arrays)) for row in range(rows)]
    np.testing.assert_allclose(bd_qualities(*arrays), expected, rtol=1e-12, atol=1e-12)
    assert np.isnan(bd_rates(*arrays)[4]) and np.isfinite(bd_rates(*arrays)[[0, 1, 2, 3, 5]]).all()
