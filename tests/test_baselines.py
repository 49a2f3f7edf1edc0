import io

import numpy as np
import pytest
from PIL import Image

from aelib.errors import AelibError
from aelib.experiments.table1 import jpeg_rows
from aelib.measure.baselines import (
    CODECS,
    available_codecs,
    encode_with_codec,
    header_bytes,
    match_jpeg_quality,
    match_quality,
    mean_ssim_at,
)
from aelib.measure.metrics import psnr


def _pillow_jpeg(image: np.ndarray, quality: int, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, **options)
    return buffer.getvalue()


def test_jpeg_is_pillows_encoding_with_optimised_huffman_tables(photos):
    result = encode_with_codec(photos[0], "jpeg", 75)
    assert result.data == _pillow_jpeg(photos[0], 75, optimize=True, subsampling=2)
    assert result.data[:2] == b"\xff\xd8"
    np.testing.assert_array_equal(result.decoded, np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB")))
    assert result.encode_seconds > 0 and result.decode_seconds > 0


def test_optimised_tables_keep_every_pixel_and_save_bytes_on_a_small_image(photos):
    plain = _pillow_jpeg(photos[0], 5)
    optimised = encode_with_codec(photos[0], "jpeg", 5)
    np.testing.assert_array_equal(optimised.decoded, np.asarray(Image.open(io.BytesIO(plain)).convert("RGB")))
    assert len(optimised.data) < 0.7 * len(plain)


def _jpeg_scan_start(data: bytes) -> int:
    """Offset of the first entropy-coded byte: after the start-of-scan marker's segment."""
    position = 2
    while data[position : position + 2] != b"\xff\xda":
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")


def test_header_bytes_are_what_a_jpeg_spends_before_its_scan():
    grey = np.full((8, 8, 3), 128, np.uint8)
    data = encode_with_codec(grey, "jpeg", CODECS["jpeg"].sweep[len(CODECS["jpeg"].sweep) // 2]).data
    assert header_bytes("jpeg") == len(data)
    assert 0 <= len(data) - _jpeg_scan_start(data) <= 12  # a flat block and the end marker


@pytest.mark.parametrize("codec", list(CODECS))
def test_every_codec_round_trips_and_spends_more_bytes_for_more_quality(photos, codec):
    if codec not in available_codecs():
        pytest.skip(f"{codec} is not installed here")
    sweep = CODECS[codec].sweep
    worse, better = encode_with_codec(photos[1], codec, sweep[2]), encode_with_codec(photos[1], codec, sweep[-1])
    assert worse.decoded.shape == photos[1].shape and worse.decoded.dtype == np.uint8
    assert len(worse.data) < len(better.data)
    assert psnr(photos[1], worse.decoded) < psnr(photos[1], better.decoded)
    assert psnr(photos[1], better.decoded) > 30
    assert 0 < header_bytes(codec) < 1000


def test_each_file_is_the_format_it_claims(photos):
    expected = {
        "jpeg": b"\xff\xd8\xff",
        "mozjpeg": b"\xff\xd8\xff",
        "jpegxl": b"\xff\x0a",
        "jpeg2000": b"\x00\x00\x00\x0cjP",
    }
    for codec, magic in expected.items():
        assert encode_with_codec(photos[0], codec, 50).data.startswith(magic), codec
    assert encode_with_codec(photos[0], "webp", 50).data[8:12] == b"WEBP"
    assert encode_with_codec(photos[0], "avif", 50).data[4:12] == b"ftypavif"
    assert encode_with_codec(photos[0], "hevc", 50).data[4:12] == b"ftypheic"
    with Image.open(io.BytesIO(encode_with_codec(photos[0], "mozjpeg", 50).data)) as moz:
        assert moz.info.get("progressive") or moz.info.get("progression")  # MozJPEG's default scans


def test_every_codec_says_which_library_and_options_it_runs():
    for codec in CODECS.values():
        text = codec.describe()
        assert codec.name in text and codec.options in text and "through" in text
    assert "optimised Huffman" in CODECS["jpeg"].describe() and "speed 4" in CODECS["avif"].describe()


def test_jpeg_ratio_equals_the_one_computed_from_its_bytes(photos):
    (row,) = jpeg_rows(photos[:1], ("a",), 50, "JPEG q50")
    size = len(encode_with_codec(photos[0], "jpeg", 50).data)
    assert row["bytes"] == size
    assert row["compression_ratio"] == pytest.approx(64 * 64 * 3 / size)
    assert row["bits_per_pixel"] == pytest.approx(8 * size / (64 * 64))


def test_unknown_codec_is_a_clear_error(photos):
    with pytest.raises(AelibError, match="unknown codec"):
        encode_with_codec(photos[0], "gif", 50)


def test_matched_quality_is_the_closest_of_all_qualities(photos):
    images = photos[:2]
    target = 0.9
    by_quality = {q: mean_ssim_at(images, "jpeg", q) for q in range(1, 101)}
    best_gap = min(abs(s - target) for s in by_quality.values())
    matched = match_jpeg_quality(images, target)
    assert abs(by_quality[matched] - target) == pytest.approx(best_gap, abs=0.01)
    assert match_jpeg_quality(images, 1.5) == 100
    assert match_quality(images, 1.5, "jpeg2000") == CODECS["jpeg2000"].quality_range[1]


def test_jpeg_444_keeps_full_chroma_and_jpeg_subsamples_it(photos):
    def sampling(data: bytes) -> tuple:
        with Image.open(io.BytesIO(data)) as image:
            return image.layer  # (id, h-sampling, v-sampling, table) per component

    full = encode_with_codec(photos[0], "jpeg444", 75).data
    subsampled = encode_with_codec(photos[0], "jpeg", 75).data
    assert [layer[1:3] for layer in sampling(full)] == [(1, 1)] * 3
    assert [layer[1:3] for layer in sampling(subsampled)] == [(2, 2), (1, 1), (1, 1)]
    assert len(full) > len(subsampled)


def test_mozjpeg_from_threads_is_mozjpeg_every_time(photos, monkeypatch):
    """jpeglib picks its library globally; a thread leaving its `with jpeglib.version(...)` used to put another
    thread's write on libjpeg 6b (a reproduction caught a 744-byte MozJPEG face coming back as 1,315 bytes)."""
    import itertools
    import time
    from concurrent.futures import ThreadPoolExecutor

    import jpeglib

    serial = [encode_with_codec(image, "mozjpeg", 5).data for image in photos[:4]]
    from_spatial, calls = jpeglib.from_spatial, itertools.count()

    def slow_from_spatial(*args, **kwargs):
        time.sleep(0.03 * (next(calls) % 2))  # every other write waits while the one beside it leaves its `with`
        return from_spatial(*args, **kwargs)

    monkeypatch.setattr(jpeglib, "from_spatial", slow_from_spatial)
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda image: encode_with_codec(image, "mozjpeg", 5).data, list(photos[:4]) * 3))
    assert threaded == serial * 3
