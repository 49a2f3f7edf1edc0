import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from aelib.measure.metrics import bits_per_pixel, compression_ratio, psnr, ssim


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
