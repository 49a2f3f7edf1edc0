"""Interleaved rANS over integer CDF tables: the entropy coder of ``.aec`` version 3.

Asymmetric numeral systems (Duda, 2013, arXiv:1311.2540) in the byte-wise form
of Giesen's ``rans_byte`` ("Interleaved entropy coders", 2014,
arXiv:1402.3392): a 31-bit state in [2**23, 2**31), byte-wise
renormalisation and tables of 16-bit precision. The state's range is 2**7
times the tables' total, which keeps the coding loss far below that of a
32-bit state with 16-bit words (docs/design-notes.md). Everything that decides a symbol is integer arithmetic on
the tables stored with the model, so a file decodes the same on every machine
("integer CDFs, so that they can be used reliably across platforms", as
tensorflow-compression puts it).

The algorithm, complete enough for a second implementation (``docs/format.md``
repeats it with the file layout):

* A table t has ``n_t`` symbols, the last of which is the **escape**; its CDF is
  integers ``0 = c[0] < c[1] < … < c[n_t] = 2**16``. A value v is coded with
  table t as symbol ``v - offset_t`` when ``0 <= v - offset_t < n_t - 1``, else as
  the escape symbol, and then v itself goes to the escape list (below).
* Symbols 0 … N-1 in coding order are dealt to K lanes: symbol i to lane
  ``i % K`` at step ``i // K``. K = :func:`lane_count` (N).
* Decoding. Read K 32-bit little-endian states x_0 … x_{K-1}. For i = 0 … N-1,
  with lane k = i % K: slot = x_k & 0xFFFF; the symbol is the j with
  c[j] <= slot < c[j+1] of symbol i's table; x_k = (c[j+1] - c[j]) · (x_k >> 16)
  + slot - c[j]; then, while x_k < 2**23, x_k = (x_k << 8) | b with b the next
  byte of the stream (at most twice). At the end every x_k is 2**23 and every
  byte has been read; anything else is a corrupt stream.
* Encoding is the exact reverse: every state starts at 2**23, symbols are
  coded from i = N-1 down to 0, and before coding symbol j of frequency f a
  state emits its low byte and shifts right by 8 while x >= f << 15; then
  x = ((x // f) << 16) + x % f + c[j]. The stream is the final states followed
  by the emitted bytes in reverse order of emission.
* The payload is ``varint(E) ‖ escapes (E bytes) ‖ states ‖ bytes``. Escapes are
  the escaped values in coding order, each an unsigned LEB128 varint of
  ``2·d + below`` where d = v - (offset + n - 1) when v lies above the table's
  values and d = offset - 1 - v when below (below = 1).

The coding loops are compiled with numba (cached on first use), since a
128×128 face has some 12,000 symbols and a Python loop would spend a second
on them; many streams of one length are coded with one call
(:func:`encode_streams`, :func:`decode_streams`).
"""

from __future__ import annotations

import numba
import numpy as np

from aelib.errors import FormatError, InputError
from aelib.tables import CdfTables

STATE_LOW = 1 << 23
"""Every state lies in [STATE_LOW, 2**31) between symbols; encoders start there and decoders must end there."""
STATE_HIGH = 1 << 31
RENORM_SHIFT = 15
"""A state x codes a symbol of frequency f without emitting once x < f << 15 (= (STATE_LOW >> 16) << 8 · f)."""
LANE_SYMBOLS = 16384
"""One lane per this many symbols (:func:`lane_count`): few lanes keep the 4 bytes per lane's state small."""
MAX_LANES = 64


