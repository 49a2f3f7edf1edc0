"""Generalized divisive normalization (GDN), the nonlinearity of learned image codecs.

Ballé, Laparra and Simoncelli (ICLR 2016, eq. 6; used in Ballé et al., ICLR
2017) normalise each channel by a learned mix of all channels' energies::

    y_i = x_i / sqrt(β_i + Σ_j γ_ij · x_j²)            (GDN, in the encoder)
    x_i = y_i · sqrt(β_i + Σ_j γ_ij · y_j²)            (inverse GDN, in the decoder)

β and γ must stay positive. We keep them as |parameter| (β plus a floor of
1e-6), initialised to β = 1 and γ = 0.1·I as in the paper, so the layer starts
close to a fixed scaling and learns the cross-channel mixing.
"""

from __future__ import annotations

import keras
from keras import ops

BETA_FLOOR = 1e-6
GAMMA_INIT = 0.1


@keras.saving.register_keras_serializable(package="aelib")
class GDN(keras.layers.Layer):
    """GDN over the last axis; ``inverse=True`` gives the decoder's inverse GDN (IGDN).

    Args:
        inverse: multiply by the normalisation instead of dividing.
    """

    def __init__(self, inverse: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.inverse = inverse

    def build(self, input_shape):
        channels = input_shape[-1]
        self.beta = self.add_weight(shape=(channels,), initializer="ones", name="beta")
        self.gamma = self.add_weight(
            shape=(channels, channels), initializer=keras.initializers.Identity(GAMMA_INIT), name="gamma"
        )

    def call(self, inputs):
        energy = ops.tensordot(ops.square(inputs), ops.abs(self.gamma), axes=[[inputs.ndim - 1], [0]])
        norm = ops.abs(self.beta) + BETA_FLOOR + energy
        return inputs * ops.sqrt(norm) if self.inverse else inputs * ops.rsqrt(norm)

    def get_config(self):
        return {**super().get_config(), "inverse": self.inverse}
