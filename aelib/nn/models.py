"""The convolutional autoencoder family of the paper (eq. 1-3), for any encoder depth.

The paper gives the structure — an encoder of Conv2D + ReLU layers ending in
the latent tensor (eq. 1-2) and a decoder of Conv2DTranspose layers ending in a
sigmoid (eq. 3) — but no filters, strides or latent size. Our choices:

* 3x3 kernels and "same" padding throughout: cheap on a CPU, and stacked 3x3
  layers see as far as larger kernels.
* The last encoder layer, the latent, is linear: eq. 1's ReLU is kept on
  every other encoder layer. This is our one departure from eq. 1-3, and it
  is what lets every depth learn: a ReLU on the latent dies under Adam at
  1e-3 and the model then decodes every image to one grey face
  (docs/design-notes.md). A linear latent cannot die, and a signed latent is
  what the entropy coder and the rate term want anyway (Ballé et al., 2017).
* He-normal initialisation of the ReLU layers (He et al., 2015): it keeps the
  signal's variance through the ReLUs, where Keras's default Glorot
  initialisation starts the decoder on an almost flat grey image and a long
  plateau of the loss (docs/design-notes.md).
* The first ``min(depth, 3)`` encoder layers have stride 2, so depths >= 3 reach
  a 16x16 latent grid for 128x128 inputs (downsampling 8); further layers keep
  the resolution. Deep encoders therefore cost little more to run, and the
  10-layer model still trains on a 2-core CPU.
* Hidden layers have 32·2^i filters, capped at 128.
* The latent has ``round(32 · 0.85^(depth - 3))`` channels (at least 4): 32, 23,
  17 and 10 for depths 3, 5, 7 and 10. Deeper encoders thus keep fewer latent
  values — 8192, 5888, 4352 and 2560 per 128x128 image against 49152 input
  values — and compress more, as the paper's do.
* The decoder mirrors the encoder: the same number of transposed convolutions,
  with the encoder's strides and widths in reverse, the last one to 3 channels
  with a sigmoid so outputs lie in [0, 1].

Encoder and decoder are separate Keras models (the codec runs them apart),
nested in one autoencoder model that is saved as a single ``.keras`` file.

For the rate–distortion study, :func:`build_gdn_autoencoder` builds the
factorized-prior transform of Ballé et al. (ICLR 2018, arXiv:1802.01436;
CompressAI's ``bmshj2018-factorized``) instead: four 5x5 convolutions of
stride 2 with GDN between them, mirrored by transposed convolutions with
inverse GDN. Its encoder output is signed and unbounded, which a rate term can
shrink towards zero, where the paper's ReLU latents can only be clipped at 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras

from aelib.config import IMAGE_SIZE
from aelib.errors import AelibError, FormatError, InputError
from aelib.layout import paper_model_name
from aelib.nn.layers import GDN
from aelib.outputs import atomic_output

KERNEL_SIZE = 3
MAX_DOWNSAMPLING_LAYERS = 3
BASE_FILTERS = 32
MAX_FILTERS = 128
LATENT_CHANNELS_AT_DEPTH_3 = 32
LATENT_SHRINK_PER_LAYER = 0.85
MIN_LATENT_CHANNELS = 4
GDN_KERNEL_SIZE = 5
GDN_STAGES = 4


@dataclass(frozen=True)
class ModelSummary:
    """Size and cost of an autoencoder at a given image size.

    Attributes:
        depth: number of encoder convolutions.
        latent_shape: (height, width, channels) of one image's latent tensor.
        latent_values: number of values in that tensor.
        parameters: trainable parameters of encoder and decoder together.
        multiply_adds: multiply-accumulate operations to encode and decode one image.
    """

    depth: int
    latent_shape: tuple[int, int, int]
    latent_values: int
    parameters: int
    multiply_adds: int


def encoder_plan(depth: int) -> list[tuple[int, int]]:
    """(filters, stride) of each encoder layer for the given depth; the last is the latent."""
    if not isinstance(depth, int) or depth < 1:
        raise InputError(f"encoder depth must be an integer >= 1, got {depth!r}")
    latent = max(MIN_LATENT_CHANNELS, round(LATENT_CHANNELS_AT_DEPTH_3 * LATENT_SHRINK_PER_LAYER ** (depth - 3)))
    plan = [(min(BASE_FILTERS * 2**i, MAX_FILTERS), 2 if i < MAX_DOWNSAMPLING_LAYERS else 1) for i in range(depth)]
    plan[-1] = (latent, plan[-1][1])
    return plan


def downsampling_factor(depth: int) -> int:
    """How much the encoder shrinks each side; inputs must be a multiple of it."""
    return 2 ** min(depth, MAX_DOWNSAMPLING_LAYERS)


def build_autoencoder(depth: int, name: str | None = None) -> keras.Model:
    """Builds the autoencoder with an encoder of depth Conv2D layers, ReLU on all but the linear latent (eq. 1).

    Args:
        depth: number of encoder convolutions (the paper's 3, 5, 7, 10; any >= 1).
        name: model name; :func:`aelib.layout.paper_model_name` of the depth by default.

    Returns:
        A model mapping (batch, H, W, 3) images in [0, 1] to reconstructions,
        made of two nested models named "encoder" and "decoder". H and W must be
        multiples of :func:`downsampling_factor`.
    """
    plan = encoder_plan(depth)

    image = keras.Input(shape=(None, None, 3), name="image")
    x = image
    for index, (filters, stride) in enumerate(plan):
        latent_layer = index == depth - 1
        x = keras.layers.Conv2D(
            filters,
            KERNEL_SIZE,
            strides=stride,
            padding="same",
            activation=None if latent_layer else "relu",
            kernel_initializer="glorot_uniform" if latent_layer else "he_normal",
            name=f"conv_{index + 1}",
        )(x)
    encoder = keras.Model(image, x, name="encoder")

    latent = keras.Input(shape=(None, None, plan[-1][0]), name="latent")
    y = latent
    widths = [filters for filters, _ in plan[-2::-1]] + [3]
    strides = [stride for _, stride in plan[::-1]]
    for index, (filters, stride) in enumerate(zip(widths, strides)):
        last = index == depth - 1
        y = keras.layers.Conv2DTranspose(
            filters,
            KERNEL_SIZE,
            strides=stride,
            padding="same",
            activation="sigmoid" if last else "relu",
            kernel_initializer="glorot_uniform" if last else "he_normal",
            name=f"deconv_{index + 1}",
        )(y)
    decoder = keras.Model(latent, y, name="decoder")

    return keras.Model(image, decoder(encoder(image)), name=name or paper_model_name(depth))


def build_gdn_autoencoder(channels: int, latent_channels: int, name: str = "gdn_autoencoder") -> keras.Model:
    """Ballé et al.'s factorized-prior transform (ICLR 2018): 4 stride-2 5x5 convolutions with GDN, and its mirror.

    Args:
        channels: width N of the hidden layers.
        latent_channels: channels M of the latent (16x smaller per side than the image).
        name: model name.

    Returns:
        A model like :func:`build_autoencoder`'s, with nested "encoder" and
        "decoder" models; its output is linear (the codec clips it to [0, 1]).
    """
    if channels < 1 or latent_channels < 1:
        raise InputError(f"channel counts must be >= 1, got {channels} and {latent_channels}")
    image = keras.Input(shape=(None, None, 3), name="image")
    x = image
    for index in range(GDN_STAGES):
        last = index == GDN_STAGES - 1
        x = keras.layers.Conv2D(
            latent_channels if last else channels, GDN_KERNEL_SIZE, strides=2, padding="same", name=f"conv_{index + 1}"
        )(x)
        if not last:
            x = GDN(name=f"gdn_{index + 1}")(x)
    encoder = keras.Model(image, x, name="encoder")

    latent = keras.Input(shape=(None, None, latent_channels), name="latent")
    y = latent
    for index in range(GDN_STAGES):
        last = index == GDN_STAGES - 1
        y = keras.layers.Conv2DTranspose(
            3 if last else channels, GDN_KERNEL_SIZE, strides=2, padding="same", name=f"deconv_{index + 1}"
        )(y)
        if not last:
            y = GDN(inverse=True, name=f"igdn_{index + 1}")(y)
    decoder = keras.Model(latent, y, name="decoder")
    return keras.Model(image, decoder(encoder(image)), name=name)


def downsampling_factor_of(autoencoder: keras.Model) -> int:
    """How much an autoencoder's encoder shrinks each side: the product of its convolutions' strides."""
    factor = 1
    for layer in encoder_of(autoencoder).layers:
        if isinstance(layer, keras.layers.Conv2D):
            factor *= layer.strides[0]
    return factor


def encoder_of(autoencoder: keras.Model) -> keras.Model:
    """The nested encoder model of an autoencoder from :func:`build_autoencoder`."""
    return autoencoder.get_layer("encoder")


def decoder_of(autoencoder: keras.Model) -> keras.Model:
    """The nested decoder model of an autoencoder from :func:`build_autoencoder`."""
    return autoencoder.get_layer("decoder")


def depth_of(autoencoder: keras.Model) -> int:
    """Number of convolutions in the autoencoder's encoder."""
    return sum(isinstance(layer, keras.layers.Conv2D) for layer in encoder_of(autoencoder).layers)


def summarize(autoencoder: keras.Model, image_size: int = IMAGE_SIZE) -> ModelSummary:
    """Latent shape, parameter count and multiply-adds per image_size x image_size image."""
    side, multiply_adds = image_size, 0
    for layer in encoder_of(autoencoder).layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel = layer.kernel.shape  # (k, k, in, out)
            side = -(-side // layer.strides[0])
            multiply_adds += side * side * kernel[0] * kernel[1] * kernel[2] * kernel[3]
            latent_shape = (side, side, layer.filters)
    for layer in decoder_of(autoencoder).layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            kernel = layer.kernel.shape  # (k, k, out, in)
            multiply_adds += side * side * kernel[0] * kernel[1] * kernel[2] * kernel[3]
            side *= layer.strides[0]
    return ModelSummary(
        depth=depth_of(autoencoder),
        latent_shape=latent_shape,
        latent_values=latent_shape[0] * latent_shape[1] * latent_shape[2],
        parameters=int(sum(w.numpy().size for w in autoencoder.trainable_weights)),
        multiply_adds=int(multiply_adds),
    )


def save_model(autoencoder: keras.Model, path: str | Path) -> None:
    """Saves a .keras file atomically (written beside, then renamed)."""
    with atomic_output(path) as temporary:
        autoencoder.save(temporary)


def _first_line(error: Exception, limit: int = 200) -> str:
    """The first line of an exception's message, shortened: Keras's refusals run to several lines."""
    lines = str(error).strip().splitlines()
    line = lines[0] if lines else type(error).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def check_autoencoder(autoencoder: keras.Model) -> None:
    """Checks the structure the codec relies on: nested encoder and decoder models of convolutions, RGB in and out.

    Raises:
        AelibError: naming the first thing that does not fit.
    """
    parts = {}
    for name in ("encoder", "decoder"):
        try:
            parts[name] = autoencoder.get_layer(name)
        except ValueError:
            raise FormatError(f"it has no layer named {name!r}") from None
        if not isinstance(parts[name], keras.Model):
            raise FormatError(f"its {name!r} is a {type(parts[name]).__name__}, not a nested model")
    encoder, decoder = parts["encoder"], parts["decoder"]
    convolutions = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convolutions or any(layer.strides[0] != layer.strides[1] for layer in convolutions):
        raise FormatError("its encoder has no convolutions, or convolutions with unequal strides")
    shapes = {
        "encoder input": encoder.input_shape[-1],
        "decoder output": decoder.output_shape[-1],
    }
    if shapes != {"encoder input": 3, "decoder output": 3}:
        raise FormatError(f"it does not map RGB to RGB (channels: {shapes})")
    if decoder.input_shape[-1] != encoder.output_shape[-1]:
        raise FormatError(
            f"its decoder takes {decoder.input_shape[-1]} channels, its encoder gives {encoder.output_shape[-1]}"
        )


def load_model(path: str | Path) -> keras.Model:
    """Loads an autoencoder saved by :func:`save_model`, with a one-line error for anything else.

    Keras's safe mode stays on, so a file with a Lambda layer (arbitrary code) is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a foreign, corrupt or unsafe file.
        raise FormatError(f"{path} is not an aelib autoencoder model ({_first_line(error)})") from None
    try:
        check_autoencoder(model)
    except AelibError as error:
        raise FormatError(f"{path} is not an aelib autoencoder model: {error}") from None
    return model
