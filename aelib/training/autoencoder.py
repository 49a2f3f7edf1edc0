"""Training an autoencoder with the hybrid loss and the paper's settings.

The defaults of :class:`aelib.config.TrainConfig` are the paper's: Adam
(lr 1e-3, β1 0.9, β2 0.999, ε 1e-7), batch 64, up to 40 epochs, EarlyStopping
on validation loss with patience 3, restoring the best weights. Each loss
component is logged per epoch to a CSV beside the saved ``.keras`` model.

Beyond the paper, the decoder learns to work from quantised latents: during
training it sees the encoder's output plus uniform noise in [-0.5, 0.5)
(Ballé et al., 2017), and validation rounds the latents as the codec does.
After training, each output channel's gain and offset are fitted on the
training split (:mod:`aelib.nn.calibration`: the hybrid loss leaves the decoded
colours a few levels dark). Training returns the network and saves it with its
history; making it a codec is the codec's export step
(:func:`aelib.codec.codec.export_factorized`: entropy tables fitted to the
training split's latents, saved beside the model), so no training code touches
the codec or its files.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from aelib.config import TrainConfig
from aelib.errors import FormatError, InputError, TrainingError
from aelib.layout import checkpoint_file, model_files
from aelib.nn.calibration import OutputCalibration, calibrate_output
from aelib.nn.losses import HybridLoss, laplace_bits
from aelib.nn.models import (
    build_autoencoder,
    decoder_of,
    depth_of,
    downsampling_factor_of,
    encoder_of,
    save_model,
)
from aelib.outputs import atomic_output, progress_bar

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced.

    Attributes:
        model: the trained autoencoder (best validation weights, output calibrated).
        calibration: the output gain and offset fitted after training, already in the model.
        history: one row per epoch, a column per loss component (train and ``val_``).
        model_path, history_path: where they were saved, or None.
    """

    model: keras.Model
    calibration: OutputCalibration
    history: pd.DataFrame
    model_path: Path | None
    history_path: Path | None


