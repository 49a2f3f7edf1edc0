"""Training the hyperprior network: it learns, a resumed run is the uninterrupted one, exported it codes."""

import numpy as np
import pytest

from aelib.codec import hyper
from aelib.config import HyperpriorTraining
from aelib.data import embedded_crops
from aelib.errors import AelibError
from aelib.training.hyperprior import batch_at, learning_rate_at, train_hyperprior

TINY = HyperpriorTraining(
    channels=8,
    latent_channels=12,
    lambdas=(0.01, 0.1),
    crop_steps=40,
    crop_size=64,
    crop_batch=4,
    full_steps=20,
    full_batch=2,
    learning_rate=1e-3,
    checkpoint_every=20,
    validate_every=20,
    validation_images=4,
)


@pytest.fixture(scope="module")
def crops():
    images, _ = embedded_crops(size=128, crops_per_photo=3, seed=2)
    return images[:16], images[16:22]


@pytest.mark.slow
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(crops, tmp_path):
    train, val = crops
    whole = train_hyperprior(train, val, TINY, tmp_path / "whole", name="t", verbose=False)
    train_hyperprior(train, val, TINY, tmp_path / "parts", name="t", stop_after=40, verbose=False)
    resumed = train_hyperprior(train, val, TINY, tmp_path / "parts", name="t", verbose=False)
    assert whole.finished and resumed.finished
    for a, b in zip(whole.network.get_weights(), resumed.network.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(resumed.history) == len(whole.history)


@pytest.mark.slow
def test_training_lowers_the_objective_and_the_export_codes_the_validation_images(crops, tmp_path):
    train, val = crops
    settings = HyperpriorTraining(**{**TINY.__dict__, "crop_steps": 200, "full_steps": 0})
    result = train_hyperprior(train, val, settings, name="t", verbose=False)
    first, last = result.history.iloc[0], result.history.iloc[-1]
    assert last["loss"] < first["loss"]
    codec = hyper.export_codec(result.network, tmp_path / "t.keras")
    files = hyper.encode_batch(val, codec, codec.qualities - 1)
    assert hyper.decode_batch(files, hyper.load_hyper_codec(tmp_path / "t.keras")).shape == val.shape


def test_batches_and_the_learning_rate_follow_the_schedule():
    images = np.zeros((5, 128, 128, 3), np.uint8)
    crops_batch, levels = batch_at(0, images, TINY)
    full_batch, _ = batch_at(TINY.crop_steps, images, TINY)
    assert crops_batch.shape == (4, 64, 64, 3) and full_batch.shape == (2, 128, 128, 3)
    assert set(levels) <= {0, 1}
    assert (batch_at(7, images + 1, TINY)[1] == batch_at(7, images + 1, TINY)[1]).all()
    assert learning_rate_at(0, TINY) == TINY.learning_rate
    assert learning_rate_at(TINY.crop_steps - 1, TINY) == pytest.approx(TINY.learning_rate * TINY.drop_factor)


def test_images_of_a_side_that_is_no_multiple_of_64_are_refused(crops):
    train, val = crops
    with pytest.raises(AelibError, match="multiples of 64"):
        train_hyperprior(train[:, :100], val, TINY, verbose=False)


def test_the_gain_levels_start_at_the_quantisation_step_their_lambda_asks_for():
    """gain ∝ √λ (high-rate theory: Δ² ∝ 1/λ), centred; the inverse gains undo them."""
    from aelib.nn.hyperprior import build_hyperprior, initial_log_gains

    lambdas = (0.001, 0.004, 0.1)
    logs = initial_log_gains(lambdas)
    np.testing.assert_allclose(np.exp(logs[1:] - logs[0]), np.sqrt(np.array(lambdas[1:]) / lambdas[0]), rtol=1e-6)
    assert abs(logs.mean()) < 1e-6
    gains = build_hyperprior(8, 12, levels=3, lambdas=lambdas).get_layer("gains")
    np.testing.assert_allclose(gains.gain(0) * gains.inverse_gain(0), 1.0, rtol=1e-6)
    assert gains.gain(0).max() < gains.gain(8).min() < gains.gain(16).min()
    with pytest.raises(AelibError, match="3 λ for 2 gain levels"):
        build_hyperprior(8, 12, levels=2, lambdas=lambdas)
