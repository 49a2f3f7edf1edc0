"""Golden files: what aelib wrote once must read back the same forever (CompressAI's tests/expected pattern).

``tests/expected/`` holds a tiny 1-layer model with its entropy tables, one image, the ``.aec`` file
aelib wrote for it and the sha256 of the decoded pixels. A change to padding, quantisation, range
coding, the header or the decoder that would break files already written fails here. If the change
is meant, bump ``aelib.codec.format.FORMAT_VERSION`` and regenerate on purpose:

    AELIB_REGENERATE_GOLDEN=1 python -m pytest tests/test_golden.py

The model's weights are multiples of 1/64 and its decoder is one transposed convolution, so the
decoder's sums are exact in float32 whatever the CPU's summation order: the digest does not depend
on the machine.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aelib.codec.codec import decode, encode, load_codec_model, make_codec_model, save_codec_model
from aelib.codec.format import FORMAT_VERSION, read_header
from aelib.measure.metrics import psnr

EXPECTED = Path(__file__).resolve().parent / "expected"
MODEL = EXPECTED / "tiny_1L.keras"
IMAGE = EXPECTED / "image.png"
AEC = EXPECTED / "image.aec"
FACTS = EXPECTED / "facts.json"
REGENERATE = os.environ.get("AELIB_REGENERATE_GOLDEN") == "1"
WEIGHT_STEP = 1 / 64


def _digest(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image, np.uint8).tobytes()).hexdigest()


def _regenerate() -> None:
    import keras

    from aelib.data import embedded_crops
    from aelib.nn.models import build_autoencoder
    from aelib.training.autoencoder import normalize_latent_layer

    keras.utils.set_random_seed(7)
    model = build_autoencoder(1, name="golden_1L")
    crops, _ = embedded_crops(size=32, crops_per_photo=2, seed=3)
    normalize_latent_layer(model, crops)  # latents of spread 1, so that the range coder has work to do
    model.set_weights([np.round(w / WEIGHT_STEP) * WEIGHT_STEP for w in model.get_weights()])
    codec = make_codec_model(model, crops)
    EXPECTED.mkdir(exist_ok=True)
    save_codec_model(codec, MODEL)
    image = embedded_crops(size=64, crops_per_photo=1, seed=5)[0][0][:40, :57]
    Image.fromarray(image).save(IMAGE)
    data = encode(image, codec)
    AEC.write_bytes(data)
    decoded = decode(data, codec)
    facts = {
        "format_version": FORMAT_VERSION,
        "fingerprint": codec.fingerprint,
        "decoded_sha256": _digest(decoded),
        "psnr": round(psnr(image, decoded), 4),
    }
    FACTS.write_text(json.dumps(facts, indent=2) + "\n")


@pytest.fixture(scope="module")
def golden():
    if REGENERATE:
        _regenerate()
    return load_codec_model(MODEL), np.asarray(Image.open(IMAGE)), AEC.read_bytes(), json.loads(FACTS.read_text())


def test_the_golden_file_is_of_the_current_format(golden):
    *_, data, facts = golden
    assert facts["format_version"] == FORMAT_VERSION == read_header(data).version, (
        "the .aec format changed: bump FORMAT_VERSION and regenerate tests/expected on purpose"
    )


def test_the_committed_file_decodes_to_the_committed_digest(golden):
    codec, image, data, facts = golden
    assert codec.fingerprint == facts["fingerprint"] == read_header(data).fingerprint
    decoded = decode(data, codec)
    assert decoded.shape == image.shape
    assert _digest(decoded) == facts["decoded_sha256"]


def test_encoding_the_committed_image_writes_the_committed_bytes(golden):
    codec, image, data, _ = golden
    assert encode(image, codec) == data


def test_the_round_trip_quality_is_the_recorded_one(golden):
    """A quality band, not self-equality: a decoder that returned garbage consistently would fail here."""
    codec, image, data, facts = golden
    assert psnr(image, decode(data, codec)) == pytest.approx(facts["psnr"], abs=0.01)
    assert facts["psnr"] > 10
