"""The real codec: quantised latents, entropy coding and the ``.aec`` file format.

An image is padded (reflect) to a multiple of the model's downsampling factor,
encoded, its latents rounded and clipped (:func:`aelib.codec.entropy.quantize`) and
range-coded with the model's per-channel tables. Decoding reverses each step
and crops back to the original size.

A model may divide its latents by a quantisation step Δ before rounding (and
multiply the decoded symbols by Δ): the paper's autoencoders have no rate term,
so a step is the one knob that trades their bits for quality (the ladder of
notebook 06). Its tables are fitted to the latents divided by Δ, and Δ is kept
with them (``step`` in ``.entropy.npz``); Δ = 1, plain rounding, is what every
model has unless made with another step.

Images larger than TILE_SIDE on a side go through the encoder and the decoder
in overlapping tiles (each tile carries a margin wider than the network's
receptive field, which is cut away), so memory does not grow with the image
beyond its own pixels and latents; the file is the same as a whole-image pass
would write, up to the rare latent that a different summation order rounds the
other way.

The ``.aec`` layout and its checks are in :mod:`aelib.codec.format`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from aelib.codec.entropy import (
    EntropyModel,
    decode_symbols,
    encode_symbols,
    fit_entropy_model,
    load_entropy_model,
    quantize,
    save_entropy_model,
)
from aelib.codec.format import FINGERPRINT_BYTES, HEADER, MAX_SIDE, Header, fingerprint, pack_file, read_header
from aelib.config import ENTROPY_SUFFIX, MAX_PIXELS
from aelib.errors import FormatError, InputError
from aelib.nn.models import decoder_of, downsampling_factor_of, encoder_of, load_model, save_model
from aelib.outputs import atomic_output, progress_bar

TILE_SIDE = 1024
"""Images with a (padded) side above this many pixels are coded in tiles of this side plus a margin."""


@dataclass(frozen=True)
class CodecModel:
    """An autoencoder with its entropy tables: everything needed to write and read ``.aec`` files.

    Attributes:
        autoencoder: a model from :func:`aelib.nn.models.build_autoencoder`.
        entropy: per-channel integer frequency tables of its quantised latents.
        fingerprint: hex of the first 8 bytes of sha256(weights ‖ tables ‖ step, when it is not 1).
        step: the quantisation step Δ: latents are divided by it before rounding, symbols multiplied after decoding.
    """

    autoencoder: keras.Model
    entropy: EntropyModel
    fingerprint: str
    step: float = 1.0

    @property
    def factor(self) -> int:
        return downsampling_factor_of(self.autoencoder)


def model_fingerprint(autoencoder: keras.Model, entropy: EntropyModel, step: float = 1.0) -> str:
    """First 8 bytes (hex) of sha256 over every weight, in order, the entropy tables and a step other than 1."""
    tables = entropy.table_bytes() + (b"" if step == 1.0 else np.float64(step).astype("<f8").tobytes())
    return fingerprint([w.numpy() for w in autoencoder.weights], tables, FINGERPRINT_BYTES)


def _check_step(step: float) -> float:
    if not (np.isfinite(step) and step > 0):
        raise InputError(f"the quantisation step must be a positive number, got {step!r}")
    return float(step)


def encoder_latents(autoencoder: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The encoder's float latents (N, h, w, C) of uint8 images (N, H, W, 3), batch by batch."""
    encoder = encoder_of(autoencoder)
    return np.concatenate(
        [
            encoder(images[i : i + batch_size].astype(np.float32) / 255.0, training=False).numpy()
            for i in range(0, len(images), batch_size)
        ]
    )


def codec_from_latents(autoencoder: keras.Model, training_latents: np.ndarray, step: float = 1.0) -> CodecModel:
    """The codec whose tables are fitted to training latents divided by step (one encoder pass serves every step)."""
    step = _check_step(step)
    entropy = fit_entropy_model(training_latents / np.float32(step))
    return CodecModel(autoencoder, entropy, model_fingerprint(autoencoder, entropy, step), step)


def make_codec_model(
    autoencoder: keras.Model, training_images: np.ndarray, batch_size: int = 64, step: float = 1.0
) -> CodecModel:
    """Fits the entropy tables to the latents of training_images (uint8), divided by step, and bundles them."""
    return codec_from_latents(autoencoder, encoder_latents(autoencoder, training_images, batch_size), step)


