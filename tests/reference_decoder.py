"""A second decoder of ``.aec`` version 3, written from docs/format.md alone.

It shares no code with aelib: plain Python integers for the header, the rANS
stream and the escapes, and numpy **int64** (not float64) for the integer
hyper-synthesis, so that it also checks that aelib's float64 arithmetic is exact.
It returns symbols, not pixels: the float synthesis is not part of what must be
bit-exact.

The model enters as plain data (see :class:`ReferenceModel`), taken from the
``.keras`` file by the test.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

FRACTION = 12


@dataclass
class ReferenceModel:
    """What a decoder needs from an exported model.

    Attributes:
        cdf, sizes, offsets: the tables, hyper-latent channels first, then the 80 scales (docs: "Scale indices").
        hyper_channels, latent_channels: N and M.
        layers: the hyper-synthesis in order: ("conv", float kernel (k, k, in, out), float bias), ("relu",),
            ("depth_to_space", block).
    """

    cdf: list[list[int]]
    sizes: list[int]
    offsets: list[int]
    hyper_channels: int
    latent_channels: int
    layers: list[tuple]


def parse_header(data: bytes) -> dict:
    magic, version, coder_kind, fingerprint, height, width, quality, crc = struct.unpack(">4sBB4sHHBI", data[:19])
    assert magic == b"\x89AEC" and version == 3, "not an .aec version 3 file"
    assert zlib.crc32(data[19:], zlib.crc32(data[:15])) == crc, "CRC mismatch"
    return {
        "coder": coder_kind >> 4,
        "kind": coder_kind & 15,
        "fingerprint": fingerprint.hex(),
        "height": height,
        "width": width,
        "quality": quality & 0x7F,
        "grey": bool(quality & 0x80),
    }


class Reader:
    """The rANS stream of the docs, one symbol at a time."""

    def __init__(self, payload: bytes, count: int, model: ReferenceModel):
        self.model = model
        self.count = count
        self.lanes = min(64, max(1, count // 16384))
        length, position = self._varint(payload, 0)
        self.escapes = payload[position : position + length]
        self.escape_position = 0
        position += length
        self.states = [
            int.from_bytes(payload[position + 4 * k : position + 4 * k + 4], "little") for k in range(self.lanes)
        ]
        position += 4 * self.lanes
        self.bytes = list(payload[position:])
        self.byte_position = 0
        self.index = 0

    @staticmethod
    def _varint(data: bytes, position: int) -> tuple[int, int]:
        number, shift = 0, 0
        while True:
            byte = data[position]
            position += 1
            number |= (byte & 127) << shift
            shift += 7
            if byte < 128:
                return number, position

    def symbol(self, table: int) -> int:
        lane = self.index % self.lanes
        self.index += 1
        cdf = self.model.cdf[table]
        size = self.model.sizes[table]
        x = self.states[lane]
        slot = x & 0xFFFF
        j = 0
        while cdf[j + 1] <= slot:
            j += 1
        x = (cdf[j + 1] - cdf[j]) * (x >> 16) + slot - cdf[j]
        while x < 1 << 23:
            x = (x << 8) | self.bytes[self.byte_position]
            self.byte_position += 1
        self.states[lane] = x
        low = self.model.offsets[table]
        if j < size - 1:
            return low + j
        number, self.escape_position = self._varint(self.escapes, self.escape_position)
        high = low + size - 2
        return low - 1 - (number >> 1) if number & 1 else high + 1 + (number >> 1)

    def finish(self) -> None:
        assert self.index == self.count
        assert all(x == 1 << 23 for x in self.states), "states did not return to 2**23"
        assert self.byte_position == len(self.bytes) and self.escape_position == len(self.escapes)


def _conv(values: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    k = kernel.shape[0]
    padded = np.pad(values, ((k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    height, width = values.shape[:2]
    out = np.zeros((height, width, kernel.shape[-1]), np.int64)
    for dy in range(k):
        for dx in range(k):
            out += np.einsum("hwc,co->hwo", padded[dy : dy + height, dx : dx + width], kernel[dy, dx])
    return out + bias


def hyper_synthesis(z: np.ndarray, model: ReferenceModel) -> np.ndarray:
    """The integer network of the docs, in int64: output in units of 2**-24."""
    unit = 1 << FRACTION
    values = np.clip(z.astype(np.int64), -255, 255) * unit
    for layer in model.layers:
        if layer[0] == "conv":
            kernel = np.rint(np.asarray(layer[1], np.float64) * unit).astype(np.int64)
            bias = np.rint(np.asarray(layer[2], np.float64) * unit * unit).astype(np.int64)
            values = _conv(values, kernel, bias)
        elif layer[0] == "relu":
            values = np.minimum((np.maximum(values, 0) + unit // 2) >> FRACTION, 256 * unit)
        else:
            block = layer[1]
            height, width, channels = values.shape
            out = channels // (block * block)
            result = np.zeros((height * block, width * block, out), np.int64)
            for i in range(block):
                for j in range(block):
                    result[i::block, j::block] = values[:, :, (i * block + j) * out : (i * block + j + 1) * out]
            values = result
    return values


def decode_symbols(data: bytes, model: ReferenceModel) -> tuple[dict, np.ndarray, np.ndarray]:
    """(header, round(z) of shape (h, w, N), residuals round(y − μ) of shape (4h, 4w, M))."""
    header = parse_header(data)
    h, w = -(-header["height"] // 64), -(-header["width"] // 64)
    n, m = model.hyper_channels, model.latent_channels
    count = h * w * n + 16 * h * w * m
    reader = Reader(data[19:], count, model)
    z = np.array([reader.symbol(c) for _ in range(h * w) for c in range(n)], np.int64).reshape(h, w, n)
    scales = hyper_synthesis(z, model)[..., m:]
    index = np.clip((scales + int(3.25 * 2**24) + 2**20) // 2**21, 0, 79)
    residual = np.array([reader.symbol(n + int(j)) for j in index.ravel()], np.int64).reshape(4 * h, 4 * w, m)
    reader.finish()
    return header, z, residual
