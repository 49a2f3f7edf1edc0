"""The ``.aec`` file format: its header, checksum and limits, readable without TensorFlow.

``.aec`` format, version 3 (all integers big-endian), written by learned codecs with their coding tables
inside the model (the mean–scale hyperprior)::

    offset  size  field
    0       4     magic b"\x89AEC"
    4       1     format version (3)
    5       1     coder id (high 4 bits; 1 = 16-bit interleaved rANS of :mod:`aelib.codec.rans`)
                  and model kind (low 4 bits; 1 = mean–scale hyperprior)
    6       4     model fingerprint: first 4 bytes of sha256(weights ‖ tables)
    10      2     original height H (1 … 16384)
    12      2     original width W (1 … 16384)
    14      1     bits 0–6: quality q, gain level ℓ = q // 8 and eighths q % 8 towards level ℓ + 1;
                  bit 7: the image is grey (one channel): it was coded as R = G = B, and a decoder
                  writes the rounded mean of the three decoded channels as its one channel
    15      4     CRC32 of bytes 0–14 and the payload
    19      …     payload, to the end of the file (its length is the file's less 19)

The image is padded (reflection) to multiples of 64, so the shapes follow from H, W
and the model and are not stored: h × w × N hyper-latents with h = ⌈H/64⌉, w = ⌈W/64⌉,
and 4h × 4w × M latents. 19 bytes in all, against 20 for WebP's RIFF/VP8 header.

The payload is one rANS stream (below) of n = h·w·N + 16·h·w·M symbols: first the
hyper-latents round(z) in row-major order (row, column, channel), channel c coded
with table c; then the residuals round(y − μ) in the same order, each coded with
table N + j, j its scale index. A decoder reads the hyper-latents, runs the integer
hyper-synthesis on them (below) to get every latent's μ and scale index, then reads
the residuals; ŷ = (residual + μ) · inverse gain of the quality goes through the
float synthesis.

``.aec`` format, version 2 (all integers big-endian), written by the factorized models with a
``.entropy.npz`` beside them (the paper's autoencoders and the first rate–distortion families); still read::

    offset  size  field
    0       4     magic b"\\x89AEC"
    4       1     format version (2)
    5       8     model fingerprint: first 8 bytes of sha256(weights ‖ tables)
    13      2     original height H (1 … 16384)
    15      2     original width W (1 … 16384)
    17      2     latent height h
    19      2     latent width w
    21      2     latent channels C
    23      4     payload length in bytes
    27      4     CRC32 of bytes 0–26 and the payload: the header is covered too
    31      …     payload: the range coder's 32-bit words, little-endian

The latents are the model's encoder outputs divided by its quantisation step Δ and rounded; a decoder
multiplies the decoded symbols by Δ before the model's decoder. Δ is 1 unless the ``.entropy.npz`` holds a
``step`` (the paper's autoencoders swept over steps in notebook 06), and a Δ other than 1 enters the fingerprint
after the tables (float64, little-endian).

Version 1 had the same layout with a CRC of the payload alone, so a flipped
bit in the header went unnoticed; version-1 files are refused with a message
saying so.

A reader checks everything before it allocates or decodes anything: the size,
magic, version and checksum; the sides against MAX_SIDE and H·W against a
pixel limit (MAX_PIXELS by default); the fingerprint against the model in hand;
the latent shape against what the model makes of H x W; and the payload length
against the bounds the model's tables allow for that many latents. After
decoding, the payload must be exactly the encoding of the latents it decoded
to, so no byte is missing, left over or altered.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from aelib.config import MAX_PIXELS
from aelib.errors import FormatError, InputError

MAGIC = b"\x89AEC"
FORMAT_VERSION = 2
MAX_SIDE = 16384
HEADER = struct.Struct(">4sB8sHHHHHII")
CHECKSUM_OFFSET = HEADER.size - 4
FINGERPRINT_BYTES = 8

FORMAT_VERSION_3 = 3
HEADER_3 = struct.Struct(">4sBB4sHHBI")
CHECKSUM_OFFSET_3 = HEADER_3.size - 4
FINGERPRINT_BYTES_3 = 4
CODER_RANS16 = 1
KIND_HYPERPRIOR = 1
KINDS = {KIND_HYPERPRIOR: "mean–scale hyperprior"}
GREY_FLAG = 0x80
"""Bit 7 of a version-3 file's quality byte: the image is grey."""
MAX_QUALITY_3 = GREY_FLAG - 1
"""The highest quality a version-3 file can record (16 gain levels' worth)."""
CODERS = {CODER_RANS16: "16-bit interleaved rANS"}


