"""A per-channel probability model of integer latents, and range coding with it.

Ballé et al. (ICLR 2017) code each latent channel with its own factorized
density. Here the density is fitted after training: the histogram of each
channel's rounded latents over the training split, smoothed so that every
symbol between the channel's smallest and largest value keeps a nonzero
probability. The probabilities are stored as **integer frequency tables** that
sum to 2**PRECISION_BITS, so encoder and decoder on any machine derive
bit-identical models from them (frequency / 2**16 is exact in floating point,
and constriction's quantisation of an exact input is deterministic).

Symbols are coded with constriction's range coder (``stream.queue``), one
channel after another in row-major order. Latents outside a channel's fitted
range are clipped into it by :func:`quantize`, so what is decoded is exactly
what was encoded.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import constriction
import numpy as np

from aelib.errors import FormatError, InputError

PRECISION_BITS = 16
SMOOTHING = 0.5
"""Pseudo-count added to every symbol of a channel's range before normalising."""


@dataclass(frozen=True)
class EntropyModel:
    """Integer frequency tables of each latent channel.

    Attributes:
        minimum: (C,) int32, the smallest symbol of each channel.
        frequencies: (C, K) uint32; row c holds the frequencies of symbols
            minimum[c] … minimum[c] + sizes[c] - 1, zero-padded to K. Each row
            sums to 2**PRECISION_BITS and has no zero inside its size.
        sizes: (C,) int32, the alphabet size of each channel.
    """

    minimum: np.ndarray
    frequencies: np.ndarray
    sizes: np.ndarray

    @property
    def channels(self) -> int:
        return len(self.minimum)

    @functools.cached_property
    def _categoricals(self) -> list:
        """One constriction model per channel; None for a channel with a single symbol, which costs no bits."""
        total = float(2**PRECISION_BITS)
        return [
            constriction.stream.model.Categorical(self.frequencies[c, : self.sizes[c]] / total, perfect=False)
            if self.sizes[c] > 1
            else None
            for c in range(self.channels)
        ]

    def table_bytes(self) -> bytes:
        """The tables in a canonical byte form, for fingerprints."""
        return b"".join(a.astype("<i8").tobytes() for a in (self.minimum, self.sizes, self.frequencies))

    def bits(self, symbols: np.ndarray) -> float:
        """Ideal code length in bits of quantised latents (…, C) under this model."""
        index = (symbols - self.minimum).reshape(-1, self.channels)
        probabilities = self.frequencies[np.arange(self.channels)[None, :], index]
        return float(-np.log2(probabilities / 2**PRECISION_BITS).sum())


def quantize(latents: np.ndarray, model: EntropyModel) -> np.ndarray:
    """Rounds latents (…, C) to integers and clips each channel into its fitted range."""
    low = model.minimum
    high = model.minimum + model.sizes - 1
    return np.clip(np.rint(latents), low, high).astype(np.int32)


def fit_entropy_model(latents: np.ndarray) -> EntropyModel:
    """Fits per-channel integer frequency tables to latents of shape (…, C).

    Args:
        latents: real or integer latents of the training split; they are rounded.

    Returns:
        Tables covering each channel's observed range.
    """
    symbols = np.rint(latents).astype(np.int64).reshape(-1, latents.shape[-1])
    if symbols.shape[0] == 0:
        raise InputError("cannot fit an entropy model to zero latents")
    minimum = symbols.min(axis=0)
    sizes = symbols.max(axis=0) - minimum + 1
    frequencies = np.zeros((symbols.shape[1], int(sizes.max())), np.uint32)
    total = 2**PRECISION_BITS
    for channel in range(symbols.shape[1]):
        size = int(sizes[channel])
        if size >= total:
            raise InputError(f"latent channel {channel} spans {size} values; at most {total - 1} can be coded")
        counts = np.bincount(symbols[:, channel] - minimum[channel], minlength=size) + SMOOTHING
        share = np.floor(counts / counts.sum() * (total - size)).astype(np.int64) + 1
        share[np.argmax(share)] += total - share.sum()
        frequencies[channel, :size] = share
    return EntropyModel(minimum.astype(np.int32), frequencies, sizes.astype(np.int32))


def encode_symbols(symbols: np.ndarray, model: EntropyModel) -> bytes:
    """Range-codes quantised latents (h, w, C) channel by channel.

    Returns:
        The compressed words as little-endian uint32 bytes.
    """
    encoder = constriction.stream.queue.RangeEncoder()
    for channel, categorical in enumerate(model._categoricals):
        if categorical is None:
            continue
        encoder.encode((symbols[..., channel].ravel() - model.minimum[channel]).astype(np.int32), categorical)
    return encoder.get_compressed().astype("<u4").tobytes()


