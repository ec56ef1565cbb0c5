"""Approximate matmul as ``r + 1`` ordinary matmuls, from a table's exact low-rank error (issue 26).

With ``T[a, w] = a*w + sum_j u[a, j] v[j, w] / d`` (:meth:`Multiplier.decomposition`)::

    sum_k T[a_k, w_k] = sum_k a_k w_k + (sum_j sum_k u[a_k, j] v[j, w_k]) / d

Exactness: both matmuls run in float64 on integer operands. A float64 sum of integers is exact, in any order,
while the sum of the absolute values of its terms stays below 2**53; so the product part (``|a*w| <= 2**16``)
needs ``K * 2**16 < 2**53``, and the low-rank part is split into K-chunks of at most
``(2**53 - 1) // term_bound`` rows, each chunk's (exact, integer) result converted to int64 and summed there.
No algorithm that rounds is involved (plain float64 GEMM; no TF32, no Winograd/FFT). The zero-point corrections
``- z_b * sum(a) - z_a * sum(b) + K * z_a * z_b`` are added in int64, and the result is cast to int32 like the
LUT op's accumulators.
"""

from __future__ import annotations

import keras
import numpy as np

from tfaxdnn.multipliers import resolve

__all__ = ["lowrank_matmul"]

_EXACT = 2 ** 53


def _check_codes(a, b):
    a, b = keras.ops.convert_to_tensor(a), keras.ops.convert_to_tensor(b)
    da, db = keras.backend.standardize_dtype(a.dtype), keras.backend.standardize_dtype(b.dtype)
    if da not in ("int8", "uint8") or da != db:
        raise TypeError(f"`a` and `b` must both be int8 or both uint8 codes. Received: {da}, {db}")
    if len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"Expected a [N, K] and b [K, O]. Received: {a.shape}, {b.shape}")
    return a, b, da == "int8"


def lowrank_matmul(a_codes, b_codes, multiplier, a_zero_point=0, b_zero_point=0):
    """``a [N, K]`` activation codes times ``b [K, O]`` weight codes through ``multiplier``; int32 ``[N, O]``,
    equal to ``tfaxdnn.ops.nn.approx_matmul`` (scalar ``a_zero_point``; ``b_zero_point`` scalar or ``[O]``).

    Raises ValueError when the table's decomposition has entries too large for exact float64 products
    (``term_bound >= 2**53``; e.g. some high-rank unsigned tables): use the LUT op for those; and, when run
    eagerly, when a sum does not fit int32 (as the LUT op does).
    """
    a, b, signed = _check_codes(a_codes, b_codes)
    m = resolve(multiplier, signed=signed)
    if m.signed != signed:
        raise ValueError(f"Multiplier '{m.name}' does not match the operands' signedness.")
    dec = m.decomposition()
    K = int(a.shape[1])
    if K * 2 ** 16 >= _EXACT:
        raise ValueError(f"K={K} is too large for an exact float64 product part.")
    if dec.rank and dec.term_bound >= _EXACT:
        raise ValueError(f"'{m.name}': decomposition term bound {dec.term_bound} >= 2**53, no exact float64 form.")
    if dec.rank and K * dec.term_bound >= 2 ** 63:
        raise ValueError(f"'{m.name}': K * term bound exceeds int64.")
    af, bf = keras.ops.cast(a, "float64"), keras.ops.cast(b, "float64")
    out = keras.ops.cast(keras.ops.matmul(af, bf), "int64")  # exact: every partial sum < K * 2**16 < 2**53
    if dec.rank:
        off = 128 if signed else 0
        r = dec.rank
        u_tab = keras.ops.convert_to_tensor(dec.u.astype(np.float64))  # [256, r]
        v_tab = keras.ops.convert_to_tensor(dec.v.T.astype(np.float64))  # [256, r]
        ia, ib = keras.ops.cast(a, "int32") + off, keras.ops.cast(b, "int32") + off
        chunk = max(1, (_EXACT - 1) // (dec.term_bound or 1))
        num = None
        for k0 in range(0, K, chunk):
            ka = keras.ops.take(u_tab, ia[:, k0:k0 + chunk], axis=0)  # [N, k, r]
            kb = keras.ops.take(v_tab, ib[k0:k0 + chunk], axis=0)  # [k, O, r]
            kn = int(ka.shape[1])
            ka = keras.ops.reshape(keras.ops.transpose(ka, (0, 2, 1)), (-1, r * kn))
            kb = keras.ops.reshape(keras.ops.transpose(kb, (2, 0, 1)), (r * kn, -1))
            part = keras.ops.cast(keras.ops.matmul(ka, kb), "int64")  # |partial sums| <= kn * term_bound < 2**53
            num = part if num is None else num + part
        out = out + keras.ops.floor_divide(num, dec.d)  # exact: num = d * (sum of errors)
    za = int(a_zero_point)
    zb = keras.ops.cast(keras.ops.convert_to_tensor(np.asarray(b_zero_point, dtype=np.int64)), "int64")
    sa = keras.ops.sum(keras.ops.cast(a, "int64"), axis=1, keepdims=True)
    sb = keras.ops.sum(keras.ops.cast(b, "int64"), axis=0)
    out = out - zb * sa - za * sb + K * za * zb
    _check_int32(out, m.name)
    return keras.ops.cast(out, "int32")


def _check_int32(out, name: str) -> None:
    """Refuses sums outside int32, as the LUT op does (run eagerly: a traced call has no values to check)."""
    if not hasattr(out, "numpy") and not isinstance(out, np.ndarray):
        return
    values = keras.ops.convert_to_numpy(out)
    if values.size and (values.min() < -2 ** 31 or values.max() > 2 ** 31 - 1):
        raise ValueError(f"'{name}': accumulated sums range [{values.min()}, {values.max()}] do not fit int32 "
                         "(the LUT op refuses them too).")
