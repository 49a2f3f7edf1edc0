"""Interleaved rANS over integer CDF tables: the entropy coder of ``.aec`` version 3.

Asymmetric numeral systems (Duda, 2013, arXiv:1311.2540) in the byte-wise form
of Giesen's ``rans_byte`` ("Interleaved entropy coders", 2014,
arXiv:1402.3392): a 31-bit state in [2**23, 2**31), byte-wise
renormalisation and tables of 16-bit precision. The state's range is 2**7
times the tables' total, which keeps the coding loss far below 0.01 % (a
32-bit state with 16-bit words, range equal to the total, measured 0.1–0.4 %
here on Gaussian tables). Everything that decides a symbol is integer arithmetic on
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

Many streams of the same length can be coded at once, lane by lane in
lock-step (:func:`encode_streams`, :func:`decode_streams`): one numpy operation
per step for the whole batch, which is what makes batched decoding fast.
"""

from __future__ import annotations

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


def encode_streams(values: np.ndarray, tables: np.ndarray, cdf: CdfTables) -> list[bytes]:
    """Codes B streams of N values each, in lock-step; one payload per stream.

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
    steps = -(-count // lanes)
    pad = steps * lanes - count
    # (B, steps, lanes): symbol i of a stream at [i // lanes, i % lanes]; padding has frequency 0 (never coded).
    start = np.pad(start, ((0, 0), (0, pad))).reshape(streams, steps, lanes)
    frequency = np.pad(frequency, ((0, 0), (0, pad))).reshape(streams, steps, lanes)
    state = np.full((streams, lanes), STATE_LOW, np.int64)
    emitted_bytes, emitted_streams = [], []

    for step in range(steps - 1, -1, -1):
        f, c = frequency[:, step], start[:, step]
        active = f > 0
        limit = f << RENORM_SHIFT
        count_bytes = (active & (state >= limit)).astype(np.int64) + (active & (state >= limit << 8))
        # Lanes code from the last to the first, each emitting its low byte first.
        pairs = np.stack([state & 0xFF, (state >> 8) & 0xFF], axis=2)[:, ::-1]
        wanted = np.arange(2)[None, None, :] < count_bytes[:, ::-1, None]
        where = np.nonzero(wanted)
        emitted_bytes.append(pairs[where])
        emitted_streams.append(where[0])
        state = state >> (8 * count_bytes)
        safe = np.where(active, f, 1)
        state = np.where(active, ((state // safe) << 16) + state % safe + c, state)
    data = np.concatenate(emitted_bytes) if emitted_bytes else np.empty(0, np.int64)
    owners = np.concatenate(emitted_streams) if emitted_streams else np.empty(0, np.int64)
    payloads = []
    for stream in range(streams):
        escapes = _escape_bytes(values[stream], tables[stream], escaped[stream], cdf)
        mine = data[owners == stream][::-1]
        payloads.append(
            _varint(len(escapes)) + escapes + state[stream].astype("<u4").tobytes() + mine.astype("u1").tobytes()
        )
    return payloads


def _split_payload(payload: bytes, lanes: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    view = memoryview(payload)
    length, position = _read_varint(view, 0)
    if position + length + 4 * lanes > len(view):
        raise FormatError("corrupt payload: its escape and state sections do not fit its length")
    escapes = bytes(view[position : position + length])
    position += length
    states = np.frombuffer(view[position : position + 4 * lanes], "<u4").astype(np.int64)
    data = np.frombuffer(view[position + 4 * lanes :], "u1").astype(np.int64)
    return escapes, states, data


def _search_table(cdf: CdfTables) -> tuple[np.ndarray, np.ndarray]:
    """All CDF rows in one increasing array (row t shifted by t·2**17) and each row's first index in it."""
    width = cdf.cdf.shape[1]
    shifted = cdf.cdf + (np.arange(cdf.count, dtype=np.int64) << 17)[:, None]
    return shifted.ravel(), np.arange(cdf.count, dtype=np.int64) * width


