"""The codec of the mean–scale hyperprior network: ``.aec`` version 3, decodable bit-exactly anywhere.

Encoding an image (padded by reflection to a multiple of 64):

1. y = g_a(x) · gain(q); z = h_a(y), clamped to ±255 and rounded.
2. The integer hyper-synthesis (:mod:`aelib.nn.integer`) maps round(z) to μ
   and a fixed-point log2-scale, hence a scale index, exactly.
3. The residuals round(y − μ) are coded after round(z) in one rANS stream
   (:mod:`aelib.codec.rans`) with the tables stored in the model.

Decoding reads round(z), runs the same integer network — so every table
choice is the encoder's, on any CPU, thread count or oneDNN setting — reads
the residuals and decodes ŷ = (residual + μ) · inverse_gain(q) with the float
synthesis g_s. Only that last float step can differ between machines, by
float rounding of the pixels (at most one level in practice).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from aelib.codec.format import (
    FINGERPRINT_BYTES_3,
    HEADER_3,
    KIND_HYPERPRIOR,
    KINDS,
    MAX_SIDE,
    fingerprint,
    pack_file_3,
    read_header_3,
    read_model_card,
    write_model_card,
)
from aelib.codec.rans import StreamDecoder, encode_streams
from aelib.config import MAX_PIXELS
from aelib.errors import FormatError, InputError
from aelib.nn.entropy_models import scale_index
from aelib.nn.hyperprior import is_hyperprior, parts
from aelib.nn.integer import FRACTION_BITS, MAX_INPUT, IntegerNetwork, integer_network
from aelib.nn.models import load_model, save_model
from aelib.outputs import atomic_output
from aelib.tables import CdfTables

FACTOR = 64
"""Images are padded to multiples of this: the latents are 16 times smaller per side, the hyper-latents 64."""
MAX_WHOLE_PIXELS = 4 * 2**20
"""The largest image (4 megapixels) this codec codes: it codes images whole, without tiles, and the synthesis's
activations of a larger one (128 channels at half the resolution, float32) would take gigabytes. Refused before
anything is allocated, in encoding and from a file's header alike."""
OUTPUT_BITS = 2 * FRACTION_BITS