@dataclass(frozen=True)
class Header:
    """The fixed fields of an ``.aec`` file."""

    version: int
    fingerprint: str
    height: int
    width: int
    latent_shape: tuple[int, int, int]
    payload_length: int
    crc32: int


def _checksum(header: bytes, payload: bytes, offset: int = CHECKSUM_OFFSET) -> int:
    """CRC32 of an ``.aec`` file without its checksum field (at offset): the header's other fields, then the payload."""
    return zlib.crc32(payload, zlib.crc32(bytes(header[:offset])))


def _check_image_size(height: int, width: int, max_pixels: int) -> None:
    """Refuses a header's image size: sides outside 1 … MAX_SIDE, or more than max_pixels pixels."""
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        raise FormatError(f"header claims a {height}x{width} image; sides must be 1 … {MAX_SIDE}")
    if height * width > max_pixels:
        raise InputError(
            f"header claims a {height}x{width} image, {height * width:,} pixels; "
            f"the limit is {max_pixels:,} (--max-pixels)"
        )


def fingerprint(weights, table_bytes: bytes, length: int) -> str:
    """First length bytes (hex) of sha256 over each weight array in order (little-endian float32), then the tables."""
    digest = hashlib.sha256()
    for weight in weights:
        digest.update(np.ascontiguousarray(weight, dtype="<f4").tobytes())
    digest.update(table_bytes)
    return digest.hexdigest()[: 2 * length]


def pack_file(fingerprint: str, height: int, width: int, latent_shape: tuple[int, int, int], payload: bytes) -> bytes:
    """The bytes of an ``.aec`` file: the header, checksum included, then the payload."""
    fields = HEADER.pack(
        MAGIC, FORMAT_VERSION, bytes.fromhex(fingerprint), height, width, *latent_shape, len(payload), 0
    )
    return fields[:CHECKSUM_OFFSET] + _checksum(fields, payload).to_bytes(4, "big") + payload


@dataclass(frozen=True)
class Header3:
    """The fields of an ``.aec`` version-3 file."""

    fingerprint: str
    coder: int
    kind: int
    height: int
    width: int
    quality: int
    crc32: int
    grey: bool = False
    version: int = FORMAT_VERSION_3


def pack_file_3(
    fingerprint: str, kind: int, height: int, width: int, quality: int, payload: bytes, grey: bool = False
) -> bytes:
    """The bytes of an ``.aec`` version-3 file: the 19-byte header, checksum included, then the payload."""
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE and 0 <= quality <= MAX_QUALITY_3):
        raise InputError(f"cannot write a {height}x{width} image at quality {quality} to .aec version 3")
    quality_byte = quality | (GREY_FLAG if grey else 0)
    fields = HEADER_3.pack(
        MAGIC, FORMAT_VERSION_3, CODER_RANS16 << 4 | kind, bytes.fromhex(fingerprint), height, width, quality_byte, 0
    )
    crc = _checksum(fields, payload, CHECKSUM_OFFSET_3)
    return fields[:CHECKSUM_OFFSET_3] + crc.to_bytes(4, "big") + payload


def format_version(data: bytes) -> int:
    """The format version of ``.aec`` bytes, after checking the magic bytes.

    Raises:
        FormatError: empty, shorter than any header, or not an ``.aec`` file.
    """
    if len(data) == 0:
        raise FormatError("empty file")
    if len(data) < HEADER_3.size:
        raise FormatError(f"truncated: {len(data)} bytes, the shortest header has {HEADER_3.size}")
    if bytes(data[:4]) != MAGIC:
        raise FormatError("not an .aec file (wrong magic bytes)")
    return data[4]


def header_size(data: bytes) -> int:
    """The bytes of ``.aec`` data that are container, not payload: the header of its format version.

    The BD-rate tables count them with and without (a classical codec's container
    is counted the same way by :func:`aelib.measure.baselines.header_bytes`).
    """
    version = format_version(data)
    if version == FORMAT_VERSION_3:
        return HEADER_3.size
    if version == FORMAT_VERSION:
        return HEADER.size
    raise FormatError(f"unknown .aec format version {version}; this aelib reads versions {FORMAT_VERSION} and 3")


