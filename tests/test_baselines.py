import io

import numpy as np
import pytest
from PIL import Image

from aelib.baselines import available_codecs, encode_with_codec, match_jpeg_quality, mean_ssim_at
from aelib.errors import AelibError
from aelib.evaluate import jpeg_rows
from aelib.metrics import ssim


def test_jpeg_result_is_pillows_own_encoding(photos):
    result = encode_with_codec(photos[0], "jpeg", 75)
    buffer = io.BytesIO()
    Image.fromarray(photos[0]).save(buffer, format="JPEG", quality=75)
    assert result.data == buffer.getvalue()
    assert result.data[:2] == b"\xff\xd8"
    np.testing.assert_array_equal(result.decoded, np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB")))
    assert result.encode_seconds > 0 and result.decode_seconds > 0


def test_jpeg_ratio_equals_the_one_computed_from_its_bytes(photos):
    (row,) = jpeg_rows(photos[:1], ("a",), 50, "JPEG q50")
    size = len(encode_with_codec(photos[0], "jpeg", 50).data)
    assert row["bytes"] == size
    assert row["compression_ratio"] == pytest.approx(64 * 64 * 3 / size)
    assert row["bits_per_pixel"] == pytest.approx(8 * size / (64 * 64))


@pytest.mark.parametrize("codec", ["jpeg", "webp", "avif", "jpeg2000"])
def test_every_codec_round_trips(photos, codec):
    if codec not in available_codecs():
        pytest.skip(f"this Pillow build cannot write {codec}")
    low, high = (30, 40) if codec == "jpeg2000" else (20, 90)
    worse, better = encode_with_codec(photos[1], codec, low), encode_with_codec(photos[1], codec, high)
    assert worse.decoded.shape == photos[1].shape
    assert len(worse.data) < len(better.data)
    assert ssim(photos[1], worse.decoded) < ssim(photos[1], better.decoded)


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


def test_jpeg_444_keeps_full_chroma_and_jpeg_subsamples_it(photos):
    def sampling(data: bytes) -> tuple:
        with Image.open(io.BytesIO(data)) as image:
            return image.layer  # (id, h-sampling, v-sampling, table) per component

    full = encode_with_codec(photos[0], "jpeg444", 75).data
    subsampled = encode_with_codec(photos[0], "jpeg", 75).data
    assert [layer[1:3] for layer in sampling(full)] == [(1, 1)] * 3
    assert [layer[1:3] for layer in sampling(subsampled)] == [(2, 2), (1, 1), (1, 1)]
    assert len(full) > len(subsampled)