def export_factorized(
    autoencoder: keras.Model, training_images: np.ndarray, model_path: str | Path | None = None
) -> CodecModel:
    """The export step of a trained factorized model: tables fitted to training_images, saved beside the model.

    Writes ``NAME.keras`` and ``NAME.entropy.npz`` when model_path is given (``.aec`` version 2).
    """
    codec = make_codec_model(autoencoder, training_images)
    if model_path is not None:
        save_codec_model(codec, model_path)
    return codec


def entropy_path(model_path: str | Path) -> Path:
    """Where the entropy tables of a ``.keras`` model are kept: beside it, ``NAME.entropy.npz``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ENTROPY_SUFFIX)


def save_codec_model(codec: CodecModel, model_path: str | Path) -> None:
    """Writes the ``.keras`` model and its ``.entropy.npz`` tables, each atomically."""
    save_model(codec.autoencoder, model_path)
    arrays = save_entropy_model(codec.entropy, codec.fingerprint)
    if codec.step != 1.0:
        arrays["step"] = np.array(codec.step)
    with atomic_output(entropy_path(model_path)) as temporary:
        np.savez(temporary, **arrays)


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
        raise FormatError(f"{model_path} has no entropy tables ({tables.name} beside it); it cannot write .aec files")
    try:
        with np.load(tables) as arrays:
            entropy, recorded = load_entropy_model(arrays)
            step = _check_step(float(arrays["step"])) if "step" in arrays.files else 1.0
    except (OSError, ValueError) as error:
        raise FormatError(f"cannot read entropy tables {tables} ({error})") from None
    actual = model_fingerprint(autoencoder, entropy, step)
    if actual != recorded:
        raise FormatError(f"{tables} records fingerprint {recorded} but the model and tables hash to {actual}")
    latent_channels = encoder_of(autoencoder).output_shape[-1]
    if entropy.channels != latent_channels:
        raise FormatError(
            f"{tables} codes {entropy.channels} latent channels; the model's encoder gives {latent_channels}"
        )
    return CodecModel(autoencoder, entropy, actual, step)


def _validate_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"expected an (H, W, 3) uint8 RGB image, got {getattr(image, 'shape', type(image))}")
    if not (1 <= image.shape[0] <= MAX_SIDE and 1 <= image.shape[1] <= MAX_SIDE):
        raise InputError(f"image is {image.shape[0]}x{image.shape[1]}; sides must be 1 … {MAX_SIDE}")


def _padding_mode(height: int, width: int) -> str:
    return "reflect" if min(height, width) > 1 else "edge"


def _pad(image: np.ndarray, factor: int) -> np.ndarray:
    """Pads bottom and right to multiples of factor by reflection (edge repetition for 1-pixel sides)."""
    pad_h, pad_w = -image.shape[0] % factor, -image.shape[1] % factor
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode=_padding_mode(*image.shape[:2]))


def latent_shape_for(codec: CodecModel, height: int, width: int) -> tuple[int, int, int]:
    """The latent shape the model produces for an H x W image."""
    factor = codec.factor
    return (-(-height // factor), -(-width // factor), codec.entropy.channels)


def tile_margin(codec: CodecModel) -> int:
    """Latent rows and columns a tile needs around it so that its core is coded as in the whole image.

    The encoder sees sum(k // 2 · stride so far) pixels to each side, the
    decoder at most sum(k // 2) latents; one latent more for safety.
    """
    seen_pixels, stride = 0, 1
    for layer in encoder_of(codec.autoencoder).layers:
        if isinstance(layer, keras.layers.Conv2D):
            seen_pixels += layer.kernel_size[0] // 2 * stride
            stride *= layer.strides[0]
    seen_latents = sum(
        layer.kernel_size[0] // 2
        for layer in decoder_of(codec.autoencoder).layers
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Conv2DTranspose)
    )
    return max(-(-seen_pixels // codec.factor), seen_latents) + 1


def _spans(count: int, step: int) -> list[tuple[int, int]]:
    return [(start, min(start + step, count)) for start in range(0, count, step)]


def _encode_padded(padded: np.ndarray, codec: CodecModel) -> np.ndarray:
    """Integer latents (N, h, w, C) of padded uint8 images (N, H, W, 3), in one encoder call."""
    latents = encoder_of(codec.autoencoder)(padded.astype(np.float32) / 255.0, training=False).numpy()
    return quantize(latents / np.float32(codec.step), codec.entropy)  # x / 1 is x: plain rounding is unchanged


def _tiles(latent_h: int, latent_w: int, tile: int, action: str) -> Iterator[tuple[int, int, int, int]]:
    """The (top, bottom, left, right) latent spans of a large image's tiles, row by row, with a progress bar over
    them where a person watches: a large photo is many tiles, most of the time its file takes."""
    spans = [
        (top, bottom, left, right) for top, bottom in _spans(latent_h, tile) for left, right in _spans(latent_w, tile)
    ]
    yield from progress_bar(spans, len(spans), f"{action} tiles", "tile")


def _encode_tiled(image: np.ndarray, codec: CodecModel) -> np.ndarray:
    """Integer latents (h, w, C) of one large image, tile by tile; the padding is done by index, not by copy."""
    factor, margin = codec.factor, tile_margin(codec)
    height, width = image.shape[:2]
    latent_h, latent_w, channels = latent_shape_for(codec, height, width)
    mode = _padding_mode(height, width)
    rows = np.pad(np.arange(height), (0, latent_h * factor - height), mode=mode)
    columns = np.pad(np.arange(width), (0, latent_w * factor - width), mode=mode)
    symbols = np.empty((latent_h, latent_w, channels), np.int32)
    for top, bottom, left, right in _tiles(latent_h, latent_w, TILE_SIDE // factor, "encoding"):
        r0, r1 = max(0, top - margin), min(latent_h, bottom + margin)
        c0, c1 = max(0, left - margin), min(latent_w, right + margin)
        pixels = image[rows[r0 * factor : r1 * factor, None], columns[None, c0 * factor : c1 * factor]]
        core = _encode_padded(pixels[None], codec)[0]
        symbols[top:bottom, left:right] = core[top - r0 : bottom - r0, left - c0 : right - c0]
    return symbols


def _decode_cropped(symbols: np.ndarray, codec: CodecModel, height: int, width: int) -> np.ndarray:
    """uint8 images (N, height, width, 3) from integer latents (N, h, w, C), in one decoder call."""
    output = decoder_of(codec.autoencoder)(symbols.astype(np.float32) * np.float32(codec.step), training=False).numpy()
    return np.clip(np.rint(output[:, :height, :width] * 255.0), 0, 255).astype(np.uint8)


def _decode_tiled(symbols: np.ndarray, codec: CodecModel, height: int, width: int) -> np.ndarray:
    """The uint8 image (height, width, 3) of one large latent (h, w, C), tile by tile."""
    factor, margin = codec.factor, tile_margin(codec)
    latent_h, latent_w = symbols.shape[:2]
    image = np.empty((height, width, 3), np.uint8)
    for top, bottom, left, right in _tiles(latent_h, latent_w, TILE_SIDE // factor, "decoding"):
        r0, r1 = max(0, top - margin), min(latent_h, bottom + margin)
        c0, c1 = max(0, left - margin), min(latent_w, right + margin)
        decoded = _decode_cropped(symbols[None, r0:r1, c0:c1], codec, (r1 - r0) * factor, (c1 - c0) * factor)[0]
        y0, y1 = top * factor, min(bottom * factor, height)
        x0, x1 = left * factor, min(right * factor, width)
        image[y0:y1, x0:x1] = decoded[y0 - r0 * factor : y1 - r0 * factor, x0 - c0 * factor : x1 - c0 * factor]
    return image


def _is_large(codec: CodecModel, height: int, width: int) -> bool:
    return max(latent_shape_for(codec, height, width)[:2]) * codec.factor > TILE_SIDE


def quantized_latents(image: np.ndarray, codec: CodecModel) -> np.ndarray:
    """The integer latents (h, w, C) that :func:`encode` writes for image."""
    _validate_image(image)
    if _is_large(codec, *image.shape[:2]):
        return _encode_tiled(image, codec)
    return _encode_padded(_pad(image, codec.factor)[None], codec)[0]


def decode_latents(symbols: np.ndarray, codec: CodecModel, height: int, width: int) -> np.ndarray:
    """Runs the decoder on integer latents and crops to H x W, as uint8."""
    if _is_large(codec, height, width):
        return _decode_tiled(symbols, codec, height, width)
    return _decode_cropped(symbols[None], codec, height, width)[0]


def _pack(symbols: np.ndarray, height: int, width: int, codec: CodecModel) -> bytes:
    """Entropy-codes integer latents and prefixes the header: the bytes of an ``.aec`` file."""
    return pack_file(codec.fingerprint, height, width, symbols.shape, encode_symbols(symbols, codec.entropy))


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


def _unpack(data: bytes, codec: CodecModel, max_pixels: int = MAX_PIXELS) -> tuple[Header, np.ndarray]:
    """Checks ``.aec`` bytes against codec and decodes the entropy-coded latents."""
    header = read_header(data, max_pixels)
    if header.fingerprint != codec.fingerprint:
        raise FormatError(f"file was made by model {header.fingerprint}; the model given is {codec.fingerprint}")
    expected = latent_shape_for(codec, header.height, header.width)
    if header.latent_shape != expected:
        raise FormatError(
            f"header's latent shape {header.latent_shape} does not fit a "
            f"{header.height}x{header.width} image ({expected})"
        )
    return header, decode_symbols(memoryview(data)[HEADER.size :], header.latent_shape, codec.entropy)


def decode(data: bytes, codec: CodecModel, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decompresses ``.aec`` bytes into an (H, W, 3) uint8 image.

    Args:
        data: the bytes of an ``.aec`` file.
        codec: the model that wrote it.
        max_pixels: refuse images with more pixels than this (see MAX_PIXELS).

    Raises:
        AelibError: for any file that is not a valid ``.aec`` of this model, with the reason.
    """
    header, symbols = _unpack(data, codec, max_pixels)
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
        raise InputError(f"decode_batch needs images of one size, got {sorted(sizes)}")
    height, width = sizes.pop()
    images = []
    for start in range(0, len(unpacked), batch_size):
        symbols = np.stack([symbols for _, symbols in unpacked[start : start + batch_size]])
        images.append(_decode_cropped(symbols, codec, height, width))
    return np.concatenate(images)


def load_any_codec(model_path: str | Path):
    """A :class:`CodecModel` (``.aec`` version 2, tables beside) or a hyperprior codec (version 3, one file)."""
    from aelib.codec.format import read_model_card
    from aelib.codec.hyper import load_hyper_codec

    if read_model_card(model_path) is not None or not entropy_path(model_path).is_file():
        return load_hyper_codec(model_path)
    return load_codec_model(model_path)


def has_qualities(codec) -> bool:
    """Whether a codec takes a quality setting (a hyperprior with gain levels) or writes one rate only."""
    return not isinstance(codec, CodecModel)


def encode_any(image: np.ndarray, codec, quality: int | None = None, target_bpp: float | None = None) -> bytes:
    """:func:`encode` for either kind of codec, of an (H, W, 3) image or a grey (H, W) one.

    A hyperprior codec takes a quality setting (0 … qualities − 1; the highest
    when None) or a target rate in bits per pixel; a version-2 codec neither.
    A hyperprior's file records that a grey image is grey, and it decodes to
    (H, W); a version-2 file cannot, and decodes to RGB.
    """
    from aelib.codec import hyper

    if isinstance(codec, CodecModel):
        if quality is not None or target_bpp is not None:
            raise InputError("this model writes one rate only; --quality and --target-bpp need a hyperprior model")
        return encode(hyper.as_rgb(image)[0], codec)  # version 2 has no grey flag: a grey image comes back RGB
    if target_bpp is not None:
        return hyper.encode_at_rate(image, codec, target_bpp)
    return hyper.encode(image, codec, codec.qualities - 1 if quality is None else quality)


def decode_any(data: bytes, codec, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """:func:`decode` for a version-2 or version-3 file with the codec that wrote it."""
    from aelib.codec import hyper
    from aelib.codec.format import FORMAT_VERSION_3, format_version

    if format_version(data) == FORMAT_VERSION_3:
        if isinstance(codec, CodecModel):
            raise FormatError("a version-3 file needs the hyperprior model that wrote it, not a version-2 model")
        return hyper.decode(data, codec, max_pixels)
    if not isinstance(codec, CodecModel):
        raise FormatError("a version-2 file needs the factorized model that wrote it, not a hyperprior model")
    return decode(data, codec, max_pixels)
