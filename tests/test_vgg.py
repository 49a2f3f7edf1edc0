import hashlib
import pickle

import numpy as np
import pytest

from aelib.config import VGG16_WEIGHTS_SHA256
from aelib.errors import AelibError
from aelib.nn.vgg import (
    _converted_weights_file,
    build_feature_extractor,
    build_vgg16,
    checkpoint_path,
    extract_features,
    read_checkpoint,
    vgg16_conv_weights,
    weights_digest,
)


def test_fingerprint_of_block1_conv1():
    kernel, bias = build_vgg16().get_layer("block1_conv1").get_weights()
    assert kernel.shape == (3, 3, 3, 64) and bias.shape == (64,)
    # torchvision's ImageNet VGG16: the first filter's red-channel weights begin like this.
    np.testing.assert_allclose(kernel[:, :, 0, 0].ravel()[:3], [-0.5537, 0.1427, 0.5290], atol=1e-4)


def test_checksum_mismatch_is_refused(tmp_path):
    forged = tmp_path / "vgg16.ckpt"
    forged.write_bytes(pickle.dumps({"VGG16_0": {}}))
    with pytest.raises(AelibError, match="sha256 .* expected .* refusing"):
        read_checkpoint(forged)


def test_unpickler_admits_numpy_arrays_only(tmp_path):
    arrays = tmp_path / "arrays.ckpt"
    arrays.write_bytes(pickle.dumps({"a": np.arange(3, dtype=np.float32)}))
    loaded = read_checkpoint(arrays, hashlib.sha256(arrays.read_bytes()).hexdigest())
    np.testing.assert_array_equal(loaded["a"], [0, 1, 2])

    class Exploit:
        def __reduce__(self):
            import os

            return (os.system, ("echo owned",))

    hostile = tmp_path / "hostile.ckpt"
    hostile.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(AelibError, match="refusing to unpickle"):
        read_checkpoint(hostile, hashlib.sha256(hostile.read_bytes()).hexdigest())


def test_installed_checkpoint_passes_its_checksum():
    checkpoint = read_checkpoint(checkpoint_path())
    assert sorted(checkpoint) == [
        "NetLinLayer_0",
        "NetLinLayer_1",
        "NetLinLayer_2",
        "NetLinLayer_3",
        "NetLinLayer_4",
        "VGG16_0",
    ]


def test_the_recorded_weights_digest_is_that_of_the_checkpoint():
    assert weights_digest(vgg16_conv_weights(read_checkpoint(checkpoint_path()))) == VGG16_WEIGHTS_SHA256


@pytest.mark.parametrize("damage", ["zeroed kernel", "garbage"])
def test_a_tampered_weights_cache_is_rebuilt_from_the_checkpoint(damage):
    reference = build_vgg16().get_layer("block1_conv1").get_weights()[0]
    cached = _converted_weights_file()
    if damage == "garbage":
        cached.write_bytes(b"not an h5 file")
    else:
        model = build_vgg16()
        kernel, bias = model.get_layer("block1_conv1").get_weights()
        model.get_layer("block1_conv1").set_weights([np.zeros_like(kernel), bias])
        model.save_weights(cached)
    np.testing.assert_array_equal(build_vgg16().get_layer("block1_conv1").get_weights()[0], reference)
    rebuilt = build_vgg16()  # from the rewritten cache
    np.testing.assert_array_equal(rebuilt.get_layer("block1_conv1").get_weights()[0], reference)


def test_imagenet_features_tell_photos_apart():
    """With genuine weights a cat is close to its own flipped crop and far from other photos."""
    import skimage.data
    import tensorflow as tf

    from aelib.data import center_crop_resize

    extractor = build_feature_extractor(("block5_conv3",))

    def pooled(image):
        x = tf.constant(center_crop_resize(image, 128)[None] / 255.0, tf.float32)
        return tf.reduce_mean(extract_features(extractor, x)[0], axis=[0, 1, 2]).numpy()

    def cosine(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    cat = pooled(skimage.data.chelsea())
    flipped = pooled(skimage.data.chelsea()[:, ::-1][20:, 30:])
    others = [pooled(getattr(skimage.data, name)()) for name in ("coffee", "astronaut", "rocket")]
    assert cosine(cat, flipped) > 0.8
    assert max(cosine(cat, other) for other in others) < 0.5


def test_unknown_feature_layer_is_a_clear_error():
    with pytest.raises(AelibError, match="unknown VGG16 layer"):
        build_feature_extractor(("block9_conv9",))
