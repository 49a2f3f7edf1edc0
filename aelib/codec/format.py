"""The ``.aec`` file format: its header, checksum and limits, readable without TensorFlow.

``.aec`` format, version 2 (all integers big-endian)::

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

import struct
import zlib
from dataclasses import dataclass

from aelib.config import MAX_PIXELS
from aelib.errors import FormatError, InputError

MAGIC = b"\x89AEC"
FORMAT_VERSION = 2
MAX_SIDE = 16384
HEADER = struct.Struct(">4sB8sHHHHHII")
CHECKSUM_OFFSET = HEADER.size - 4
FINGERPRINT_BYTES = 8


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


def _checksum(header: bytes, payload: bytes) -> int:
    """CRC32 of an ``.aec`` file without its own checksum field: the header's other fields, then the payload."""
    return zlib.crc32(payload, zlib.crc32(header[:CHECKSUM_OFFSET]))


def pack_file(fingerprint: str, height: int, width: int, latent_shape: tuple[int, int, int], payload: bytes) -> bytes:
    """The bytes of an ``.aec`` file: the header, checksum included, then the payload."""
    fields = HEADER.pack(
        MAGIC, FORMAT_VERSION, bytes.fromhex(fingerprint), height, width, *latent_shape, len(payload), 0
    )
    return fields[:CHECKSUM_OFFSET] + _checksum(fields, payload).to_bytes(4, "big") + payload


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
        raise FormatError(f"unknown .aec format version {version}; this aelib reads version {FORMAT_VERSION}")
    if length != len(data) - HEADER.size:
        raise FormatError(
            f"payload is {len(data) - HEADER.size} bytes, the header says {length} (truncated or extended file)"
        )
    if _checksum(data, memoryview(data)[HEADER.size :]) != crc:
        raise FormatError("CRC32 mismatch: the file is corrupt")
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        raise FormatError(f"header claims a {height}x{width} image; sides must be 1 … {MAX_SIDE}")
    if height * width > max_pixels:
        raise InputError(
            f"header claims a {height}x{width} image, {height * width:,} pixels; "
            f"the limit is {max_pixels:,} (--max-pixels)"
        )
    if not (1 <= lh <= MAX_SIDE and 1 <= lw <= MAX_SIDE and 1 <= lc):
        raise FormatError(f"header claims an absurd latent shape {lh}x{lw}x{lc}")
    return Header(version, fingerprint.hex(), height, width, (lh, lw, lc), length, crc)
