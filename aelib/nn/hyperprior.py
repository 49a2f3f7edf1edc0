"""A mean–scale hyperprior codec network with per-quality gain vectors.

The transforms are those of Ballé et al. (ICLR 2018, "Variational image
compression with a scale hyperprior", arXiv:1802.01436; CompressAI's
``bmshj2018``): four 5×5 stride-2 convolutions with GDN (the analysis g_a),
mirrored by transposed convolutions with inverse GDN (the synthesis g_s). A
hyper-analysis h_a maps the latents y to hyper-latents z, coded with a
learned factorized density; a hyper-synthesis h_s maps round(z) to a mean μ
and a log2-scale s of every latent (Minnen, Ballé, Toderici, NeurIPS 2018,
arXiv:1809.02736, without the autoregressive context, so decoding stays
parallel). The codec writes round(y − μ) with the Gaussian table of scale 2**s.

h_s is built from stride-1 3×3 convolutions, sub-pixel upsampling and capped
ReLUs only, so that it converts exactly to an integer network
(:mod:`aelib.nn.integer`): the scale table chosen for each latent, and μ,
are the same on every machine.

One network serves several rates, after Cui et al. (CVPR 2021, "Asymmetric
gained deep image compression with continuous rate adaptation",
arXiv:2003.02012): level ℓ scales the latents by a gain vector before
quantisation, ``y·exp(g_ℓ)``, and the decoder undoes it with its own inverse
gain ``exp(g'_ℓ)``; training draws ℓ per image and minimises R + λ_ℓ·D.
Between levels the gains are interpolated geometrically, which gives a
continuous quality knob (``quality = 8ℓ + eighths``).

Layer names are what :mod:`aelib.codec` looks for: "encoder", "decoder",
"hyper_encoder", "hyper_decoder", "hyper_density", "conditional", "gains".
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from aelib.errors import InputError
from aelib.nn.entropy_models import FactorizedDensity, GaussianConditional
from aelib.nn.integer import MAX_ACTIVATION, MAX_INPUT, MAX_WEIGHT
from aelib.nn.layers import GDN, DepthToSpace

KIND = "hyperprior"
"""The model kind a ``.keras`` file of this network declares (``aelib info``)."""
QUALITY_STEPS = 8
"""Quality settings between two neighbouring gain levels."""


@keras.saving.register_keras_serializable(package="aelib")
class RateGains(keras.layers.Layer):
    """Per-level gain vectors of the latents (Cui et al., 2021): exp(g_ℓ) before quantisation, exp(g'_ℓ) after.

    Called on y it applies the highest level's gain and inverse gain, which is
    what the functional model's image-to-image path shows; the codec uses
    :meth:`gain` and :meth:`inverse_gain` at a chosen quality.
    """

    def __init__(self, levels: int, **kwargs):
        super().__init__(**kwargs)
        self.levels = int(levels)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.log_gain = self.add_weight(shape=(self.levels, channels), initializer="zeros", name="log_gain")
        self.log_inverse_gain = self.add_weight(
            shape=(self.levels, channels), initializer="zeros", name="log_inverse_gain"
        )

    def call(self, inputs):
        return inputs

    @property
    def qualities(self) -> int:
        """Quality settings 0 … qualities − 1."""
        return QUALITY_STEPS * (self.levels - 1) + 1

    def _interpolated(self, variable, quality: int) -> np.ndarray:
        if not 0 <= quality < self.qualities:
            raise InputError(f"quality must be 0 … {self.qualities - 1}, got {quality}")
        level, eighths = divmod(quality, QUALITY_STEPS)
        table = np.asarray(variable.numpy(), np.float32)
        if eighths == 0:
            return np.exp(table[level])
        share = np.float32(eighths / QUALITY_STEPS)
        return np.exp((1 - share) * table[level] + share * table[level + 1])

    def gain(self, quality: int) -> np.ndarray:
        return self._interpolated(self.log_gain, quality)

    def inverse_gain(self, quality: int) -> np.ndarray:
        return self._interpolated(self.log_inverse_gain, quality)

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}


def _capped_relu(name: str) -> keras.layers.ReLU:
    return keras.layers.ReLU(max_value=MAX_ACTIVATION, name=name)


def initial_log_gains(lambdas) -> np.ndarray:
    """Log gains that start each level at the quantisation step its λ asks for: gain ∝ √λ.

    At high rate an MSE-optimal uniform quantiser has D ∝ Δ², R ∝ −log2 Δ, so
    minimising R + λ·D gives Δ² ∝ 1/λ; a gain g on the latents is a step 1/g.
    Starting there (centred on the geometric mean of the λ) spreads the levels'
    rates from the first step instead of after thousands of Adam steps.
    """
    logs = 0.5 * np.log(np.asarray(lambdas, np.float64))
    return (logs - logs.mean()).astype(np.float32)


def build_hyperprior(
    channels: int = 128,
    latent_channels: int = 192,
    levels: int = 8,
    name: str = "hyperprior",
    lambdas: tuple[float, ...] | None = None,
) -> keras.Model:
    """Builds the network: an image model whose nested parts the codec and the trainer call one by one.

    Args:
        channels: N, the width of the transforms and the hyper-latents.
        latent_channels: M, the channels of y.
        levels: gain levels (rates) the network is trained for.
        name: the model's name.
        lambdas: when given (one per level), the gains start at :func:`initial_log_gains`, the inverse
            gains at their inverse; otherwise every level starts at gain 1.
    """
    if min(channels, latent_channels, levels) < 1:
        raise InputError(
            f"channels, latent channels and levels must be >= 1, got {channels}, {latent_channels}, {levels}"
        )
    gdn = dict(parameterization="squared")

    image = keras.Input(shape=(None, None, 3), name="image")
    x = image
    for i in range(4):
        last = i == 3
        x = keras.layers.Conv2D(latent_channels if last else channels, 5, 2, "same", name=f"conv_{i + 1}")(x)
        if not last:
            x = GDN(name=f"gdn_{i + 1}", **gdn)(x)
    encoder = keras.Model(image, x, name="encoder")

    latent = keras.Input(shape=(None, None, latent_channels), name="latent")
    x = latent
    for i in range(4):
        last = i == 3
        x = keras.layers.Conv2DTranspose(3 if last else channels, 5, 2, "same", name=f"deconv_{i + 1}")(x)
        if not last:
            x = GDN(inverse=True, name=f"igdn_{i + 1}", **gdn)(x)
    decoder = keras.Model(latent, x, name="decoder")

    y_in = keras.Input(shape=(None, None, latent_channels), name="y")
    h = keras.layers.Conv2D(channels, 3, 1, "same", activation="relu", name="hconv_1")(y_in)
    h = keras.layers.Conv2D(channels, 5, 2, "same", activation="relu", name="hconv_2")(h)
    h = keras.layers.Conv2D(channels, 5, 2, "same", name="hconv_3")(h)
    hyper_encoder = keras.Model(y_in, h, name="hyper_encoder")

    z_in = keras.Input(shape=(None, None, channels), name="z")
    h = z_in
    widths = (4 * channels, 4 * channels, 2 * latent_channels)
    for i, width in enumerate(widths):
        h = keras.layers.Conv2D(width, 3, 1, "same", kernel_constraint=_ClipKernel(), name=f"hconv_s{i + 1}")(h)
        if i < 2:
            h = DepthToSpace(2, name=f"upsample_{i + 1}")(h)
            h = _capped_relu(f"hrelu_{i + 1}")(h)
    hyper_decoder = keras.Model(z_in, h, name="hyper_decoder")

    gains = RateGains(levels, name="gains")
    density = FactorizedDensity(name="hyper_density")
    conditional = GaussianConditional(name="conditional")

    y = gains(encoder(image))
    z_hat = density(ops.clip(hyper_encoder(y), -MAX_INPUT, MAX_INPUT))
    parameters = hyper_decoder(z_hat)
    y_hat = conditional([y, parameters[..., :latent_channels]])
    network = keras.Model(image, decoder(y_hat), name=name)
    if lambdas is not None:
        if len(lambdas) != levels:
            raise InputError(f"{len(lambdas)} λ for {levels} gain levels")
        start = np.repeat(initial_log_gains(lambdas)[:, None], latent_channels, axis=1)
        gains.log_gain.assign(start)
        gains.log_inverse_gain.assign(-start)
    return network


@keras.saving.register_keras_serializable(package="aelib")
class _ClipKernel(keras.constraints.Constraint):
    """Keeps kernel weights within ±MAX_WEIGHT, the integer network's bound."""

    def __call__(self, w):
        return ops.clip(w, -MAX_WEIGHT, MAX_WEIGHT)


def is_hyperprior(model: keras.Model) -> bool:
    return any(layer.name == "hyper_decoder" for layer in model.layers)


def parts(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """The named parts of a network from :func:`build_hyperprior`."""
    names = ("encoder", "decoder", "hyper_encoder", "hyper_decoder", "hyper_density", "conditional", "gains")
    return {name: model.get_layer(name) for name in names}


def rate_distortion_terms(
    model: keras.Model, images: tf.Tensor, levels: tf.Tensor, lambdas: tf.Tensor, training: bool, seed=None
) -> dict[str, tf.Tensor]:
    """The training objective R + λ_ℓ·D per image, D the MSE in 8-bit units squared.

    The rate is the likelihood of y + U(−½, ½) and z + U(−½, ½) (training) or of
    the rounded values (validation); the decoder sees round(y − μ) + μ through
    a straight-through gradient either way (current practice; CompressAI's
    ``compress``/``forward`` split).

    Args:
        images: (B, H, W, 3) in [0, 1].
        levels: (B,) int gain level of each image.
        lambdas: (levels,) λ of each level.
        seed: (2,) int64 seed of the noise (stateless, so a resumed run draws the same noise).

    Returns:
        Batch means of "loss", "bits_per_pixel", "mse" and "psnr".
    """
    p = parts(model)
    latent_channels = p["encoder"].output.shape[-1]
    log_gain = tf.gather(p["gains"].log_gain, levels)[:, None, None, :]
    log_inverse_gain = tf.gather(p["gains"].log_inverse_gain, levels)[:, None, None, :]
    y = p["encoder"](images, training=training) * tf.exp(log_gain)
    z = tf.clip_by_value(p["hyper_encoder"](y, training=training), -MAX_INPUT, MAX_INPUT)

    def noisy(value, offset):
        if not training:
            return tf.round(value)
        noise = tf.random.stateless_uniform(tf.shape(value), seed + offset, -0.5, 0.5)
        return value + noise

    z_tilde = noisy(z, 1)
    z_bits = -tf.math.log(p["hyper_density"].likelihood(z_tilde)) / np.log(2.0)
    parameters = p["hyper_decoder"](z_tilde, training=training)
    mean, log2_scale = parameters[..., :latent_channels], parameters[..., latent_channels:]
    residual = y - mean
    y_bits = -tf.math.log(p["conditional"].likelihood(noisy(residual, 2), log2_scale)) / np.log(2.0)
    y_hat = (p["conditional"]([y, mean])) * tf.exp(log_inverse_gain)
    reconstruction = p["decoder"](y_hat, training=training)
    pixels = tf.cast(tf.shape(images)[1] * tf.shape(images)[2], tf.float32)
    bits = tf.reduce_sum(z_bits, axis=[1, 2, 3]) + tf.reduce_sum(y_bits, axis=[1, 2, 3])
    bpp = bits / pixels
    mse = tf.reduce_mean(tf.square(images - reconstruction), axis=[1, 2, 3]) * 255.0**2
    loss = bpp + tf.gather(lambdas, levels) * mse
    clipped = tf.reduce_mean(tf.square(images - tf.clip_by_value(reconstruction, 0.0, 1.0)), axis=[1, 2, 3])
    psnr = 10.0 * tf.math.log(1.0 / tf.maximum(clipped, 1e-10)) / np.log(10.0)
    return {
        "loss": tf.reduce_mean(loss),
        "bits_per_pixel": tf.reduce_mean(bpp),
        "mse": tf.reduce_mean(mse),
        "psnr": tf.reduce_mean(psnr),
    }
