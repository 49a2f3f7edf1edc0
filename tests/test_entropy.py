import numpy as np
import pytest

from aelib.codec.entropy import (
    PRECISION_BITS,
    decode_symbols,
    encode_symbols,
    fit_entropy_model,
    load_entropy_model,
    quantize,
    save_entropy_model,
)
from aelib.errors import AelibError


@pytest.fixture
def latents():
    """Non-negative, sparse, channel-dependent latents like a ReLU encoder's."""
    rng = np.random.default_rng(0)
    scales = np.array([0.3, 1.0, 3.0, 8.0])
    return np.maximum(rng.laplace(0, scales, (50, 8, 8, 4)), 0)


def test_tables_are_integers_summing_to_two_to_the_sixteen(latents):
    model = fit_entropy_model(latents)
    assert model.frequencies.dtype == np.uint32
    np.testing.assert_array_equal(model.frequencies.sum(axis=1), 2**PRECISION_BITS)
    symbols = np.rint(latents).astype(int).reshape(-1, 4)
    np.testing.assert_array_equal(model.minimum, symbols.min(axis=0))
    np.testing.assert_array_equal(model.sizes, symbols.max(axis=0) - symbols.min(axis=0) + 1)
    for channel in range(4):
        assert (model.frequencies[channel, : model.sizes[channel]] > 0).all()
        assert (model.frequencies[channel, model.sizes[channel] :] == 0).all()


def test_frequencies_follow_the_histogram(latents):
    model = fit_entropy_model(latents)
    symbols = np.rint(latents[..., 3]).astype(int).ravel()
    empirical = np.bincount(symbols - model.minimum[3]) / symbols.size
    fitted = model.frequencies[3, : model.sizes[3]] / 2**PRECISION_BITS
    np.testing.assert_allclose(fitted, empirical, atol=0.01)


def test_integer_latents_round_trip_bit_exactly(latents):
    model = fit_entropy_model(latents)
    for image in latents[:5]:
        symbols = quantize(image, model)
        data = encode_symbols(symbols, model)
        np.testing.assert_array_equal(decode_symbols(data, symbols.shape, model), symbols)


def test_code_length_is_close_to_the_ideal(latents):
    model = fit_entropy_model(latents)
    symbols = quantize(latents[7], model)
    ideal = model.bits(symbols)
    actual = 8 * len(encode_symbols(symbols, model))
    assert ideal - 32 <= actual <= ideal + 64 + 0.01 * ideal  # a range coder costs at most a few words more


def test_out_of_range_latents_are_clipped_into_the_tables(latents):
    model = fit_entropy_model(latents)
    wild = latents[0].copy()
    wild[0, 0] = [-5.0, 1e6, 2.4, 3.6]
    symbols = quantize(wild, model)
    np.testing.assert_array_equal(symbols[0, 0], [model.minimum[0], model.minimum[1] + model.sizes[1] - 1, 2, 4])
    np.testing.assert_array_equal(decode_symbols(encode_symbols(symbols, model), symbols.shape, model), symbols)


def test_single_symbol_channels_cost_nothing():
    latents = np.zeros((10, 4, 4, 2))
    latents[..., 1] = np.random.default_rng(1).integers(0, 4, (10, 4, 4))
    model = fit_entropy_model(latents)
    symbols = quantize(latents[0], model)
    assert model.sizes[0] == 1
    np.testing.assert_array_equal(decode_symbols(encode_symbols(symbols, model), symbols.shape, model), symbols)


def test_tables_survive_saving_and_corrupt_tables_are_refused(latents, tmp_path):
    model = fit_entropy_model(latents)
    np.savez(tmp_path / "t.npz", **save_entropy_model(model, "00ff"))
    with np.load(tmp_path / "t.npz") as arrays:
        loaded, fingerprint = load_entropy_model(arrays)
    assert fingerprint == "00ff" and loaded.table_bytes() == model.table_bytes()
    broken = save_entropy_model(model, "00ff")
    broken["frequencies"] = broken["frequencies"].copy()
    broken["frequencies"][0, 0] += 1
    with pytest.raises(AelibError, match="corrupt"):
        load_entropy_model(broken)


def test_a_payload_of_partial_words_is_refused(latents):
    model = fit_entropy_model(latents)
    with pytest.raises(AelibError, match="32-bit words"):
        decode_symbols(b"abc", (8, 8, 4), model)
