"""Each error says whose problem it is: the user's input, a damaged or foreign file, or a training run."""

import pytest

from aelib.errors import AelibError, FormatError, InputError, TrainingError


@pytest.mark.parametrize("kind", [InputError, FormatError, TrainingError])
def test_every_error_is_an_aelib_error(kind):
    assert issubclass(kind, AelibError)


def test_a_missing_image_is_an_input_error(tmp_path):
    from aelib.data import read_image

    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "missing.png")


def test_a_damaged_file_is_a_format_error(codec, images):
    from aelib.codec.codec import decode, encode

    data = bytearray(encode(images[0], codec))
    data[-1] ^= 0xFF
    with pytest.raises(FormatError, match="CRC32 mismatch"):
        decode(bytes(data), codec)


def test_a_foreign_model_file_is_a_format_error(tmp_path):
    from aelib.nn.models import load_model

    (tmp_path / "x.keras").write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="is not an aelib autoencoder model"):
        load_model(tmp_path / "x.keras")


@pytest.mark.slow
def test_a_collapsed_training_run_is_a_training_error(images):
    from aelib.config import TrainConfig
    from aelib.training.autoencoder import train_autoencoder

    config = TrainConfig(epochs=1, batch_size=8, learning_rate=1e9, seed=1)
    with pytest.raises(TrainingError, match="stopped"):
        train_autoencoder(3, images[:16], images[16:24], config, verbose=0)
