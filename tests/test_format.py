"""The .aec header without TensorFlow: its checksum, its fields, and size bombs under a memory limit."""

import subprocess
import sys
import zlib

import pytest

from aelib.codec.codec import encode
from aelib.codec.format import (
    CHECKSUM_OFFSET,
    FORMAT_VERSION,
    HEADER,
    KIND_HYPERPRIOR,
    header_size,
    pack_file,
    pack_file_3,
    read_header,
)
from aelib.errors import AelibError


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


def test_the_header_size_is_what_each_version_writes_before_its_payload():
    payload = b"\7" * 50
    version_2 = pack_file("0123456789abcdef", 100, 70, (13, 9, 32), payload)
    version_3 = pack_file_3("01234567", KIND_HYPERPRIOR, 100, 70, 24, payload)
    assert header_size(version_2) == len(version_2) - len(payload) == 31  # docs/format.md: offset of the payload
    assert header_size(version_3) == len(version_3) - len(payload) == 19
    with pytest.raises(AelibError, match="version 9"):
        header_size(version_3[:4] + bytes([9]) + version_3[5:])


def test_reading_a_header_does_not_import_tensorflow(tmp_path):
    path = tmp_path / "x.aec"
    path.write_bytes(pack_file("0123456789abcdef", 64, 64, (8, 8, 32), b"\0" * 8))
    script = (
        "import sys; from aelib.apps.cli import main; status = main(['info', sys.argv[1]]);"
        "assert status == 0 and 'tensorflow' not in sys.modules and 'keras' not in sys.modules, sys.modules.keys()"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, capture_output=True, timeout=60)


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


def test_bit_7_of_the_quality_byte_says_grey_and_leaves_the_quality_as_it_was():
    from reference_decoder import parse_header

    from aelib.codec.format import MAX_QUALITY_3, read_header_3

    payload = b"\5" * 20
    colour = pack_file_3("01234567", KIND_HYPERPRIOR, 30, 40, 24, payload)
    grey = pack_file_3("01234567", KIND_HYPERPRIOR, 30, 40, 24, payload, grey=True)
    assert grey[14] == colour[14] | 0x80 and grey[19:] == colour[19:]  # docs/format.md: offset 14, bit 7
    assert (read_header_3(grey).quality, read_header_3(grey).grey) == (24, True)
    assert (read_header_3(colour).quality, read_header_3(colour).grey) == (24, False)
    assert parse_header(grey)["quality"] == 24 and parse_header(grey)["grey"]  # the second decoder, from the docs
    with pytest.raises(AelibError, match="quality 128"):
        pack_file_3("01234567", KIND_HYPERPRIOR, 30, 40, MAX_QUALITY_3 + 1, payload)
