"""The mean–scale hyperprior codec (.aec version 3): golden files, a second decoder, machines that sum differently.

``tests/expected/hyper_tiny.keras`` is a tiny exported network whose latents were scaled up so that
the coder has work to do (and escapes to write); beside it, ``hyper_*.aec`` files of three images
and ``hyper_facts.json`` with the sha256 of their symbols. Symbols are integer all the way and must
never change; decoded pixels go through the float synthesis and may differ by one level between
machines. If the format changes on purpose, bump the version and regenerate:

    AELIB_REGENERATE_GOLDEN=1 python -m pytest tests/test_hyper_codec.py
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from reference_decoder import ReferenceModel, decode_symbols, hyper_synthesis

from aelib.codec import hyper
from aelib.codec.format import HEADER_3, read_header_3
from aelib.data import embedded_crops
from aelib.errors import AelibError, FormatError
from aelib.nn.hyperprior import build_hyperprior, parts
from aelib.nn.layers import DepthToSpace

EXPECTED = Path(__file__).resolve().parent / "expected"
MODEL = EXPECTED / "hyper_tiny.keras"
FACTS = EXPECTED / "hyper_facts.json"
REGENERATE = os.environ.get("AELIB_REGENERATE_GOLDEN") == "1"
GOLDEN_CASES = {"face": (64, 64, 0), "odd": (40, 57, 8), "wide": (70, 130, 4)}
"""name: (height, width, quality) of each golden file."""


def tiny_network(seed: int = 11, latent_gain: float = 6.0) -> keras.Model:
    """A tiny network with latents and hyper-latents spread over many symbols."""
    keras.utils.set_random_seed(seed)
    network = build_hyperprior(8, 12, levels=2, name="hyper_tiny")
    encoder_kernel = network.get_layer("encoder").get_layer("conv_4")
    kernel, bias = encoder_kernel.get_weights()
    encoder_kernel.set_weights([kernel * latent_gain, bias])
    hyper_kernel = network.get_layer("hyper_encoder").get_layer("hconv_3")
    kernel, bias = hyper_kernel.get_weights()
    hyper_kernel.set_weights([kernel * 3.0, bias])
    return network


def _images() -> dict[str, np.ndarray]:
    crops, _ = embedded_crops(size=160, crops_per_photo=1, seed=5)
    return {name: crops[i][:h, :w] for i, (name, (h, w, _)) in enumerate(GOLDEN_CASES.items())}


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, "<i8").tobytes()).hexdigest()


def _regenerate() -> None:
    EXPECTED.mkdir(exist_ok=True)
    codec = hyper.export_codec(tiny_network(), MODEL)
    facts = {"fingerprint": codec.fingerprint, "files": {}}
    for name, image in _images().items():
        quality = GOLDEN_CASES[name][2]
        data = hyper.encode(image, codec, quality)
        (EXPECTED / f"hyper_{name}.aec").write_bytes(data)
        Image.fromarray(image).save(EXPECTED / f"hyper_{name}.png")
        _, z, residual, _ = hyper.read_symbols([data], codec)
        Image.fromarray(hyper.decode(data, codec)).save(EXPECTED / f"hyper_{name}_decoded.png")
        facts["files"][name] = {"z_sha256": _digest(z[0]), "residual_sha256": _digest(residual[0]), "bytes": len(data)}
    FACTS.write_text(json.dumps(facts, indent=2) + "\n")


@pytest.fixture(scope="module")
def golden():
    if REGENERATE:
        _regenerate()
    return hyper.load_hyper_codec(MODEL), json.loads(FACTS.read_text())


def _reference_model(codec: hyper.HyperCodec) -> ReferenceModel:
    layers = []
    for layer in parts(codec.network)["hyper_decoder"].layers:
        if isinstance(layer, keras.layers.Conv2D):
            layers.append(("conv", *layer.get_weights()))
        elif isinstance(layer, keras.layers.ReLU):
            layers.append(("relu",))
        elif isinstance(layer, DepthToSpace):
            layers.append(("depth_to_space", layer.block))
    t = codec.tables
    return ReferenceModel(
        t.cdf.tolist(), t.sizes.tolist(), t.offsets.tolist(), codec.hyper_channels, codec.latent_channels, layers
    )


def test_the_model_is_one_file_and_loads_to_the_same_fingerprint(golden):
    codec, facts = golden
    assert codec.fingerprint == facts["fingerprint"]
    assert not list(EXPECTED.glob("hyper_tiny*.npz"))


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_the_golden_files_decode_to_their_symbols_and_pixels(golden, name):
    codec, facts = golden
    data = (EXPECTED / f"hyper_{name}.aec").read_bytes()
    header = read_header_3(data)
    assert (header.height, header.width, header.quality) == GOLDEN_CASES[name]
    _, z, residual, _ = hyper.read_symbols([data], codec)
    assert _digest(z[0]) == facts["files"][name]["z_sha256"]
    assert _digest(residual[0]) == facts["files"][name]["residual_sha256"]
    decoded = hyper.decode(data, codec).astype(int)
    expected = np.asarray(Image.open(EXPECTED / f"hyper_{name}_decoded.png")).astype(int)
    assert np.abs(decoded - expected).max() <= 1


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_encoding_a_golden_image_writes_its_symbols(golden, name):
    codec, facts = golden
    image = np.asarray(Image.open(EXPECTED / f"hyper_{name}.png"))
    _, z, residual, _ = hyper.read_symbols([hyper.encode(image, codec, GOLDEN_CASES[name][2])], codec)
    assert _digest(z[0]) == facts["files"][name]["z_sha256"]
    assert _digest(residual[0]) == facts["files"][name]["residual_sha256"]


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_a_second_decoder_written_from_the_docs_reads_the_same_symbols(golden, name):
    codec, _ = golden
    data = (EXPECTED / f"hyper_{name}.aec").read_bytes()
    header, z, residual = decode_symbols(data, _reference_model(codec))
    _, z_aelib, residual_aelib, _ = hyper.read_symbols([data], codec)
    assert header["quality"] == GOLDEN_CASES[name][2]
    assert (z == z_aelib[0]).all() and (residual == residual_aelib[0]).all()


def test_the_golden_files_hold_escapes(golden):
    """Some latents lie beyond their tables, so the golden files exercise the escape path."""
    codec, _ = golden
    data = (EXPECTED / "hyper_wide.aec").read_bytes()
    _, z, residual, _ = hyper.read_symbols([data], codec)
    _, index = hyper._hyper_parameters(codec, z)
    values, tables = hyper._stream(codec, z, residual, index)
    _, escaped = codec.tables.symbols(values, tables)
    assert escaped.sum() > 0


def test_the_integer_hyper_synthesis_is_exact_and_close_to_the_float_network(golden):
    codec, _ = golden
    z = np.random.default_rng(2).integers(-40, 40, (1, 3, 2, codec.hyper_channels))
    exact = hyper_synthesis(z[0], _reference_model(codec))
    assert (codec.hyper_synthesis(z)[0] == exact).all()
    floating = parts(codec.network)["hyper_decoder"](z.astype(np.float32)).numpy()[0]
    # Weights rounded to 2**-12 err by up to 2**-13 each, a few 1e-3 of these small kernels' weights, and the
    # errors of hundreds of terms add up: the float output is matched to within 0.5 % of its range.
    assert np.abs(exact / 2.0**24 - floating).max() <= 5e-3 * np.abs(floating).max()


def test_a_file_of_another_model_or_damaged_is_refused(golden):
    codec, _ = golden
    data = bytearray((EXPECTED / "hyper_face.aec").read_bytes())
    other = hyper.export_codec(tiny_network(seed=12))
    with pytest.raises(FormatError, match="made by model"):
        hyper.decode(bytes(data), other)
    data[HEADER_3.size + 3] ^= 0x04
    with pytest.raises(AelibError):
        hyper.decode(bytes(data), codec)


def test_every_quality_round_trips_and_rates_fall_with_quality():
    codec = hyper.export_codec(tiny_network(latent_gain=1.0))
    image = _images()["face"]
    sizes = []
    for quality in range(codec.qualities):
        data = hyper.encode(image, codec, quality)
        assert hyper.decode(data, codec).shape == image.shape
        sizes.append(len(data))
    assert len(sizes) == 9
    with pytest.raises(AelibError, match="quality"):
        hyper.encode(image, codec, codec.qualities)


def test_the_written_rate_is_the_model_estimate_within_one_percent():
    """The coder writes what the densities predict: tables, scale spacing and flush cost under 1 %."""
    codec = hyper.export_codec(tiny_network(latent_gain=3.0))
    crops, _ = embedded_crops(size=256, crops_per_photo=1, seed=8)
    images = crops[:4]
    written = np.array([8 * (len(data) - HEADER_3.size) for data in hyper.encode_batch(images, codec, 0)])
    estimate = hyper.estimated_bits(images, codec, 0)
    assert np.abs(written / estimate - 1).max() < 0.01


DECODE_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np
    from aelib.codec import hyper
    codec = hyper.load_hyper_codec(sys.argv[1])
    with np.load(sys.argv[2]) as packed:
        ends = np.cumsum(packed["lengths"])
        files = [packed["data"][end - n : end].tobytes() for end, n in zip(ends, packed["lengths"])]
    _, z, residual, mean = hyper.read_symbols(files, codec)
    images = hyper.decode_batch(files, codec)
    np.savez(sys.argv[3], z=z, residual=residual, images=images)
    """
)


