"""Classical codecs at the settings a careful user would choose.

Every codec here encodes a uint8 RGB array at one quality setting and decodes
the file back, reporting the real bytes and the wall-clock encode and decode
times. :data:`CODECS` holds one record per codec: its name in the tables, the
library and options it runs with (stated in every table that uses it), the
settings of its rate–distortion sweep, and the fixed bytes each of its files
pays before any picture content (:func:`header_bytes`), which are a large share
of the rate at 128×128.

The settings follow what an expert comparing codecs would pick: libjpeg-turbo
with optimised Huffman tables (Pillow's default writes the standard tables, 600
of a small face's 1,000 bytes at low quality), MozJPEG's defaults (trellis
quantisation, progressive scans), WebP at its slowest method, AVIF at speed 4,
HEVC intra through libheif and x265, JPEG XL at libjxl's default effort, and
OpenJPEG's JPEG 2000. The paper compares every autoencoder with the JPEG
quality whose SSIM matches it; :func:`match_jpeg_quality` finds that quality,
:func:`match_quality` that of any codec.
"""

from __future__ import annotations

import io
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, features

from aelib.errors import InputError
from aelib.measure.metrics import ssim

AVIF_SPEED = 4
"""libavif's speed (0 slowest … 10): 4 gives 4 % fewer bits than the default 6 on 128×128 faces, at 4× the time."""

WEBP_METHOD = 6
"""libwebp's slowest, best-compressing method."""

JPEGXL_EFFORT = 7
"""libjxl's default effort."""

MOZJPEG_VERSION = "mozjpeg403"
"""The MozJPEG build of the jpeglib package (MozJPEG 4.0.3)."""

HEADER_PROBE_SIZE = 8
"""Side of the mid-grey image whose file size :func:`header_bytes` reports."""


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


def _pillow_encoder(**options) -> Callable[[np.ndarray, float], bytes]:
    def encode(image: np.ndarray, quality: float) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, quality=int(quality), **options)
        return buffer.getvalue()

    return encode


def _pillow_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as reopened:
        return np.asarray(reopened.convert("RGB"))


def _encode_jpeg2000(image: np.ndarray, quality: float) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG2000", quality_mode="dB", quality_layers=[float(quality)])
    return buffer.getvalue()


_JPEGLIB_LOCK = threading.Lock()
"""jpeglib chooses its library for the whole process, and leaving ``jpeglib.version(...)`` restores the previous
one: two threads inside it at once could write one image with libjpeg 6b. One MozJPEG encode at a time."""


def _encode_mozjpeg(image: np.ndarray, quality: float) -> bytes:
    import jpeglib

    # jpeglib writes to files only.
    with _JPEGLIB_LOCK, tempfile.TemporaryDirectory() as folder, jpeglib.version(MOZJPEG_VERSION):
        path = Path(folder) / "image.jpg"
        jpeglib.from_spatial(np.ascontiguousarray(image)).write_spatial(str(path), qt=int(quality))
        return path.read_bytes()


def _encode_hevc(image: np.ndarray, quality: float) -> bytes:
    import pillow_heif

    heif = pillow_heif.from_bytes(mode="RGB", size=(image.shape[1], image.shape[0]), data=image.tobytes())
    buffer = io.BytesIO()
    heif.save(buffer, quality=int(quality))
    return buffer.getvalue()


def _decode_hevc(data: bytes) -> np.ndarray:
    import pillow_heif

    return np.asarray(pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True))[..., :3]


def _encode_jpegxl(image: np.ndarray, quality: float) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.jpegxl_encode(image, level=int(quality), effort=JPEGXL_EFFORT))


def _decode_jpegxl(data: bytes) -> np.ndarray:
    import imagecodecs

    return np.asarray(imagecodecs.jpegxl_decode(data))


def _version_of(module: str, attribute: str) -> str:
    try:
        return str(getattr(__import__(module), attribute))
    except ImportError:
        return "not installed"


