"""The rANS coder against its own inverse, an ideal code length, corrupted streams and the reference decoder."""

import numpy as np
import pytest
from reference_decoder import Reader, ReferenceModel

from aelib.codec import rans
from aelib.errors import FormatError
from aelib.tables import TOTAL, CdfTables, tables_from_pmf


def _tables(seed: int = 0, count: int = 6, width: int = 40) -> CdfTables:
    rng = np.random.default_rng(seed)
    return tables_from_pmf(rng.random((count, width)) ** 4, rng.integers(2, width, count), rng.integers(-20, 5, count))


def _values(cdf: CdfTables, shape, seed: int = 1, spill: int = 3):
    """Values mostly inside their tables, some beyond either end (escapes)."""
    rng = np.random.default_rng(seed)
    tables = rng.integers(0, cdf.count, shape)
    values = cdf.offsets[tables] + rng.integers(-spill, cdf.sizes[tables] - 1 + spill)
    return values, tables


def test_tables_from_probabilities_rise_strictly_to_two_to_the_sixteen():
    cdf = _tables()
    for row, size in zip(cdf.cdf, cdf.sizes):
        assert row[0] == 0 and row[size] == TOTAL and (np.diff(row[: size + 1]) >= 1).all()
    with pytest.raises(FormatError):
        CdfTables(cdf.cdf[:, ::-1].copy(), cdf.sizes, cdf.offsets)


@pytest.mark.parametrize("count", [1, 2, 17, 16384 * 3 + 5])
def test_streams_decode_to_what_was_coded_with_any_lane_count(count):
    cdf = _tables()
    values, tables = _values(cdf, (3, count))
    payloads = rans.encode_streams(values, tables, cdf)
    assert (rans.decode_streams(payloads, tables, cdf) == values).all()
    assert rans.lane_count(count) == min(64, max(1, count // 16384))


def test_the_stream_costs_the_ideal_code_length_plus_its_flush():
    """Without escapes the payload is the ideal −log2 p within 0.02 % and the flush of 4 bytes per lane."""
    cdf = _tables(seed=3)
    values, tables = _values(cdf, (1, 20000), spill=0)
    ideal = cdf.bits(values, tables) / 8
    size = len(rans.encode_streams(values, tables, cdf)[0])
    lanes = rans.lane_count(20000)
    assert ideal <= size <= ideal * 1.0002 + 1 + lanes * 4


def test_a_stream_read_in_chunks_is_the_stream_read_at_once():
    cdf = _tables()
    values, tables = _values(cdf, (2, 40000))
    decoder = rans.StreamDecoder(rans.encode_streams(values, tables, cdf), 40000, cdf)
    first = decoder.read(tables[:, :777])
    rest = decoder.read(tables[:, 777:])
    decoder.finish()
    assert (np.concatenate([first, rest], axis=1) == values).all()


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend"])
def test_a_damaged_stream_is_refused(damage):
    cdf = _tables()
    values, tables = _values(cdf, (1, 3000))
    payload = bytearray(rans.encode_streams(values, tables, cdf)[0])
    if damage == "flip":
        payload[len(payload) // 2] ^= 0x10
    elif damage == "truncate":
        payload = payload[:-2]
    else:
        payload += b"\0\0"
    with pytest.raises(FormatError):
        decoded = rans.decode_streams([bytes(payload)], tables, cdf)
        assert (decoded == values).all()  # a flip the checks let through must at least decode wrongly


def test_the_reference_decoder_reads_what_the_coder_writes():
    cdf = _tables(seed=5)
    values, tables = _values(cdf, (1, 16384 * 2 + 7), seed=9)
    payload = rans.encode_streams(values, tables, cdf)[0]
    model = ReferenceModel(cdf.cdf.tolist(), cdf.sizes.tolist(), cdf.offsets.tolist(), 0, 0, [])
    reader = Reader(payload, values.shape[1], model)
    assert [reader.symbol(int(t)) for t in tables[0]] == values[0].tolist()
    reader.finish()
