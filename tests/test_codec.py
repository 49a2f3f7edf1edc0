import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aelib.codec.codec import (
    decode,
    decode_batch,
    decode_latents,
    encode,
    encode_batch,
    entropy_path,
    load_codec_model,
    make_codec_model,
    quantized_latents,
    save_codec_model,
)
from aelib.codec.entropy import decode_symbols
from aelib.codec.format import HEADER, MAGIC, read_header
from aelib.errors import AelibError
from aelib.nn.models import build_autoencoder


def test_decoded_image_is_the_decoders_output_on_the_quantised_latents(codec, images):
    data = encode(images[0], codec)
    symbols = quantized_latents(images[0], codec)
    payload = data[HEADER.size :]
    np.testing.assert_array_equal(decode_symbols(payload, symbols.shape, codec.entropy), symbols)
    np.testing.assert_array_equal(decode(data, codec), decode_latents(symbols, codec, 32, 32))


def test_header_records_what_was_encoded(codec, images):
    data = encode(images[1], codec)
    header = read_header(data)
    assert data[:4] == MAGIC
    assert (header.height, header.width) == (32, 32)
    assert header.latent_shape == (4, 4, 32)
    assert header.fingerprint == codec.fingerprint
    assert header.payload_length == len(data) - HEADER.size
    assert header.crc32 == zlib.crc32(data[: HEADER.size - 4] + data[HEADER.size :])


@pytest.mark.parametrize("height, width", [(1, 1), (7, 13), (33, 8), (40, 65)])
def test_any_image_size_is_padded_and_cropped_back(codec, height, width):
    image = np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    decoded = decode(encode(image, codec), codec)
    assert decoded.shape == (height, width, 3) and decoded.dtype == np.uint8


@pytest.mark.slow
def test_encoding_is_deterministic_across_processes(codec, saved, images, tmp_path):
    first, second = encode(images[2], codec), encode(images[2], codec)
    assert first == second
    np.save(tmp_path / "image.npy", images[2])
    script = (
        "import sys, numpy as np; from aelib.codec.codec import load_codec_model, encode;"
        f"sys.stdout.buffer.write(encode(np.load(r'{tmp_path / 'image.npy'}'), load_codec_model(r'{saved}')))"
    )
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True, timeout=120).stdout
    assert fresh == first


def test_saved_model_reloads_with_the_same_fingerprint(codec, saved, images):
    loaded = load_codec_model(saved)
    assert loaded.fingerprint == codec.fingerprint
    assert decode(encode(images[3], codec), loaded).shape == (32, 32, 3)


def test_tables_that_do_not_belong_to_the_model_are_refused(codec, saved, tmp_path, images):
    other = make_codec_model(build_autoencoder(3), images)
    stranger = tmp_path / "stranger.keras"
    save_codec_model(other, stranger)
    entropy_path(stranger).write_bytes(entropy_path(saved).read_bytes())
    with pytest.raises(AelibError, match="records fingerprint"):
        load_codec_model(stranger)
    entropy_path(stranger).unlink()
    with pytest.raises(AelibError, match="no entropy tables"):
        load_codec_model(stranger)


def _set(data: bytes, offset: int, fmt: str, value) -> bytes:
    return data[:offset] + struct.pack(fmt, value) + data[offset + struct.calcsize(fmt) :]


def reseal(data: bytes, length: int | None = None) -> bytes:
    """data with its payload length (or length) and its checksum recomputed: a forged, not a damaged, file."""
    payload = data[HEADER.size :]
    data = _set(data, 23, ">I", len(payload) if length is None else length)
    return _set(data, 27, ">I", zlib.crc32(payload, zlib.crc32(data[: HEADER.size - 4])))


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda d: b"", "empty file"),
        (lambda d: d[:20], "truncated"),
        (lambda d: b"GIF89a" + d[6:], "wrong magic"),
        (lambda d: _set(d, 4, ">B", 9), "unknown .aec format version 9"),
        (lambda d: _set(d, 4, ">B", 1), "format version 1 \\(an earlier aelib\\)"),
        (lambda d: _set(d, 13, ">H", 31), "CRC32 mismatch"),
        (lambda d: _set(d, 23, ">I", 2**32 - 1), "header says"),
        (lambda d: d[:-4], "truncated or extended"),
        (lambda d: d + b"\0\0\0\0", "truncated or extended"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 0x40]), "CRC32 mismatch"),
        (lambda d: reseal(_set(d, 13, ">H", 0)), "sides must be 1"),
        (lambda d: reseal(_set(d, 13, ">H", 40000)), "sides must be 1"),
        (
            lambda d: reseal(_set(_set(d, 13, ">H", 16384), 15, ">H", 16384)),
            "268,435,456 pixels; the limit is 150,000,000",
        ),
        (lambda d: reseal(_set(d, 17, ">H", 0)), "absurd latent shape"),
        (lambda d: reseal(_set(d, 17, ">H", 9)), "does not fit"),
        (lambda d: reseal(d[:-4]), "payload"),
        (lambda d: reseal(d + b"\0\0\0\0"), "payload"),
        (lambda d: reseal(d[: HEADER.size]), "cannot hold"),
        (lambda d: reseal(d[:-1] + bytes([d[-1] ^ 0x40])), "payload"),
    ],
)
def test_bad_files_give_one_clear_error(codec, images, corrupt, message):
    with pytest.raises(AelibError, match=message):
        decode(corrupt(encode(images[0], codec)), codec)