def _libjxl_version() -> str:
    import imagecodecs

    return imagecodecs.version(dict).get("libjxl", "?")


def _libheif_version() -> str:
    import pillow_heif

    return pillow_heif.libheif_version()


@dataclass(frozen=True)
class ClassicalCodec:
    """One classical codec as every table of the study runs it.

    Attributes:
        key: the short name the API and CLI take ("jpeg", "avif", …).
        name: the method's name in tables and figures ("JPEG 4:2:0", …).
        options: the options it runs with, in words.
        library: a function giving the library and its version, in words.
        sweep: the quality settings of its rate–distortion curve, lowest rate first.
        quality_range: the integer settings :func:`match_quality` searches.
        encode: (image, quality) → file bytes.
        decode: file bytes → (H, W, 3) uint8 image.
        quality_unit: what the quality setting means.
    """

    key: str
    name: str
    options: str
    library: Callable[[], str]
    sweep: tuple[float, ...]
    quality_range: tuple[int, int]
    encode: Callable[[np.ndarray, float], bytes]
    decode: Callable[[bytes], np.ndarray]
    quality_unit: str = "quality 0–100"

    def describe(self) -> str:
        """ "NAME: LIBRARY, OPTIONS", e.g. "JPEG 4:2:0: libjpeg-turbo 3.2.0 through Pillow, …"."""
        return f"{self.name}: {self.library()}, {self.options}"


_JPEG_SWEEP = (2, 5, 10, 15, 20, 30, 50, 70, 90)

CODECS: dict[str, ClassicalCodec] = {
    codec.key: codec
    for codec in (
        ClassicalCodec(
            "jpeg",
            "JPEG 4:2:0",
            "optimised Huffman tables, 4:2:0 chroma subsampling",
            lambda: f"libjpeg-turbo {features.version('libjpeg_turbo')} through Pillow",
            _JPEG_SWEEP,
            (1, 100),
            _pillow_encoder(format="JPEG", optimize=True, subsampling=2),
            _pillow_decode,
        ),
        ClassicalCodec(
            "jpeg444",
            "JPEG 4:4:4",
            "optimised Huffman tables, full-resolution chroma",
            lambda: f"libjpeg-turbo {features.version('libjpeg_turbo')} through Pillow",
            _JPEG_SWEEP,
            (1, 100),
            _pillow_encoder(format="JPEG", optimize=True, subsampling=0),
            _pillow_decode,
        ),
        ClassicalCodec(
            "mozjpeg",
            "MozJPEG",
            "its defaults (trellis quantisation, progressive scans, 4:2:0)",
            lambda: f"MozJPEG 4.0.3 through jpeglib {_version_of('jpeglib', '__version__')}",
            _JPEG_SWEEP,
            (1, 100),
            _encode_mozjpeg,
            _pillow_decode,
        ),
        ClassicalCodec(
            "webp",
            "WebP",
            f"method {WEBP_METHOD}",
            lambda: f"libwebp {features.version('webp')} through Pillow",
            (0, 5, 15, 30, 45, 60, 75, 85, 95),
            (0, 100),
            _pillow_encoder(format="WEBP", method=WEBP_METHOD),
            _pillow_decode,
        ),
        ClassicalCodec(
            "avif",
            "AVIF",
            f"speed {AVIF_SPEED}, 4:2:0",
            lambda: f"libavif {features.version('avif')} through Pillow",
            (0, 10, 20, 35, 50, 60, 70, 80, 90),
            (0, 100),
            _pillow_encoder(format="AVIF", speed=AVIF_SPEED, subsampling="4:2:0"),
            _pillow_decode,
        ),
        ClassicalCodec(
            "hevc",
            "HEVC (HEIF)",
            "x265 intra through libheif's defaults, 4:2:0",
            lambda: f"libheif {_libheif_version()} through pillow-heif {_version_of('pillow_heif', '__version__')}",
            (0, 10, 20, 30, 40, 50, 60, 70, 80),
            (0, 100),
            _encode_hevc,
            _decode_hevc,
        ),
        ClassicalCodec(
            "jpegxl",
            "JPEG XL",
            f"effort {JPEGXL_EFFORT}",
            lambda: f"libjxl {_libjxl_version()} through imagecodecs {_version_of('imagecodecs', '__version__')}",
            (1, 10, 20, 35, 50, 60, 70, 80, 90),
            (1, 100),
            _encode_jpegxl,
            _decode_jpegxl,
        ),
        ClassicalCodec(
            "jpeg2000",
            "JPEG 2000",
            "one quality layer at a target PSNR",
            lambda: f"OpenJPEG {features.version('jpg_2000')} through Pillow",
            (22, 24, 26.5, 29, 31.5, 34, 36.5, 39, 42),
            (20, 60),
            _encode_jpeg2000,
            _pillow_decode,
            quality_unit="target PSNR in dB",
        ),
    )
}
"""Every classical codec of the study, by key, in the order tables list them."""