PAYLOAD_SLACK = 0.01
"""Relative tolerance of :func:`payload_bounds`: constriction codes with its own rounding of the tables."""


def payload_bounds(model: EntropyModel, shape: tuple[int, int, int]) -> tuple[int, int]:
    """The fewest and most payload bytes that latents of shape (h, w, C) can take under model.

    Every symbol of channel c costs between -log2 of its most and of its least
    probable symbol's probability; the range coder adds at most two words. A
    payload outside these bounds is refused before anything is allocated.
    """
    count = shape[0] * shape[1]
    probabilities = model.frequencies / 2**PRECISION_BITS
    least, most = 0.0, 0.0
    for channel in range(model.channels):
        if model.sizes[channel] > 1:
            inside = probabilities[channel, : model.sizes[channel]]
            least += count * -np.log2(inside.max())
            most += count * -np.log2(inside.min())
    low = int(least / 8 * (1 - PAYLOAD_SLACK)) // 4 * 4
    high = (int(most / 8 * (1 + PAYLOAD_SLACK)) // 4 + 2) * 4
    return low, high


def decode_symbols(data: bytes, shape: tuple[int, int, int], model: EntropyModel) -> np.ndarray:
    """Inverse of :func:`encode_symbols` for latents of shape (h, w, C).

    The payload must be exactly what :func:`encode_symbols` writes for the
    latents it decodes to: a missing, extra or altered word is refused even
    when the range decoder would accept it.

    Raises:
        AelibError: the data cannot be decoded with this model, or is not the encoding of what it decodes to.
    """
    if len(data) % 4:
        raise FormatError(f"payload of {len(data)} bytes is not a whole number of 32-bit words")
    height, width, channels = shape
    if channels != model.channels:
        raise FormatError(f"latent has {channels} channels, the model codes {model.channels}")
    low, high = payload_bounds(model, shape)
    if not low <= len(data) <= high:
        raise FormatError(
            f"payload of {len(data)} bytes cannot hold {height}x{width}x{channels} latents "
            f"({low} … {high} bytes with this model)"
        )
    latents = np.empty((height * width, channels), np.int32)
    try:
        decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, "<u4").astype(np.uint32))
        for channel, categorical in enumerate(model._categoricals):
            plane = 0 if categorical is None else decoder.decode(categorical, height * width)
            latents[:, channel] = plane + model.minimum[channel]
    except Exception as error:  # constriction reports corrupt data with several exception types.
        raise FormatError(f"corrupt payload ({error})") from None
    latents = latents.reshape(height, width, channels)
    if encode_symbols(latents, model) != bytes(data):
        raise FormatError(
            "the payload is not the encoding of the latents it decodes to (bytes missing, extra or altered)"
        )
    return latents


def save_entropy_model(model: EntropyModel, fingerprint: str) -> dict[str, np.ndarray]:
    """The arrays that :func:`load_entropy_model` reads back (for ``np.savez``)."""
    return {
        "minimum": model.minimum,
        "frequencies": model.frequencies,
        "sizes": model.sizes,
        "fingerprint": np.array(fingerprint),
    }


def load_entropy_model(arrays) -> tuple[EntropyModel, str]:
    """Reads the arrays written by :func:`save_entropy_model`, checking the tables' invariants."""
    try:
        model = EntropyModel(
            np.asarray(arrays["minimum"], np.int32),
            np.asarray(arrays["frequencies"], np.uint32),
            np.asarray(arrays["sizes"], np.int32),
        )
        fingerprint = str(arrays["fingerprint"])
    except (KeyError, ValueError) as error:
        raise FormatError(f"entropy tables are incomplete ({error})") from None
    channels = len(model.minimum)
    if (
        model.minimum.ndim != 1
        or model.sizes.shape != (channels,)
        or model.frequencies.ndim != 2
        or model.frequencies.shape[0] != channels
        or channels == 0
        or (model.sizes < 1).any()
        or model.sizes.max() > model.frequencies.shape[1]
    ):
        raise FormatError(
            f"entropy tables are corrupt: shapes {model.minimum.shape}, {model.sizes.shape}, {model.frequencies.shape}"
        )
    sums = model.frequencies.astype(np.int64).sum(axis=1)
    inside = np.arange(model.frequencies.shape[1])[None] < model.sizes[:, None]
    if (sums != 2**PRECISION_BITS).any() or (model.frequencies[inside] == 0).any():
        raise FormatError("entropy tables are corrupt: a channel's frequencies do not sum to 2**16")
    return model, fingerprint
