import numpy as np
import pandas as pd
import pytest

from aelib.config import LossWeights, TrainConfig
from aelib.errors import AelibError
from aelib.nn.losses import HybridLoss
from aelib.nn.models import build_autoencoder, load_model
from aelib.training.autoencoder import train_autoencoder


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real, short training run: 48 crops of 32x32 from the embedded photos, 240 steps."""
    from aelib.data import load_dataset

    dataset = load_dataset(None, size=32, limit=60, fractions=(0.8, 0.2, 0.0))
    config = TrainConfig(epochs=20, batch_size=4, patience=20, seed=5)
    out = tmp_path_factory.mktemp("run")
    result = train_autoencoder(3, dataset.train, dataset.val, config, out_dir=out, verbose=0)
    return dataset.train, dataset.val, config, result


@pytest.mark.slow
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


@pytest.mark.slow
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
        "seconds",
    ):
        assert column in saved.columns
    assert len(saved) == 20
    weights = LossWeights()
    combined = (
        weights.ssim * saved.ssim_loss + weights.perceptual * saved.perceptual_loss + weights.mse * saved.mse_loss
    )
    np.testing.assert_allclose(saved["loss"], combined, rtol=1e-4)


@pytest.mark.slow
def test_saved_model_reloads_with_the_same_outputs(tiny_run):
    _, val_images, _, result = tiny_run
    reloaded = load_model(result.model_path)
    batch = val_images[:4].astype(np.float32) / 255.0
    np.testing.assert_allclose(reloaded(batch).numpy(), result.model(batch).numpy(), atol=1e-6)
    assert reloaded.get_layer("encoder").output.shape[-1] == 32


@pytest.mark.slow
def test_training_ends_with_the_output_calibration(tiny_run):
    """The calibration is fitted last: fitting it again on the same images changes (almost) nothing."""
    from aelib.nn.calibration import fit_output_calibration

    train_images, *_, result = tiny_run
    assert result.calibration.gain.shape == (3,)
    again = fit_output_calibration(result.model, train_images)
    np.testing.assert_allclose(again.gain, 1.0, atol=1e-3)
    np.testing.assert_allclose(again.offset, 0.0, atol=1e-3)


@pytest.mark.slow
def test_training_saves_the_network_and_the_export_step_its_tables(tiny_run):
    train_images, *_, result = tiny_run
    from aelib.codec.codec import entropy_path, export_factorized, load_codec_model

    assert not entropy_path(result.model_path).exists()  # training writes no codec file
    codec = export_factorized(result.model, train_images, result.model_path)
    assert entropy_path(result.model_path).is_file()
    assert load_codec_model(result.model_path).fingerprint == codec.fingerprint


def test_load_model_refuses_other_files(tmp_path):
    fake = tmp_path / "fake.keras"
    fake.write_bytes(b"not a model")
    with pytest.raises(AelibError, match="is not an aelib autoencoder model"):
        load_model(fake)
    with pytest.raises(AelibError, match="model file not found"):
        load_model(tmp_path / "missing.keras")


@pytest.mark.slow
def test_image_sides_must_fit_the_downsampling(tiny_run):
    train_images, *_ = tiny_run
    with pytest.raises(AelibError, match="multiples of 8"):
        train_autoencoder(3, train_images[:, :30, :30], train_images[:, :30, :30], TrainConfig(epochs=1))


@pytest.mark.slow
def test_a_model_trained_without_noise_can_be_fine_tuned_for_quantisation(tiny_run):
    train_images, val_images, _, _ = tiny_run
    plain = train_autoencoder(
        3, train_images, val_images, TrainConfig(epochs=1, batch_size=16, quantization_noise=False), verbose=0
    )
    tuned = train_autoencoder(
        3, train_images, val_images, TrainConfig(epochs=1, batch_size=16), verbose=0, initial_model=plain.model
    )
    assert tuned.model is plain.model  # the same network, trained further
    assert tuned.history["loss"].iloc[-1] != plain.history["loss"].iloc[-1]
    with pytest.raises(AelibError, match="initial model has depth 3, not 5"):
        train_autoencoder(5, train_images, val_images, TrainConfig(epochs=1), initial_model=plain.model)


def test_laplace_scales_start_at_the_mean_absolute_latent(images):
    from aelib.nn.models import build_autoencoder, encoder_of
    from aelib.training.autoencoder import MIN_LAPLACE_SCALE, laplace_log_scales

    model = build_autoencoder(3)
    latents = encoder_of(model)(images.astype(np.float32) / 255.0).numpy()
    expected = np.maximum(np.abs(latents).mean(axis=(0, 1, 2)), MIN_LAPLACE_SCALE)
    np.testing.assert_allclose(np.exp(laplace_log_scales(model, images)), expected, rtol=1e-4)


def test_the_schedule_warms_up_then_ramps_linearly():
    from aelib.training.autoencoder import schedule_share

    config = TrainConfig(warmup_steps=10, ramp_steps=20)
    shares = [float(schedule_share(step, config)) for step in (0, 9, 10, 15, 20, 30, 500)]
    assert shares == pytest.approx([0.0, 0.0, 0.0, 0.25, 0.5, 1.0, 1.0])
    immediate = TrainConfig(warmup_steps=0, ramp_steps=0)
    assert float(schedule_share(0, immediate)) == 1.0


def test_epoch_order_is_a_function_of_seed_and_epoch():
    from aelib.training.autoencoder import epoch_order

    config = TrainConfig(seed=3)
    first, again, second = epoch_order(50, config, 0), epoch_order(50, config, 0), epoch_order(50, config, 1)
    np.testing.assert_array_equal(first, again)
    assert sorted(first) == list(range(50)) and sorted(second) == list(range(50))
    assert not np.array_equal(first, second)
    cycling = epoch_order(50, TrainConfig(seed=3, steps_per_epoch=7, batch_size=16), 2)
    assert len(cycling) == 112 and np.bincount(cycling).min() >= 2  # 112 visits cover all 50 images twice


def test_latent_health_counts_dead_channels_and_distinct_codes():
    import keras

    from aelib.training.autoencoder import latent_health

    constant = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 1, kernel_initializer="zeros")])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    health = latent_health(constant, images)
    assert (health.dead_channels, health.distinct_codes, health.collapsed) == (4, 1, True)
    scaled = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 1, kernel_initializer="ones")])
    scaled.layers[-1].kernel.assign(np.array([[[[1, 0, 0, 0]] * 3]], np.float32).reshape(1, 1, 3, 4) * 10)
    health = latent_health(scaled, images)
    assert (health.dead_channels, health.distinct_codes, health.collapsed) == (3, 6, False)


@pytest.mark.slow
def test_ten_layer_model_keeps_every_latent_channel_alive(images):
    """The recipe (linear latent, warm-up, ramp) on tiny data: a few dozen steps, no dead channel, distinct codes."""
    from aelib.training.autoencoder import latent_health

    config = TrainConfig(epochs=4, batch_size=4, seed=7, warmup_steps=12, ramp_steps=12, patience=10)
    result = train_autoencoder(10, images[:32], images[32:], config, verbose=0)
    health = latent_health(result.model.get_layer("encoder"), images)
    assert health.dead_channels == 0, health.describe()
    assert health.distinct_codes > 1, health.describe()


@pytest.mark.slow
def test_training_stops_at_the_first_nan_with_one_line(images):
    broken = images[:8].astype(np.float32)
    broken[:] = np.nan
    config = TrainConfig(epochs=2, batch_size=4, warmup_steps=0, ramp_steps=0)
    with pytest.raises(AelibError) as caught:
        train_autoencoder(3, broken, images[8:12], config, verbose=0)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("training autoencoder_3L stopped at step 1 (epoch 1):")
    assert "loss" in message and "NaN or infinite" in message


@pytest.mark.slow
def test_a_collapsed_model_stops_training(images):
    import keras

    keras.utils.set_random_seed(1)
    model = build_autoencoder(3)
    latent = model.get_layer("encoder").get_layer("conv_3")
    latent.set_weights([np.zeros_like(w) for w in latent.get_weights()])
    latent.trainable = False
    config = TrainConfig(epochs=2, batch_size=8, warmup_steps=0, ramp_steps=0)
    from aelib.training.autoencoder import train_model

    with pytest.raises(AelibError, match=r"autoencoder_3L stopped after epoch 1: the model collapsed \(32 of 32"):
        train_model(model, images[:16], images[16:24], config, verbose=0)


_KILLED_RUN = """
import os, signal, sys
import aelib.training.autoencoder as train
from aelib.config import TrainConfig
from aelib.data import load_dataset

