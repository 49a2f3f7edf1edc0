"""The real codec: quantised latents, entropy coding and the ``.aec`` file format.

An image is padded (reflect) to a multiple of the model's downsampling factor,
encoded, its latents rounded and clipped (:func:`aelib.entropy.quantize`) and
range-coded with the model's per-channel tables. Decoding reverses each step
and crops back to the original size.

``.aec`` format, version 1 (all integers big-endian)::

    offset  size  field
    0       4     magic b"\\x89AEC"
    4       1     format version (1)
    5       8     model fingerprint: first 8 bytes of sha256(weights ‖ tables)
    13      2     original height H (1 … 16384)
    15      2     original width W (1 … 16384)
    17      2     latent height h
    19      2     latent width w
    21      2     latent channels C
    23      4     payload length in bytes
    27      4     CRC32 of the payload
    31      …     payload: the range coder's 32-bit words, little-endian

A reader checks every field before it allocates or decodes anything: the
magic, the version, the fingerprint against the model in hand, the sizes
against the cap and against what the model would produce for H x W, the
payload length against the bytes present, and the CRC.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from aelib.config import ENTROPY_SUFFIX
from aelib.entropy import (
    EntropyModel,
    decode_symbols,
    encode_symbols,
    fit_entropy_model,
    load_entropy_model,
    quantize,
    save_entropy_model,
)
from aelib.errors import AelibError
from aelib.models import decoder_of, downsampling_factor_of, encoder_of, load_model, save_model
from aelib.outputs import atomic_output

MAGIC = b"\x89AEC"
FORMAT_VERSION = 1
MAX_SIDE = 16384
HEADER = struct.Struct(">4sB8sHHHHHII")
FINGERPRINT_BYTES = 8


@dataclass(frozen=True)
class CodecModel:
    """An autoencoder with its entropy tables: everything needed to write and read ``.aec`` files.

    Attributes:
        autoencoder: a model from :func:`aelib.models.build_autoencoder`.
        entropy: per-channel integer frequency tables of its quantised latents.
        fingerprint: hex of the first 8 bytes of sha256(weights ‖ tables).
    """

    autoencoder: keras.Model
    entropy: EntropyModel
    fingerprint: str

    @property
    def factor(self) -> int:
        return downsampling_factor_of(self.autoencoder)


@dataclass(frozen=True)
class Header:
    """The fixed fields of an ``.aec`` file."""

    version: int
    fingerprint: str
    height: int
    width: int
    latent_shape: tuple[int, int, int]
    payload_length: int
    crc32: int


def model_fingerprint(autoencoder: keras.Model, entropy: EntropyModel) -> str:
    """First 8 bytes (hex) of sha256 over every weight, in order, and the entropy tables."""
    digest = hashlib.sha256()
    for weight in autoencoder.weights:
        digest.update(np.ascontiguousarray(weight.numpy(), dtype="<f4").tobytes())
    digest.update(entropy.table_bytes())
    return digest.hexdigest()[: 2 * FINGERPRINT_BYTES]


def make_codec_model(autoencoder: keras.Model, training_images: np.ndarray, batch_size: int = 64) -> CodecModel:
    """Fits the entropy tables to the latents of training_images (uint8) and bundles them with the model."""
    encoder = encoder_of(autoencoder)
    latents = np.concatenate(
        [
            encoder(training_images[i : i + batch_size].astype(np.float32) / 255.0, training=False).numpy()
            for i in range(0, len(training_images), batch_size)
        ]
    )
    entropy = fit_entropy_model(latents)
    return CodecModel(autoencoder, entropy, model_fingerprint(autoencoder, entropy))


def entropy_path(model_path: str | Path) -> Path:
    """Where the entropy tables of a ``.keras`` model are kept: beside it, ``NAME.entropy.npz``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ENTROPY_SUFFIX)


def save_codec_model(codec: CodecModel, model_path: str | Path) -> None:
    """Writes the ``.keras`` model and its ``.entropy.npz`` tables, each atomically."""
    save_model(codec.autoencoder, model_path)
    with atomic_output(entropy_path(model_path)) as temporary:
        np.savez(temporary, **save_entropy_model(codec.entropy, codec.fingerprint))


