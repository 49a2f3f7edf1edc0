"""Integer CDF tables: the probability model an entropy coder reads, identical on every machine.

A table lists the cumulative frequencies of its symbols in units of 2**-16;
its last symbol is the escape of values it does not list. Tables are built
once, from a trained density, when a model is exported
(:mod:`aelib.nn.entropy_models`), stored with the model, and read by the coder
(:mod:`aelib.codec.rans`); decoders never recompute them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aelib.errors import FormatError

PRECISION_BITS = 16
TOTAL = 1 << PRECISION_BITS


@dataclass(frozen=True)
class CdfTables:
    """Integer CDF tables, each with an escape as its last symbol.

    Attributes:
        cdf: (T, A + 1) int64; row t holds c[0] = 0 … c[n_t] = 2**16, then 2**16 repeated up to A + 1 entries.
        sizes: (T,) int64, n_t: the symbols of table t, its escape included (at least 2).
        offsets: (T,) int64, the value that table t codes as symbol 0.
    """

    cdf: np.ndarray
    sizes: np.ndarray
    offsets: np.ndarray

    def __post_init__(self):
        cdf, sizes = self.cdf, self.sizes
        if cdf.ndim != 2 or sizes.shape != (len(cdf),) or self.offsets.shape != (len(cdf),) or len(cdf) == 0:
            raise FormatError(f"CDF tables have inconsistent shapes {cdf.shape}, {sizes.shape}, {self.offsets.shape}")
        if (sizes < 2).any() or (sizes > cdf.shape[1] - 1).any():
            raise FormatError("a CDF table has fewer than 2 symbols or more than its row holds")
        columns = np.arange(cdf.shape[1])
        inside = columns[None, 1:] <= sizes[:, None]
        steps = np.diff(cdf, axis=1)
        if (cdf[:, 0] != 0).any() or (steps[inside] < 1).any() or (cdf[np.arange(len(cdf)), sizes] != TOTAL).any():
            raise FormatError("a CDF table does not rise strictly from 0 to 2**16")
        if (cdf[~np.concatenate([np.ones((len(cdf), 1), bool), inside], axis=1)] != TOTAL).any():
            raise FormatError("a CDF table is not padded with 2**16")

    @property
    def count(self) -> int:
        return len(self.sizes)

    def frequencies(self) -> np.ndarray:
        """(T, A) frequency of each symbol, zero past a table's size."""
        return np.diff(self.cdf, axis=1)

    def symbols(self, values: np.ndarray, tables: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The symbol of each value under its table, and which of them are escapes."""
        values = np.asarray(values, np.int64)
        index = values - self.offsets[tables]
        escape_symbol = self.sizes[tables] - 1
        escaped = (index < 0) | (index >= escape_symbol)
        return np.where(escaped, escape_symbol, index), escaped

    def bits(self, values: np.ndarray, tables: np.ndarray) -> float:
        """Bits the coder spends on values coded with the given tables, the escapes' own bytes excluded."""
        symbols, _ = self.symbols(values, tables)
        frequency = self.cdf[tables, symbols + 1] - self.cdf[tables, symbols]
        return float(np.sum(PRECISION_BITS - np.log2(frequency)))

    def table_bytes(self) -> bytes:
        """A canonical byte form, for fingerprints."""
        return b"".join(np.ascontiguousarray(a, "<i8").tobytes() for a in (self.sizes, self.offsets, self.cdf))


def tables_from_pmf(pmf: np.ndarray, sizes: np.ndarray, offsets: np.ndarray) -> CdfTables:
    """Integer CDF tables from probabilities: the escape's probability is what the listed values leave.

    Each symbol gets at least frequency 1 and the frequencies of a table sum to
    2**16: every symbol's share of ``2**16 - n`` is floored, plus 1, and the
    remainder goes to the most probable symbol. Called once when a model is
    exported; the tables are then stored, never recomputed by a decoder.

    Args:
        pmf: (T, A) float64 probabilities of the values offset_t … offset_t + n_t - 2 (the escape's column is
            ignored and computed as one minus their sum).
        sizes: (T,) symbols per table, escape included.
        offsets: (T,) value of symbol 0.
    """
    pmf = np.asarray(pmf, np.float64)
    sizes = np.asarray(sizes, np.int64)
    width = int(sizes.max()) + 1
    cdf = np.full((len(sizes), width), TOTAL, np.int64)
    for t, size in enumerate(sizes):
        probabilities = np.clip(pmf[t, : size - 1], 0.0, None)
        probabilities = np.append(probabilities, max(0.0, 1.0 - probabilities.sum()))
        probabilities /= probabilities.sum()
        share = np.floor(probabilities * (TOTAL - size)).astype(np.int64) + 1
        share[np.argmax(share)] += TOTAL - share.sum()
        cdf[t, 0] = 0
        cdf[t, 1 : size + 1] = np.cumsum(share)
    return CdfTables(cdf, sizes, np.asarray(offsets, np.int64))
