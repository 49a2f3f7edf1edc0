"""Training an autoencoder with the hybrid loss and the paper's settings.

The defaults of :class:`aelib.config.TrainConfig` are the paper's: Adam
(lr 1e-3, β1 0.9, β2 0.999, ε 1e-7), batch 64, up to 40 epochs, EarlyStopping
on validation loss with patience 3, restoring the best weights. Each loss
component is logged per epoch to a CSV beside the saved ``.keras`` model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from aelib.config import TrainConfig
from aelib.errors import AelibError
from aelib.losses import HybridLoss
from aelib.models import build_autoencoder, downsampling_factor


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced.

    Attributes:
        model: the trained autoencoder (best validation weights).
        history: one row per epoch, a column per loss component (train and ``val_``).
        model_path, history_path: where they were saved, or None.
    """

    model: keras.Model
    history: pd.DataFrame
    model_path: Path | None
    history_path: Path | None


class _HybridLossTrainer(keras.Model):
    """Wraps an autoencoder so fit() computes every hybrid-loss term once per step and logs each."""

    def __init__(self, autoencoder: keras.Model, loss: HybridLoss):
        super().__init__(name="trainer")
        self.autoencoder = autoencoder
        self.hybrid_loss = loss
        names = ["loss", "ssim_loss", "mse_loss"] + (["perceptual_loss"] if loss.extractor is not None else [])
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    def call(self, images, training=False):
        return self.autoencoder(images, training=training)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _record(self, terms: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, images):
        with tf.GradientTape() as tape:
            terms = self.hybrid_loss.terms(images, self.autoencoder(images, training=True))
        weights = self.autoencoder.trainable_weights
        self.optimizer.apply_gradients(zip(tape.gradient(terms["loss"], weights), weights))
        return self._record(terms)

    def test_step(self, images):
        return self._record(self.hybrid_loss.terms(images, self.autoencoder(images, training=False)))


def _as_dataset(images: np.ndarray, batch_size: int, shuffle_seed: int | None) -> tf.data.Dataset:
    """uint8 images → batches of float32 in [0, 1], shuffled each epoch when a seed is given."""
    dataset = tf.data.Dataset.from_tensor_slices(images)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)
    return (
        dataset.batch(batch_size)
        .map(lambda batch: tf.cast(batch, tf.float32) / 255.0, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def distribution_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over all GPUs when there are several, else the default strategy."""
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def train_autoencoder(
    depth: int,
    train_images: np.ndarray,
    val_images: np.ndarray,
    config: TrainConfig = TrainConfig(),
    out_dir: str | Path | None = None,
    verbose: int | str = "auto",
) -> TrainResult:
    """Trains the depth-layer autoencoder on uint8 images with the hybrid loss.

    Args:
        depth: encoder depth (see :func:`aelib.models.build_autoencoder`).
        train_images, val_images: (N, H, W, 3) uint8 arrays; H and W multiples
            of the model's downsampling factor.
        config: the paper's settings by default.
        out_dir: when given, saves ``autoencoder_{depth}L.keras`` and
            ``autoencoder_{depth}L_history.csv`` there.
        verbose: Keras progress output (0 silent, 1 progress bar, 2 one line per epoch).

    Returns:
        The trained model (best validation weights restored) and its history.
    """
    factor = downsampling_factor(depth)
    for label, images in (("training", train_images), ("validation", val_images)):
        if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
            raise AelibError(f"{label} images must be a non-empty (N, H, W, 3) array, got shape {images.shape}")
        if images.shape[1] % factor or images.shape[2] % factor:
            raise AelibError(f"{label} images are {images.shape[1]}x{images.shape[2]}; sides must be multiples of {factor}")

    keras.utils.set_random_seed(config.seed)
    with distribution_strategy().scope():
        autoencoder = build_autoencoder(depth)
        trainer = _HybridLossTrainer(autoencoder, HybridLoss(config.loss_weights, config.feature_layers, config.perceptual_precision))
        trainer.compile(
            optimizer=keras.optimizers.Adam(
                learning_rate=config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon
            )
        )

    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)
    ]
    fit = trainer.fit(
        _as_dataset(train_images, config.batch_size, config.seed),
        validation_data=_as_dataset(val_images, config.batch_size, None),
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # the dataset reshuffles itself each epoch
        verbose=verbose,
    )
    history = pd.DataFrame(fit.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))

    model_path = history_path = None
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        model_path = out_dir / f"{autoencoder.name}.keras"
        history_path = out_dir / f"{autoencoder.name}_history.csv"
        save_model(autoencoder, model_path)
        temporary = history_path.with_name(f".{history_path.name}.tmp")
        history.to_csv(temporary, index=False)
        os.replace(temporary, history_path)
    return TrainResult(autoencoder, history, model_path, history_path)


def save_model(autoencoder: keras.Model, path: str | Path) -> None:
    """Saves a .keras file atomically (written beside, then renamed)."""
    path = Path(path)
    temporary = path.with_name(f".{os.getpid()}-{path.name}")
    autoencoder.save(temporary)
    os.replace(temporary, path)


def load_model(path: str | Path) -> keras.Model:
    """Loads an autoencoder saved by :func:`save_model`, with a one-line error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise AelibError(f"model file not found: {path}")
    try:
        model = keras.models.load_model(path, compile=False)
        model.get_layer("encoder"), model.get_layer("decoder")
    except Exception as error:  # Keras raises many types for a foreign or corrupt file.
        raise AelibError(f"{path} is not an aelib autoencoder model ({type(error).__name__}: {error})") from None
    return model
