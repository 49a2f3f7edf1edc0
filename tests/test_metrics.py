import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from aelib.measure.metrics import bits_per_pixel, channel_shifts, ciede2000, compression_ratio, psnr, ssim


def _noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def test_psnr_matches_numpy_and_scikit_image(photos):
    original, distorted = photos[0], _noisy(photos[0], 10)
    mse = np.mean((original.astype(float) - distorted.astype(float)) ** 2)
    assert psnr(original, distorted) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-9)
    assert psnr(original, distorted) == pytest.approx(
        peak_signal_noise_ratio(original, distorted, data_range=255), abs=1e-9
    )


def test_psnr_of_identical_images_is_infinite(photos):
    assert psnr(photos[1], photos[1]) == math.inf


def test_psnr_by_hand():
    original = np.zeros((4, 4, 3), np.uint8)
    distorted = original.copy()
    distorted[0, 0, 0] = 48  # MSE = 48² / 48 = 48
    assert psnr(original, distorted) == pytest.approx(10 * math.log10(255**2 / 48))


def test_ssim_matches_scikit_image_gaussian_settings(photos):
    original, distorted = photos[2], _noisy(photos[2], 20)
    expected = structural_similarity(
        original,
        distorted,
        data_range=255,
        channel_axis=-1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert ssim(original, distorted) == pytest.approx(expected, abs=1e-12)
    assert ssim(original, original) == pytest.approx(1.0)
    assert ssim(original, _noisy(photos[2], 40)) < ssim(original, distorted) < 1.0


def test_ratio_and_bits_per_pixel_by_hand():
    assert compression_ratio(128, 128, 4096) == pytest.approx(12.0)
    assert bits_per_pixel(128, 128, 4096) == pytest.approx(2.0)
    assert compression_ratio(10, 20, 600) * bits_per_pixel(10, 20, 600) == pytest.approx(24.0)


@pytest.mark.parametrize("shape", [(256, 256), (128, 128), (301, 257)])
def test_ms_ssim_matches_tensorflow_with_the_same_scales(shape):
    import tensorflow as tf
    from skimage import data

    from aelib.measure.metrics import ms_ssim, ms_ssim_weights

    original = data.astronaut()[: shape[0], : shape[1]]
    noisy = np.clip(original + np.random.default_rng(0).normal(0, 20, original.shape), 0, 255).astype(np.uint8)
    weights = ms_ssim_weights(*shape)
    reference = tf.image.ssim_multiscale(
        tf.constant(original[None], tf.float32), tf.constant(noisy[None], tf.float32), 255.0, power_factors=weights
    ).numpy()[0]
    assert ms_ssim(original, noisy) == pytest.approx(float(reference), abs=1e-5)
    assert ms_ssim(original, original) == pytest.approx(1.0)


def test_ms_ssim_uses_five_scales_from_176_pixels_and_renormalised_four_on_128():
    from aelib.measure.metrics import MS_SSIM_WEIGHTS, ms_ssim_weights

    assert ms_ssim_weights(176, 200) == pytest.approx(MS_SSIM_WEIGHTS, rel=1e-3)
    four = np.array(MS_SSIM_WEIGHTS[:4])
    assert ms_ssim_weights(128, 128) == pytest.approx(tuple(four / four.sum()))
    with pytest.raises(ValueError, match="at least 11x11"):
        ms_ssim_weights(8, 64)


# Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes, supplementary
# test data, and mathematical observations", Table 1: pairs of CIELAB colours and their ΔE00.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
    ((50.0, -0.001, 2.49), (50.0, 0.0009, -2.49), 4.8045),
    ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((50.0, 2.5, 0.0), (58.0, 24.0, 15.0), 19.4535),
]


def _ciede2000_by_the_formula(lab1, lab2) -> float:
    """ΔE00 of two CIELAB colours, written out from Sharma et al.'s equations (a second implementation)."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_bar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_bar**7 / (c_bar**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = math.degrees(math.atan2(b2, a2p)) % 360 if c2p else 0.0
    dh = h2p - h1p
    dh = 0.0 if c1p * c2p == 0 else dh - 360 if dh > 180 else dh + 360 if dh < -180 else dh
    d_big_h = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    l_bar, cp_bar = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    else:
        h_bar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(h_bar - 30))
        + 0.24 * math.cos(math.radians(2 * h_bar))
        + 0.32 * math.cos(math.radians(3 * h_bar + 6))
        - 0.20 * math.cos(math.radians(4 * h_bar - 63))
    )
    rotation = 30 * math.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * math.sqrt(cp_bar**7 / (cp_bar**7 + 25**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / math.sqrt(20 + (l_bar - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cp_bar, 1 + 0.015 * cp_bar * t
    r_t = -math.sin(math.radians(2 * rotation)) * r_c
    dl, dc, dh_ = (l2 - l1) / s_l, (c2p - c1p) / s_c, d_big_h / s_h
    return math.sqrt(dl**2 + dc**2 + dh_**2 + r_t * dc * dh_)


def _srgb_to_lab(rgb) -> tuple[float, float, float]:
    """CIELAB (D65) of an 8-bit sRGB colour by IEC 61966-2-1 and CIE 15, written out."""
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    matrix = [(0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227)]
    x, y, z = (sum(m * c for m, c in zip(row, linear, strict=True)) for row in matrix)
    f = [t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29 for t in (x / 0.95047, y, z / 1.08883)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


@pytest.mark.parametrize("lab1, lab2, published", SHARMA_PAIRS)
def test_the_second_ciede2000_reproduces_sharmas_published_pairs(lab1, lab2, published):
    assert _ciede2000_by_the_formula(lab1, lab2) == pytest.approx(published, abs=1e-4)
    assert _ciede2000_by_the_formula(lab2, lab1) == pytest.approx(published, abs=1e-4)


def test_ciede2000_of_flat_colours_matches_the_formula_on_their_lab_values():
    colours = [(255, 0, 0), (255, 255, 255), (0, 128, 0), (30, 60, 200), (128, 128, 128), (250, 200, 10)]
    assert _srgb_to_lab((255, 0, 0)) == pytest.approx((53.24, 80.09, 67.20), abs=0.01)  # the published red
    for first in colours:
        for second in colours:
            a, b = np.full((3, 5, 3), first, np.uint8), np.full((3, 5, 3), second, np.uint8)
            expected = _ciede2000_by_the_formula(_srgb_to_lab(first), _srgb_to_lab(second))
            assert ciede2000(a, b) == pytest.approx(expected, abs=2e-3)


def test_ciede2000_is_the_mean_over_pixels_and_channel_shifts_the_mean_difference():
    original = np.zeros((2, 2, 3), np.uint8)
    changed = original.copy()
    changed[0, 0] = (255, 255, 255)
    white = _ciede2000_by_the_formula(_srgb_to_lab((0, 0, 0)), _srgb_to_lab((255, 255, 255)))
    assert ciede2000(original, changed) == pytest.approx(white / 4, abs=2e-3)
    assert channel_shifts(original, changed) == (63.75, 63.75, 63.75)
    assert ciede2000(original, original) == 0.0
