import numpy as np
import pandas as pd
import pytest

from aelib.config import LossWeights, TrainConfig
from aelib.errors import AelibError
from aelib.losses import HybridLoss
from aelib.models import build_autoencoder
from aelib.train import load_model, train_autoencoder


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real, short training run: 48 crops of 32x32 from the embedded photos, 6 epochs."""
    from aelib.data import embedded_crops

    images, _ = embedded_crops(size=32, crops_per_photo=6, seed=3)
    config = TrainConfig(epochs=6, batch_size=8, patience=10, seed=5)
    out = tmp_path_factory.mktemp("run")
    return images[:48], images[48:], config, train_autoencoder(3, images[:48], images[48:], config, out_dir=out, verbose=0)


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
    for column in ("epoch", "loss", "ssim_loss", "perceptual_loss", "mse_loss", "val_loss", "val_ssim_loss"):
        assert column in saved.columns
    assert len(saved) == 6
    weights = LossWeights()
    combined = weights.ssim * saved.ssim_loss + weights.perceptual * saved.perceptual_loss + weights.mse * saved.mse_loss
    np.testing.assert_allclose(saved["loss"], combined, rtol=1e-4)


def test_saved_model_reloads_with_the_same_outputs(tiny_run):
    _, val_images, _, result = tiny_run
    reloaded = load_model(result.model_path)
    batch = val_images[:4].astype(np.float32) / 255.0
    np.testing.assert_allclose(reloaded(batch).numpy(), result.model(batch).numpy(), atol=1e-6)
    assert reloaded.get_layer("encoder").output.shape[-1] == 32


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
