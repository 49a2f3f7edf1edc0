"""Training the mean–scale hyperprior codec network, resumable across sittings.

The network and its objective are in :mod:`aelib.nn.hyperprior`; the
settings in :class:`aelib.config.HyperpriorTraining`. Training returns a
trained network and writes nothing but its checkpoint and history; building
the coding tables and the one ``.keras`` file is the codec's export step
(:func:`aelib.codec.export.export_codec`), so no training code touches the
file format.

Every batch, crop, gain level and noise sample is a function of (seed, step),
so a run stopped at any checkpoint and started again with the same arguments
continues exactly as the uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from aelib.config import HyperpriorTraining
from aelib.errors import FormatError, InputError, TrainingError
from aelib.layout import checkpoint_file, model_files
from aelib.nn.hyperprior import build_hyperprior, rate_distortion_terms
from aelib.outputs import atomic_output

logger = logging.getLogger(__name__)

LOG_EVERY = 100


@dataclass(frozen=True)
class TrainedNetwork:
    """A trained network and how it got there.

    Attributes:
        network: the model of :func:`aelib.nn.hyperprior.build_hyperprior`, weights trained.
        history: one row per LOG_EVERY steps (training means) and per validation (``val_`` columns, per level).
        settings: what it was trained with.
        steps_done: the steps run so far, over every sitting.
    """

    network: keras.Model
    history: pd.DataFrame
    settings: HyperpriorTraining
    steps_done: int

    @property
    def finished(self) -> bool:
        """Whether every step of the settings has run."""
        return self.steps_done >= self.settings.steps


def _run_key(settings: HyperpriorTraining, train_images: np.ndarray, val_images: np.ndarray, name: str) -> dict:
    digest = hashlib.sha256()
    for images in (train_images, val_images):
        digest.update(str(images.shape).encode())
        digest.update(np.ascontiguousarray(images).data)
    return {
        "name": name,
        "settings": json.loads(json.dumps(dataclasses.asdict(settings))),
        "data": digest.hexdigest(),
        "initial_gains": "sqrt-lambda",  # a checkpoint of the runs that started every level at gain 1 is refused
    }


def batch_at(step: int, images: np.ndarray, settings: HyperpriorTraining) -> tuple[np.ndarray, np.ndarray]:
    """The images (uint8) and gain levels of one step, a function of (seed, step) alone."""
    rng = np.random.default_rng([settings.seed, step])
    cropping = step < settings.crop_steps
    size = settings.crop_batch if cropping else settings.full_batch
    chosen = images[rng.integers(0, len(images), size)]
    if cropping:
        side = settings.crop_size
        top = rng.integers(0, images.shape[1] - side + 1, size)
        left = rng.integers(0, images.shape[2] - side + 1, size)
        chosen = np.stack([image[t : t + side, s : s + side] for image, t, s in zip(chosen, top, left)])
    flips = rng.random(size) < 0.5
    chosen = np.where(flips[:, None, None, None], chosen[:, :, ::-1], chosen)
    return chosen, rng.integers(0, len(settings.lambdas), size).astype(np.int32)


def learning_rate_at(step: int, settings: HyperpriorTraining) -> float:
    """Adam's step size: dropped by drop_factor for the last (1 − drop_at) of each phase."""
    if step < settings.crop_steps:
        dropped = step >= settings.drop_at * settings.crop_steps
    else:
        dropped = step - settings.crop_steps >= settings.drop_at * settings.full_steps
    return settings.learning_rate * (settings.drop_factor if dropped else 1.0)


def _save(path: Path, network, optimizer, step: int, key: dict, history: list[dict]) -> None:
    arrays = {f"weight_{i}": np.asarray(w) for i, w in enumerate(network.get_weights())}
    arrays |= {f"optimizer_{i}": np.asarray(v) for i, v in enumerate(optimizer.variables)}
    arrays["state"] = np.array(json.dumps({"key": key, "step": step, "history": history}))
    with atomic_output(path) as temporary, open(temporary, "wb") as file:
        np.savez(file, **arrays)


def _load(path: Path, network, optimizer, key: dict) -> tuple[int, list[dict]]:
    try:
        with np.load(path) as arrays:
            state = json.loads(str(arrays["state"]))
            if state["key"] != key:
                raise FormatError(
                    f"{path} is the checkpoint of a run with other settings or data; delete it to restart"
                )
            count = sum(name.startswith("weight_") for name in arrays.files)
            network.set_weights([arrays[f"weight_{i}"] for i in range(count)])
            for i, variable in enumerate(optimizer.variables):
                variable.assign(arrays[f"optimizer_{i}"])
    except (OSError, KeyError, ValueError) as error:
        raise FormatError(f"{path} is not a readable training checkpoint ({error}); delete it to start over") from None
    return int(state["step"]), list(state["history"])


def validate(network: keras.Model, images: np.ndarray, settings: HyperpriorTraining) -> dict[str, float]:
    """Rounded-latent bits per pixel and PSNR of each level on whole images (the rate the codec should write)."""
    lambdas = tf.constant(settings.lambdas, tf.float32)
    batch = tf.cast(images, tf.float32) / 255.0
    row = {}
    for level in range(len(settings.lambdas)):
        levels = tf.fill([len(images)], level)
        terms = rate_distortion_terms(network, batch, levels, lambdas, training=False)
        row[f"val_bpp_{level}"] = round(float(terms["bits_per_pixel"]), 5)
        row[f"val_psnr_{level}"] = round(float(terms["psnr"]), 4)
    return row