@pytest.mark.slow  # two decoding processes
def test_files_decode_to_the_same_symbols_whatever_onednn_and_the_thread_count(tmp_path):
    """200 images encoded here, decoded in a process with oneDNN off on two threads and in one with oneDNN on a
    single thread, which sum in other orders: every symbol equal."""
    codec = hyper.export_codec(tiny_network(), tmp_path / "model.keras")
    crops, _ = embedded_crops(size=64, crops_per_photo=25, seed=4)
    images = crops[:200]
    files = hyper.encode_batch(images, codec, 8)
    data = np.frombuffer(b"".join(files), np.uint8)
    np.savez(tmp_path / "files.npz", data=data, lengths=[len(f) for f in files])
    (tmp_path / "decode.py").write_text(DECODE_SCRIPT)
    _, z, residual, _ = hyper.read_symbols(files, codec)
    decoded = []
    for onednn, threads in (("0", "2"), ("1", "1")):
        env = os.environ | {"TF_ENABLE_ONEDNN_OPTS": onednn, "TF_NUM_INTRAOP_THREADS": threads}
        out = tmp_path / f"decoded_{onednn}_{threads}.npz"
        subprocess.run(
            [sys.executable, str(tmp_path / "decode.py"), str(tmp_path / "model.keras"), str(tmp_path / "files.npz")]
            + [str(out)],
            check=True,
            env=env,
            timeout=300,
        )
        with np.load(out) as result:
            assert (result["z"] == z).all() and (result["residual"] == residual).all()
            decoded.append(result["images"].astype(int))
    assert len(images) == 200
    assert all(np.abs(d - decoded[0]).max() <= 1 for d in decoded)


