import numpy as np
import pytest
import tensorflow as tf

from aelib.config import LossWeights
from aelib.errors import AelibError
from aelib.measure.metrics import ssim
from aelib.nn.losses import HybridLoss, mse_loss, perceptual_loss, ssim_loss
from aelib.nn.vgg import build_feature_extractor


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

    from aelib.nn.losses import laplace_bits

    rng = np.random.default_rng(3)
    latents = np.concatenate([rng.uniform(-0.5, 0.5, 20), np.clip(rng.laplace(0, 3, 40), -5, 5), [0.0, 0.5, -0.5, 5.5]])
    scales = np.array([0.4, 1.0, 2.5, 6.0])
    z = np.tile(latents[:, None], (1, 4))
    expected = -np.log2(laplace.cdf(z + 0.5, scale=scales) - laplace.cdf(z - 0.5, scale=scales)).sum()
    ours = laplace_bits(tf.constant(z[None, :, None, :], tf.float32), tf.constant(np.log(scales), tf.float32))
    assert float(ours[0]) == pytest.approx(expected, rel=1e-4)


def test_laplace_bits_and_their_gradients_stay_finite_at_extreme_values():
    """|z| up to 1e4 at the scale floor: the old form overflowed exp() in the unselected branch (NaN gradients)."""
    from scipy.stats import laplace

    from aelib.nn.losses import laplace_bits

    z = np.array([0.0, 0.3, 0.5, 1.4, 20.0, 300.0, -1e4])
    scales = np.array([0.01, 0.5, 40.0])
    grid = np.tile(z[:, None], (1, len(scales)))
    latents = tf.Variable(grid[:, None, None, :], dtype=tf.float32)  # one latent per "image", so bits per entry
    log_scales = tf.Variable(np.log(scales), dtype=tf.float32)
    with tf.GradientTape() as tape:
        bits = laplace_bits(latents, log_scales)
    latent_gradient, scale_gradient = tape.gradient(bits, [latents, log_scales])
    assert np.isfinite(bits.numpy()).all()
    assert np.isfinite(latent_gradient.numpy()).all() and np.isfinite(scale_gradient.numpy()).all()
    # Far out, each unit of |z| costs 1 / (b ln 2) bits: the Laplace tail's slope, by hand.
    slope = latent_gradient.numpy()[-1, 0, 0, :] * np.sign(z[-1])
    np.testing.assert_allclose(slope, 1 / (scales * np.log(2)), rtol=1e-5)

    # Where scipy's log survival function is still finite, the values agree with it.
    magnitude = np.abs(grid)
    upper, lower = laplace.logsf(magnitude - 0.5, scale=scales), laplace.logsf(magnitude + 0.5, scale=scales)
    centre = np.log(laplace.cdf(magnitude + 0.5, scale=scales) - laplace.cdf(magnitude - 0.5, scale=scales))
    with np.errstate(invalid="ignore"):
        tail = upper + np.log1p(-np.exp(lower - upper))
    expected = -np.where(magnitude < 0.5, centre, tail) / np.log(2)
    usable = np.isfinite(expected) & np.isfinite(lower)
    # bits of entry (i, c): laplace_bits sums over channels, so compare one channel at a time.
    for channel in range(len(scales)):
        single = laplace_bits(latents[..., channel : channel + 1], log_scales[channel : channel + 1]).numpy()
        rows = usable[:, channel]
        np.testing.assert_allclose(single[rows], expected[rows, channel], rtol=1e-4, atol=1e-5)


def test_cached_target_features_give_the_same_terms(photos):
    loss = HybridLoss(LossWeights(), ("block2_conv2",), "float32")
    noisy = np.clip(photos.astype(np.int16) + 30, 0, 255).astype(np.uint8)
    direct = loss.terms(_float(photos), _float(noisy))
    cached = loss.terms(_float(photos), _float(noisy), loss.target_features(_float(photos)))
    for name, value in direct.items():
        assert float(cached[name]) == pytest.approx(float(value), rel=1e-6)
