"""Training an autoencoder with the hybrid loss and the paper's settings.

The defaults of :class:`aelib.config.TrainConfig` are the paper's: Adam
(lr 1e-3, β1 0.9, β2 0.999, ε 1e-7), batch 64, up to 40 epochs, EarlyStopping
on validation loss with patience 3, restoring the best weights. Each loss
component is logged per epoch to a CSV beside the saved ``.keras`` model.

Beyond the paper, the decoder learns to work from quantised latents: during
training it sees the encoder's output plus uniform noise in [-0.5, 0.5)
(Ballé et al., 2017), and validation rounds the latents as the codec does.
After training, the entropy tables are fitted to the training split's latents
and saved beside the model, so the model writes real ``.aec`` files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from aelib.codec import CodecModel, make_codec_model, save_codec_model
from aelib.config import TrainConfig
from aelib.errors import AelibError
from aelib.losses import HybridLoss, laplace_bits
from aelib.models import build_autoencoder, decoder_of, depth_of, downsampling_factor_of, encoder_of
from aelib.outputs import atomic_output


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced.

    Attributes:
        model: the trained autoencoder (best validation weights).
        codec: the model with its entropy tables, fitted on the training images.
        history: one row per epoch, a column per loss component (train and ``val_``).
        model_path, history_path: where they were saved, or None.
    """

    model: keras.Model
    codec: CodecModel
    history: pd.DataFrame
    model_path: Path | None
    history_path: Path | None


class _HybridLossTrainer(keras.Model):
    """Wraps an autoencoder so fit() computes every hybrid-loss term once per step and logs each.

    With quantization_noise, training adds uniform noise to the latents and
    validation rounds them. The rate in bits per pixel is always estimated
    (and logged) with a per-channel Laplace density whose scales learn to fit
    the latents, starting from log_scales (zeros: scale 1); rate_weight > 0
    adds λ·rate to the loss the autoencoder minimises.
    """

    def __init__(
        self,
        autoencoder: keras.Model,
        loss: HybridLoss,
        quantization_noise: bool,
        rate_weight: float,
        log_scales: np.ndarray | None = None,
    ):
        super().__init__(name="trainer")
        self.autoencoder = autoencoder
        self.encoder = encoder_of(autoencoder)
        self.decoder = decoder_of(autoencoder)
        self.hybrid_loss = loss
        self.quantization_noise = quantization_noise
        self.rate_weight = rate_weight
        channels = self.encoder.output.shape[-1]
        self.log_scales = self.add_weight(shape=(channels,), initializer="zeros", name="log_scales")
        if log_scales is not None:
            self.log_scales.assign(np.asarray(log_scales, np.float32))
        names = ["loss", "ssim_loss", "mse_loss", "bits_per_pixel"]
        names += ["perceptual_loss"] if loss.extractor is not None else []
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

    def _terms(self, images, latents, training: bool) -> dict[str, tf.Tensor]:
        terms = self.hybrid_loss.terms(images, self.decoder(latents, training=training))
        pixels = tf.cast(tf.shape(images)[1] * tf.shape(images)[2], tf.float32)
        terms["bits_per_pixel"] = tf.reduce_mean(laplace_bits(latents, self.log_scales)) / pixels
        if self.rate_weight > 0:
            terms["loss"] += self.rate_weight * terms["bits_per_pixel"]
        return terms

    def train_step(self, images):
        with tf.GradientTape(persistent=True) as tape:
            latents = self.encoder(images, training=True)
            if self.quantization_noise:
                latents += tf.random.uniform(tf.shape(latents), -0.5, 0.5)
            terms = self._terms(images, latents, training=True)
        weights = self.autoencoder.trainable_weights
        self.optimizer.apply_gradients(
            list(zip(tape.gradient(terms["loss"], weights), weights))
            + [(tape.gradient(terms["bits_per_pixel"], self.log_scales), self.log_scales)]
        )
        del tape
        return self._record(terms)

    def test_step(self, images):
        latents = self.encoder(images, training=False)
        if self.quantization_noise:
            latents = tf.round(latents)
        return self._record(self._terms(images, latents, training=False))