def test_a_header_claiming_a_huge_image_is_refused_before_anything_is_allocated(golden):
    """A 27-byte file may claim 8000x8000 (under the pixel limit); the codec refuses beyond what it codes whole."""
    from aelib.codec.format import KIND_HYPERPRIOR, pack_file_3

    codec, _ = golden
    bomb = pack_file_3(codec.fingerprint, KIND_HYPERPRIOR, 8000, 8000, 0, b"\0" * 8)
    with pytest.raises(AelibError, match="codes images whole"):
        hyper.decode(bomb, codec)
    with pytest.raises(AelibError, match="codes images whole"):
        hyper.encode(np.zeros((2100, 2100, 3), np.uint8), codec, 0)


def test_truncated_and_altered_files_end_in_an_aelib_error(golden):
    """Every truncation and a sweep of single-bit flips: a clean refusal or, rarely, other pixels — never a crash."""
    codec, _ = golden
    data = (EXPECTED / "hyper_wide.aec").read_bytes()
    for end in range(len(data)):
        with pytest.raises(AelibError):
            hyper.decode(data[:end], codec)
    rng = np.random.default_rng(0)
    for position in rng.integers(0, len(data), 200):
        altered = bytearray(data)
        altered[position] ^= 1 << int(rng.integers(0, 8))
        try:
            hyper.decode(bytes(altered), codec)
        except AelibError:
            pass


def test_a_grey_image_is_coded_as_its_rgb_repetition_and_decodes_to_one_channel():
    codec = hyper.load_hyper_codec(MODEL)
    grey = _images()["odd"].mean(axis=-1).astype(np.uint8)
    data = hyper.encode(grey, codec, 8)
    as_colour = hyper.encode(np.repeat(grey[..., None], 3, axis=-1), codec, 8)
    assert data[HEADER_3.size :] == as_colour[HEADER_3.size :] and data[14] == as_colour[14] | 0x80
    decoded = hyper.decode(data, codec)
    assert decoded.shape == grey.shape and decoded.dtype == np.uint8
    colour = hyper.decode(as_colour, codec).astype(np.float64)
    assert np.array_equal(decoded, np.rint(colour.mean(axis=-1)).astype(np.uint8))
