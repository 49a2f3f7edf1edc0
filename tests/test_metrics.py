import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from aelib.metrics import bits_per_pixel, compression_ratio, psnr, ssim


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
