"""A layer's kernel on its way to codes: per-output weight parameters for each layer kind, and the one BatchNorm fold
(used by the Keras rewrite and by the frozen-graph transforms alike)."""

from __future__ import annotations

import numpy as np

from tfaxdnn.quant.params import QuantParams, weight_params

__all__ = ["kernel_params", "fold_batch_norm", "scale_kernel"]


def kernel_params(kind: str, kernel: np.ndarray, signed: bool, per_channel: bool) -> QuantParams:
    """Weight `QuantParams` with one scale per output (``[n_outputs]``; depthwise output ``c·mult + m``)."""
    k = np.asarray(kernel)
    flat = k.reshape(-1, k.shape[-2] * k.shape[-1]) if kind == "DepthwiseConv2D" else k.reshape(-1, k.shape[-1])
    p = weight_params(flat, signed, per_channel=per_channel, axis=-1)
    n = flat.shape[-1]
    return QuantParams(np.broadcast_to(p.scale, (n,)).copy(), np.broadcast_to(p.zero_point, (n,)).copy(), p.dtype,
                       0, p.narrow_range)


def fold_batch_norm(scale, bias, gamma, beta, mean, variance, epsilon: float) -> tuple:
    """A BatchNorm after ``x * scale + bias`` (per output channel, float64) folded in: the new ``(scale, bias)``."""
    factor = gamma / np.sqrt(variance + epsilon)
    return scale * factor, (bias - mean) * factor + beta


def scale_kernel(kernel, scale, depthwise: bool) -> np.ndarray:
    """``kernel`` (float64) times a per-output ``scale``; a depthwise kernel's outputs are ``[in_c, multiplier]``."""
    k = np.asarray(kernel, np.float64)
    return k * (np.reshape(scale, k.shape[-2:]) if depthwise else scale)
