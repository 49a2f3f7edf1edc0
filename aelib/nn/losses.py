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

from aelib.config import DEFAULT_FEATURE_LAYERS, SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_WINDOW, LossWeights
from aelib.nn.vgg import build_feature_extractor, extract_features


def ssim_loss(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """1 - SSIM (eq. 5-6), Gaussian 11x11 window of sigma 1.5, averaged over RGB."""
    similarity = tf.image.ssim(
        y_true,
        y_pred,
        max_val=1.0,
        filter_size=SSIM_WINDOW,
        filter_sigma=SSIM_SIGMA,
        k1=SSIM_K1,
        k2=SSIM_K2,
    )
    return 1.0 - similarity


def mse_loss(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Mean squared error over all pixels and channels (eq. 7)."""
    return tf.reduce_mean(tf.square(y_true - y_pred), axis=[1, 2, 3])


def perceptual_loss(y_true: tf.Tensor, y_pred: tf.Tensor, extractor, true_features: list | None = None) -> tf.Tensor:
    """Relative VGG16 feature error: eq. 4 over mean(φ(y_true)²), averaged over the extractor's layers.

    The original's features are constants of the loss, so they are computed
    apart from the reconstruction's under ``stop_gradient``: back-propagating
    through VGG16 for the original too would cost a third of a training step
    and change nothing.

    Args:
        y_true, y_pred: images in [0, 1], shape (batch, H, W, 3).
        extractor: a model from :func:`aelib.nn.vgg.build_feature_extractor`.
        true_features: φ(y_true) computed earlier (one tensor per layer), e.g.
            cached once per training image; computed here when None.
    """
    if true_features is None:
        true_features = extract_features(extractor, y_true)
    per_layer = []
    for true_feature, pred_feature in zip(true_features, extract_features(extractor, y_pred), strict=True):
        # Features may be bfloat16 under mixed precision; the error is summed in float32.
        true_feature = tf.stop_gradient(tf.cast(true_feature, tf.float32))
        pred_feature = tf.cast(pred_feature, tf.float32)
        error = tf.reduce_mean(tf.square(true_feature - pred_feature), axis=[1, 2, 3])
        scale = tf.reduce_mean(tf.square(true_feature), axis=[1, 2, 3])
        per_layer.append(error / (scale + 1e-6))
    return tf.add_n(per_layer) / len(per_layer)


def laplace_bits(latents: tf.Tensor, log_scales: tf.Tensor) -> tf.Tensor:
    """Bits of integer-spaced latents under a zero-centred Laplace density per channel.

    The probability of a (noisy or rounded) latent z is the density's mass on
    [z - 0.5, z + 0.5] (Ballé et al., 2017, eq. 6-7), so the estimate is
    differentiable in both the latents and the scales b = exp(log_scales), one
    per channel. It is the training-time stand-in for the rate; the codec
    itself codes with histogram tables fitted after training (:mod:`aelib.codec.entropy`).

    For |z| >= 0.5 the mass is a difference of tails,
    0.5·exp(-(|z| - 0.5)/b)·(1 - exp(-1/b)), whose logarithm is computed
    directly: linear in |z|, it neither underflows nor overflows, and no
    exponential of a large argument is evaluated in either branch (a ``tf.where``
    back-propagates through both, so an infinite value in the unselected one
    would still turn the gradient into NaN).

    Returns:
        The total bits of each item in the batch, shape (batch,).
    """
    scale = tf.exp(log_scales)
    magnitude = tf.abs(latents)
    inner = tf.minimum(magnitude, 0.5)
    centre = 1.0 - 0.5 * tf.exp(-(0.5 - inner) / scale) - 0.5 * tf.exp(-(inner + 0.5) / scale)
    log_centre = tf.math.log(tf.maximum(centre, 1e-30))
    log_tail = tf.math.log(0.5) - tf.maximum(magnitude - 0.5, 0.0) / scale + tf.math.log(-tf.math.expm1(-1.0 / scale))
    log_mass = tf.where(magnitude < 0.5, log_centre, log_tail)
    return tf.reduce_sum(-log_mass / tf.math.log(2.0), axis=[1, 2, 3])


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

    def target_features(self, y_true: tf.Tensor) -> list:
        """φ(y_true) for :meth:`terms`: the VGG16 features of originals, to compute once and reuse."""
        return extract_features(self.extractor, y_true)

    def terms(self, y_true: tf.Tensor, y_pred: tf.Tensor, true_features: list | None = None) -> dict[str, tf.Tensor]:
        """Each component's batch mean and the weighted total under the key "loss".

        true_features: :meth:`target_features` of y_true when already known.
        """
        terms = {
            "ssim_loss": tf.reduce_mean(ssim_loss(y_true, y_pred)),
            "mse_loss": tf.reduce_mean(mse_loss(y_true, y_pred)),
        }
        total = self.weights.ssim * terms["ssim_loss"] + self.weights.mse * terms["mse_loss"]
        if self.extractor is not None:
            terms["perceptual_loss"] = tf.reduce_mean(perceptual_loss(y_true, y_pred, self.extractor, true_features))
            total += self.weights.perceptual * terms["perceptual_loss"]
        terms["loss"] = total
        return terms

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        return self.terms(y_true, y_pred)["loss"]
