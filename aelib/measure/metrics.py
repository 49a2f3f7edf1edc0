"""Quality and rate metrics, computed per image on uint8 RGB arrays.

PSNR uses a data range of 255. SSIM is scikit-image's ``structural_similarity``
with Wang et al.'s (2004) Gaussian settings: an 11x11 window of sigma 1.5,
K1 = 0.01, K2 = 0.03, population covariance, averaged over the RGB channels.
MS-SSIM (Wang, Simoncelli and Bovik, 2003) uses the same window on every scale.
Colour: each channel's mean shift in 8-bit levels, and the mean CIEDE2000
colour difference (Sharma, Wu and Dalal, 2005) of the pixels in CIELAB under
D65, through scikit-image's sRGB conversion and ΔE00.
Rates are always computed from the bytes a codec really wrote.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import correlate1d
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import structural_similarity

from aelib.config import SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_WINDOW

DATA_RANGE = 255.0
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Exponents of the five scales, finest first (Wang et al., 2003, Section 3.1)."""


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
            sigma=SSIM_SIGMA,
            win_size=SSIM_WINDOW,
            use_sample_covariance=False,
            K1=SSIM_K1,
            K2=SSIM_K2,
        )
    )


def channel_shifts(original: np.ndarray, reconstructed: np.ndarray) -> tuple[float, float, float]:
    """Each channel's mean shift in 8-bit levels, reconstructed minus original (R, G, B): a colour cast."""
    shifts = reconstructed.reshape(-1, 3).mean(axis=0) - original.reshape(-1, 3).mean(axis=0)
    return tuple(float(shift) for shift in shifts)


def ciede2000(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference ΔE00 over the pixels of two (H, W, 3) uint8 sRGB images.

    About 1 is the smallest difference an observer notices side by side;
    0 for identical images.
    """
    difference = deltaE_ciede2000(rgb2lab(original), rgb2lab(reconstructed), channel_axis=-1)
    return float(np.mean(difference))


COLOUR_COLUMNS = ("mean_shift_r", "mean_shift_g", "mean_shift_b", "ciede2000")
"""The colour measurements of every per-image table (:func:`colour_columns`)."""


def colour_columns(original: np.ndarray, reconstructed: np.ndarray) -> dict[str, float]:
    """:data:`COLOUR_COLUMNS` of one image: each channel's mean shift and the mean CIEDE2000."""
    return dict(zip(COLOUR_COLUMNS, (*channel_shifts(original, reconstructed), ciede2000(original, reconstructed))))


def compression_ratio(height: int, width: int, num_bytes: int, channels: int = 3) -> float:
    """Raw 8-bit size over compressed size: H·W·channels / bytes (24-bit RGB; 8-bit grey with channels = 1)."""
    return height * width * channels / num_bytes


def bits_per_pixel(height: int, width: int, num_bytes: int) -> float:
    """Compressed size in bits per pixel: 8·bytes / (H·W)."""
    return 8 * num_bytes / (height * width)


def _gaussian_window() -> np.ndarray:
    offsets = np.arange(SSIM_WINDOW) - (SSIM_WINDOW - 1) / 2
    window = np.exp(-(offsets**2) / (2 * SSIM_SIGMA**2))
    return window / window.sum()


def _luminance_and_contrast(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel means of SSIM's luminance·contrast·structure map and of its contrast·structure map.

    Statistics are Gaussian-weighted over the windows that fit inside the image ("valid").
    """
    window = _gaussian_window()

    def blur(a: np.ndarray) -> np.ndarray:
        a = correlate1d(correlate1d(a, window, axis=0, mode="constant"), window, axis=1, mode="constant")
        r = SSIM_WINDOW // 2
        return a[r:-r, r:-r]

    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    contrast = (2 * cov + c2) / (var_x + var_y + c2)
    return (luminance * contrast).mean(axis=(0, 1)), contrast.mean(axis=(0, 1))


def _halve(a: np.ndarray) -> np.ndarray:
    """2x2 average pooling, first padding odd sides by mirroring their last row or column."""
    a = np.pad(a, ((0, a.shape[0] % 2), (0, a.shape[1] % 2), (0, 0)), mode="symmetric")
    return 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])


def ms_ssim_weights(height: int, width: int) -> tuple[float, ...]:
    """The scales' exponents for an H x W image.

    A scale is used only while its image is at least as large as the 11x11
    window: all five from 176 pixels up, four for our 128x128 faces (the
    coarsest would be 8x8). The exponents of the scales used are rescaled to
    sum to 1, so a score stays comparable to five-scale MS-SSIM.
    """
    scales, side = 0, min(height, width)
    while scales < len(MS_SSIM_WEIGHTS) and side >= SSIM_WINDOW:
        scales, side = scales + 1, (side + 1) // 2
    if scales == 0:
        raise ValueError(f"MS-SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {height}x{width}")
    used = np.array(MS_SSIM_WEIGHTS[:scales])
    return tuple(float(w) for w in used / used.sum())


def ms_ssim(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """Multi-scale SSIM (Wang et al., 2003, eq. 7) of two (H, W, 3) uint8 images, averaged over RGB.

    Contrast-structure terms of the finer scales and the full SSIM of the
    coarsest, each clipped at 0 and raised to its exponent
    (:func:`ms_ssim_weights`); the image is halved by 2x2 averaging between scales.
    """
    weights = ms_ssim_weights(*original.shape[:2])
    x, y = original.astype(np.float64), reconstructed.astype(np.float64)
    score = np.ones(x.shape[-1])
    for scale, weight in enumerate(weights):
        if scale:
            x, y = _halve(x), _halve(y)
        full, contrast = _luminance_and_contrast(x, y)
        term = full if scale == len(weights) - 1 else contrast
        score *= np.maximum(term, 0.0) ** weight
    return float(score.mean())