def _progress_line(name: str, row: dict, settings: HyperpriorTraining) -> str:
    line = (
        f"{name} step {row['step']}/{settings.steps}: loss {row['loss']:.4f}, {row['bits_per_pixel']:.3f} bpp, "
        f"{row['psnr']:.2f} dB (noisy, mixed levels) · {row['seconds_per_step']:.2f} s/step"
    )
    levels = [i for i in range(len(settings.lambdas)) if f"val_bpp_{i}" in row]
    if levels:
        line += " · validation " + ", ".join(
            f"{row[f'val_bpp_{i}']:.3f} bpp {row[f'val_psnr_{i}']:.2f} dB" for i in levels
        )
    return line


def train_hyperprior(
    train_images: np.ndarray,
    val_images: np.ndarray,
    settings: HyperpriorTraining = HyperpriorTraining(),
    out_dir: str | Path | None = None,
    name: str = "hyperprior",
    stop_after: int | None = None,
    verbose: bool = True,
) -> TrainedNetwork:
    """Trains the network on uint8 images (N, H, W, 3); resumable with out_dir.

    Args:
        train_images, val_images: the training and validation splits; sides multiples of 64.
        settings: the training settings.
        out_dir: where ``{name}.resume.npz`` (weights, optimizer, step, history; written every
            checkpoint_every steps) and ``{name}_history.csv`` go; a checkpoint there is resumed.
        name: the run's name.
        stop_after: stop (checkpointed) once this many steps are done in total, e.g. to end a sitting.
        verbose: log a line every LOG_EVERY steps and at every validation.
    """
    for label, images in (("training", train_images), ("validation", val_images)):
        if (
            images.ndim != 4
            or images.shape[-1] != 3
            or len(images) == 0
            or images.shape[1] % 64
            or images.shape[2] % 64
        ):
            raise InputError(f"{label} images must be (N, H, W, 3) with sides multiples of 64, got {images.shape}")
    keras.utils.set_random_seed(settings.seed)
    network = build_hyperprior(
        settings.channels, settings.latent_channels, len(settings.lambdas), name=name, lambdas=settings.lambdas
    )
    optimizer = keras.optimizers.Adam(settings.learning_rate, global_clipnorm=settings.clip_norm)
    optimizer.build(network.trainable_variables)
    key = _run_key(settings, train_images, val_images, name)
    checkpoint = None if out_dir is None else checkpoint_file(out_dir, name)
    step, history = 0, []
    if checkpoint is not None and checkpoint.is_file():
        step, history = _load(checkpoint, network, optimizer, key)
        if verbose:
            logger.info("%s: resuming after step %d of %d from %s", name, step, settings.steps, checkpoint)
    lambdas = tf.constant(settings.lambdas, tf.float32)

    # One signature for both phases: a graph traced for the crops and relaxed later would sum in another
    # order than one traced for the full images, and a run resumed in the second phase would drift.
    signature = [
        tf.TensorSpec((None, None, None, 3), tf.uint8),
        tf.TensorSpec((None,), tf.int32),
        tf.TensorSpec((2,), tf.int64),
    ]

    @tf.function(input_signature=signature)
    def train_step(images, levels, seed):
        with tf.GradientTape() as tape:
            terms = rate_distortion_terms(network, tf.cast(images, tf.float32) / 255.0, levels, lambdas, True, seed)
        gradients = tape.gradient(terms["loss"], network.trainable_variables)
        optimizer.apply_gradients(zip(gradients, network.trainable_variables))
        return terms

    last = settings.steps if stop_after is None else min(settings.steps, stop_after)
    sums, counted, started = {}, 0, time.perf_counter()
    val_subset = val_images[: settings.validation_images]
    while step < last:
        optimizer.learning_rate.assign(learning_rate_at(step, settings))
        images, levels = batch_at(step, train_images, settings)
        terms = train_step(images, levels, tf.constant([settings.seed, step], tf.int64))
        values = {k: float(v) for k, v in terms.items()}
        if not all(np.isfinite(list(values.values()))):
            raise TrainingError(f"training {name} stopped at step {step}: {values}; the last checkpoint is kept")
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v
        counted += 1
        step += 1
        if step % LOG_EVERY == 0:
            seconds = time.perf_counter() - started
            row = {"step": step, "learning_rate": learning_rate_at(step - 1, settings), "seconds": round(seconds, 1)}
            row |= {k: round(v / counted, 5) for k, v in sums.items()}
            row["seconds_per_step"] = round(seconds / counted, 4)
            if step % settings.validate_every == 0 or step == settings.steps:
                row |= validate(network, val_subset, settings)
            history.append(row)
            sums, counted, started = {}, 0, time.perf_counter()
            if verbose:
                logger.info(_progress_line(name, row, settings))
        if checkpoint is not None and (step % settings.checkpoint_every == 0 or step == last):
            _save(checkpoint, network, optimizer, step, key, history)
            with atomic_output(model_files(out_dir, name)[2]) as temporary:
                pd.DataFrame(history).to_csv(temporary, index=False)
    return TrainedNetwork(network, pd.DataFrame(history), settings, step)
