"""Entropy models of latents: at once the training rate, the quantiser and the source of the coder's tables.

Two layers, after CompressAI's ``EntropyBottleneck`` / ``GaussianConditional``
and tensorflow-compression's ``NoisyDeepFactorized`` / location–scale models:

* :class:`FactorizedDensity` — a learned, non-parametric density per channel
  (Ballé, Minnen, Singh, Hwang, Johnston, ICLR 2018, "Variational image
  compression with a scale hyperprior", arXiv:1802.01436, appendix 6.1): the
  cumulative is ``c = f_K ∘ … ∘ f_1`` with ``f_k(x) = g_k(softplus(H_k)·x + b_k)``
  and ``g_k(x) = x + tanh(a_k) ⊙ tanh(x)``, monotone by construction. It models
  the hyper-latents z.
* :class:`GaussianConditional` — a zero-mean Gaussian of the residual ``y − μ``
  with a scale σ chosen per latent from a **fixed table** of scales
  ``σ_j = 2**(S_MIN + j/8)`` (Minnen, Ballé, Toderici, NeurIPS 2018,
  "Joint autoregressive and hierarchical priors", arXiv:1809.02736, without
  the autoregressive context).

Training sees the likelihood of ``value + U(−½, ½)`` noise (Ballé et al., ICLR
2017, eq. 6–7), differentiable in the value and the density's parameters.
Coding sees integers and **integer CDF tables** built once by ``export``
from the same density and saved inside the ``.keras`` file (no sidecar).
Values beyond a table's range are not clipped: they are coded as the table's
escape symbol followed by the value itself (:mod:`aelib.codec.rans`).

Where the tables live: an exported ``.keras`` file stores, beside the weights
of its layers "hyper_density" (one table per hyper-latent channel, in channel
order) and "conditional" (one table per scale σ_j, j = 0 … 79), each table set
as three arrays ``cdf`` (T, A + 1), ``sizes`` (T,) and ``offsets`` (T,) in that
layer's variables of ``model.weights.h5`` (:class:`aelib.tables.CdfTables`). A
file's stream numbers them together: hyper-latent channel c uses table c and
scale index j uses table N + j, N the hyper-latent channels.

The scale index of a latent comes from the integer hyper-synthesis's output
channels M … 2M − 1, log2 σ as integers s in units of 2**-24: with
S_MIN = −3.25 and S_STEP = 1/8,
``j = clamp(⌊(s + 3.25·2**24 + 2**20) / 2**21⌋, 0, 79)``, that is the nearest
σ_j in log2, ties upwards — integer arithmetic, so the same on every machine
(:func:`scale_index`). Channels 0 … M − 1 are the means μ, in the same units.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from aelib.tables import CdfTables, tables_from_pmf

LIKELIHOOD_BOUND = 1e-9
"""Smallest likelihood used in the training rate (CompressAI's bound): keeps −log2 finite."""
TAIL_MASS = 1e-9
"""Probability a factorized table leaves to its escape on each side."""
MAX_FACTORIZED_RANGE = 4096
"""Values examined on each side of zero when a factorized table's range is chosen."""

S_MIN = -3.25
"""log2 of the smallest scale in the Gaussian table (σ ≈ 0.105, CompressAI's bound is 0.11)."""
S_STEP = 0.125
"""Spacing of the scale table in log2 (9 % between neighbours)."""
SCALE_LEVELS = 80
"""Scales in the table: σ from 2**-3.25 ≈ 0.105 to 2**6.625 ≈ 99."""
GAUSSIAN_RANGE_SIGMAS = 5.0
"""A Gaussian table lists the residuals within ±⌈5σ⌉; the rest are escapes."""


def _save_tables(store, tables: CdfTables | None) -> None:
    if tables is not None:  # int32 holds every entry (at most 2**16) at half the size
        store["cdf"], store["sizes"], store["offsets"] = (
            a.astype(np.int32) for a in (tables.cdf, tables.sizes, tables.offsets)
        )


def _load_tables(store) -> CdfTables | None:
    if "cdf" not in store.keys():
        return None
    return CdfTables(
        np.asarray(store["cdf"], np.int64), np.asarray(store["sizes"], np.int64), np.asarray(store["offsets"], np.int64)
    )


class _TableLayer(keras.layers.Layer):
    """A layer whose integer CDF tables, once exported, are saved and loaded with its weights."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tables: CdfTables | None = None

    def save_own_variables(self, store):
        super().save_own_variables(store)
        _save_tables(store, self.tables)

    def load_own_variables(self, store):
        variables = self._trainable_variables + self._non_trainable_variables
        for i, variable in enumerate(variables):
            variable.assign(store[f"{i}"])
        self.tables = _load_tables(store)


def ste_round(x: tf.Tensor) -> tf.Tensor:
    """round(x) forward, identity backward (the straight-through estimator)."""
    return x + tf.stop_gradient(tf.round(x) - x)


@keras.saving.register_keras_serializable(package="aelib")
class FactorizedDensity(_TableLayer):
    """A learned density per channel of the last axis (Ballé et al., 2018, arXiv:1802.01436, appendix 6.1).

    Called on a tensor it returns the tensor rounded (straight-through), as the
    codec sees it. :meth:`likelihood` gives the training probabilities;
    :meth:`export` the integer tables, one per channel, of the values
    ``round(z)``.

    Args:
        filters: widths of the hidden layers of each channel's cumulative (3, 3, 3 as in the paper).
        init_scale: the initial density is roughly uniform over ±init_scale.
    """

    def __init__(self, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(filters)
        self.init_scale = float(init_scale)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        widths = (1, *self.filters, 1)
        scale = self.init_scale ** (1 / (len(widths) - 1))
        self.matrices, self.biases, self.factors = [], [], []
        for k in range(len(widths) - 1):
            init = math.log(math.expm1(1 / scale / widths[k + 1]))
            self.matrices.append(
                self.add_weight(
                    shape=(channels, widths[k + 1], widths[k]),
                    initializer=keras.initializers.Constant(init),
                    name=f"matrix_{k}",
                )
            )
            self.biases.append(
                self.add_weight(
                    shape=(channels, widths[k + 1], 1),
                    initializer=keras.initializers.RandomUniform(-0.5, 0.5),
                    name=f"bias_{k}",
                )
            )
            if k < len(widths) - 2:
                self.factors.append(
                    self.add_weight(shape=(channels, widths[k + 1], 1), initializer="zeros", name=f"factor_{k}")
                )

    def _logits_cumulative(self, x):
        """The logit of the cumulative at x, shape (C, 1, n) → (C, 1, n)."""
        logits = x
        for k, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            logits = ops.matmul(ops.softplus(matrix), logits) + bias
            if k < len(self.factors):
                logits += ops.tanh(self.factors[k]) * ops.tanh(logits)
        return logits

    def likelihood(self, values):
        """Probability mass of [v − ½, v + ½] for each value (…, C), bounded below by LIKELIHOOD_BOUND."""
        channels = values.shape[-1]
        flat = ops.reshape(ops.transpose(ops.reshape(values, (-1, channels))), (channels, 1, -1))
        lower = self._logits_cumulative(flat - 0.5)
        upper = self._logits_cumulative(flat + 0.5)
        # Evaluate on the side of the median where the sigmoid is not near 1 (CompressAI's sign trick).
        sign = -ops.sign(lower + upper)
        sign = ops.where(sign == 0, ops.ones_like(sign), sign)
        mass = ops.abs(ops.sigmoid(sign * upper) - ops.sigmoid(sign * lower))
        mass = ops.reshape(ops.transpose(ops.reshape(mass, (channels, -1))), ops.shape(values))
        return ops.maximum(mass, LIKELIHOOD_BOUND)

    def call(self, inputs):
        return ste_round(inputs)

    def export(self) -> CdfTables:
        """Builds and keeps the integer tables of round(z): channel c's values between its tails of TAIL_MASS."""
        channels = int(self.matrices[0].shape[0])
        grid = np.arange(-MAX_FACTORIZED_RANGE, MAX_FACTORIZED_RANGE + 1, dtype=np.float32)
        points = np.broadcast_to(grid, (channels, 1, len(grid)))
        below = ops.convert_to_numpy(ops.sigmoid(self._logits_cumulative(points - 0.5)))[:, 0].astype(np.float64)
        above = ops.convert_to_numpy(ops.sigmoid(-self._logits_cumulative(points + 0.5)))[:, 0].astype(np.float64)
        pmf_full = np.clip(1.0 - below - above, 0.0, None)
        offsets, sizes, rows = [], [], []
        for c in range(channels):
            inside = np.nonzero((below[c] < 1 - TAIL_MASS) & (above[c] < 1 - TAIL_MASS) & (pmf_full[c] > 0))[0]
            keep = np.nonzero((below[c] >= TAIL_MASS) | (above[c] >= TAIL_MASS))[0]
            keep = np.intersect1d(keep, inside) if len(inside) else np.array([MAX_FACTORIZED_RANGE])
            first, last = int(keep.min()), int(keep.max())
            offsets.append(first - MAX_FACTORIZED_RANGE)
            sizes.append(last - first + 2)
            rows.append(pmf_full[c, first : last + 1])
        width = max(sizes)
        pmf = np.zeros((channels, width))
        for c, row in enumerate(rows):
            pmf[c, : len(row)] = row
        self.tables = tables_from_pmf(pmf, np.array(sizes), np.array(offsets))
        return self.tables

    def get_config(self):
        return {**super().get_config(), "filters": list(self.filters), "init_scale": self.init_scale}


def scale_table() -> np.ndarray:
    """The scales σ_j = 2**(S_MIN + j·S_STEP), j = 0 … SCALE_LEVELS − 1 (float64)."""
    return np.exp2(S_MIN + S_STEP * np.arange(SCALE_LEVELS))


def scale_index(log2_scale_fixed: np.ndarray, fraction_bits: int) -> np.ndarray:
    """The table index of each scale from its log2 in fixed point (integers in units of 2**-fraction_bits).

    j = clamp(⌊(s − S_MIN)/S_STEP + ½⌋, 0, SCALE_LEVELS − 1) in integer arithmetic:
    S_MIN and S_STEP are dyadic, so the thresholds are exact integers.
    """
    s = np.asarray(log2_scale_fixed, np.int64)
    unit = 1 << fraction_bits
    step = int(S_STEP * unit)
    index = (s - int(S_MIN * unit) + step // 2) // step
    return np.clip(index, 0, SCALE_LEVELS - 1)


def _normal_cdf(x):
    return 0.5 * tf.math.erfc(-x * (2**-0.5))


@keras.saving.register_keras_serializable(package="aelib")
class GaussianConditional(_TableLayer):
    """The residual ``y − μ`` as a zero-mean Gaussian of scale σ = 2**s, σ from a fixed table when coding.

    Called on ``[y, μ]`` it returns ``round(y − μ) + μ`` with a straight-through
    gradient: what the decoder sees when the codec writes ``round(y − μ)``.
    """

    def call(self, inputs):
        values, means = inputs
        return ste_round(values - means) + means

    @staticmethod
    def scale(log2_scale):
        """σ = 2**s, bounded below by the table's smallest scale."""
        return tf.maximum(tf.pow(2.0, log2_scale), float(2**S_MIN))

    def likelihood(self, residuals, log2_scale):
        """Mass of [r − ½, r + ½] under N(0, σ²), for noisy or rounded residuals r."""
        sigma = self.scale(log2_scale)
        magnitude = tf.abs(residuals)
        mass = _normal_cdf((0.5 - magnitude) / sigma) - _normal_cdf((-0.5 - magnitude) / sigma)
        return tf.maximum(mass, LIKELIHOOD_BOUND)

    def export(self) -> CdfTables:
        """The integer tables of round(y − μ), one per scale of :func:`scale_table`."""
        from scipy.special import ndtr

        sizes, offsets = [], []
        for sigma in scale_table():
            reach = max(1, math.ceil(GAUSSIAN_RANGE_SIGMAS * sigma))
            offsets.append(-reach)
            sizes.append(2 * reach + 2)
        pmf = np.zeros((SCALE_LEVELS, max(sizes)))
        for j, sigma in enumerate(scale_table()):
            values = np.arange(offsets[j], -offsets[j] + 1, dtype=np.float64)
            pmf[j, : len(values)] = ndtr((values + 0.5) / sigma) - ndtr((values - 0.5) / sigma)
        self.tables = tables_from_pmf(pmf, np.array(sizes), np.array(offsets))
        return self.tables