def read_fingerprint(model_path: str | Path) -> str | None:
    """The fingerprint recorded beside a model, without loading TensorFlow; None if there is none."""
    try:
        with np.load(entropy_path(model_path)) as arrays:
            return str(arrays["fingerprint"])
    except (OSError, KeyError, ValueError):
        return None


def load_codec_model(model_path: str | Path) -> CodecModel:
    """Loads a ``.keras`` model and its tables, and checks that they belong together.

    Raises:
        AelibError: either file is missing or not ours, or the fingerprint does not match.
    """
    autoencoder = load_model(model_path)
    tables = entropy_path(model_path)
    if not tables.is_file():
        raise AelibError(f"{model_path} has no entropy tables ({tables.name} beside it); it cannot write .aec files")
    try:
        with np.load(tables) as arrays:
            entropy, recorded = load_entropy_model(arrays)
    except (OSError, ValueError) as error:
        raise AelibError(f"cannot read entropy tables {tables} ({error})") from None
    actual = model_fingerprint(autoencoder, entropy)
    if actual != recorded:
        raise AelibError(f"{tables} records fingerprint {recorded} but the model and tables hash to {actual}")
    return CodecModel(autoencoder, entropy, actual)


def _validate_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise AelibError(f"expected an (H, W, 3) uint8 RGB image, got {getattr(image, 'shape', type(image))}")
    if not (1 <= image.shape[0] <= MAX_SIDE and 1 <= image.shape[1] <= MAX_SIDE):
        raise AelibError(f"image is {image.shape[0]}x{image.shape[1]}; sides must be 1 … {MAX_SIDE}")


def _pad(image: np.ndarray, factor: int) -> np.ndarray:
    """Pads bottom and right to multiples of factor by reflection (edge repetition for 1-pixel sides)."""
    pad_h, pad_w = -image.shape[0] % factor, -image.shape[1] % factor
    mode = "reflect" if min(image.shape[:2]) > 1 else "edge"
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)