def read_header_3(data: bytes, max_pixels: int = MAX_PIXELS) -> Header3:
    """Parses and checks a version-3 header and the checksum over header and payload (no model needed).

    Raises:
        AelibError: truncated, another version, an unknown coder or model kind, a checksum that does not
            match, absurd sizes, or more than max_pixels pixels.
    """
    version = format_version(data)
    if version != FORMAT_VERSION_3:
        raise FormatError(f".aec format version {version}, not {FORMAT_VERSION_3}")
    if len(data) <= HEADER_3.size:
        raise FormatError(f"truncated: {len(data)} bytes, a version-3 file has at least {HEADER_3.size + 1}")
    _, _, coder_kind, fingerprint, height, width, quality_byte, crc = HEADER_3.unpack_from(data)
    coder, kind = coder_kind >> 4, coder_kind & 0xF
    if _checksum(data, memoryview(data)[HEADER_3.size :], CHECKSUM_OFFSET_3) != crc:
        raise FormatError("CRC32 mismatch: the file is corrupt")
    if coder not in CODERS:
        raise FormatError(f"unknown entropy coder {coder}; this aelib knows {sorted(CODERS)}")
    if kind not in KINDS:
        raise FormatError(f"unknown model kind {kind}; this aelib knows {sorted(KINDS)}")
    _check_image_size(height, width, max_pixels)
    quality, grey = quality_byte & MAX_QUALITY_3, bool(quality_byte & GREY_FLAG)
    return Header3(fingerprint.hex(), coder, kind, height, width, quality, crc, grey)


def read_any_header(data: bytes, max_pixels: int = MAX_PIXELS) -> Header | Header3:
    """The checked header of a version-2 or version-3 file."""
    if format_version(data) == FORMAT_VERSION_3:
        return read_header_3(data, max_pixels)
    return read_header(data, max_pixels)


def read_header(data: bytes, max_pixels: int = MAX_PIXELS) -> Header:
    """Parses and checks the header of ``.aec`` bytes, and the checksum over header and payload (no model needed).

    Raises:
        AelibError: empty, truncated, not an ``.aec`` file, another version, a
            checksum that does not match, absurd sizes, or more than max_pixels pixels.
    """
    if len(data) == 0:
        raise FormatError("empty file")
    if len(data) < HEADER.size:
        raise FormatError(f"truncated: {len(data)} bytes, the header alone has {HEADER.size}")
    magic, version, fingerprint, height, width, lh, lw, lc, length, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FormatError("not an .aec file (wrong magic bytes)")
    if version == 1:
        raise FormatError("an .aec file of format version 1 (an earlier aelib); compress the image again with this one")
    if version != FORMAT_VERSION:
        raise FormatError(
            f"unknown .aec format version {version}; this aelib reads versions {FORMAT_VERSION} and {FORMAT_VERSION_3}"
        )
    if length != len(data) - HEADER.size:
        raise FormatError(
            f"payload is {len(data) - HEADER.size} bytes, the header says {length} (truncated or extended file)"
        )
    if _checksum(data, memoryview(data)[HEADER.size :]) != crc:
        raise FormatError("CRC32 mismatch: the file is corrupt")
    _check_image_size(height, width, max_pixels)
    if not (1 <= lh <= MAX_SIDE and 1 <= lw <= MAX_SIDE and 1 <= lc):
        raise FormatError(f"header claims an absurd latent shape {lh}x{lw}x{lc}")
    return Header(version, fingerprint.hex(), height, width, (lh, lw, lc), length, crc)


MODEL_CARD = "aelib.json"
"""The entry that an exported ``.keras`` file (a zip) carries beside Keras's own: kind, fingerprint, qualities."""


def write_model_card(model_path, card: dict) -> None:
    """Adds the model card to an exported ``.keras`` file (Keras ignores entries it does not know)."""
    import json
    import zipfile

    with zipfile.ZipFile(model_path, "a") as archive:
        archive.writestr(MODEL_CARD, json.dumps(card, indent=1, sort_keys=True))


def read_model_card(model_path) -> dict | None:
    """The model card of a ``.keras`` file without loading TensorFlow; None for a file without one."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(model_path) as archive:
            return json.loads(archive.read(MODEL_CARD))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