def lane_count(symbols: int) -> int:
    """The number of interleaved lanes K for a stream of this many symbols: ⌊N / 16384⌋ clamped to 1 … 64."""
    return int(min(MAX_LANES, max(1, symbols // LANE_SYMBOLS)))


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _read_varint(data: memoryview, position: int) -> tuple[int, int]:
    number, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise FormatError("corrupt payload: a varint runs past its end")
        byte = data[position]
        number |= (byte & 0x7F) << shift
        position, shift = position + 1, shift + 7
        if not byte & 0x80:
            return number, position


def _escape_bytes(values: np.ndarray, tables: np.ndarray, escaped: np.ndarray, cdf: CdfTables) -> bytes:
    out = bytearray()
    for value, table in zip(values[escaped].tolist(), tables[escaped].tolist()):
        low = int(cdf.offsets[table])
        high = low + int(cdf.sizes[table]) - 2
        out += _varint(2 * (value - high - 1) if value > high else 2 * (low - 1 - value) + 1)
    return bytes(out)


@numba.njit(cache=True, nogil=True)
def _encode_kernel(start: np.ndarray, frequency: np.ndarray, lanes: int, out: np.ndarray, state: np.ndarray) -> int:
    """Codes one stream from its last symbol to its first; returns how many bytes went into out (emission order)."""
    for k in range(lanes):
        state[k] = STATE_LOW
    written = 0
    for i in range(len(start) - 1, -1, -1):
        k = i % lanes
        f = frequency[i]
        x = state[k]
        limit = f << RENORM_SHIFT
        while x >= limit:
            out[written] = x & 0xFF
            written += 1
            x >>= 8
        state[k] = ((x // f) << 16) + x % f + start[i]
    return written


def encode_streams(values: np.ndarray, tables: np.ndarray, cdf: CdfTables) -> list[bytes]:
    """Codes B streams of N values each; one payload per stream.

    Args:
        values: (B, N) integers in coding order.
        tables: (B, N) the table of each value (an index into cdf).
        cdf: the tables.
    """
    values = np.asarray(values, np.int64)
    tables = np.asarray(tables, np.int64)
    if values.ndim != 2 or tables.shape != values.shape:
        raise InputError(f"values and tables must both be (streams, symbols), got {values.shape} and {tables.shape}")
    if tables.size and (tables.min() < 0 or tables.max() >= cdf.count):
        raise InputError(f"table indices must lie in 0 … {cdf.count - 1}")
    streams, count = values.shape
    symbols, escaped = cdf.symbols(values, tables)
    start = cdf.cdf[tables, symbols]
    frequency = cdf.cdf[tables, symbols + 1] - start
    lanes = lane_count(count)
    out = np.empty(2 * count + 8, np.uint8)  # a symbol emits at most two bytes
    state = np.empty(lanes, np.int64)
    payloads = []
    for stream in range(streams):
        written = _encode_kernel(start[stream], frequency[stream], lanes, out, state)
        escapes = _escape_bytes(values[stream], tables[stream], escaped[stream], cdf)
        payloads.append(_varint(len(escapes)) + escapes + state.astype("<u4").tobytes() + out[:written][::-1].tobytes())
    return payloads


def _split_payload(payload: bytes, lanes: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    view = memoryview(payload)
    length, position = _read_varint(view, 0)
    if position + length + 4 * lanes > len(view):
        raise FormatError("corrupt payload: its escape and state sections do not fit its length")
    escapes = bytes(view[position : position + length])
    position += length
    states = np.frombuffer(view[position : position + 4 * lanes], "<u4").astype(np.int64)
    data = np.frombuffer(view[position + 4 * lanes :], "u1")
    return escapes, states, data


@numba.njit(cache=True, nogil=True)
def _decode_kernel(
    state: np.ndarray,
    data: np.ndarray,
    position: int,
    cdf: np.ndarray,
    sizes: np.ndarray,
    tables: np.ndarray,
    first: int,
    out: np.ndarray,
) -> int:
    """Decodes symbols first … first + len(tables) − 1 of one stream into out; returns the next byte's position.

    −1: the stream ended before its symbols; −2: a state stayed below 2**23 after two bytes (damaged data).
    """
    lanes = len(state)
    for j in range(len(tables)):
        k = (first + j) % lanes
        t = tables[j]
        x = state[k]
        slot = x & 0xFFFF
        low, high = 0, sizes[t]  # cdf[t, low] <= slot < cdf[t, high]
        while high - low > 1:
            middle = (low + high) >> 1
            if cdf[t, middle] <= slot:
                low = middle
            else:
                high = middle
        x = (cdf[t, low + 1] - cdf[t, low]) * (x >> 16) + slot - cdf[t, low]
        for _ in range(2):
            if x >= STATE_LOW:
                break
            if position >= len(data):
                return -1
            x = (x << 8) | data[position]
            position += 1
        if x < STATE_LOW:
            return -2
        state[k] = x
        out[j] = low
    return position


class StreamDecoder:
    """Decodes B payloads of N symbols each, in chunks whose tables may depend on earlier chunks.

    A hyperprior's latents are coded after its hyper-latents in one stream: the
    decoder reads the hyper-latents, derives the latents' tables from them, then
    reads on. :meth:`read` returns the next chunk of every stream; :meth:`finish`
    checks that the payloads held exactly the N symbols.
    """

    def __init__(self, payloads: list[bytes], count: int, cdf: CdfTables):
        self.cdf, self.count, self.streams = cdf, count, len(payloads)
        self.lanes = lane_count(count)
        split = [_split_payload(payload, self.lanes) for payload in payloads]
        self.escapes = [memoryview(escapes) for escapes, _, _ in split]
        self.escape_position = [0] * self.streams
        self.states = [states.copy() for _, states, _ in split]
        if any(((states < STATE_LOW) | (states >= STATE_HIGH)).any() for states in self.states):
            raise FormatError("corrupt payload: a lane's state is out of range")
        self.data = [data for _, _, data in split]
        self.used = [0] * self.streams
        self.position = 0

    def read(self, tables: np.ndarray) -> np.ndarray:
        """The next n values of every stream, (B, n), coded with tables (B, n)."""
        tables = np.ascontiguousarray(tables, np.int64)
        if tables.shape[0] != self.streams or self.position + tables.shape[1] > self.count:
            raise InputError(f"cannot read {tables.shape} more symbols from {self.streams} streams of {self.count}")
        if tables.size and (tables.min() < 0 or tables.max() >= self.cdf.count):
            raise FormatError(f"table indices must lie in 0 … {self.cdf.count - 1}")
        symbols = np.empty(tables.shape, np.int64)
        for stream in range(self.streams):
            position = _decode_kernel(
                self.states[stream],
                self.data[stream],
                self.used[stream],
                self.cdf.cdf,
                self.cdf.sizes,
                tables[stream],
                self.position,
                symbols[stream],
            )
            if position == -1:
                raise FormatError("corrupt payload: the stream ends before its symbols")
            if position < 0:
                raise FormatError("corrupt payload: a lane's state cannot be refilled (altered bytes)")
            self.used[stream] = position
        self.position += tables.shape[1]
        values = symbols + self.cdf.offsets[tables]
        escaped = symbols == self.cdf.sizes[tables] - 1
        for stream in range(self.streams):
            chosen = tables[stream, escaped[stream]]
            values[stream, escaped[stream]], self.escape_position[stream] = _read_escapes(
                self.escapes[stream], self.escape_position[stream], chosen, self.cdf
            )
        return values

    def finish(self) -> None:
        """Checks that every symbol was read and nothing is left: the states back at 2**23, all bytes and escapes used.

        Raises:
            FormatError: the payloads are not exactly the encoding of what was read (altered, missing or extra bytes).
        """
        if self.position != self.count:
            raise InputError(f"{self.count - self.position} symbols are still to be read")
        complete = all((states == STATE_LOW).all() for states in self.states)
        complete = complete and all(used == len(data) for used, data in zip(self.used, self.data))
        if not complete or any(p != len(e) for p, e in zip(self.escape_position, self.escapes)):
            raise FormatError(
                "corrupt payload: it is not the complete encoding of its symbols (altered or extra bytes)"
            )


def decode_streams(payloads: list[bytes], tables: np.ndarray, cdf: CdfTables) -> np.ndarray:
    """Inverse of :func:`encode_streams`: (B, N) values from B payloads whose symbols use the given tables.

    Raises:
        FormatError: a payload is not the complete encoding of N values.
    """
    tables = np.asarray(tables, np.int64)
    if len(payloads) != tables.shape[0]:
        raise InputError(f"{len(payloads)} payloads for {tables.shape[0]} rows of tables")
    decoder = StreamDecoder(payloads, tables.shape[1], cdf)
    values = decoder.read(tables)
    decoder.finish()
    return values


def _read_escapes(view: memoryview, position: int, tables: np.ndarray, cdf: CdfTables) -> tuple[np.ndarray, int]:
    out = []
    for table in tables.tolist():
        number, position = _read_varint(view, position)
        low = int(cdf.offsets[table])
        high = low + int(cdf.sizes[table]) - 2
        out.append(low - 1 - (number >> 1) if number & 1 else high + 1 + (number >> 1))
    return np.array(out, np.int64), position
