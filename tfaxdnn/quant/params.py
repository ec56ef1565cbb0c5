"""Affine quantisation ``real = scale * (code - zero_point)`` for int8/uint8 (SPEC section 2).

Schemes:
- signed tables (``mul8s_*``): weights int8 symmetric per output channel (zero point 0, narrow range
  [-127, 127] like tfmot); activations int8 symmetric per tensor (zero point 0) or asymmetric per tensor.
- unsigned tables (``mul8u_*``): activations uint8 asymmetric per tensor; weights uint8 asymmetric per tensor or
  per channel (the TF1 ``QuantizedConv2D`` / ALWANN scheme).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

_EPS = 1e-12
CODE_RANGE = {"int8": (-128, 127), "uint8": (0, 255)}


@dataclasses.dataclass(frozen=True)
class QuantParams:
    """Scale(s) and zero point(s) of one tensor; ``axis`` is the channel axis for per-channel parameters."""

    scale: np.ndarray
    zero_point: np.ndarray
    dtype: str = "int8"
    axis: Optional[int] = None
    narrow_range: bool = False

    def __post_init__(self):
        if self.dtype not in CODE_RANGE:
            raise ValueError(f"`dtype` must be 'int8' or 'uint8'. Received: dtype={self.dtype!r}")
        scale = np.asarray(self.scale, dtype=np.float64)
        if np.any(~np.isfinite(scale)) or np.any(scale <= 0):
            raise ValueError(f"Quantisation scales must be finite and positive. Received: scale={scale}")
        zp = np.asarray(self.zero_point, dtype=np.int64)
        lo, hi = CODE_RANGE[self.dtype]
        if np.any(zp < lo) or np.any(zp > hi):
            raise ValueError(f"Zero points must lie in [{lo}, {hi}] for {self.dtype}. Received: {zp}")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zp)

    @property
    def qmin(self) -> int:
        return CODE_RANGE[self.dtype][0] + (1 if self.narrow_range and self.dtype == "int8" else 0)

    @property
    def qmax(self) -> int:
        return CODE_RANGE[self.dtype][1]

    @property
    def per_channel(self) -> bool:
        return self.scale.ndim > 0 and self.scale.size > 1

    def _bcast(self, v: np.ndarray, ndim: int) -> np.ndarray:
        if v.ndim == 0 or self.axis is None:
            return v
        shape = [1] * ndim
        shape[self.axis] = v.size
        return v.reshape(shape)

    def quantize(self, x) -> np.ndarray:
        """Round-half-to-even like TF, clip to the code range; returns int8/uint8 codes."""
        x = np.asarray(x, dtype=np.float64)
        s, z = self._bcast(self.scale, x.ndim), self._bcast(self.zero_point, x.ndim)
        q = np.clip(np.round(x / s) + z, self.qmin, self.qmax)
        return q.astype(self.dtype)

    def dequantize(self, q) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        s, z = self._bcast(self.scale, q.ndim), self._bcast(self.zero_point, q.ndim)
        return (s * (q - z)).astype(np.float32)

    def to_config(self) -> dict:
        return {"scale": self.scale.tolist(), "zero_point": self.zero_point.tolist(), "dtype": self.dtype,
                "axis": self.axis, "narrow_range": self.narrow_range}

    @classmethod
    def from_config(cls, cfg: dict) -> "QuantParams":
        return cls(**cfg)


def symmetric_params(max_abs, dtype: str = "int8", axis: Optional[int] = None,
                     narrow_range: bool = True) -> QuantParams:
    """Symmetric int8: zero point 0, ``scale = max|x| / 127``."""
    if dtype != "int8":
        raise ValueError(f"Symmetric quantisation needs int8 codes. Received: dtype={dtype!r}")
    max_abs = np.maximum(np.asarray(max_abs, dtype=np.float64), _EPS)
    return QuantParams(max_abs / 127.0, np.zeros_like(max_abs, dtype=np.int64), "int8", axis, narrow_range)


def asymmetric_params(x_min, x_max, dtype: str = "uint8", axis: Optional[int] = None) -> QuantParams:
    """Asymmetric: the range is widened to contain 0 (so real 0 has an exact code, needed for padding)."""
    lo_code, hi_code = CODE_RANGE[dtype]
    x_min = np.minimum(np.asarray(x_min, dtype=np.float64), 0.0)
    x_max = np.maximum(np.asarray(x_max, dtype=np.float64), 0.0)
    scale = np.maximum((x_max - x_min) / (hi_code - lo_code), _EPS)
    zp = np.clip(np.round(lo_code - x_min / scale), lo_code, hi_code).astype(np.int64)
    return QuantParams(scale, zp, dtype, axis, False)


def weight_params(kernel: np.ndarray, signed: bool, per_channel: bool = True, axis: int = -1) -> QuantParams:
    """Weight parameters: int8 symmetric (signed tables) or uint8 asymmetric (unsigned), per channel on ``axis``."""
    k = np.asarray(kernel, dtype=np.float64)
    axis = axis % k.ndim
    red = tuple(i for i in range(k.ndim) if i != axis) if per_channel else None
    ax = axis if per_channel else None
    if signed:
        return symmetric_params(np.abs(k).max(axis=red), "int8", ax, narrow_range=True)
    return asymmetric_params(k.min(axis=red), k.max(axis=red), "uint8", ax)


#: Activation schemes of a signed plan. ``"auto"`` chooses per layer: asymmetric where the calibrated input is
#: one-sided (minimum >= 0: after ReLU/ReLU6, [0, 1] images; a symmetric grid codes it with half of its codes),
#: unless the layer's multiplier gets a product of code -128 wrong (the asymmetric grid codes a 0 input, the most
#: frequent one after a ReLU, as -128; every bundled table is exact for code 0, several, e.g. mul8s_1L2*, are not for
#: -128); symmetric elsewhere (docs/approximate.md gives the measurements behind the rule).
ACTIVATION_SCHEMES = ("symmetric", "asymmetric", "auto")


def one_sided(x_min) -> bool:
    """Whether a calibrated range starting at ``x_min`` is one-sided (no negative values)."""
    return float(x_min) >= 0.0


def zero_code_exact(table) -> bool:
    """Whether a signed ``[256, 256]`` table (rows: activation codes -128..127) multiplies activation code -128 exactly
    by every weight code."""
    codes = np.arange(-128, 128, dtype=np.int64)
    return bool(np.array_equal(np.asarray(table, np.int64)[0], -128 * codes))


def activation_scheme(scheme: str, x_min, tables=()) -> str:
    """``"symmetric"`` or ``"asymmetric"``: ``scheme`` with ``"auto"`` resolved by the calibrated minimum ``x_min``
    and the signed multiplier ``tables`` the layer may use (all of a reconfigurable multiplier's modes)."""
    if scheme not in ACTIVATION_SCHEMES:
        raise ValueError(f"Activation scheme must be one of {list(ACTIVATION_SCHEMES)}. Received: {scheme!r}")
    if scheme == "auto":
        exact_zero = all(zero_code_exact(t) for t in tables)
        return "asymmetric" if one_sided(x_min) and exact_zero else "symmetric"
    return scheme


def activation_params(x_min: float, x_max: float, signed: bool, symmetric=True, tables=()) -> QuantParams:
    """Per-tensor activation parameters for a calibrated range ``[x_min, x_max]``; ``symmetric`` is a bool or one of
    `ACTIVATION_SCHEMES` (``"auto"`` reads the layer's multiplier ``tables``); unsigned codes are always asymmetric."""
    if isinstance(symmetric, str):
        symmetric = activation_scheme(symmetric, x_min, tables if signed else ()) == "symmetric"
    if signed and symmetric:
        return symmetric_params(max(abs(float(x_min)), abs(float(x_max))), "int8", None, narrow_range=False)
    return asymmetric_params(float(x_min), float(x_max), "int8" if signed else "uint8")
