"""Output calibration: a per-channel gain and offset on the decoder's last layer, fitted after training.

Trained with the paper's hybrid loss (eq. 8, with our weights 0.5 SSIM + 0.25
perceptual + 0.25 MSE; the paper publishes none), our 3-layer model on UTKFace decoded every face darker than it is —
on average 6.3 levels (of 255) in red, 2.3 in green — and pulled each face's
brightness towards the mean (decoded mean ≈ 0.92 × original + 5.8 levels).
SSIM's luminance term and the VGG16 features barely see a uniform shift of a
few levels, and the MSE term, a quarter of the loss, is too weak to remove it.
The shift is the decoder's, not the quantiser's: it is the same with
continuous, rounded and noisy latents.

The fix is the smallest one that restores the colours: for each output channel
c, a gain a_c and an offset b_c on the last layer's pre-activation,

    x̂_c = f(a_c · p_c + b_c),

where p_c is the pre-activation and f the layer's activation (the sigmoid of
eq. 3, or the identity of the GDN models), fitted by least squares on the
training images' decoded pixels (Gauss–Newton) and folded into the layer's
kernel and bias. The architecture does not change: the model keeps eq. 1–3 and
six of its numbers move (docs/design-notes.md: what it did to the paper-profile
3-layer model's colours, PSNR and SSIM).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from aelib.errors import InputError, TrainingError
from aelib.nn.models import decoder_of, encoder_of

CALIBRATION_SAMPLE = 512
"""Training images whose decoded pixels fit the calibration (8.4 M pixels per channel at 128x128)."""

GAUSS_NEWTON_STEPS = 20
"""Gauss–Newton iterations of the two-parameter fit; it converges in a handful from (1, 0)."""


@dataclass(frozen=True)
class OutputCalibration:
    """Per-channel gain and offset applied to the decoder's last pre-activation.

    Attributes:
        gain, offset: one value per output channel (R, G, B).
    """

    gain: np.ndarray
    offset: np.ndarray

    def describe(self) -> str:
        """One line: each channel's gain and offset."""
        return ", ".join(
            f"{channel} ×{gain:.3f} {offset:+.3f}"
            for channel, gain, offset in zip("RGB", self.gain, self.offset, strict=True)
        )


def _last_layer(autoencoder: keras.Model) -> keras.layers.Layer:
    layer = decoder_of(autoencoder).layers[-1]
    if not isinstance(layer, keras.layers.Conv2DTranspose | keras.layers.Conv2D):
        raise InputError(f"the decoder's last layer is a {type(layer).__name__}, not a convolution to calibrate")
    if layer.activation not in (keras.activations.sigmoid, keras.activations.linear):
        raise InputError(f"the decoder's last activation is {layer.activation.__name__}, not sigmoid or linear")
    return layer


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * values))  # no overflow for large |values|


def _pre_activations(autoencoder: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The last layer's pre-activations for uint8 images, decoded from rounded latents as the codec does."""
    layer = _last_layer(autoencoder)
    activation = layer.activation
    encoder, decoder = encoder_of(autoencoder), decoder_of(autoencoder)
    batches = []
    layer.activation = keras.activations.linear
    try:
        for start in range(0, len(images), batch_size):
            pixels = images[start : start + batch_size].astype(np.float32) / 255.0
            latents = np.rint(encoder(pixels, training=False).numpy())
            batches.append(decoder(latents, training=False).numpy())
    finally:
        layer.activation = activation
    return np.concatenate(batches)


def fit_channel(pre: np.ndarray, target: np.ndarray, sigmoid: bool) -> tuple[float, float]:
    """Least-squares gain a and offset b of f(a·pre + b) ≈ target for one channel.

    Args:
        pre: pre-activations (any shape).
        target: the original pixels in [0, 1], same shape.
        sigmoid: f is the sigmoid; otherwise f is the identity (ordinary least squares).

    Returns:
        (a, b), starting from (1, 0) and refined by Gauss–Newton.
    """
    pre, target = pre.ravel().astype(np.float64), target.ravel().astype(np.float64)
    gain, offset = 1.0, 0.0
    for _ in range(GAUSS_NEWTON_STEPS if sigmoid else 1):
        output = _sigmoid(gain * pre + offset) if sigmoid else gain * pre + offset
        slope = output * (1.0 - output) if sigmoid else np.ones_like(output)
        jacobian = np.stack([slope * pre, slope], axis=1)
        normal = jacobian.T @ jacobian
        if np.linalg.cond(normal) > 1e12:
            break  # a constant channel: leave it as it is
        step = np.linalg.solve(normal, jacobian.T @ (output - target))
        gain, offset = gain - step[0], offset - step[1]
    if not np.isfinite([gain, offset]).all():
        raise TrainingError("the output calibration did not converge")
    return float(gain), float(offset)


def fit_output_calibration(autoencoder: keras.Model, images: np.ndarray) -> OutputCalibration:
    """Fits each output channel's gain and offset on up to CALIBRATION_SAMPLE uint8 images (the training split).

    Args:
        autoencoder: a model with nested "encoder" and "decoder" whose last layer is a convolution.
        images: (N, H, W, 3) uint8 images, sides multiples of the model's downsampling factor.

    Returns:
        The fitted calibration; the model is not changed.
    """
    sample = images[:CALIBRATION_SAMPLE]
    pre = _pre_activations(autoencoder, sample)
    target = sample.astype(np.float32) / 255.0
    sigmoid = _last_layer(autoencoder).activation is keras.activations.sigmoid
    fits = [fit_channel(pre[..., c], target[..., c], sigmoid) for c in range(pre.shape[-1])]
    gains, offsets = zip(*fits, strict=True)
    return OutputCalibration(np.array(gains, np.float32), np.array(offsets, np.float32))


def apply_output_calibration(autoencoder: keras.Model, calibration: OutputCalibration) -> None:
    """Folds the gain and offset into the last layer: kernel·a per output channel, bias·a + b."""
    layer = _last_layer(autoencoder)
    kernel, bias = layer.get_weights()
    # Conv2DTranspose kernels are (h, w, out, in), Conv2D kernels (h, w, in, out).
    axis = 2 if isinstance(layer, keras.layers.Conv2DTranspose) else 3
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    layer.set_weights([kernel * calibration.gain.reshape(shape), bias * calibration.gain + calibration.offset])


def calibrate_output(autoencoder: keras.Model, images: np.ndarray) -> OutputCalibration:
    """Fits the output calibration on images and applies it to the model in place; returns it."""
    calibration = fit_output_calibration(autoencoder, images)
    apply_output_calibration(autoencoder, calibration)
    return calibration