class _HybridLossTrainer(keras.Model):
    """Wraps an autoencoder so fit() computes every hybrid-loss term once per step and logs each.

    With quantization_noise, training adds uniform noise to the latents and
    validation rounds them. The noise and the rate term follow the schedule of
    :func:`schedule_share`: none during the warm-up, then a linear ramp to full.
    The noise is drawn from a stateless generator seeded by (seed, step), so a
    resumed run sees the same noise as an uninterrupted one. The rate in bits
    per pixel is always estimated (and logged) with a per-channel Laplace
    density whose scales learn to fit the latents, starting from log_scales
    (zeros: scale 1); rate_weight > 0 adds λ·rate to the loss the autoencoder
    minimises.

    A batch is either images, or (images, features) with the originals' VGG16
    features computed beforehand (:func:`cache_target_features`).
    """

    def __init__(
        self,
        autoencoder: keras.Model,
        loss: HybridLoss,
        config: TrainConfig,
        log_scales: np.ndarray | None = None,
    ):
        super().__init__(name="trainer")
        self.autoencoder = autoencoder
        self.encoder = encoder_of(autoencoder)
        self.decoder = decoder_of(autoencoder)
        self.hybrid_loss = loss
        self.config = config
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

    @property
    def optimized_variables(self) -> list:
        """The variables the optimizer updates, in the order its slots are built."""
        return list(self.autoencoder.trainable_weights) + [self.log_scales]

    def _record(self, terms: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        if tf.distribute.get_strategy().num_replicas_in_sync == 1:
            return {name: tracker.result() for name, tracker in self.trackers.items()}
        # Keras averages replicas' logs along axis 0, which a scalar lacks under MultiWorkerMirroredStrategy.
        return {name: tf.reshape(tracker.result(), [1]) for name, tracker in self.trackers.items()}

    def _terms(self, images, latents, training: bool, rate_share, true_features=None) -> dict[str, tf.Tensor]:
        terms = self.hybrid_loss.terms(images, self.decoder(latents, training=training), true_features)
        pixels = tf.cast(tf.shape(images)[1] * tf.shape(images)[2], tf.float32)
        terms["bits_per_pixel"] = tf.reduce_mean(laplace_bits(latents, self.log_scales)) / pixels
        if self.config.rate_weight > 0:
            terms["loss"] += rate_share * self.config.rate_weight * terms["bits_per_pixel"]
        return terms

    def train_step(self, data):
        images, true_features = data if isinstance(data, tuple) else (data, None)
        step = self.optimizer.iterations
        share = schedule_share(step, self.config)
        with tf.GradientTape(persistent=True) as tape:
            latents = self.encoder(images, training=True)
            if self.config.quantization_noise:
                latents += share * _replica_noise(latents, self.config.seed, step)
            terms = self._terms(images, latents, True, share, None if true_features is None else list(true_features))
            replicas = tf.distribute.get_strategy().num_replicas_in_sync  # replicas' gradients are summed
            loss, rate = terms["loss"] / replicas, terms["bits_per_pixel"] / replicas
        weights = self.autoencoder.trainable_weights
        self.optimizer.apply_gradients(
            list(zip(tape.gradient(loss, weights), weights)) + [(tape.gradient(rate, self.log_scales), self.log_scales)]
        )
        del tape
        return self._record(terms)

    def test_step(self, images):
        latents = self.encoder(images, training=False)
        if self.config.quantization_noise:
            latents = tf.round(latents)
        return self._record(self._terms(images, latents, False, 1.0))


def _replica_noise(latents: tf.Tensor, seed: int, step) -> tf.Tensor:
    """Uniform noise in [-0.5, 0.5) for this replica's latents: its slice of one draw for the global batch.

    The draw is a function of (seed, step), so a resumed run sees the same noise, and several
    replicas together see what one process training on the whole global batch would.
    """
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    replica = context.replica_id_in_sync_group if context is not None else 0
    shape = tf.shape(latents)
    seeds = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
    noise = tf.random.stateless_uniform(tf.concat([[shape[0] * replicas], shape[1:]], 0), seeds, -0.5, 0.5)
    return noise[replica * shape[0] : (replica + 1) * shape[0]]


def schedule_share(step, config: TrainConfig) -> tf.Tensor:
    """The share (0 to 1) of the quantisation noise's width and of the rate weight applied at a step.

    0 for the first ``warmup_steps`` steps (the paper's loss alone), then rising
    linearly to 1 over ``ramp_steps`` steps.
    """
    step = tf.cast(step, tf.float32)
    if config.ramp_steps == 0:
        return tf.cast(step >= config.warmup_steps, tf.float32)
    return tf.clip_by_value((step - config.warmup_steps) / config.ramp_steps, 0.0, 1.0)


def _as_dataset(images: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """uint8 images → batches of float32 in [0, 1], in order (validation)."""
    return (
        tf.data.Dataset.from_tensor_slices(images)
        .batch(batch_size)
        .map(lambda batch: tf.cast(batch, tf.float32) / 255.0, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def epoch_order(count: int, config: TrainConfig, epoch: int) -> np.ndarray:
    """Indices of the training images visited in epoch (0-based), a function of (seed, epoch) alone.

    One shuffled pass over the images, or with ``steps_per_epoch`` as many
    passes as that many batches need. Being fixed by the epoch number, the
    order of a resumed run is the order the uninterrupted run would have had.
    """
    rng = np.random.default_rng([config.seed, epoch])
    if config.steps_per_epoch is None:
        return rng.permutation(count)
    needed = config.steps_per_epoch * config.batch_size
    return np.concatenate([rng.permutation(count) for _ in range(-(-needed // count))])[:needed]


def _epoch_dataset(images: tf.Variable, features: list | None, config: TrainConfig, epoch: int) -> tf.data.Dataset:
    """Batches of one training epoch: images in [0, 1], with their cached features when given.

    With crop_size, each visit takes a random crop_size x crop_size crop, seeded
    by (seed + epoch, position in the epoch) so that it too survives a resume.
    """
    order = epoch_order(int(images.shape[0]), config, epoch)
    dataset = tf.data.Dataset.from_tensor_slices(order.astype(np.int64))
    if config.crop_size is not None:
        crop = (config.crop_size, config.crop_size, 3)
        dataset = dataset.enumerate().map(
            lambda position, index: tf.image.stateless_random_crop(
                tf.gather(images, index), crop, seed=tf.stack([tf.constant(config.seed + epoch, tf.int64), position])
            )
        )
        dataset = dataset.batch(config.batch_size).map(lambda batch: tf.cast(batch, tf.float32) / 255.0)
    else:

        def gather(indices):
            batch = tf.cast(tf.gather(images, indices), tf.float32) / 255.0
            if features is None:
                return batch
            return batch, tuple(tf.gather(feature, indices) for feature in features)

        dataset = dataset.batch(config.batch_size).map(gather)
    return dataset.prefetch(tf.data.AUTOTUNE)


FEATURE_CACHE_BYTES = 6 * 2**30
"""Largest cache of the originals' VGG16 features kept in memory; beyond it they are computed every step."""


def cache_target_features(loss: HybridLoss, images: np.ndarray, batch_size: int = 64) -> list | None:
    """The VGG16 features of every training image, computed once (one variable per feature layer).

    Training then runs VGG16 on the reconstructions only, with the originals
    out of back-propagation (docs/design-notes.md: the speed this buys).
    None when the loss has no perceptual term or
    the features would take more than :data:`FEATURE_CACHE_BYTES`.
    """
    if loss.extractor is None:
        return None
    first = loss.target_features(tf.cast(images[:1], tf.float32) / 255.0)
    size = sum(feature.dtype.size * int(np.prod(feature.shape)) for feature in first) * len(images)
    if size > FEATURE_CACHE_BYTES:
        return None
    cache = [
        tf.Variable(tf.zeros((len(images), *feature.shape[1:]), feature.dtype), trainable=False) for feature in first
    ]
    for start in range(0, len(images), batch_size):
        chunk = loss.target_features(tf.cast(images[start : start + batch_size], tf.float32) / 255.0)
        for variable, feature in zip(cache, chunk, strict=True):
            variable[start : start + batch_size].assign(feature)
    return cache


@functools.cache
def distribution_strategy() -> tf.distribute.Strategy:
    """The strategy the environment asks for, made once per process.

    ``TF_CONFIG`` set (a cluster of workers, each running the same command):
    MultiWorkerMirroredStrategy, which TensorFlow needs before any other op runs
    (the CLI makes it first thing); several GPUs: MirroredStrategy; else the
    default strategy. The batch size is the global one, split over the replicas.
    """
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def is_chief() -> bool:
    """Whether this process writes checkpoints and models: always, except a non-first worker of a cluster."""
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
    return task.get("type", "worker") == "chief" or (
        task.get("type", "worker") == "worker" and task.get("index", 0) == 0
    )


LATENT_INIT_STD = 1.0
"""Standard deviation of every latent channel at the start of training (:func:`normalize_latent_layer`)."""


def normalize_latent_layer(autoencoder: keras.Model, images: np.ndarray, sample: int = 256) -> None:
    """Rescales the encoder's last (linear) layer so each latent channel has mean 0 and std LATENT_INIT_STD.

    A data-dependent initialisation (as in Salimans & Kingma's weight
    normalisation, 2016): the deeper the encoder, the smaller its untrained
    latents — about 0.1 across images, below the quantisation noise's std of
    0.29 — so rounding maps every image to the same code and the decoder learns
    to ignore its input. Starting each channel at std 1 gives the decoder a
    signal the noise cannot drown, whatever the depth. Only the initial values
    change, not the architecture.
    """
    encoder = encoder_of(autoencoder)
    layer = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)][-1]
    latents = encoder(images[:sample].astype(np.float32) / 255.0, training=False).numpy()
    mean = latents.mean(axis=(0, 1, 2))
    gain = LATENT_INIT_STD / np.maximum(latents.std(axis=(0, 1, 2)), 1e-8)
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * gain, (bias - mean) * gain])


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

    Its ``fit`` trains the autoencoder in place; :func:`train_model` and the
    training benchmark both use it. log_scales start the rate estimate's
    Laplace scales (see :func:`laplace_log_scales`); zeros by default.
    """
    loss = HybridLoss(config.loss_weights, config.feature_layers, config.perceptual_precision)
    trainer = _HybridLossTrainer(autoencoder, loss, config, log_scales)
    trainer.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=config.learning_rate,
            beta_1=config.beta_1,
            beta_2=config.beta_2,
            epsilon=config.epsilon,
            global_clipnorm=config.clip_norm,
        )
    )
    trainer.optimizer.build(trainer.optimized_variables)
    return trainer


@dataclass(frozen=True)
class LatentHealth:
    """Whether an encoder's latents still carry information about its inputs.

    Attributes:
        channels: latent channels.
        dead_channels: channels whose value is the same at every position of every image.
        distinct_codes: how many different rounded latent tensors the images got.
        images: how many images were encoded.
    """

    channels: int
    dead_channels: int
    distinct_codes: int
    images: int

    @property
    def collapsed(self) -> bool:
        """Every channel is dead, or the images (two or more) all round to one code: the decoder sees no input."""
        return self.dead_channels == self.channels or (self.images > 1 and self.distinct_codes == 1)

    def describe(self) -> str:
        return (
            f"{self.dead_channels} of {self.channels} latent channels dead, "
            f"{self.distinct_codes} distinct quantised latents for {self.images} images"
        )


def latent_health(encoder: keras.Model, images: np.ndarray, batch_size: int = 64) -> LatentHealth:
    """Encodes uint8 images and counts dead channels and distinct rounded codes (see :class:`LatentHealth`)."""
    latents = np.concatenate(
        [
            encoder(images[start : start + batch_size].astype(np.float32) / 255.0, training=False).numpy()
            for start in range(0, len(images), batch_size)
        ]
    )
    flat = latents.reshape(-1, latents.shape[-1])
    dead = int(np.sum(flat.max(axis=0) - flat.min(axis=0) <= 1e-6))
    codes = np.rint(latents).astype(np.int64).reshape(len(images), -1)
    return LatentHealth(latents.shape[-1], dead, len(np.unique(codes, axis=0)), len(images))


HEALTH_SAMPLE = 64
"""Validation images encoded after every epoch to check that the model has not collapsed."""


def _format_seconds(seconds: float) -> str:
    """42 s, 12 min or 2 h 05 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _run_key(autoencoder: keras.Model, config: TrainConfig, train_images: np.ndarray, val_images: np.ndarray) -> dict:
    """What a checkpoint must match to be resumed: the model, the settings and the data."""
    digest = hashlib.sha256()
    for images in (train_images, val_images):
        digest.update(str(images.shape).encode())
        digest.update(np.ascontiguousarray(images).data)
    return {
        "model": autoencoder.name,
        "parameters": int(sum(np.prod(w.shape) for w in autoencoder.weights)),
        "config": json.loads(json.dumps(dataclasses.asdict(config))),
        "data_sha256": digest.hexdigest(),
    }


@dataclass
class _Progress:
    """Early-stopping state and history of a run; with the weights, what a checkpoint holds."""

    epochs_done: int = 0
    seconds: float = 0.0
    best_val_loss: float = float("inf")
    best_epoch: int = 0
    wait: int = 0
    history: list = dataclasses.field(default_factory=list)


def _save_checkpoint(path: Path, trainer: _HybridLossTrainer, progress: _Progress, key: dict, best_weights) -> None:
    arrays = {f"weight_{i}": np.asarray(w) for i, w in enumerate(trainer.autoencoder.get_weights())}
    arrays |= {f"optimizer_{i}": np.asarray(v) for i, v in enumerate(trainer.optimizer.variables)}
    arrays |= {f"best_{i}": np.asarray(w) for i, w in enumerate(best_weights or [])}
    arrays["log_scales"] = trainer.log_scales.numpy()
    arrays["state"] = np.array(json.dumps({"key": key, "progress": dataclasses.asdict(progress)}))
    with atomic_output(path) as temporary, open(temporary, "wb") as file:
        np.savez(file, **arrays)


def _load_checkpoint(path: Path, trainer: _HybridLossTrainer, key: dict) -> tuple[_Progress, list | None]:
    """Restores weights, optimizer and log scales from path; returns the progress and the best weights."""
    try:
        with np.load(path) as arrays:
            state = json.loads(str(arrays["state"]))
            if state["key"] != key:
                raise FormatError(
                    f"{path} is the checkpoint of a run with other settings or data; "
                    "delete it to start this run from scratch"
                )
            count = sum(name.startswith("weight_") for name in arrays.files)
            trainer.autoencoder.set_weights([arrays[f"weight_{i}"] for i in range(count)])
            for i, variable in enumerate(trainer.optimizer.variables):
                variable.assign(arrays[f"optimizer_{i}"])
            trainer.log_scales.assign(arrays["log_scales"])
            best = [arrays[f"best_{i}"] for i in range(count)] if "best_0" in arrays.files else None
    except (OSError, KeyError, ValueError) as error:
        raise FormatError(f"{path} is not a readable training checkpoint ({error}); delete it to start over") from None
    return _Progress(**state["progress"]), best


class _StopOnNonFinite(keras.callbacks.Callback):
    """Stops training at the first step whose loss or any of its terms is NaN or infinite, with one line."""

    def __init__(self, name: str, epoch: int):
        super().__init__()
        self.name, self.epoch = name, epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = [term for term, value in (logs or {}).items() if not np.isfinite(float(value))]
        if bad:
            raise TrainingError(
                f"training {self.name} stopped at step {int(self.model.optimizer.iterations)} "
                f"(epoch {self.epoch}): {', '.join(bad)} became NaN or infinite; "
                "the last finished epoch's checkpoint, if any, is kept"
            )


class _StepBar(keras.callbacks.Callback):
    """A tqdm bar over one epoch's steps (verbose=1)."""

    def __init__(self, label: str, steps: int):
        super().__init__()
        self.label, self.steps = label, steps

    def on_train_begin(self, logs=None):
        self.bar = progress_bar(total=self.steps, description=self.label, unit="step")

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}")

    def on_train_end(self, logs=None):
        self.bar.close()


def _epoch_line(name: str, config: TrainConfig, row: dict, progress: _Progress) -> str:
    """One line per epoch: the losses, the time it took, the time so far and at most how long is left."""
    timed = [r["seconds"] for r in progress.history if "seconds" in r]
    line = (
        f"{name} epoch {row['epoch']}/{config.epochs}: loss {row['loss']:.4f}, val_loss {row['val_loss']:.4f}, "
        f"val SSIM {1 - row['val_ssim_loss']:.3f}, {row['val_bits_per_pixel']:.2f} bpp (estimate) · "
        f"{_format_seconds(row['seconds'])} · elapsed {_format_seconds(progress.seconds)}"
    )
    if row["epoch"] < config.epochs and progress.wait < config.patience:
        line += f" · at most {_format_seconds((config.epochs - row['epoch']) * float(np.mean(timed)))} left"
    return line


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
        depth: encoder depth (see :func:`aelib.nn.models.build_autoencoder`).
        train_images, val_images: (N, H, W, 3) uint8 arrays; H and W multiples
            of the model's downsampling factor.
        config: the paper's settings by default.
        out_dir: when given, saves the model and its training history there
            (:func:`aelib.layout.model_files` of :func:`aelib.layout.paper_model_name`; export
            the tables with :func:`aelib.codec.codec.export_factorized`),
            and makes the run resumable (see :func:`train_model`).
        verbose: 0 silent, 1 a progress bar per epoch and a line after it, 2 the lines only ("auto": 1).
        initial_model: fine-tune this autoencoder (of the same depth) instead of
            starting from scratch, e.g. to adapt a model trained without
            quantisation noise to quantised latents.

    Returns:
        The trained model (best validation weights restored, output calibrated) and its history.
    """
    if initial_model is not None and depth_of(initial_model) != depth:
        raise InputError(f"the initial model has depth {depth_of(initial_model)}, not {depth}")
    keras.utils.set_random_seed(config.seed)
    with distribution_strategy().scope():
        autoencoder = build_autoencoder(depth) if initial_model is None else initial_model
    if initial_model is None:
        normalize_latent_layer(autoencoder, train_images)
    return train_model(autoencoder, train_images, val_images, config, out_dir, verbose)


def _check_inputs(autoencoder: keras.Model, train_images: np.ndarray, val_images: np.ndarray, config: TrainConfig):
    factor = downsampling_factor_of(autoencoder)
    for label, images in (("training", train_images), ("validation", val_images)):
        if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
            raise InputError(f"{label} images must be a non-empty (N, H, W, 3) array, got shape {images.shape}")
        if images.shape[1] % factor or images.shape[2] % factor:
            raise InputError(
                f"{label} images are {images.shape[1]}x{images.shape[2]}; sides must be multiples of {factor}"
            )
    if config.crop_size is not None and (config.crop_size % factor or config.crop_size > min(train_images.shape[1:3])):
        raise InputError(
            f"crop size {config.crop_size} must be a multiple of {factor} and fit in the "
            f"{train_images.shape[1]}x{train_images.shape[2]} training images"
        )


def train_model(
    autoencoder: keras.Model,
    train_images: np.ndarray,
    val_images: np.ndarray,
    config: TrainConfig = TrainConfig(),
    out_dir: str | Path | None = None,
    verbose: int | str = "auto",
) -> TrainResult:
    """Trains any autoencoder with nested "encoder" and "decoder" models in place (see :func:`train_autoencoder`).

    Epoch by epoch: train (stopping at the first NaN or infinite loss), validate,
    check that the latents have not collapsed (:func:`latent_health`), apply
    early stopping (counted only once the warm-up and ramp of
    :func:`schedule_share` are over), print a line with the time left, and —
    with out_dir — save a checkpoint ``{name}.resume.npz`` of the weights, the
    optimizer, the early-stopping state and the history. Started again with the
    same arguments after an interruption (even SIGKILL), it continues after the
    last finished epoch; the data order, crops and noise are functions of
    (seed, epoch, step), so the result is the uninterrupted run's. After the
    last epoch, the best weights are restored and the output calibrated
    (:func:`aelib.nn.calibration.calibrate_output`) on the training images.

    Saves ``{autoencoder.name}.keras`` and ``{autoencoder.name}_history.csv`` in out_dir when given.
    """
    _check_inputs(autoencoder, train_images, val_images, config)
    name = autoencoder.name
    keras.utils.set_random_seed(config.seed)
    strategy = distribution_strategy()
    with strategy.scope():
        trainer = build_trainer(autoencoder, config, laplace_log_scales(autoencoder, train_images))
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras 3.15's fit averages a first batch over the workers before it builds a model, which
        # MultiWorkerMirroredStrategy cannot do; the trainer is built, so fit may take the strategy
        # from the scope it runs in instead.
        trainer._distribute_strategy = None
    writes = out_dir is not None and is_chief()  # in a cluster, the first worker writes for all
    key = _run_key(autoencoder, config, train_images, val_images)
    # The checkpoint holds the last finished epoch; it is removed when training ends.
    checkpoint = None if out_dir is None else checkpoint_file(out_dir, name)
    progress, best_weights = _Progress(), None
    if checkpoint is not None and checkpoint.is_file():
        progress, best_weights = _load_checkpoint(checkpoint, trainer, key)
        if verbose:
            logger.info("%s: resuming after epoch %d from %s", name, progress.epochs_done, checkpoint)

    images = tf.Variable(train_images, trainable=False)
    features = None if config.crop_size is not None else cache_target_features(trainer.hybrid_loss, train_images)
    validation = _as_dataset(val_images, config.batch_size)
    health_sample = val_images[:HEALTH_SAMPLE]
    steps = config.steps_per_epoch or -(-len(train_images) // config.batch_size)
    schedule_end = config.warmup_steps + (config.ramp_steps if config.quantization_noise or config.rate_weight else 0)
    started = time.perf_counter() - progress.seconds
    while progress.epochs_done < config.epochs and progress.wait < config.patience:
        epoch = progress.epochs_done + 1
        callbacks = [_StopOnNonFinite(name, epoch)]
        if verbose == 1 or verbose == "auto":
            callbacks.append(_StepBar(f"{name} epoch {epoch}/{config.epochs}", steps))
        epoch_start = time.perf_counter()
        with strategy.scope():
            fit = trainer.fit(
                _epoch_dataset(images, features, config, epoch - 1),
                validation_data=validation,
                epochs=1,
                callbacks=callbacks,
                shuffle=False,  # the epoch's order is already drawn by epoch_order
                verbose=0,
            )
        row = {"epoch": epoch} | {metric: float(values[-1]) for metric, values in fit.history.items()}
        row["seconds"] = round(time.perf_counter() - epoch_start, 1)  # this epoch alone, pauses between epochs excluded
        if not np.isfinite(row["val_loss"]):
            raise TrainingError(
                f"training {name} stopped after epoch {epoch}: the validation loss is {row['val_loss']}"
            )
        health = latent_health(trainer.encoder, health_sample)
        scheduled = int(trainer.optimizer.iterations.numpy()) >= schedule_end
        if config.stop_on_collapse and health.collapsed and scheduled:
            raise TrainingError(
                f"training {name} stopped after epoch {epoch}: the model collapsed ({health.describe()}), "
                "so every image would decode to the same picture"
            )
        if scheduled:
            if row["val_loss"] < progress.best_val_loss:
                progress.best_val_loss, progress.best_epoch, progress.wait = row["val_loss"], epoch, 0
                best_weights = autoencoder.get_weights()
            else:
                progress.wait += 1
        progress.history.append(row)
        progress.epochs_done = epoch
        progress.seconds = time.perf_counter() - started
        if writes:
            _save_checkpoint(checkpoint, trainer, progress, key, best_weights)
        if verbose:
            logger.info(_epoch_line(name, config, row, progress))
    if best_weights is not None:
        autoencoder.set_weights(best_weights)
    calibration = calibrate_output(autoencoder, train_images)
    if verbose:
        logger.info("%s: output calibration fitted on the training images: %s", name, calibration.describe())
    history = pd.DataFrame(progress.history)

    model_path = history_path = None
    if writes:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        model_path, _, history_path = model_files(out_dir, name)
        save_model(autoencoder, model_path)
        with atomic_output(history_path) as temporary:
            history.to_csv(temporary, index=False)
        checkpoint.unlink(missing_ok=True)
    return TrainResult(autoencoder, calibration, history, model_path, history_path)
