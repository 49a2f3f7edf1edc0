import numpy as np
import pytest

from aelib.errors import AelibError
from aelib.nn.models import build_autoencoder, decoder_of, downsampling_factor, encoder_of, summarize

# (depth, latent shape for a 128x128 image) as documented in aelib.nn.models.
DOCUMENTED_LATENTS = [(3, (16, 16, 32)), (5, (16, 16, 23)), (7, (16, 16, 17)), (10, (16, 16, 10))]


@pytest.mark.parametrize("depth, latent_shape", DOCUMENTED_LATENTS)
def test_paper_depths_build_with_documented_shapes(depth, latent_shape):
    model = build_autoencoder(depth)
    summary = summarize(model)
    assert summary.depth == depth
    assert summary.latent_shape == latent_shape
    assert summary.parameters == model.count_params()
    images = np.random.default_rng(0).random((2, 128, 128, 3), np.float32)
    assert encoder_of(model)(images).shape == (2, *latent_shape)
    output = model(images).numpy()
    assert output.shape == images.shape
    assert output.min() >= 0 and output.max() <= 1  # the decoder ends in a sigmoid (eq. 3)


def test_deeper_encoders_keep_fewer_latent_values():
    values = [summarize(build_autoencoder(d)).latent_values for d, _ in DOCUMENTED_LATENTS]
    assert values == sorted(values, reverse=True) and len(set(values)) == 4


def test_multiply_adds_of_the_3_layer_model_by_hand():
    # encoder: 64²·9·3·32 + 32²·9·32·64 + 16²·9·64·32; the decoder mirrors it.
    encoder = 64**2 * 9 * 3 * 32 + 32**2 * 9 * 32 * 64 + 16**2 * 9 * 64 * 32
    assert summarize(build_autoencoder(3)).multiply_adds == 2 * encoder


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_any_positive_depth_builds(depth):
    model = build_autoencoder(depth)
    side = downsampling_factor(depth) * 2
    assert model(np.zeros((1, side, side, 3), np.float32)).shape == (1, side, side, 3)
    assert decoder_of(model).output.shape[-1] == 3


@pytest.mark.parametrize("depth", [0, -3, 2.5])
def test_bad_depth_is_refused(depth):
    with pytest.raises(AelibError, match="depth must be an integer >= 1"):
        build_autoencoder(depth)


def test_gdn_autoencoder_downsamples_16_and_round_trips_a_keras_file(tmp_path):
    from aelib.nn.models import build_gdn_autoencoder, downsampling_factor_of, load_model, save_model

    model = build_gdn_autoencoder(8, 6, name="gdn_test")
    assert downsampling_factor_of(model) == 16
    assert downsampling_factor_of(build_autoencoder(5)) == downsampling_factor(5) == 8
    images = np.random.default_rng(1).random((2, 64, 48, 3), np.float32)
    assert encoder_of(model)(images).shape == (2, 4, 3, 6)
    save_model(model, tmp_path / "gdn_test.keras")
    loaded = load_model(tmp_path / "gdn_test.keras")
    np.testing.assert_array_equal(loaded(images).numpy(), model(images).numpy())
