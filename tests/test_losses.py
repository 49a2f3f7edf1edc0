import numpy as np
import pytest
import tensorflow as tf

from aelib.config import LossWeights
from aelib.errors import AelibError
from aelib.losses import HybridLoss, mse_loss, perceptual_loss, ssim_loss
from aelib.metrics import ssim
from aelib.vgg import build_feature_extractor


def _float(images: np.ndarray) -> tf.Tensor:
    return tf.constant(images / 255.0, tf.float32)


def _blurred(images: np.ndarray, passes: int) -> np.ndarray:
    out = images.astype(np.float64)
    for _ in range(passes):
        out = (out + np.roll(out, 1, axis=1) + np.roll(out, 1, axis=2)) / 3
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("a, b, c", [(0.5, 0.5, 0.5), (0.2, 0.2, 0.2), (1.2, -0.1, -0.1), (0.5, 0.6, -0.1)])
def test_hybrid_loss_refuses_bad_weights(a, b, c):
    with pytest.raises(AelibError, match="loss weights must"):
        LossWeights(a, b, c)


def test_ssim_loss_agrees_with_scikit_image(photos):
    distorted = _blurred(photos, 2)
    ours = 1.0 - ssim_loss(_float(photos), _float(distorted)).numpy()
    reference = [ssim(o, d) for o, d in zip(photos, distorted)]
    np.testing.assert_allclose(ours, reference, atol=1e-3)


def test_mse_loss_matches_numpy(photos):
    distorted = _blurred(photos, 1)
    expected = ((photos / 255.0 - distorted / 255.0) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(mse_loss(_float(photos), _float(distorted)).numpy(), expected, rtol=1e-5)


def test_perceptual_loss_is_zero_for_identical_images_and_grows_with_distortion(photos):
    extractor = build_feature_extractor(("block2_conv2",))
    same = perceptual_loss(_float(photos), _float(photos), extractor).numpy()
    np.testing.assert_allclose(same, 0.0, atol=1e-7)
    values = [
        float(np.mean(perceptual_loss(_float(photos), _float(_blurred(photos, n)), extractor))) for n in (1, 3, 8)
    ]
    assert 0 < values[0] < values[1] < values[2]


def test_hybrid_loss_is_the_weighted_sum_of_its_terms(photos):
    loss = HybridLoss(LossWeights(0.2, 0.3, 0.5))
    terms = loss.terms(_float(photos), _float(_blurred(photos, 2)))
    expected = 0.2 * terms["ssim_loss"] + 0.3 * terms["perceptual_loss"] + 0.5 * terms["mse_loss"]
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-6)
    assert float(loss(_float(photos), _float(photos))) == pytest.approx(0.0, abs=1e-6)


def test_hybrid_loss_without_perceptual_term_skips_vgg(photos):
    loss = HybridLoss(LossWeights(0.5, 0.0, 0.5))
    assert loss.extractor is None
    assert "perceptual_loss" not in loss.terms(_float(photos), _float(photos))


def test_bfloat16_perceptual_term_stays_within_two_percent(photos):
    noisy = np.clip(photos + np.random.default_rng(1).normal(0, 12, photos.shape), 0, 255).astype(np.uint8)
    exact = perceptual_loss(_float(photos), _float(noisy), build_feature_extractor(("block2_conv2",), "float32"))
    fast = perceptual_loss(_float(photos), _float(noisy), build_feature_extractor(("block2_conv2",), "mixed_bfloat16"))
    assert float(np.mean(fast)) == pytest.approx(float(np.mean(exact)), rel=0.02)


def test_unknown_precision_is_a_clear_error():
    with pytest.raises(AelibError, match="unknown precision"):
        build_feature_extractor(("block2_conv2",), "float8")


def test_laplace_bits_match_scipy():
    from scipy.stats import laplace

    from aelib.losses import laplace_bits

    rng = np.random.default_rng(3)
    latents = np.concatenate([rng.uniform(-0.5, 0.5, 20), np.clip(rng.laplace(0, 3, 40), -5, 5), [0.0, 0.5, -0.5, 5.5]])
    scales = np.array([0.4, 1.0, 2.5, 6.0])
    z = np.tile(latents[:, None], (1, 4))
    expected = -np.log2(laplace.cdf(z + 0.5, scale=scales) - laplace.cdf(z - 0.5, scale=scales)).sum()
    ours = laplace_bits(tf.constant(z[None, :, None, :], tf.float32), tf.constant(np.log(scales), tf.float32))
    assert float(ours[0]) == pytest.approx(expected, rel=1e-4)