def test_a_header_claiming_a_huge_image_with_no_payload_is_refused_before_allocating(codec, images):
    """The 31-byte attack of issue 14, within the pixel limit: the payload bounds refuse it at once."""
    data = reseal(_set(_set(encode(images[0], codec), 13, ">H", 12000), 15, ">H", 12000)[: HEADER.size])
    data = _set(_set(_set(data, 17, ">H", 1500), 19, ">H", 1500), 21, ">H", 32)
    with pytest.raises(AelibError, match="cannot hold 1500x1500x32 latents"):
        decode(reseal(data), codec)


def test_the_pixel_limit_can_be_lowered(codec, images):
    data = encode(images[0], codec)
    with pytest.raises(AelibError, match="the limit is 1,000"):
        decode(data, codec, max_pixels=1000)
    assert decode(data, codec, max_pixels=1024).shape == (32, 32, 3)


def test_a_file_of_another_model_names_the_fingerprint_it_wants(codec, images):
    other = make_codec_model(build_autoencoder(3), images)
    with pytest.raises(AelibError, match=f"made by model {other.fingerprint}; the model given is {codec.fingerprint}"):
        decode(encode(images[0], other), codec)


def test_non_images_are_refused_before_encoding(codec):
    with pytest.raises(AelibError, match="uint8 RGB image"):
        encode(np.zeros((8, 8), np.uint8), codec)
    with pytest.raises(AelibError, match="sides must be 1"):
        encode(np.zeros((0, 8, 3), np.uint8), codec)


