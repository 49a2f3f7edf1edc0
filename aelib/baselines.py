"""Classical codecs through Pillow: JPEG, WebP, AVIF and JPEG 2000.

Each codec encodes a uint8 RGB array at a quality setting and decodes it back,
and reports the real bytes and the wall-clock encode and decode times. The
paper compares every autoencoder with the JPEG quality whose SSIM matches it;
:func:`match_jpeg_quality` finds that quality, :func:`match_quality` that of any codec.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image, features

from aelib.errors import AelibError
from aelib.metrics import ssim

CODECS = ("jpeg", "jpeg444", "webp", "avif", "jpeg2000")
"""Pillow codecs: "jpeg" is Pillow's default 4:2:0 chroma subsampling, "jpeg444" keeps full-resolution chroma."""


@dataclass(frozen=True)
class CodecResult:
    """One image through one codec.

    Attributes:
        data: the encoded file's bytes.
        decoded: the decoded (H, W, 3) uint8 image.
        encode_seconds, decode_seconds: wall-clock times.
    """

    data: bytes
    decoded: np.ndarray
    encode_seconds: float
    decode_seconds: float


def _save_options(codec: str, quality: float) -> dict:
    """Pillow save arguments for codec at quality.

    For JPEG, WebP and AVIF quality is the usual 0-100 scale. JPEG 2000 has
    none: its quality is the target PSNR in dB of OpenJPEG's single layer.
    """
    if codec == "jpeg":
        return {"format": "JPEG", "quality": int(quality)}
    if codec == "jpeg444":
        return {"format": "JPEG", "quality": int(quality), "subsampling": 0}
    if codec == "webp":
        return {"format": "WEBP", "quality": int(quality), "method": 4}
    if codec == "avif":
        return {"format": "AVIF", "quality": int(quality)}
    if codec == "jpeg2000":
        return {"format": "JPEG2000", "quality_mode": "dB", "quality_layers": [float(quality)]}
    raise AelibError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")


def available_codecs() -> tuple[str, ...]:
    """The codecs this Pillow build can write."""
    needed = {"jpeg": "jpg", "jpeg444": "jpg", "webp": "webp", "avif": "avif", "jpeg2000": "jpg_2000"}
    return tuple(c for c in CODECS if features.check(needed[c]))


def encode_with_codec(image: np.ndarray, codec: str, quality: float) -> CodecResult:
    """Encodes image with a classical codec and decodes it back.

    Args:
        image: (H, W, 3) uint8 RGB array.
        codec: one of :data:`CODECS`.
        quality: the codec's quality setting (see ``_save_options``).
    """
    options = _save_options(codec, quality)
    picture = Image.fromarray(image)
    buffer = io.BytesIO()
    start = time.perf_counter()
    picture.save(buffer, **options)
    encoded = time.perf_counter()
    data = buffer.getvalue()
    decode_start = time.perf_counter()
    with Image.open(io.BytesIO(data)) as reopened:
        decoded = np.asarray(reopened.convert("RGB"))
    decoded_at = time.perf_counter()
    return CodecResult(data, decoded, encoded - start, decoded_at - decode_start)


def mean_ssim_at(images: np.ndarray, codec: str, quality: float) -> float:
    """Mean SSIM of images after a round trip through codec at quality."""
    return float(np.mean([ssim(im, encode_with_codec(im, codec, quality).decoded) for im in images]))


def match_quality(images, target_ssim: float, codec: str = "jpeg", low: int = 1, high: int = 100) -> int:
    """The integer quality of codec whose mean SSIM over images is closest to target_ssim.

    Mean SSIM grows with quality, so a bisection over the integers finds the
    crossing and the closer of its two neighbours wins. For JPEG 2000 the
    "quality" is the target PSNR in dB (try low=20, high=60).
    """
    cache: dict[int, float] = {}

    def score(quality: int) -> float:
        if quality not in cache:
            cache[quality] = mean_ssim_at(images, codec, quality)
        return cache[quality]

    if score(high) <= target_ssim:
        return high
    if score(low) >= target_ssim:
        return low
    while high - low > 1:
        middle = (low + high) // 2
        if score(middle) < target_ssim:
            low = middle
        else:
            high = middle
    return low if abs(score(low) - target_ssim) < abs(score(high) - target_ssim) else high


def match_jpeg_quality(images, target_ssim: float) -> int:
    """The JPEG quality (1 … 100) whose mean SSIM over images is closest to target_ssim (the paper's matching)."""
    return match_quality(images, target_ssim, "jpeg")