def codec_named(key: str) -> ClassicalCodec:
    """The codec record of key; one clear error for an unknown key."""
    if key not in CODECS:
        raise InputError(f"unknown codec {key!r}; choose one of {', '.join(CODECS)}")
    return CODECS[key]


def available_codecs() -> tuple[str, ...]:
    """The codecs that round-trip a small image on this installation."""
    probe = np.full((HEADER_PROBE_SIZE, HEADER_PROBE_SIZE, 3), 128, np.uint8)
    working = []
    for key, codec in CODECS.items():
        try:
            codec.decode(codec.encode(probe, codec.sweep[len(codec.sweep) // 2]))
        except (ImportError, OSError, KeyError, ValueError):
            continue
        working.append(key)
    return tuple(working)


def encode_with_codec(image: np.ndarray, codec: str, quality: float) -> CodecResult:
    """Encodes image with a classical codec and decodes it back.

    Args:
        image: (H, W, 3) uint8 RGB array.
        codec: a key of :data:`CODECS`.
        quality: the codec's quality setting (JPEG 2000: the target PSNR in dB).
    """
    record = codec_named(codec)
    start = time.perf_counter()
    data = record.encode(image, quality)
    encoded = time.perf_counter()
    decoded = record.decode(data)
    return CodecResult(data, decoded, encoded - start, time.perf_counter() - encoded)


def header_bytes(codec: str) -> int:
    """Bytes of the codec's file for an 8×8 mid-grey image at its sweep's middle setting.

    The picture content of such an image costs a few bytes at most, so this is
    what every file of the codec pays in headers, tables and container.
    """
    record = codec_named(codec)
    probe = np.full((HEADER_PROBE_SIZE, HEADER_PROBE_SIZE, 3), 128, np.uint8)
    return len(record.encode(probe, record.sweep[len(record.sweep) // 2]))


def mean_ssim_at(images: np.ndarray, codec: str, quality: float) -> float:
    """Mean SSIM of images after a round trip through codec at quality."""
    return float(np.mean([ssim(im, encode_with_codec(im, codec, quality).decoded) for im in images]))


def match_quality(
    images, target_ssim: float, codec: str = "jpeg", low: int | None = None, high: int | None = None
) -> int:
    """The integer quality of codec whose mean SSIM over images is closest to target_ssim.

    Mean SSIM grows with quality, so a bisection over the integers finds the
    crossing and the closer of its two neighbours wins. The search runs over
    the codec's ``quality_range`` unless low and high are given.
    """
    default_low, default_high = codec_named(codec).quality_range
    low = default_low if low is None else low
    high = default_high if high is None else high
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


def jpeg_description() -> str:
    """How Table 1's JPEG rows are coded, for the tables' provenance lines."""
    return CODECS["jpeg"].describe()
