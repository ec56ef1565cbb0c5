"""Quantisation to codes and TF's fake quantisation in ``keras.ops``, for every Keras backend: bit-identical to the
compiled ``TfaxQuantize`` op (`tfaxdnn.ops.nn.quantize`) and to ``tf.quantization.fake_quant_with_min_max_vars``.

Both are short chains of float32 element-wise operations, each rounded once as IEEE 754 prescribes (a division, a
half-to-even rounding, an addition, a clip), so any backend that does not fuse a multiply and an add into one
rounding (XLA, Eigen and TensorFlow's kernels do not) gives the same bits.
"""

from __future__ import annotations

import keras
import numpy as np

from tfaxdnn.ops import backend

__all__ = ["quantize", "fake_quant"]


def quantize(values, scale, zero_point, signed: bool, clip_min=None, clip_max=None, code_map=None):
    """int32 codes ``clip(round_half_even(values / scale) + zero_point)`` (NaN: the zero point), optionally through
    ``code_map`` (``int[256]`` indexed like a multiplier table): element for element those of
    ``tfaxdnn.ops.nn.quantize`` with int8 (``signed``) or uint8 codes. ``scale`` and ``zero_point`` are scalars or
    vectors of n elements that apply to the trailing dimensions whose product is n (per output channel)."""
    ops = keras.ops
    lo, hi = (-128, 127) if signed else (0, 255)
    lo = lo if clip_min is None else int(clip_min)
    hi = hi if clip_max is None else int(clip_max)
    v = ops.cast(values, "float32")
    s = ops.cast(scale, "float32")
    z = ops.cast(zero_point, "float32")
    n = int(np.prod(s.shape)) if len(s.shape) else 1
    shape = ops.shape(v)
    per_channel = n > 1 or len(s.shape) == 1
    if per_channel:  # flat index modulo n: the trailing dimensions
        v = ops.reshape(v, (-1, n))
        s, z = ops.reshape(s, (n,)), ops.reshape(z, (n,))
    r = ops.add(ops.round(backend.divide(v, s)), z)  # IEEE division (XLA would multiply by a reciprocal)
    r = ops.where(ops.isnan(r), ops.broadcast_to(z, ops.shape(r)), r)
    q = ops.cast(ops.clip(r, float(lo), float(hi)), "int32")  # integral: exact
    if code_map is not None:
        q = ops.take(ops.cast(code_map, "int32"), q + (128 if signed else 0), axis=0)
    return ops.reshape(q, shape) if per_channel else q


def fake_quant(inputs, x_min, x_max, num_bits: int = 8, narrow_range: bool = False):
    """``tf.quantization.fake_quant_with_min_max_vars`` (per tensor) in float32 ``keras.ops``, step for step as
    TensorFlow's kernel (``Nudge`` and ``FakeQuantWithMinMaxVarsFunctor``, fake_quant_ops_functor.h)::

        scale = (max - min) / (qmax - qmin);  inv = (qmax - qmin) / (max - min)
        zero point = std::round(qmin - min / scale) clipped to [qmin, qmax]
        nudged_min, nudged_max = (qmin - zp) * scale, (qmax - zp) * scale
        quant_zero = floor(-nudged_min * inv + 0.5)
        out = floor((clip(x, nudged_min, nudged_max) - nudged_min) / scale - quant_zero + 0.5) * scale

    and zeros where ``min = max = 0``."""
    ops = keras.ops
    if num_bits != 8:
        raise ValueError(f"Only 8-bit fake quantisation is supported. Received: num_bits={num_bits}")
    f32 = "float32"
    qmin, qmax = np.float32(1.0 if narrow_range else 0.0), np.float32(255.0)
    lo, hi = ops.cast(x_min, f32), ops.cast(x_max, f32)
    # IEEE divisions and no fused multiply-adds (`backend.divide`, `backend.unfused`), as TensorFlow's kernel
    scale = backend.divide(ops.subtract(hi, lo), qmax - qmin)
    inv = backend.divide(qmax - qmin, ops.subtract(hi, lo))
    zp_from_min = ops.subtract(qmin, backend.divide(lo, scale))
    whole = ops.floor(zp_from_min)  # std::round (half away from zero; the value is >= qmin >= 0 where it is used)
    rounded = ops.where(ops.subtract(zp_from_min, whole) >= 0.5, ops.add(whole, np.float32(1.0)), whole)
    zp = ops.where(zp_from_min < qmin, qmin, ops.where(zp_from_min > qmax, qmax, rounded))
    nudged_min = backend.unfused(ops.multiply(ops.subtract(qmin, zp), scale))
    nudged_max = ops.multiply(ops.subtract(qmax, zp), scale)   # only compared: no multiply-add to keep apart
    quant_zero = ops.floor(ops.add(backend.unfused(ops.multiply(ops.negative(nudged_min), inv)), np.float32(0.5)))
    x = ops.cast(inputs, f32)
    shifted = ops.subtract(ops.maximum(ops.minimum(x, nudged_max), nudged_min), nudged_min)
    q = ops.floor(ops.add(ops.subtract(backend.divide(shifted, scale), quant_zero), np.float32(0.5)))
    out = ops.multiply(q, scale)
    both_zero = ops.logical_and(ops.equal(lo, 0.0), ops.equal(hi, 0.0))
    return ops.where(both_zero, ops.zeros_like(out), out)
