import numpy as np

from aelib.nn.layers import GDN


def test_gdn_matches_its_formula_computed_by_hand():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 4, 3)).astype(np.float32)
    layer = GDN()
    layer.build(x.shape)
    beta = np.array([1.0, 0.5, 2.0], np.float32)
    gamma = rng.random((3, 3)).astype(np.float32)
    layer.set_weights([beta, gamma])
    # y_i = x_i / sqrt(beta_i + sum_j gamma_ji x_j^2), with gamma indexed (from j, to i).
    norm = beta + np.einsum("bhwj,ji->bhwi", x**2, gamma)
    np.testing.assert_allclose(layer(x).numpy(), x / np.sqrt(norm + 1e-6), rtol=1e-5)


def test_inverse_gdn_multiplies_by_the_normalisation_and_survives_its_config():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1, 3, 3, 4)).astype(np.float32)
    layer = GDN(inverse=True)
    layer.build(x.shape)
    beta, gamma = rng.random(4).astype(np.float32), rng.random((4, 4)).astype(np.float32)
    layer.set_weights([beta, gamma])
    norm = beta + np.einsum("bhwj,ji->bhwi", x**2, gamma)
    np.testing.assert_allclose(layer(x).numpy(), x * np.sqrt(norm + 1e-6), rtol=1e-5)
    assert GDN.from_config(layer.get_config()).inverse is True
