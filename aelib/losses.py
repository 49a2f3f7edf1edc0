"""The paper's hybrid loss (eq. 4-8) on images in [0, 1], for Keras on TensorFlow.

Each function returns one value per image (shape (batch,)); Keras averages
over the batch. The three terms are brought to comparable scales as follows:

* SSIM loss 1 - SSIM (eq. 6) lies in [0, 1] (about 0.02-0.2 for our models).
* MSE (eq. 7) on [0, 1] pixels is small (about 0.001-0.01), so its weight
  mostly shapes the gradient towards exact colours.
* The perceptual term is eq. 4 divided by the mean squared feature of the
  original, ``mean((φ(x) - φ(y))²) / mean(φ(x)²)``: a relative feature error
  that is 0 for identical images, about 0.1-0.5 for visibly blurred ones, and
  independent of the layer's activation scale, so changing the feature layer
  does not silently change the balance of a, b and c.
"""

from __future__ import annotations

import tensorflow as tf

from aelib.config import DEFAULT_FEATURE_LAYERS, LossWeights
from aelib.vgg import build_feature_extractor, extract_features

SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def ssim_loss(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """1 - SSIM (eq. 5-6), Gaussian 11x11 window of sigma 1.5, averaged over RGB."""
    similarity = tf.image.ssim(
        y_true,
        y_pred,
        max_val=1.0,
        filter_size=SSIM_FILTER_SIZE,
        filter_sigma=SSIM_FILTER_SIGMA,
        k1=SSIM_K1,
        k2=SSIM_K2,
    )
    return 1.0 - similarity


def mse_loss(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Mean squared error over all pixels and channels (eq. 7)."""
    return tf.reduce_mean(tf.square(y_true - y_pred), axis=[1, 2, 3])


def perceptual_loss(y_true: tf.Tensor, y_pred: tf.Tensor, extractor) -> tf.Tensor:
    """Relative VGG16 feature error: eq. 4 over mean(φ(y_true)²), averaged over the extractor's layers.

    Args:
        y_true, y_pred: images in [0, 1], shape (batch, H, W, 3).
        extractor: a model from :func:`aelib.vgg.build_feature_extractor`.
    """
    batch = tf.shape(y_true)[0]
    per_layer = []
    for feature in extract_features(extractor, tf.concat([y_true, y_pred], axis=0)):
        feature = tf.cast(feature, tf.float32)  # features may be bfloat16 under mixed precision
        true_features, pred_features = feature[:batch], feature[batch:]
        error = tf.reduce_mean(tf.square(true_features - pred_features), axis=[1, 2, 3])
        scale = tf.reduce_mean(tf.square(true_features), axis=[1, 2, 3])
        per_layer.append(error / (tf.stop_gradient(scale) + 1e-6))
    return tf.add_n(per_layer) / len(per_layer)


def laplace_bits(latents: tf.Tensor, log_scales: tf.Tensor) -> tf.Tensor:
    """Bits of integer-spaced latents under a zero-centred Laplace density per channel.

    The probability of a (noisy or rounded) latent z is the density's mass on
    [z - 0.5, z + 0.5] (Ballé et al., 2017, eq. 6-7), so the estimate is
    differentiable in both the latents and the scales exp(log_scales), one per
    channel. It is the training-time stand-in for the rate; the codec itself
    codes with histogram tables fitted after training (:mod:`aelib.entropy`).

    Returns:
        The total bits of each item in the batch, shape (batch,); a latent
        costs at most log2(1e9) ≈ 30 bits, so outliers cannot dominate.
    """
    scale = tf.exp(log_scales)
    magnitude = tf.abs(latents)
    # The density is symmetric, so take the mass of [|z| - 0.5, |z| + 0.5]. Away from the centre it is
    # a difference of tails 0.5·exp(-x/b), which avoids subtracting two CDF values close to 1.
    upper_tail = 0.5 * tf.exp(-tf.maximum(magnitude - 0.5, 0.0) / scale)
    lower_tail = 0.5 * tf.exp(-(magnitude + 0.5) / scale)
    centre = 1.0 - 0.5 * tf.exp(-(0.5 - magnitude) / scale) - lower_tail
    mass = tf.where(magnitude < 0.5, centre, upper_tail - lower_tail)
    bits = -tf.math.log(tf.maximum(mass, 1e-9)) / tf.math.log(2.0)
    return tf.reduce_sum(bits, axis=[1, 2, 3])


class HybridLoss:
    """a·L_SSIM + b·L_perc + c·L_MSE (eq. 8), with a + b + c = 1 enforced by :class:`LossWeights`.

    VGG16 is built only when b > 0, since it dominates the cost of training.
    Its precision is "float32" by default; "mixed_bfloat16" runs it about 2.5x
    faster on CPUs with native bfloat16 and changes the perceptual term by
    well under 1% of its value (tests/test_losses.py checks 2%).
    """

    def __init__(
        self,
        weights: LossWeights = LossWeights(),
        feature_layers: tuple[str, ...] = DEFAULT_FEATURE_LAYERS,
        precision: str = "float32",
    ):
        self.weights = weights
        self.feature_layers = tuple(feature_layers)
        self.extractor = build_feature_extractor(self.feature_layers, precision) if weights.perceptual > 0 else None

    def terms(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> dict[str, tf.Tensor]:
        """Each component's batch mean and the weighted total under the key "loss"."""
        terms = {
            "ssim_loss": tf.reduce_mean(ssim_loss(y_true, y_pred)),
            "mse_loss": tf.reduce_mean(mse_loss(y_true, y_pred)),
        }
        total = self.weights.ssim * terms["ssim_loss"] + self.weights.mse * terms["mse_loss"]
        if self.extractor is not None:
            terms["perceptual_loss"] = tf.reduce_mean(perceptual_loss(y_true, y_pred, self.extractor))
            total += self.weights.perceptual * terms["perceptual_loss"]
        terms["loss"] = total
        return terms

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        return self.terms(y_true, y_pred)["loss"]
