import numpy as np
import pandas as pd
import pytest

from aelib.config import LossWeights, TrainConfig
from aelib.errors import AelibError
from aelib.losses import HybridLoss
from aelib.models import build_autoencoder, load_model
from aelib.train import train_autoencoder


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real, short training run: 48 crops of 32x32 from the embedded photos, 240 steps."""
    from aelib.data import load_dataset

    dataset = load_dataset(None, size=32, limit=60, fractions=(0.8, 0.2, 0.0))
    config = TrainConfig(epochs=20, batch_size=4, patience=20, seed=5)
    out = tmp_path_factory.mktemp("run")
    result = train_autoencoder(3, dataset.train, dataset.val, config, out_dir=out, verbose=0)
    return dataset.train, dataset.val, config, result


def test_training_lowers_the_loss(tiny_run):
    train_images, _, config, result = tiny_run
    loss = HybridLoss(config.loss_weights, config.feature_layers)
    batch = train_images.astype(np.float32) / 255.0
    import keras

    keras.utils.set_random_seed(config.seed)
    untrained = float(loss(batch, build_autoencoder(3)(batch)))
    trained = float(loss(batch, result.model(batch)))
    assert trained < 0.9 * untrained
    assert result.history["loss"].iloc[-1] < result.history["loss"].iloc[0]


def test_history_logs_every_loss_component(tiny_run):
    *_, result = tiny_run
    saved = pd.read_csv(result.history_path)
    for column in (
        "epoch",
        "loss",
        "ssim_loss",
        "perceptual_loss",
        "mse_loss",
        "bits_per_pixel",
        "val_loss",
        "val_ssim_loss",
    ):
        assert column in saved.columns
    assert len(saved) == 20
    weights = LossWeights()
    combined = (
        weights.ssim * saved.ssim_loss + weights.perceptual * saved.perceptual_loss + weights.mse * saved.mse_loss
    )
    np.testing.assert_allclose(saved["loss"], combined, rtol=1e-4)


def test_saved_model_reloads_with_the_same_outputs(tiny_run):
    _, val_images, _, result = tiny_run
    reloaded = load_model(result.model_path)
    batch = val_images[:4].astype(np.float32) / 255.0
    np.testing.assert_allclose(reloaded(batch).numpy(), result.model(batch).numpy(), atol=1e-6)
    assert reloaded.get_layer("encoder").output.shape[-1] == 32


def test_training_fits_and_saves_entropy_tables(tiny_run):
    *_, result = tiny_run
    from aelib.codec import entropy_path, load_codec_model

    assert entropy_path(result.model_path).is_file()
    assert load_codec_model(result.model_path).fingerprint == result.codec.fingerprint


def test_load_model_refuses_other_files(tmp_path):
    fake = tmp_path / "fake.keras"
    fake.write_bytes(b"not a model")
    with pytest.raises(AelibError, match="is not an aelib autoencoder model"):
        load_model(fake)
    with pytest.raises(AelibError, match="model file not found"):
        load_model(tmp_path / "missing.keras")


def test_image_sides_must_fit_the_downsampling(tiny_run):
    train_images, *_ = tiny_run
    with pytest.raises(AelibError, match="multiples of 8"):
        train_autoencoder(3, train_images[:, :30, :30], train_images[:, :30, :30], TrainConfig(epochs=1))


def test_a_model_trained_without_noise_can_be_fine_tuned_for_quantisation(tiny_run):
    train_images, val_images, _, _ = tiny_run
    plain = train_autoencoder(
        3, train_images, val_images, TrainConfig(epochs=1, batch_size=16, quantization_noise=False), verbose=0
    )
    tuned = train_autoencoder(
        3, train_images, val_images, TrainConfig(epochs=1, batch_size=16), verbose=0, initial_model=plain.model
    )
    assert tuned.model is plain.model  # the same network, trained further
    assert tuned.codec.fingerprint != plain.codec.fingerprint
    with pytest.raises(AelibError, match="initial model has depth 3, not 5"):
        train_autoencoder(5, train_images, val_images, TrainConfig(epochs=1), initial_model=plain.model)


def test_laplace_scales_start_at_the_mean_absolute_latent(images):
    from aelib.models import build_autoencoder, encoder_of
    from aelib.train import MIN_LAPLACE_SCALE, laplace_log_scales

    model = build_autoencoder(3)
    latents = encoder_of(model)(images.astype(np.float32) / 255.0).numpy()
    expected = np.maximum(np.abs(latents).mean(axis=(0, 1, 2)), MIN_LAPLACE_SCALE)
    np.testing.assert_allclose(np.exp(laplace_log_scales(model, images)), expected, rtol=1e-4)