@dataclass(frozen=True)
class HyperCodec:
    """A trained, exported hyperprior network with everything decoding needs.

    Attributes:
        network: the Keras model of :func:`aelib.nn.hyperprior.build_hyperprior`, tables exported.
        hyper_synthesis: its h_s in integer form.
        tables: the hyper-latents' tables (one per channel) followed by the Gaussian scale tables.
        fingerprint: hex of the first 4 bytes of sha256(weights ‖ tables).
    """

    network: keras.Model
    hyper_synthesis: IntegerNetwork
    tables: CdfTables
    fingerprint: str

    kind = "hyperprior"

    @property
    def hyper_channels(self) -> int:
        return int(parts(self.network)["hyper_encoder"].output.shape[-1])

    @property
    def latent_channels(self) -> int:
        return int(parts(self.network)["encoder"].output.shape[-1])

    @property
    def qualities(self) -> int:
        """Quality settings 0 … qualities − 1, lowest rate first."""
        return parts(self.network)["gains"].qualities

    def shapes(self, height: int, width: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """The hyper-latent and latent shapes of an H x W image."""
        rows, columns = -(-height // FACTOR), -(-width // FACTOR)
        return (rows, columns, self.hyper_channels), (4 * rows, 4 * columns, self.latent_channels)


def _combined_tables(network: keras.Model) -> CdfTables:
    density, conditional = parts(network)["hyper_density"].tables, parts(network)["conditional"].tables
    if density is None or conditional is None:
        raise FormatError(f"model {network.name} has no coding tables; export it first (aelib.codec.export_codec)")
    width = max(density.cdf.shape[1], conditional.cdf.shape[1])

    def widen(table: CdfTables) -> np.ndarray:
        return np.pad(table.cdf, ((0, 0), (0, width - table.cdf.shape[1])), constant_values=table.cdf[0, -1])

    return CdfTables(
        np.concatenate([widen(density), widen(conditional)]),
        np.concatenate([density.sizes, conditional.sizes]),
        np.concatenate([density.offsets, conditional.offsets]),
    )


def hyper_codec(network: keras.Model) -> HyperCodec:
    """The codec of an exported network (tables present)."""
    tables = _combined_tables(network)
    digest = fingerprint([w.numpy() for w in network.weights], tables.table_bytes(), FINGERPRINT_BYTES_3)
    return HyperCodec(network, integer_network(parts(network)["hyper_decoder"]), tables, digest)


def export_codec(network: keras.Model, path: str | Path | None = None, description: dict | None = None) -> HyperCodec:
    """Builds the integer coding tables from the trained densities and saves the network as one ``.keras`` file.

    The export step between training and coding: the factorized density's
    tables are fitted to its learned cumulative, the Gaussian tables to the
    fixed scale table, the integer hyper-synthesis is checked to be exactly
    convertible; all of it is stored inside the model (no sidecar).

    Args:
        network: a trained network of :func:`aelib.nn.hyperprior.build_hyperprior`.
        path: where to save it; nothing is written when None.
        description: what the model card says of its training, e.g. {"trained_on": …, "steps": …}.
    """
    p = parts(network)
    p["hyper_density"].export()
    p["conditional"].export()
    codec = hyper_codec(network)
    if path is not None:
        with atomic_output(path) as temporary:
            save_model(network, temporary)
            write_model_card(temporary, model_card(codec) | (description or {}))
    return codec


def model_card(codec: HyperCodec) -> dict:
    """What ``aelib info`` and the search for a file's model read without TensorFlow."""
    return {
        "kind": codec.kind,
        "kind_name": KINDS[KIND_HYPERPRIOR],
        "format_version": 3,
        "fingerprint": codec.fingerprint,
        "qualities": codec.qualities,
        "channels": int(parts(codec.network)["encoder"].get_layer("conv_1").filters),
        "latent_channels": codec.latent_channels,
        "hyper_channels": codec.hyper_channels,
    }


def load_hyper_codec(path: str | Path) -> HyperCodec:
    """Loads an exported hyperprior ``.keras`` file.

    Raises:
        AelibError: not a model of ours, not a hyperprior, or without tables.
    """
    network = load_model(path)
    if not is_hyperprior(network):
        raise FormatError(f"{path} is not a hyperprior model")
    codec = hyper_codec(network)
    card = read_model_card(path)
    if card is not None and card.get("fingerprint") != codec.fingerprint:
        raise FormatError(f"{path} records fingerprint {card.get('fingerprint')} but hashes to {codec.fingerprint}")
    return codec


def _check_size(height: int, width: int) -> None:
    if height * width > MAX_WHOLE_PIXELS:
        raise InputError(
            f"a {width}x{height} image has {height * width:,} pixels; the hyperprior codec codes images whole, "
            f"up to {MAX_WHOLE_PIXELS:,} pixels (tiles are not implemented for it yet)"
        )


def as_rgb(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """(the (H, W, 3) image the network codes, whether it is grey): a grey (H, W) image is repeated into R, G, B."""
    if isinstance(image, np.ndarray) and image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=-1), True
    return image, False


def to_grey(images: np.ndarray) -> np.ndarray:
    """The one channel of decoded grey images (…, 3): the rounded mean of R, G and B, as uint8."""
    return np.rint(images.astype(np.float32).mean(axis=-1)).astype(np.uint8)


def _validate(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"expected an (H, W, 3) uint8 RGB image, got {getattr(image, 'shape', type(image))}")
    if not (1 <= image.shape[0] <= MAX_SIDE and 1 <= image.shape[1] <= MAX_SIDE):
        raise InputError(f"image is {image.shape[0]}x{image.shape[1]}; sides must be 1 … {MAX_SIDE}")
    _check_size(*image.shape[:2])


def _pad(images: np.ndarray) -> np.ndarray:
    """Pads (N, H, W, 3) bottom and right to multiples of FACTOR (reflection; edge repetition for 1-pixel sides)."""
    height, width = images.shape[1:3]
    mode = "reflect" if min(height, width) > 1 else "edge"
    return np.pad(images, ((0, 0), (0, -height % FACTOR), (0, -width % FACTOR), (0, 0)), mode=mode)


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _run(model: keras.Model, inputs: np.ndarray) -> np.ndarray:
    """model(inputs) as a traced graph, built once per model: an eager call spends much of a small image on dispatch."""
    function = _COMPILED.get(model)
    if function is None:
        spec = tf.TensorSpec((None, None, None, model.input.shape[-1]), tf.float32)
        function = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        _COMPILED[model] = function
    return function(np.asarray(inputs, np.float32)).numpy()


def _check_quality(codec: HyperCodec, quality: int) -> int:
    if not isinstance(quality, int | np.integer) or not 0 <= quality < codec.qualities:
        raise InputError(f"quality must be an integer 0 … {codec.qualities - 1}, got {quality!r}")
    return int(quality)


def _hyper_parameters(codec: HyperCodec, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """μ (float64) and the scale index of every latent from integer hyper-latents (B, h, w, N): exact."""
    output = codec.hyper_synthesis(z)
    channels = codec.latent_channels
    mean = output[..., :channels] / float(1 << OUTPUT_BITS)
    return mean, scale_index(output[..., channels:], OUTPUT_BITS)


def analyse(images: np.ndarray, codec: HyperCodec, quality: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The integer hyper-latents, residuals and scale indices of (B, H, W, 3) uint8 images of one size."""
    p = parts(codec.network)
    padded = _pad(images).astype(np.float32) / 255.0
    y = _run(p["encoder"], padded) * p["gains"].gain(quality)
    z = np.clip(np.rint(_run(p["hyper_encoder"], y)), -MAX_INPUT, MAX_INPUT).astype(np.int64)
    mean, index = _hyper_parameters(codec, z)
    residual = np.rint(y.astype(np.float64) - mean).astype(np.int64)
    return z, residual, index


def _stream(codec: HyperCodec, z: np.ndarray, residual: np.ndarray, index: np.ndarray):
    """The values and table numbers of B streams: round(z) with table = channel, then residuals with their scales."""
    batch = len(z)
    z_tables = np.broadcast_to(np.arange(z.shape[-1]), z.shape).reshape(batch, -1)
    values = np.concatenate([z.reshape(batch, -1), residual.reshape(batch, -1)], axis=1)
    tables = np.concatenate([z_tables, codec.hyper_channels + index.reshape(batch, -1)], axis=1)
    return values, tables


def encode_batch(images: np.ndarray, codec: HyperCodec, quality: int, grey: bool = False) -> list[bytes]:
    """Compresses (B, H, W, 3) uint8 images of one size at one quality; one ``.aec`` version-3 file each.

    grey: the images are grey ones repeated into R, G and B (:func:`as_rgb`); the files say so.
    """
    quality = _check_quality(codec, quality)
    for image in images:
        _validate(image)
    z, residual, index = analyse(np.asarray(images), codec, quality)
    values, tables = _stream(codec, z, residual, index)
    height, width = images.shape[1:3]
    return [
        pack_file_3(codec.fingerprint, KIND_HYPERPRIOR, height, width, quality, payload, grey)
        for payload in encode_streams(values, tables, codec.tables)
    ]


def encode(image: np.ndarray, codec: HyperCodec, quality: int) -> bytes:
    """Compresses an (H, W, 3) uint8 image, or a grey (H, W) one, into the bytes of an ``.aec`` version-3 file."""
    rgb, grey = as_rgb(image)
    _validate(rgb)
    return encode_batch(rgb[None], codec, quality, grey)[0]


def encode_at_rate(image: np.ndarray, codec: HyperCodec, bits_per_pixel: float) -> bytes:
    """The file of the highest quality setting whose whole file (header included) fits bits_per_pixel.

    A bisection over the settings, whose rates rise with the setting; the
    lowest setting when none fits.
    """
    _validate(as_rgb(image)[0])
    budget = bits_per_pixel * image.shape[0] * image.shape[1] / 8
    low, high = 0, codec.qualities - 1
    best = encode(image, codec, low)
    while low < high:
        middle = (low + high + 1) // 2
        data = encode(image, codec, middle)
        if len(data) <= budget:
            best, low = data, middle
        else:
            high = middle - 1
    return best


def read_symbols(files: list[bytes], codec: HyperCodec, max_pixels: int = MAX_PIXELS):
    """Checks version-3 files of one size and quality and decodes their symbols.

    Returns:
        (headers, z, residual, mean): the integer hyper-latents (B, h, w, N) and residuals (B, 4h, 4w, M),
        and the means μ of the latents (float64).

    Raises:
        AelibError: a file is not a valid ``.aec`` of this model, or the files differ in size or quality.
    """
    headers = [read_header_3(data, max_pixels) for data in files]
    for header in headers:
        _check_size(header.height, header.width)
        if header.fingerprint != codec.fingerprint:
            raise FormatError(f"file was made by model {header.fingerprint}; the model given is {codec.fingerprint}")
        if header.kind != KIND_HYPERPRIOR:
            raise FormatError(f"file was written by a model of kind {header.kind}, not a hyperprior")
        _check_quality(codec, header.quality)
    if len({(h.height, h.width, h.quality) for h in headers}) != 1:
        raise InputError("files decoded together must share one size and one quality")
    z_shape, y_shape = codec.shapes(headers[0].height, headers[0].width)
    batch = len(files)
    decoder = StreamDecoder(
        [memoryview(data)[HEADER_3.size :] for data in files], int(np.prod(z_shape) + np.prod(y_shape)), codec.tables
    )
    z_tables = np.broadcast_to(np.arange(z_shape[-1]), (batch, *z_shape)).reshape(batch, -1)
    z = decoder.read(z_tables).reshape(batch, *z_shape)
    mean, index = _hyper_parameters(codec, z)
    residual = decoder.read(codec.hyper_channels + index.reshape(batch, -1)).reshape(batch, *y_shape)
    decoder.finish()
    return headers, z, residual, mean


def synthesise(residual: np.ndarray, mean: np.ndarray, codec: HyperCodec, quality: int, height: int, width: int):
    """uint8 images (B, height, width, 3) from decoded residuals and means: the float synthesis g_s."""
    latents = ((residual + mean) * codec.network.get_layer("gains").inverse_gain(quality)).astype(np.float32)
    output = _run(parts(codec.network)["decoder"], latents)
    return np.clip(np.rint(output[:, :height, :width] * 255.0), 0, 255).astype(np.uint8)


def decode_batch(files: list[bytes], codec: HyperCodec, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decompresses version-3 files of one size and quality into (B, H, W, 3) uint8 images (grey ones too, as RGB)."""
    headers, _, residual, mean = read_symbols(files, codec, max_pixels)
    return synthesise(residual, mean, codec, headers[0].quality, headers[0].height, headers[0].width)


def decode(data: bytes, codec: HyperCodec, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decompresses ``.aec`` version-3 bytes into an (H, W, 3) uint8 image, or (H, W) for a grey one.

    Raises:
        AelibError: for any file that is not a valid ``.aec`` of this model, with the reason.
    """
    decoded = decode_batch([data], codec, max_pixels)[0]
    return to_grey(decoded) if read_header_3(data, max_pixels).grey else decoded


def estimated_bits(images: np.ndarray, codec: HyperCodec, quality: int) -> np.ndarray:
    """The model's own rate of each image in bits: −log2 of its trained densities at the rounded values.

    This is what training minimises (without the noise); the bits the coder
    writes should be within about 1 % of it, the difference being the integer
    tables' precision, the scale table's spacing, escapes and the stream's flush.
    """
    import tensorflow as tf

    p = parts(codec.network)
    z, residual, _ = analyse(images, codec, quality)
    output = codec.hyper_synthesis(z)
    log2_scale = (output[..., codec.latent_channels :] / float(1 << OUTPUT_BITS)).astype(np.float32)
    z_bits = -np.log2(p["hyper_density"].likelihood(tf.constant(z, tf.float32)).numpy().astype(np.float64))
    y_bits = -np.log2(p["conditional"].likelihood(tf.constant(residual, tf.float32), log2_scale).numpy())
    return z_bits.reshape(len(z), -1).sum(1) + y_bits.astype(np.float64).reshape(len(z), -1).sum(1)


def quality_setting(percent: float, codec: HyperCodec) -> int:
    """Maps a 0–100 quality (as cwebp's -q) linearly onto the network's settings 0 … qualities − 1."""
    if not 0 <= percent <= 100:
        raise InputError(f"--quality must lie in 0 … 100, got {percent}")
    return int(round(percent / 100 * (codec.qualities - 1)))
