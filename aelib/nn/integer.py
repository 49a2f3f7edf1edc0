"""The hyper-synthesis as an integer network: the same output on every CPU, thread count and oneDNN setting.

A float network's last bits depend on summation order, and a hyperprior's
decoder that picks a different scale table for one latent than the encoder
did desynchronises the rest of the stream. Ballé, Johnston and Minnen (ICLR
2019, "Integer networks for data compression with latent-variable models",
arXiv:1810.12868) make that branch integer. Here the trained float network is
converted once, exactly, into fixed point:

* every activation is an integer a in units of 2**-F (F = FRACTION_BITS);
* every kernel weight is w_int = round(w · 2**F), every bias b_int = round(b · 2**(2F));
* a convolution sums a · w_int + b_int, an integer below 2**53 (the bounds
  below guarantee it), so float64 arithmetic computes it **exactly** in any
  order — BLAS, threads or vector units cannot change the result;
* a ReLU becomes ⌊(max(acc, 0) + 2**(F−1)) / 2**F⌋ (rounded half up) clamped to
  MAX_ACTIVATION · 2**F, back in units of 2**-F; sub-pixel upsampling is a permutation.

The float network used in training applies the same clamps (ReLU capped at
MAX_ACTIVATION, kernels constrained to ±MAX_WEIGHT), so the two differ only by
the rounding of weights and activations, about 2**-12 relative.

Bounds: |input| ≤ 2**8 (hyper-latents are clamped there for this branch),
activations ≤ 2**8, |weights| ≤ 2**3 and at most 3·3·1024 terms per sum give
|acc| < 2**(20 + 15 + 14) = 2**49.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from aelib.errors import FormatError
from aelib.nn.layers import DepthToSpace

FRACTION_BITS = 12
MAX_ACTIVATION = 256.0
MAX_WEIGHT = 8.0
MAX_INPUT = 255
MAX_TERMS = 3 * 3 * 1024


@dataclass(frozen=True)
class IntegerLayer:
    """One step of an integer network: "conv" (kernel, bias), "relu" or "depth_to_space" (block)."""

    kind: str
    kernel: np.ndarray | None = None
    bias: np.ndarray | None = None
    block: int = 0


def _conv_same(activations: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A stride-1 "same" convolution of (B, H, W, C) integers, exactly, in float64."""
    k = kernel.shape[0]
    pad = k // 2
    batch, height, width, channels = activations.shape
    padded = np.pad(activations, ((0, 0), (pad, k - 1 - pad), (pad, k - 1 - pad), (0, 0)))
    patches = np.empty((batch, height, width, k, k, channels), np.float64)
    for dy in range(k):
        for dx in range(k):
            patches[:, :, :, dy, dx] = padded[:, dy : dy + height, dx : dx + width]
    out = patches.reshape(batch * height * width, -1) @ kernel.reshape(-1, kernel.shape[-1])
    return out.reshape(batch, height, width, -1) + bias


def _depth_to_space(activations: np.ndarray, block: int) -> np.ndarray:
    batch, height, width, channels = activations.shape
    out = channels // (block * block)
    return (
        activations.reshape(batch, height, width, block, block, out)
        .transpose(0, 1, 3, 2, 4, 5)
        .reshape(batch, height * block, width * block, out)
    )


@dataclass(frozen=True)
class IntegerNetwork:
    """A fixed-point copy of a float network of stride-1 convolutions, ReLUs and sub-pixel upsampling."""

    layers: tuple[IntegerLayer, ...]

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """The output (B, H', W', C') in units of 2**-(2F), as exact integers (float64), for integers (B, H, W, C)."""
        unit = float(1 << FRACTION_BITS)
        values = np.clip(np.asarray(inputs, np.int64), -MAX_INPUT, MAX_INPUT).astype(np.float64) * unit
        accumulated = False
        for layer in self.layers:
            if layer.kind == "conv":
                values = _conv_same(values, layer.kernel, layer.bias)
                accumulated = True
            elif layer.kind == "relu":
                values = np.minimum(np.floor((np.maximum(values, 0.0) + unit / 2) / unit), MAX_ACTIVATION * unit)
                accumulated = False
            else:
                values = _depth_to_space(values, layer.block)
        if not accumulated:
            raise FormatError("an integer network must end with a convolution")
        return values


def integer_network(model: keras.Model) -> IntegerNetwork:
    """Converts a float network (see :func:`check_integer_compatible`) to fixed point, exactly and deterministically."""
    check_integer_compatible(model)
    unit = float(1 << FRACTION_BITS)
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
            layers.append(IntegerLayer("conv", np.rint(kernel * unit), np.rint(bias * unit * unit)))
        elif isinstance(layer, keras.layers.ReLU):
            layers.append(IntegerLayer("relu"))
        elif isinstance(layer, DepthToSpace):
            layers.append(IntegerLayer("depth_to_space", block=layer.block))
    return IntegerNetwork(tuple(layers))


def check_integer_compatible(model: keras.Model) -> None:
    """Refuses a network the integer conversion cannot reproduce exactly.

    Raises:
        FormatError: a layer other than stride-1 "same" Conv2D without activation, ReLU capped at
            MAX_ACTIVATION or DepthToSpace; a kernel weight beyond ±MAX_WEIGHT; or a sum of more than MAX_TERMS terms.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Conv2D):
            kernel = layer.get_weights()[0]
            if layer.strides != (1, 1) or layer.padding != "same" or layer.activation.__name__ != "linear":
                raise FormatError(f"integer network: {layer.name} must be a stride-1 'same' linear convolution")
            if np.abs(kernel).max() > MAX_WEIGHT or kernel[..., 0].size > MAX_TERMS:
                raise FormatError(f"integer network: {layer.name} exceeds the fixed-point bounds")
        elif isinstance(layer, keras.layers.ReLU):
            if layer.max_value is None or float(layer.max_value) != MAX_ACTIVATION:
                raise FormatError(f"integer network: {layer.name} must be a ReLU capped at {MAX_ACTIVATION:g}")
        elif not isinstance(layer, DepthToSpace):
            raise FormatError(f"integer network: {layer.name} ({type(layer).__name__}) has no integer form")
