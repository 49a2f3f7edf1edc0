"""Quality and rate metrics, computed per image on uint8 RGB arrays.

PSNR uses a data range of 255. SSIM is scikit-image's ``structural_similarity``
with Wang et al.'s (2004) Gaussian settings: an 11x11 window of sigma 1.5,
K1 = 0.01, K2 = 0.03, population covariance, averaged over the RGB channels.
Rates are always computed from the bytes a codec really wrote.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

DATA_RANGE = 255.0


def psnr(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, 10·log10(255² / MSE); inf for identical images."""
    error = np.mean((original.astype(np.float64) - reconstructed.astype(np.float64)) ** 2)
    return math.inf if error == 0 else float(10.0 * np.log10(DATA_RANGE**2 / error))


def ssim(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """Structural similarity (eq. 5) of two (H, W, 3) uint8 images, Gaussian-weighted."""
    return float(
        structural_similarity(
            original,
            reconstructed,
            data_range=DATA_RANGE,
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            K1=0.01,
            K2=0.03,
        )
    )


def compression_ratio(height: int, width: int, num_bytes: int) -> float:
    """Raw 24-bit RGB size over compressed size: H·W·3 / bytes."""
    return height * width * 3 / num_bytes


def bits_per_pixel(height: int, width: int, num_bytes: int) -> float:
    """Compressed size in bits per pixel: 8·bytes / (H·W)."""
    return 8 * num_bytes / (height * width)