save = train._save_checkpoint
def save_then_die(path, trainer, progress, *rest):
    save(path, trainer, progress, *rest)
    if progress.epochs_done == 1:
        os.kill(os.getpid(), signal.SIGKILL)
train._save_checkpoint = save_then_die
dataset = load_dataset(None, size=32, limit=40, fractions=(0.8, 0.2, 0.0))
config = TrainConfig(epochs=3, batch_size=8, seed=4, warmup_steps=4, ramp_steps=4)
train.train_autoencoder(3, dataset.train, dataset.val, config, out_dir=sys.argv[1], verbose=0)
"""


@pytest.mark.slow  # kills a training process
def test_a_killed_run_resumes_after_its_last_finished_epoch(tmp_path, capsys):
    import signal
    import subprocess
    import sys

    from aelib.data import load_dataset
    from aelib.layout import checkpoint_file, model_files

    killed = tmp_path / "killed"
    child = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(killed)], capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    checkpoint = checkpoint_file(killed, "autoencoder_3L")
    assert checkpoint.is_file() and not model_files(killed, "autoencoder_3L")[0].exists()

    dataset = load_dataset(None, size=32, limit=40, fractions=(0.8, 0.2, 0.0))
    config = TrainConfig(epochs=3, batch_size=8, seed=4, warmup_steps=4, ramp_steps=4)
    resumed = train_autoencoder(3, dataset.train, dataset.val, config, out_dir=killed, verbose=2)
    output = capsys.readouterr().out
    assert "resuming after epoch 1" in output
    assert "epoch 1/3" not in output and "epoch 2/3" in output and "epoch 3/3" in output
    assert not checkpoint.exists()  # removed once the model is saved

    whole = train_autoencoder(3, dataset.train, dataset.val, config, out_dir=tmp_path / "whole", verbose=0)
    assert list(resumed.history.epoch) == [1, 2, 3]
    np.testing.assert_allclose(resumed.history.loss, whole.history.loss, rtol=1e-4)
    for ours, theirs in zip(resumed.model.get_weights(), whole.model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_progress_lines_are_log_records_shown_on_stdout_once_asked_for_until_silenced(capsys):
    import logging

    import aelib

    aelib.show_progress()
    logger = logging.getLogger("aelib.training.autoencoder")
    logger.info("epoch 1/1")
    assert capsys.readouterr().out == "epoch 1/1\n"
    logging.getLogger("aelib").setLevel(logging.WARNING)
    try:
        logger.info("epoch 2/2")
        assert capsys.readouterr().out == ""
    finally:
        logging.getLogger("aelib").setLevel(logging.INFO)


WORKER = """
import sys
import numpy as np
from aelib.training.autoencoder import distribution_strategy
distribution_strategy()  # first: TensorFlow wants the multi-worker strategy before any other op
from aelib.config import TrainConfig
from aelib.data import embedded_crops
from aelib.training.autoencoder import train_autoencoder
crops, _ = embedded_crops(size=32, crops_per_photo=2, seed=3)
config = TrainConfig(epochs=2, batch_size=8, patience=5, seed=3, warmup_steps=0, ramp_steps=2)
result = train_autoencoder(3, crops[:16], crops[16:24], config, out_dir=sys.argv[2], verbose=0)
np.savez(sys.argv[1], *result.model.get_weights())
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # a three-process gRPC cluster
@pytest.mark.longest
def test_two_workers_train_the_weights_of_one_process_with_the_same_global_batch(tmp_path):
    """Issue 16: TF_CONFIG → MultiWorkerMirroredStrategy; the global batch of 8 is split 4 + 4, noise included."""
    import json
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    single = subprocess.run(
        [sys.executable, "-c", WORKER, str(tmp_path / "single.npz"), str(tmp_path / "single")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr[-2000:]
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / f"worker{index}.npz"), str(tmp_path / "cluster")],
            env=environment
            | {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    errors = [worker.communicate(timeout=300)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], errors[0][-2000:]

    reference = np.load(tmp_path / "single.npz")
    first, second = np.load(tmp_path / "worker0.npz"), np.load(tmp_path / "worker1.npz")
    differences = []
    for name in reference.files:
        np.testing.assert_array_equal(first[name], second[name])
        differences.append(np.abs(first[name] - reference[name]).ravel())
    differences = np.concatenate(differences)
    # Float tolerance after 4 Adam steps: the replicas sum their gradients in another order, and Adam
    # normalises near-zero gradients, so a rare weight moves by about one step (lr 1e-3): measured
    # max 1.1e-3, mean 6e-6. Each worker drawing its own noise instead gave 7.8e-3 after 2 steps.
    assert differences.max() < 3e-3 and differences.mean() < 3e-5
    written = sorted(path.name for path in (tmp_path / "cluster").iterdir())
    assert written == ["autoencoder_3L.keras", "autoencoder_3L_history.csv"]