@st.composite
def damaged(draw, valid: bytes):
    data = bytearray(valid)
    for _ in range(draw(st.integers(0, 4))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    kind = draw(st.sampled_from(["keep", "truncate", "extend"]))
    if kind == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif kind == "extend":
        data += draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


def decodes_or_fails_in_one_line(data: bytes, codec) -> str:
    """ "image" if data decodes to an image of its header's size, "error" if it fails with one line."""
    try:
        image = decode(data, codec)
    except AelibError as error:
        assert str(error) and "\n" not in str(error)
        return "error"
    header = read_header(data)
    assert image.shape == (header.height, header.width, 3) and image.dtype == np.uint8
    return "image"


@pytest.mark.slow
def test_fuzzed_files_decode_to_an_image_or_fail_clearly(codec, images):
    valid = encode(images[5], codec)
    outcomes = {"image": 0, "error": 0}

    @settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(damaged(valid))
    def check(data):
        outcomes[decodes_or_fails_in_one_line(data, codec)] += 1

    check()
    assert sum(outcomes.values()) >= 2000 and outcomes["image"] > 0 and outcomes["error"] > 0


FORGED_EXAMPLES = 4000
"""Forged files per run, beside the 2,000 damaged ones above: over 5,000 in all."""


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


@pytest.mark.slow
def test_forged_files_decode_to_their_stated_size_or_fail_in_one_line(codec, images):
    valid = encode(images[6], codec)
    outcomes = {"image": 0, "error": 0}

    @settings(max_examples=FORGED_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(forged(valid))
    def check(data):
        outcomes[decodes_or_fails_in_one_line(data, codec)] += 1

    check()
    assert sum(outcomes.values()) >= FORGED_EXAMPLES and outcomes["error"] > 0


def test_the_codec_is_in_the_flat_namespace(codec, images):
    import aelib

    assert aelib.decode(aelib.encode(images[4], codec), codec).shape == (32, 32, 3)
    assert aelib.encode is encode and aelib.load_codec_model is load_codec_model
    with pytest.raises(AttributeError):
        aelib.no_such_function


def test_batched_coding_writes_valid_files_that_match_one_at_a_time(codec, images):
    batch = images[:10]
    files = encode_batch(batch, codec, batch_size=4)
    single = [encode(image, codec) for image in batch]
    assert sum(a == b for a, b in zip(files, single)) >= 9  # a batched convolution may round one latent the other way
    decoded = decode_batch(files, codec, batch_size=3)
    for data, image in zip(files, decoded):
        difference = np.abs(image.astype(int) - decode(data, codec).astype(int))
        assert difference.max() <= 1 and (difference == 0).mean() > 0.99


def test_batched_decoding_refuses_mixed_sizes(codec, images):
    files = [encode(images[0], codec), encode(images[0][:16], codec)]
    with pytest.raises(AelibError, match="one size"):
        decode_batch(files, codec)


@pytest.mark.parametrize("height, width", [(64, 80), (57, 43)])
def test_large_images_are_coded_in_tiles_as_the_whole_image_would_be(codec, monkeypatch, height, width):
    """With 16-pixel tiles, a 64x80 image is 20 tiles; each tile's margin hides the seams."""
    import aelib.codec.codec

    image = np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    whole_symbols = quantized_latents(image, codec)
    whole_image = decode_latents(whole_symbols, codec, height, width)
    monkeypatch.setattr(aelib.codec.codec, "TILE_SIDE", 16)
    bars = []
    monkeypatch.setattr(
        aelib.codec.codec, "progress_bar", lambda items, total, text, unit: bars.append((text, total)) or items
    )
    tiled_symbols = quantized_latents(image, codec)
    assert (tiled_symbols == whole_symbols).mean() > 0.99
    tiled_image = decode_latents(whole_symbols, codec, height, width)
    assert tiled_image.shape == (height, width, 3)
    assert np.abs(tiled_image.astype(int) - whole_image.astype(int)).max() <= 1
    assert decode(encode(image, codec), codec).shape == (height, width, 3)
    tiles = -(-height // 16) * -(-width // 16)  # the bar counts every tile, where a person sees it move
    assert bars[:2] == [("encoding tiles", tiles), ("decoding tiles", tiles)]


def test_the_tile_margin_covers_each_networks_receptive_field(codec):
    from aelib.codec.codec import CodecModel, tile_margin
    from aelib.nn.models import build_gdn_autoencoder

    assert tile_margin(codec) == 4  # 3 decoder layers of 3x3 see 3 latents; encoder 1+2+4 = 7 px < 1 latent
    deep = CodecModel(build_autoencoder(10), codec.entropy, "")
    assert tile_margin(deep) == 11  # 10 decoder layers; encoder 7 + 7·8 = 63 px = 8 latents
    gdn = CodecModel(build_gdn_autoencoder(8, 4), codec.entropy, "")
    assert tile_margin(gdn) == 9  # 4 decoder layers of 5x5 see 8 latents


def test_a_quantisation_step_divides_the_latents_before_rounding_and_survives_saving(codec, images, tmp_path):
    from aelib.codec.codec import codec_from_latents, encoder_latents, model_fingerprint
    from aelib.nn.models import encoder_of

    latents = encoder_latents(codec.autoencoder, images)
    same = codec_from_latents(codec.autoencoder, latents, 1.0)
    assert same.fingerprint == codec.fingerprint == model_fingerprint(codec.autoencoder, codec.entropy)

    coarse = codec_from_latents(codec.autoencoder, latents, 4.0)
    assert coarse.step == 4.0 and coarse.fingerprint != codec.fingerprint
    image = images[0]
    expected = np.rint(encoder_of(codec.autoencoder)(image[None].astype(np.float32) / 255.0).numpy()[0] / 4.0)
    low, high = coarse.entropy.minimum, coarse.entropy.minimum + coarse.entropy.sizes - 1
    assert np.array_equal(quantized_latents(image, coarse), np.clip(expected, low, high))
    assert len(encode(image, coarse)) < len(encode(image, codec))  # fewer symbols, fewer bits
    # The decoder sees the symbols times the step: the coarse file decodes to the latents' coarse version.
    symbols = quantized_latents(image, coarse)
    assert np.array_equal(decode(encode(image, coarse), coarse), decode_latents(symbols * 4, codec, *image.shape[:2]))

    path = tmp_path / "stepped.keras"
    save_codec_model(coarse, path)
    loaded = load_codec_model(path)
    assert (loaded.step, loaded.fingerprint) == (4.0, coarse.fingerprint)
    assert decode(encode(image, coarse), loaded).shape == image.shape
    with pytest.raises(AelibError, match="positive"):
        codec_from_latents(codec.autoencoder, latents, 0.0)
