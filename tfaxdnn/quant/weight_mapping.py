"""Offline weight mapping (ALWANN's WMF, SPEC section 5): re-code weights so the approximate product stays close.

For a multiplier table ``M`` and each weight code ``w`` the mapped code is
``w* = argmin_v Σ_a p(a)·|M(a, v) − a·w|`` (ties: keep ``v = w`` when it is a minimiser, else the smallest ``v``).
``p(a)`` uniform over all activation codes is ALWANN's original (``"uniform"``); the measured histogram of a layer's
activation codes is the data-aware variant (``"data"``). By construction the mapped weights never increase the mean
absolute product error under the same ``p(a)``: ``v = w`` is always a candidate.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

import numpy as np

from tfaxdnn import multipliers as _mult

__all__ = ["mapping_table", "mapping_error", "code_histogram", "apply_mapping"]

#: Uniform-p(a) tables by (table hash, signedness, z_a): a search re-applies the same few thousands of times, and
#: one table costs ~0.25 s (a 256 x 256 x 256 error sweep).
_UNIFORM_CACHE: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
_UNIFORM_CACHE_SIZE = 256


def _codes(signed: bool) -> np.ndarray:
    return np.arange(-128, 128, dtype=np.int64) if signed else np.arange(256, dtype=np.int64)


def _probabilities(p_a: Optional[np.ndarray]) -> np.ndarray:
    if p_a is None:
        return np.full(256, 1.0 / 256.0)
    p = np.asarray(p_a, dtype=np.float64)
    if p.shape != (256,):
        raise ValueError(f"`p_a` must have one entry per activation code, shape (256,) indexed like the table rows. "
                         f"Received: shape {p.shape}")
    if (p < 0).any() or not np.isfinite(p).all() or p.sum() <= 0:
        raise ValueError("`p_a` must be non-negative, finite and not all zero.")
    return p / p.sum()


def mapping_error(multiplier, p_a: Optional[np.ndarray] = None, activation_zero_point: int = 0) -> np.ndarray:
    """``E[v, w] = Σ_a p(a)·|M(a, v) − a·w − z_a·(v − w)|`` as a ``[256, 256]`` float64 array (indices like the
    table). The accumulator subtracts ``z_a·Σ w`` exactly, so re-coding ``w`` to ``v`` also moves that term: with an
    asymmetric activation grid (``z_a ≠ 0``) it belongs to the error; for symmetric int8 activations it is 0."""
    m = _mult.resolve(multiplier)
    p = _probabilities(p_a)
    codes = _codes(m.signed)
    table = m.table.astype(np.int64)                       # [a, v]
    shift = int(activation_zero_point) * (codes[None, :] - codes[:, None])   # [w, v]: z_a·(v − w)
    err = np.empty((256, 256), dtype=np.float64)
    for w in range(256):                                   # exact products a*w for this weight code
        exact = codes * codes[w]
        err[:, w] = p @ np.abs(table - exact[:, None] - shift[w][None, :])
    return err


def mapping_table(multiplier, p_a: Optional[np.ndarray] = None, activation_zero_point: int = 0) -> np.ndarray:
    """The weight-code map ``int[256]``: entry ``i`` is the mapped code (a code value, not an index) for the weight
    code of table index ``i`` (signed tables: code ``i − 128``).

    Args:
        multiplier: `Multiplier`, name or ``[256, 256]`` table.
        p_a: optional ``[256]`` activation-code distribution (indexed like the table rows); default uniform.
        activation_zero_point: the layer's input zero point ``z_a`` (0 for symmetric int8 activations).
    """
    m = _mult.resolve(multiplier)
    if p_a is not None:
        return _mapping_table(m, p_a, activation_zero_point)
    key = (m.hash, m.signed, int(activation_zero_point))
    if key not in _UNIFORM_CACHE:
        table = _mapping_table(m, None, activation_zero_point)
        table.setflags(write=False)
        _UNIFORM_CACHE[key] = table
        if len(_UNIFORM_CACHE) > _UNIFORM_CACHE_SIZE:
            _UNIFORM_CACHE.popitem(last=False)
    _UNIFORM_CACHE.move_to_end(key)
    return _UNIFORM_CACHE[key]


def _mapping_table(m, p_a, activation_zero_point) -> np.ndarray:
    err = mapping_error(m, p_a, activation_zero_point)
    best = err.min(axis=0)
    idx = np.arange(256)
    keep = err[idx, idx] <= best                            # v = w is already a minimiser
    first = np.argmax(err <= best[None, :], axis=0)         # else the smallest minimising v
    choice = np.where(keep, idx, first)
    if m.signed:  # never map onto -128: symmetric int8 weights live in the narrow range [-127, 127]
        choice = np.where(choice == 0, idx, choice)
    return (_codes(m.signed)[choice]).astype(np.int32)


def code_histogram(codes: np.ndarray, signed: bool) -> np.ndarray:
    """Counts of each activation code (``[256]``, indexed like the table rows)."""
    c = np.asarray(codes).astype(np.int64).ravel() + (128 if signed else 0)
    if c.size and (c.min() < 0 or c.max() > 255):
        raise ValueError(f"Codes out of range for {'int8' if signed else 'uint8'}: [{c.min()}, {c.max()}]")
    return np.bincount(c, minlength=256).astype(np.float64)


def apply_mapping(weight_codes: np.ndarray, table: np.ndarray, signed: bool) -> np.ndarray:
    """Weight codes after mapping with ``table`` (from `mapping_table`)."""
    w = np.asarray(weight_codes).astype(np.int64) + (128 if signed else 0)
    return np.asarray(table)[w]
