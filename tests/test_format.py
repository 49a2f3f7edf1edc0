"""The .aec header without TensorFlow, and forged files: what a checksum cannot catch, the other checks must."""

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aelib.codec.codec import decode, encode
from aelib.codec.format import CHECKSUM_OFFSET, FORMAT_VERSION, HEADER, pack_file, read_header
from aelib.errors import AelibError

FORGED_EXAMPLES = 4000
"""Forged files per run, beside the 2,000 damaged ones of test_codec: over 5,000 in all."""


def reseal(data: bytes) -> bytes:
    """data with its payload length and checksum recomputed, as a forger would."""
    if len(data) < HEADER.size:
        return data
    payload = data[HEADER.size :]
    fields = data[:23] + struct.pack(">I", len(payload))
    return fields + struct.pack(">I", zlib.crc32(payload, zlib.crc32(fields))) + payload


def test_the_checksum_covers_every_header_field(codec, images):
    data = encode(images[0], codec)
    for offset in range(5, CHECKSUM_OFFSET):
        flipped = bytearray(data)
        flipped[offset] ^= 0x01
        with pytest.raises(AelibError, match="CRC32 mismatch|truncated or extended"):
            read_header(bytes(flipped))


def test_pack_file_writes_what_read_header_reads():
    data = pack_file("0123456789abcdef", 100, 70, (13, 9, 32), b"\1\2\3\4")
    header = read_header(data)
    assert (header.version, header.fingerprint, header.height, header.width) == (
        FORMAT_VERSION,
        "0123456789abcdef",
        100,
        70,
    )
    assert header.latent_shape == (13, 9, 32) and header.payload_length == 4
    assert header.crc32 == zlib.crc32(data[:CHECKSUM_OFFSET] + data[HEADER.size :])


def test_reading_a_header_does_not_import_tensorflow(tmp_path):
    path = tmp_path / "x.aec"
    path.write_bytes(pack_file("0123456789abcdef", 64, 64, (8, 8, 32), b"\0" * 8))
    script = (
        "import sys; from aelib.cli import main; status = main(['info', sys.argv[1]]);"
        "assert status == 0 and 'tensorflow' not in sys.modules and 'keras' not in sys.modules, sys.modules.keys()"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, capture_output=True, timeout=60)


@st.composite
def forged(draw, valid: bytes):
    """A valid file with header fields and payload bytes changed, then resealed: checksum and length agree."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["field", "byte", "truncate", "extend"]))
        if kind == "field":
            offset, fmt = draw(st.sampled_from([(13, ">H"), (15, ">H"), (17, ">H"), (19, ">H"), (21, ">H")]))
            value = draw(st.one_of(st.integers(0, 65535), st.sampled_from([1, 2, 4, 8, 16, 31, 32, 33, 16384])))
            data[offset : offset + 2] = struct.pack(fmt, value)
        elif kind == "byte" and len(data) > HEADER.size:
            position = draw(st.integers(HEADER.size, len(data) - 1))
            data[position] = draw(st.integers(0, 255))
        elif kind == "truncate":
            data = data[: draw(st.integers(HEADER.size, len(data)))]
        elif kind == "extend":
            data += draw(st.binary(min_size=1, max_size=64))
    return reseal(bytes(data))


def test_forged_files_decode_to_their_stated_size_or_fail_in_one_line(codec, images):
    valid = encode(images[6], codec)
    outcomes = {"image": 0, "error": 0}

    @settings(max_examples=FORGED_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(forged(valid))
    def check(data):
        try:
            image = decode(data, codec)
        except AelibError as error:
            assert str(error) and "\n" not in str(error)
            outcomes["error"] += 1
        else:
            header = read_header(data)
            assert image.shape == (header.height, header.width, 3) and image.dtype == np.uint8
            outcomes["image"] += 1

    check()
    assert sum(outcomes.values()) >= FORGED_EXAMPLES and outcomes["error"] > 0


SIZE_BOMBS = """
import resource, sys
import numpy as np
resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
from aelib.codec.entropy import decode_symbols, load_entropy_model
from aelib.errors import AelibError
from aelib.codec.format import pack_file, read_header
with np.load(sys.argv[1]) as arrays:
    tables, fingerprint = load_entropy_model(arrays)
refused = 0
rng = np.random.default_rng(0)
for side in (1024, 4096, 8192, 12000, 12247, 16384):
    for payload_words in (0, 1, 2, 100, 10_000):
        latent = (-(-side // 8), -(-side // 8), tables.channels)
        payload = rng.integers(0, 2**32, payload_words, dtype=np.uint64).astype("<u4").tobytes()
        data = pack_file(fingerprint, side, side, latent, payload)
        try:
            header = read_header(data, max_pixels=2**28)
            decode_symbols(memoryview(data)[31:], header.latent_shape, tables)
        except AelibError:
            refused += 1
print(refused)
"""


def test_size_bombs_are_refused_under_a_memory_limit(saved):
    """Headers claiming up to 16384x16384 (pixel limit lifted) with payloads of 0 to 40 kB, in 1 GB of address space."""
    from aelib.codec.codec import entropy_path

    script = SIZE_BOMBS.replace("ADDRESS_SPACE", str(2**30))
    result = subprocess.run(
        [sys.executable, "-c", script, str(entropy_path(saved))], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "30"