def _as_dataset(
    images: np.ndarray,
    batch_size: int,
    shuffle_seed: int | None,
    crop_size: int | None = None,
    repeat: bool = False,
) -> tf.data.Dataset:
    """uint8 images → batches of float32 in [0, 1], shuffled each epoch when a seed is given.

    With crop_size, each image is replaced by a random crop_size x crop_size
    crop, drawn anew every time it is visited; with repeat, the batches never end.
    """
    dataset = tf.data.Dataset.from_tensor_slices(images)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    if crop_size is not None:
        dataset = dataset.map(lambda image: tf.image.random_crop(image, (crop_size, crop_size, 3), seed=shuffle_seed))
    return (
        dataset.batch(batch_size)
        .map(lambda batch: tf.cast(batch, tf.float32) / 255.0, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def distribution_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over all GPUs when there are several, else the default strategy."""
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


MIN_LAPLACE_SCALE = 0.01
"""Floor of the initial Laplace scales, for channels whose latents are all near zero."""


def laplace_log_scales(autoencoder: keras.Model, images: np.ndarray, sample: int = 256) -> np.ndarray:
    """Log of each latent channel's maximum-likelihood zero-mean Laplace scale, mean |y|, on a sample of uint8 images.

    Starting the rate estimate from these instead of scale 1 matters when
    fine-tuning a trained model: Adam moves a log scale by about the learning
    rate per step, so scales far from 1 would otherwise take thousands of
    steps to fit, and the rate term would push the latents the wrong way meanwhile.
    """
    latents = encoder_of(autoencoder)(images[:sample].astype(np.float32) / 255.0, training=False).numpy()
    return np.log(np.maximum(np.abs(latents).mean(axis=(0, 1, 2)), MIN_LAPLACE_SCALE)).astype(np.float32)


def build_trainer(autoencoder: keras.Model, config: TrainConfig, log_scales: np.ndarray | None = None) -> keras.Model:
    """The compiled training model: the autoencoder with the hybrid loss, the rate term and Adam.

    Its ``fit`` trains the autoencoder in place; :func:`train_autoencoder` and
    the training benchmark both use it. log_scales start the rate estimate's
    Laplace scales (see :func:`laplace_log_scales`); zeros by default.
    """
    loss = HybridLoss(config.loss_weights, config.feature_layers, config.perceptual_precision)
    trainer = _HybridLossTrainer(autoencoder, loss, config.quantization_noise, config.rate_weight, log_scales)
    trainer.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=config.learning_rate,
            beta_1=config.beta_1,
            beta_2=config.beta_2,
            epsilon=config.epsilon,
            global_clipnorm=config.clip_norm,
        )
    )
    return trainer


def train_autoencoder(
    depth: int,
    train_images: np.ndarray,
    val_images: np.ndarray,
    config: TrainConfig = TrainConfig(),
    out_dir: str | Path | None = None,
    verbose: int | str = "auto",
    initial_model: keras.Model | None = None,
) -> TrainResult:
    """Trains the paper's depth-layer autoencoder on uint8 images with the hybrid loss.

    Args:
        depth: encoder depth (see :func:`aelib.models.build_autoencoder`).
        train_images, val_images: (N, H, W, 3) uint8 arrays; H and W multiples
            of the model's downsampling factor.
        config: the paper's settings by default.
        out_dir: when given, saves ``autoencoder_{depth}L.keras``, its
            ``.entropy.npz`` tables and ``autoencoder_{depth}L_history.csv`` there.
        verbose: Keras progress output (0 silent, 1 progress bar, 2 one line per epoch).
        initial_model: fine-tune this autoencoder (of the same depth) instead of
            starting from scratch, e.g. to adapt a model trained without
            quantisation noise to quantised latents.

    Returns:
        The trained model (best validation weights restored), its codec and its history.
    """
    if initial_model is not None and depth_of(initial_model) != depth:
        raise AelibError(f"the initial model has depth {depth_of(initial_model)}, not {depth}")
    keras.utils.set_random_seed(config.seed)
    with distribution_strategy().scope():
        autoencoder = build_autoencoder(depth) if initial_model is None else initial_model
    return train_model(autoencoder, train_images, val_images, config, out_dir, verbose)


def train_model(
    autoencoder: keras.Model,
    train_images: np.ndarray,
    val_images: np.ndarray,
    config: TrainConfig = TrainConfig(),
    out_dir: str | Path | None = None,
    verbose: int | str = "auto",
) -> TrainResult:
    """Trains any autoencoder with nested "encoder" and "decoder" models in place (see :func:`train_autoencoder`).

    Saves ``{autoencoder.name}.keras``, its tables and ``{autoencoder.name}_history.csv`` in out_dir when given.
    """
    factor = downsampling_factor_of(autoencoder)
    for label, images in (("training", train_images), ("validation", val_images)):
        if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
            raise AelibError(f"{label} images must be a non-empty (N, H, W, 3) array, got shape {images.shape}")
        if images.shape[1] % factor or images.shape[2] % factor:
            raise AelibError(
                f"{label} images are {images.shape[1]}x{images.shape[2]}; sides must be multiples of {factor}"
            )
    if config.crop_size is not None and (config.crop_size % factor or config.crop_size > min(train_images.shape[1:3])):
        raise AelibError(
            f"crop size {config.crop_size} must be a multiple of {factor} and fit in the "
            f"{train_images.shape[1]}x{train_images.shape[2]} training images"
        )

    keras.utils.set_random_seed(config.seed)
    with distribution_strategy().scope():
        trainer = build_trainer(autoencoder, config, laplace_log_scales(autoencoder, train_images))
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)]
    fit = trainer.fit(
        _as_dataset(
            train_images, config.batch_size, config.seed, config.crop_size, repeat=config.steps_per_epoch is not None
        ),
        validation_data=_as_dataset(val_images, config.batch_size, None),
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch,
        callbacks=callbacks,
        shuffle=False,  # the dataset reshuffles itself each epoch
        verbose=verbose,
    )
    history = pd.DataFrame(fit.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    codec = make_codec_model(autoencoder, train_images)

    model_path = history_path = None
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        model_path = out_dir / f"{autoencoder.name}.keras"
        history_path = out_dir / f"{autoencoder.name}_history.csv"
        save_codec_model(codec, model_path)
        with atomic_output(history_path) as temporary:
            history.to_csv(temporary, index=False)
    return TrainResult(autoencoder, codec, history, model_path, history_path)
