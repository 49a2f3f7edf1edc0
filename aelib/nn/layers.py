"""Generalized divisive normalization (GDN), the nonlinearity of learned image codecs.

Ballé, Laparra and Simoncelli (ICLR 2016, eq. 6; used in Ballé et al., ICLR
2017) normalise each channel by a learned mix of all channels' energies::

    y_i = x_i / sqrt(β_i + Σ_j γ_ij · x_j²)            (GDN, in the encoder)
    x_i = y_i · sqrt(β_i + Σ_j γ_ij · y_j²)            (inverse GDN, in the decoder)

β and γ must stay positive, initialised to β = 1 and γ = 0.1·I as in the
paper, so the layer starts close to a fixed scaling and learns the
cross-channel mixing. Two parameterisations:

* ``"squared"`` (new models): β = max(p_β, √(β_min + ε))² − ε and
  γ = max(p_γ, √ε)² − ε with a pedestal ε = 2**-36, as tensorflow-compression's
  ``GDNParameter`` does: the square makes a small parameter move slowly near
  zero, so β cannot be driven to its floor by one large step.
* ``"abs"`` (the models committed before ``.aec`` version 3): β = |p_β| + 1e-6, γ = |p_γ|.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

BETA_FLOOR = 1e-6
GAMMA_INIT = 0.1
PEDESTAL = 2.0**-36
PARAMETERIZATIONS = ("abs", "squared")


@keras.saving.register_keras_serializable(package="aelib")
class GDN(keras.layers.Layer):
    """GDN over the last axis; ``inverse=True`` gives the decoder's inverse GDN (IGDN).

    Args:
        inverse: multiply by the normalisation instead of dividing.
        parameterization: "squared" or "abs" (see the module's docstring).
    """

    def __init__(self, inverse: bool = False, parameterization: str = "abs", **kwargs):
        super().__init__(**kwargs)
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"GDN parameterization must be one of {PARAMETERIZATIONS}, got {parameterization!r}")
        self.inverse = inverse
        self.parameterization = parameterization

    def build(self, input_shape):
        channels = input_shape[-1]
        squared = self.parameterization == "squared"
        beta_init = (1.0 + PEDESTAL) ** 0.5 if squared else 1.0
        gamma_init = (GAMMA_INIT + PEDESTAL) ** 0.5 if squared else GAMMA_INIT
        self.beta = self.add_weight(shape=(channels,), initializer=keras.initializers.Constant(beta_init), name="beta")
        self.gamma = self.add_weight(
            shape=(channels, channels), initializer=keras.initializers.Identity(gamma_init), name="gamma"
        )

    def _beta_gamma(self):
        if self.parameterization == "abs":
            return ops.abs(self.beta) + BETA_FLOOR, ops.abs(self.gamma)
        beta = ops.square(ops.maximum(self.beta, (BETA_FLOOR + PEDESTAL) ** 0.5)) - PEDESTAL
        gamma = ops.square(ops.maximum(self.gamma, PEDESTAL**0.5)) - PEDESTAL
        return beta, gamma

    def call(self, inputs):
        beta, gamma = self._beta_gamma()
        energy = ops.tensordot(ops.square(inputs), gamma, axes=[[inputs.ndim - 1], [0]])
        norm = beta + energy
        return inputs * ops.sqrt(norm) if self.inverse else inputs * ops.rsqrt(norm)

    def get_config(self):
        return {**super().get_config(), "inverse": self.inverse, "parameterization": self.parameterization}


@keras.saving.register_keras_serializable(package="aelib")
class DepthToSpace(keras.layers.Layer):
    """Sub-pixel upsampling (Shi et al., CVPR 2016): channels (i·b + j)·C + c move to pixel offset (i, j).

    TensorFlow's ``depth_to_space`` ordering; :mod:`aelib.nn.integer` repeats it exactly in numpy.
    """

    def __init__(self, block: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.block = int(block)

    def call(self, inputs):
        return tf.nn.depth_to_space(inputs, self.block)

    def compute_output_shape(self, input_shape):
        b = self.block
        side = [None if s is None else s * b for s in input_shape[1:3]]
        return (input_shape[0], *side, input_shape[3] // (b * b))

    def get_config(self):
        return {**super().get_config(), "block": self.block}