class StreamDecoder:
    """Decodes B payloads of N symbols each in lock-step, in chunks whose tables may depend on earlier chunks.

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
        self.escape_position = np.zeros(self.streams, np.int64)
        self.state = np.stack([states for _, states, _ in split]) if split else np.empty((0, self.lanes), np.int64)
        if ((self.state < STATE_LOW) | (self.state >= STATE_HIGH)).any():
            raise FormatError("corrupt payload: a lane's state is out of range")
        self.available = np.array([len(data) for _, _, data in split], np.int64)
        self.longest = int(self.available.max(initial=0))
        self.data = np.zeros((self.streams, self.longest + 1), np.int64)
        for stream, (_, _, data) in enumerate(split):
            self.data[stream, : len(data)] = data
        self.used = np.zeros(self.streams, np.int64)
        self.position = 0
        self.flat, self.row_start = _search_table(cdf)

    def read(self, tables: np.ndarray) -> np.ndarray:
        """The next n values of every stream, (B, n), coded with tables (B, n)."""
        tables = np.asarray(tables, np.int64)
        if tables.shape[0] != self.streams or self.position + tables.shape[1] > self.count:
            raise InputError(f"cannot read {tables.shape} more symbols from {self.streams} streams of {self.count}")
        if tables.size and (tables.min() < 0 or tables.max() >= self.cdf.count):
            raise FormatError(f"table indices must lie in 0 … {self.cdf.count - 1}")
        first, end, lanes = self.position, self.position + tables.shape[1], self.lanes
        symbols = np.zeros(tables.shape, np.int64)
        rows = np.arange(self.streams)[:, None]
        lane_index = np.arange(lanes)
        state, flat = self.state, self.flat
        for step in range(first // lanes, -(-end // lanes)):
            index = step * lanes + lane_index
            active = (index >= first) & (index < end)
            column = np.clip(index - first, 0, max(tables.shape[1] - 1, 0))
            table = np.where(active[None, :], tables[:, column], 0)
            slot = state & 0xFFFF
            found = np.searchsorted(flat, (table << 17) + slot, side="right") - 1
            low = flat[found] - (table << 17)
            high = flat[found + 1] - (table << 17)
            state = np.where(active, (high - low) * (state >> 16) + slot - low, state)
            need = (active & (state < STATE_LOW)).astype(np.int64) + (active & (state < STATE_LOW >> 8))
            position = self.used[:, None] + np.cumsum(need, axis=1) - need
            if ((position + need > self.available[:, None]) & (need > 0)).any():
                raise FormatError("corrupt payload: the stream ends before its symbols")
            high_byte = self.data[rows, np.where(need > 0, position, self.longest)]
            low_byte = self.data[rows, np.where(need > 1, position + 1, self.longest)]
            refill = np.where(need == 2, high_byte << 8 | low_byte, high_byte)
            state = np.where(need > 0, (state << (8 * need)) | refill, state)
            self.used += need.sum(axis=1)
            symbols[:, column[active]] = (found - self.row_start[table])[:, active]
        self.state, self.position = state, end
        values = symbols + self.cdf.offsets[tables]
        escaped = symbols == self.cdf.sizes[tables] - 1
        for stream in range(self.streams):
            chosen = tables[stream, escaped[stream]]
            values[stream, escaped[stream]], self.escape_position[stream] = _read_escapes(
                self.escapes[stream], int(self.escape_position[stream]), chosen, self.cdf
            )
        return values

    def finish(self) -> None:
        """Checks that every symbol was read and nothing is left: the states back at 2**23, all bytes and escapes used.

        Raises:
            FormatError: the payloads are not exactly the encoding of what was read (altered, missing or extra bytes).
        """
        if self.position != self.count:
            raise InputError(f"{self.count - self.position} symbols are still to be read")
        complete = (self.state == STATE_LOW).all() and (self.used == self.available).all()
        if not complete or any(p != len(e) for p, e in zip(self.escape_position.tolist(), self.escapes)):
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
