import keras
import numpy as np
import pytest
from scipy.optimize import least_squares
from scipy.special import expit

from aelib.errors import AelibError
from aelib.nn.calibration import (
    OutputCalibration,
    _pre_activations,
    apply_output_calibration,
    calibrate_output,
    fit_channel,
)
from aelib.nn.models import build_autoencoder, build_gdn_autoencoder


def test_fit_recovers_a_known_sigmoid_gain_and_offset():
    pre = np.random.default_rng(0).normal(0, 2, 20_000)
    gain, offset = fit_channel(pre, expit(1.3 * pre - 0.4), sigmoid=True)
    assert gain == pytest.approx(1.3, abs=1e-6)
    assert offset == pytest.approx(-0.4, abs=1e-6)


def test_fit_with_noise_matches_scipy_least_squares():
    rng = np.random.default_rng(1)
    pre = rng.normal(0, 1.5, 20_000)
    target = np.clip(expit(0.8 * pre + 0.3) + rng.normal(0, 0.05, pre.shape), 0, 1)
    reference = least_squares(lambda p: expit(p[0] * pre + p[1]) - target, x0=[1.0, 0.0]).x
    assert fit_channel(pre, target, sigmoid=True) == pytest.approx(tuple(reference), abs=1e-5)


def test_linear_fit_is_ordinary_least_squares():
    rng = np.random.default_rng(2)
    pre = rng.normal(0, 1, 5_000)
    target = 0.7 * pre + 0.2 + rng.normal(0, 0.1, pre.shape)
    assert fit_channel(pre, target, sigmoid=False) == pytest.approx(tuple(np.polyfit(pre, target, 1)), abs=1e-9)


@pytest.mark.parametrize("model", ["paper", "gdn"])
def test_applying_scales_and_shifts_each_pre_activation(model, images):
    keras.utils.set_random_seed(3)
    autoencoder = build_autoencoder(3) if model == "paper" else build_gdn_autoencoder(8, 4)
    before = _pre_activations(autoencoder, images[:4])
    calibration = OutputCalibration(np.array([2.0, 0.5, 1.0], np.float32), np.array([0.1, -0.3, 0.0], np.float32))
    apply_output_calibration(autoencoder, calibration)
    after = _pre_activations(autoencoder, images[:4])
    np.testing.assert_allclose(after, before * calibration.gain + calibration.offset, rtol=1e-4, atol=1e-4)


def test_calibration_removes_a_colour_cast(images):
    """An untrained model decodes a grey blur; calibrated, each channel's mean matches the images' own."""
    keras.utils.set_random_seed(4)
    autoencoder = build_autoencoder(3)
    tinted = np.clip(images.astype(np.int32) * np.array([1.0, 0.6, 0.3]) + np.array([60, 0, 0]), 0, 255).astype(
        np.uint8
    )

    def mean_shift():
        decoded = autoencoder(tinted.astype(np.float32) / 255.0).numpy() * 255.0
        return decoded.reshape(-1, 3).mean(axis=0) - tinted.reshape(-1, 3).mean(axis=0)

    assert np.abs(mean_shift()).max() > 20
    calibration = calibrate_output(autoencoder, tinted)
    assert np.abs(mean_shift()).max() < 2
    assert "R ×" in calibration.describe()


def test_a_decoder_without_a_final_convolution_is_refused():
    inputs = keras.Input((None, None, 3))
    encoder = keras.Model(inputs, keras.layers.Conv2D(4, 3, padding="same")(inputs), name="encoder")
    latent = keras.Input((None, None, 4))
    decoder = keras.Model(latent, keras.layers.Activation("sigmoid")(latent[..., :3]), name="decoder")
    autoencoder = keras.Model(inputs, decoder(encoder(inputs)))
    with pytest.raises(AelibError, match="not a convolution"):
        calibrate_output(autoencoder, np.zeros((2, 8, 8, 3), np.uint8))