def latent_shape_for(codec: CodecModel, height: int, width: int) -> tuple[int, int, int]:
    """The latent shape the model produces for an H x W image."""
    factor = codec.factor
    return (-(-height // factor), -(-width // factor), codec.entropy.channels)


def _encode_padded(padded: np.ndarray, codec: CodecModel) -> np.ndarray:
    """Integer latents (N, h, w, C) of padded uint8 images (N, H, W, 3), in one encoder call."""
    latents = encoder_of(codec.autoencoder)(padded.astype(np.float32) / 255.0, training=False).numpy()
    return quantize(latents, codec.entropy)


def _decode_cropped(symbols: np.ndarray, codec: CodecModel, height: int, width: int) -> np.ndarray:
    """uint8 images (N, height, width, 3) from integer latents (N, h, w, C), in one decoder call."""
    output = decoder_of(codec.autoencoder)(symbols.astype(np.float32), training=False).numpy()
    return np.clip(np.rint(output[:, :height, :width] * 255.0), 0, 255).astype(np.uint8)


def quantized_latents(image: np.ndarray, codec: CodecModel) -> np.ndarray:
    """The integer latents (h, w, C) that :func:`encode` writes for image."""
    _validate_image(image)
    return _encode_padded(_pad(image, codec.factor)[None], codec)[0]


def decode_latents(symbols: np.ndarray, codec: CodecModel, height: int, width: int) -> np.ndarray:
    """Runs the decoder on integer latents and crops to H x W, as uint8."""
    return _decode_cropped(symbols[None], codec, height, width)[0]


def _pack(symbols: np.ndarray, height: int, width: int, codec: CodecModel) -> bytes:
    """Entropy-codes integer latents and prefixes the header: the bytes of an ``.aec`` file."""
    payload = encode_symbols(symbols, codec.entropy)
    header = HEADER.pack(
        MAGIC,
        FORMAT_VERSION,
        bytes.fromhex(codec.fingerprint),
        height,
        width,
        *symbols.shape,
        len(payload),
        zlib.crc32(payload),
    )
    return header + payload


def encode(image: np.ndarray, codec: CodecModel) -> bytes:
    """Compresses an (H, W, 3) uint8 image into the bytes of an ``.aec`` file."""
    return _pack(quantized_latents(image, codec), image.shape[0], image.shape[1], codec)


def encode_batch(images: np.ndarray, codec: CodecModel, batch_size: int = 64) -> list[bytes]:
    """Compresses equal-sized images with one encoder call per batch; one ``.aec`` file's bytes per image.

    Each file is what :func:`encode` writes for that image, up to the rare
    latent that the batched convolution rounds the other way.
    """
    for image in images:
        _validate_image(image)
    files = []
    for start in range(0, len(images), batch_size):
        batch = np.stack([_pad(image, codec.factor) for image in images[start : start + batch_size]])
        files += [_pack(symbols, images.shape[1], images.shape[2], codec) for symbols in _encode_padded(batch, codec)]
    return files


def read_header(data: bytes) -> Header:
    """Parses and sanity-checks the header of ``.aec`` bytes (no model needed).

    Raises:
        AelibError: empty, truncated, not an ``.aec`` file, unknown version, or absurd sizes.
    """
    if len(data) == 0:
        raise AelibError("empty file")
    if len(data) < HEADER.size:
        raise AelibError(f"truncated: {len(data)} bytes, the header alone has {HEADER.size}")
    magic, version, fingerprint, height, width, lh, lw, lc, length, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise AelibError("not an .aec file (wrong magic bytes)")
    if version != FORMAT_VERSION:
        raise AelibError(f"unknown .aec format version {version}; this aelib reads version {FORMAT_VERSION}")
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        raise AelibError(f"header claims a {height}x{width} image; sides must be 1 … {MAX_SIDE}")
    if not (1 <= lh <= MAX_SIDE and 1 <= lw <= MAX_SIDE and 1 <= lc):
        raise AelibError(f"header claims an absurd latent shape {lh}x{lw}x{lc}")
    return Header(version, fingerprint.hex(), height, width, (lh, lw, lc), length, crc)


def _unpack(data: bytes, codec: CodecModel) -> tuple[Header, np.ndarray]:
    """Checks ``.aec`` bytes against codec and decodes the entropy-coded latents."""
    header = read_header(data)
    if header.fingerprint != codec.fingerprint:
        raise AelibError(f"file was made by model {header.fingerprint}; the model given is {codec.fingerprint}")
    expected = latent_shape_for(codec, header.height, header.width)
    if header.latent_shape != expected:
        raise AelibError(
            f"header's latent shape {header.latent_shape} does not fit a {header.height}x{header.width} image ({expected})"
        )
    payload = data[HEADER.size :]
    if len(payload) != header.payload_length:
        raise AelibError(
            f"payload is {len(payload)} bytes, the header says {header.payload_length} (truncated or extended file)"
        )
    if zlib.crc32(payload) != header.crc32:
        raise AelibError("CRC32 mismatch: the payload is corrupt")
    return header, decode_symbols(payload, header.latent_shape, codec.entropy)


def decode(data: bytes, codec: CodecModel) -> np.ndarray:
    """Decompresses ``.aec`` bytes into an (H, W, 3) uint8 image.

    Raises:
        AelibError: for any file that is not a valid ``.aec`` of this model, with the reason.
    """
    header, symbols = _unpack(data, codec)
    return decode_latents(symbols, codec, header.height, header.width)


def decode_batch(files: list[bytes], codec: CodecModel, batch_size: int = 64) -> np.ndarray:
    """Decompresses ``.aec`` files of equal-sized images with one decoder call per batch.

    Returns:
        (N, H, W, 3) uint8 images, as :func:`decode` gives up to float rounding in the batched decoder.

    Raises:
        AelibError: a file is not a valid ``.aec`` of this model, or the images differ in size.
    """
    unpacked = [_unpack(data, codec) for data in files]
    sizes = {(header.height, header.width) for header, _ in unpacked}
    if len(sizes) > 1:
        raise AelibError(f"decode_batch needs images of one size, got {sorted(sizes)}")
    height, width = sizes.pop()
    images = []
    for start in range(0, len(unpacked), batch_size):
        symbols = np.stack([symbols for _, symbols in unpacked[start : start + batch_size]])
        images.append(_decode_cropped(symbols, codec, height, width))
    return np.concatenate(images)
