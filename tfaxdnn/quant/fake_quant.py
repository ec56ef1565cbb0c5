"""TF's fake-quantisation grid (``Nudge`` in fake_quant_ops_functor.h), the one implementation tfaxdnn uses for
`FakeQuant` layers, tfmot models and FakeQuant graph nodes."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from tfaxdnn.quant.params import QuantParams

__all__ = ["nudged_grid", "nudged_params", "fake_quant_codes"]


def nudged_grid(x_min, x_max, narrow_range: bool = False, num_bits: int = 8
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(scale, nudged_min, zero_point, quant_min)`` per element of ``x_min``/``x_max`` (float32 as TF; the zero
    point in uint8 code space)."""
    if num_bits != 8:
        raise ValueError(f"Only 8-bit fake quantisation maps onto 8x8 multipliers. Received: num_bits={num_bits}")
    lo = np.atleast_1d(np.asarray(x_min, np.float32))
    hi = np.atleast_1d(np.asarray(x_max, np.float32))
    qmin, qmax = np.float32(1 if narrow_range else 0), np.float32(255)
    scale = (hi - lo) / (qmax - qmin)
    if np.any(~(scale > 0)):
        raise ValueError(f"Empty fake-quantisation range [{lo}, {hi}] (an untrained or uncalibrated model?).")
    zp_from_min = qmin - lo / scale
    zp = np.where(zp_from_min < qmin, qmin, np.where(zp_from_min > qmax, qmax, np.floor(zp_from_min + 0.5)))
    nudged_min = (qmin - zp) * scale
    return scale.astype(np.float32), nudged_min.astype(np.float32), zp.astype(np.int64), int(qmin)


def nudged_params(x_min, x_max, num_bits: int = 8, narrow_range: bool = False, signed: bool = True) -> QuantParams:
    """The grid as `QuantParams` of int8 codes (uint8 codes − 128) or uint8 codes; per element for array bounds."""
    scale, _, zp, _ = nudged_grid(x_min, x_max, narrow_range, num_bits)
    zp = zp - (128 if signed else 0)
    dtype = "int8" if signed else "uint8"
    if np.ndim(x_min) == 0:
        return QuantParams(scale[0], int(zp[0]), dtype, None, False)
    return QuantParams(scale, zp, dtype, 0, narrow_range)


def fake_quant_codes(x: np.ndarray, x_min, x_max, narrow_range: bool = False) -> Tuple[np.ndarray, ...]:
    """uint8-space codes of ``x`` exactly as ``FakeQuantWithMinMaxVars[PerChannel]`` rounds them (per last axis for
    array bounds), with the scale(s) and zero point(s)."""
    scale, nudged_min, zp, qmin = nudged_grid(x_min, x_max, narrow_range)
    nudged_max = (np.float32(255) - zp) * scale
    clamped = np.clip(np.asarray(x, np.float32), nudged_min, nudged_max.astype(np.float32))
    codes = np.floor((clamped - nudged_min) * (np.float32(1.0) / scale) + np.float32(0.5)) + qmin
    return codes.astype(np.int64), scale, zp
