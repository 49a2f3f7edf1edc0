import math

import numpy as np
import pytest

from aelib.bdrate import bd_rate
from aelib.errors import AelibError

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


def test_curves_that_do_not_overlap_give_nan_and_short_curves_are_refused():
    assert math.isnan(bd_rate(RATES, PSNR, RATES, PSNR + 20))
    with pytest.raises(AelibError, match="at least 4"):
        bd_rate(RATES[:3], PSNR[:3], RATES, PSNR)
