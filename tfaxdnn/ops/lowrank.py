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

The convolutions (:func:`lowrank_conv2d`, :func:`lowrank_depthwise_conv2d`) follow the same argument; see
:func:`lowrank_conv2d`.
"""

from __future__ import annotations

import functools

import keras
import numpy as np

from tfaxdnn.multipliers import resolve
from tfaxdnn.ops.arguments import padding_mode, pair

__all__ = ["lowrank_conv2d", "lowrank_depthwise_conv2d", "lowrank_matmul"]

_EXACT = 2 ** 53


def _codes(a, b, names: str):
    """Both operands as tensors of one code type; ``(a, b, signed)``."""
    a, b = keras.ops.convert_to_tensor(a), keras.ops.convert_to_tensor(b)
    da, db = keras.backend.standardize_dtype(a.dtype), keras.backend.standardize_dtype(b.dtype)
    if da not in ("int8", "uint8") or da != db:
        raise TypeError(f"{names} must both be int8 or both uint8 codes. Received: {da}, {db}")
    return a, b, da == "int8"


def _decomposition(multiplier, signed: bool, taps: int, taps_per_chunk: int):
    """``(multiplier, decomposition, u table [256, r], v table [256, r])`` (float64), after the bounds that make the
    float64 form exact: ``taps * 2**16 < 2**53`` (the product part), ``taps_per_chunk * term_bound < 2**53`` (the
    smallest chunk of the low-rank part) and ``taps * term_bound < 2**63`` (their int64 sum)."""
    m = resolve(multiplier, signed=signed)
    if m.signed != signed:
        raise ValueError(f"Multiplier '{m.name}' does not match the operands' signedness.")
    dec = m.decomposition()
    if taps * 2 ** 16 >= _EXACT:
        raise ValueError(f"K={taps} taps is too large for an exact float64 product part (K * 2**16 >= 2**53).")
    if dec.rank and taps_per_chunk * dec.term_bound >= _EXACT:
        raise ValueError(f"'{m.name}': {taps_per_chunk} tap(s) times the decomposition term bound {dec.term_bound} "
                         "reach 2**53: no exact float64 form, use the LUT op.")
    if dec.rank and taps * dec.term_bound >= 2 ** 63:
        raise ValueError(f"'{m.name}': K * term bound exceeds int64.")
    u_tab = keras.ops.convert_to_tensor(dec.u.astype(np.float64))    # [256, r]
    v_tab = keras.ops.convert_to_tensor(dec.v.T.astype(np.float64))  # [256, r]
    return m, dec, u_tab, v_tab


def lowrank_matmul(a_codes, b_codes, multiplier, a_zero_point=0, b_zero_point=0):
    """``a [N, K]`` activation codes times ``b [K, O]`` weight codes through ``multiplier``; int32 ``[N, O]``,
    equal to ``tfaxdnn.ops.nn.approx_matmul`` (scalar ``a_zero_point``; ``b_zero_point`` scalar or ``[O]``).

    Raises ValueError when the table's decomposition has entries too large for exact float64 products
    (``term_bound >= 2**53``; e.g. some high-rank unsigned tables): use the LUT op for those; and, when run
    eagerly, when a sum does not fit int32 (as the LUT op does).
    """
    a, b, signed = _codes(a_codes, b_codes, "`a` and `b`")
    if len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"Expected a [N, K] and b [K, O]. Received: {a.shape}, {b.shape}")
    K = int(a.shape[1])
    m, dec, u_tab, v_tab = _decomposition(multiplier, signed, K, 1)
    af, bf = keras.ops.cast(a, "float64"), keras.ops.cast(b, "float64")
    out = keras.ops.cast(keras.ops.matmul(af, bf), "int64")  # exact: every partial sum < K * 2**16 < 2**53
    if dec.rank:
        off = 128 if signed else 0
        r = dec.rank
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


def _pads(size: int, k: int, stride: int, dilation: int, padding: str):
    """(before, after) padding of one spatial axis, as TF (and the LUT op) compute it."""
    eff = (k - 1) * dilation + 1
    if padding == "VALID":
        return 0, 0
    total = max((-(-size // stride) - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def _valid_conv(x, w, strides, dilations, depthwise: bool):
    """A VALID float64 (depthwise) convolution; strides and dilations both above 1 run as a stride-1 convolution
    subsampled (the same windows: output ``i`` of stride ``s`` is output ``i*s`` of stride 1)."""
    fn = keras.ops.depthwise_conv if depthwise else keras.ops.conv
    both = max(strides) > 1 and max(dilations) > 1
    out = fn(x, w, strides=(1, 1) if both else strides, padding="valid", data_format="channels_last",
             dilation_rate=dilations)
    return out[:, ::strides[0], ::strides[1], :] if both else out


def _lowrank_conv(x_codes, w_codes, multiplier, strides, padding, dilations, input_zero_point, filter_zero_point,
                  depthwise: bool):
    x, w, signed = _codes(x_codes, w_codes, "`inputs` and `filters`")
    if len(x.shape) != 4 or len(w.shape) != 4 or x.shape[3] != w.shape[2] or None in x.shape[1:]:
        raise ValueError(f"Expected NHWC inputs (known H, W, C) and [h, w, C, O] filters. Received: {x.shape}, "
                         f"{w.shape}")
    strides, dilations = pair(strides, "strides"), pair(dilations, "dilations")
    padding = padding_mode(padding)
    _, h, wd, c = (int(v) if v is not None else None for v in x.shape)
    kh, kw, _, o = (int(v) for v in w.shape)
    o_count = c * o if depthwise else o
    (pt, pb), (pl, pr) = _pads(h, kh, strides[0], dilations[0], padding), _pads(wd, kw, strides[1], dilations[1],
                                                                                padding)
    taps = kh * kw * (1 if depthwise else c)  # K: the products summed into one output
    m, dec, u_tab, v_tab = _decomposition(multiplier, signed, taps, kh * kw)   # chunks of one channel at least
    za = int(input_zero_point)
    off = 128 if signed else 0
    # codes as table indices, padded with the input zero point's code (the LUT op's padding): then VALID convs
    ix = keras.ops.pad(keras.ops.cast(x, "int32") + off, [[0, 0], [pt, pb], [pl, pr], [0, 0]],
                       constant_values=za + off)
    iw = keras.ops.cast(w, "int32") + off
    conv = functools.partial(_valid_conv, strides=strides, dilations=dilations, depthwise=depthwise)
    xf = keras.ops.cast(ix - off, "float64")
    out = keras.ops.cast(conv(xf, keras.ops.cast(w, "float64")), "int64")  # |partial sums| <= K * 2**16 < 2**53
    if dec.rank:
        r = dec.rank
        hp, wp = h + pt + pb, wd + pl + pr
        # channels c*r + j hold u_j[x_c] and v_j[w_c]: one convolution sums all r terms (per-tap bound term_bound)
        chunk = c if depthwise else max(1, (_EXACT - 1) // (kh * kw * dec.term_bound))
        num = None
        for c0 in range(0, c, chunk):
            cn = min(chunk, c - c0)
            xu = keras.ops.reshape(keras.ops.take(u_tab, ix[..., c0:c0 + cn], axis=0), (-1, hp, wp, cn * r))
            wv = keras.ops.take(v_tab, iw[:, :, c0:c0 + cn], axis=0)  # [kh, kw, cn, O, r]
            wv = keras.ops.reshape(keras.ops.transpose(wv, (0, 1, 2, 4, 3)), (kh, kw, cn * r, o))
            part = keras.ops.cast(conv(xu, wv), "int64")  # |partial sums| <= kh * kw * cn * term_bound < 2**53
            if depthwise:  # output channel (c*r + j)*M + m: sum the r terms of each (c, m) in int64
                oh, ow = int(part.shape[1]), int(part.shape[2])
                part = keras.ops.reshape(keras.ops.sum(keras.ops.reshape(part, (-1, oh, ow, c, r, o)), axis=4),
                                         (-1, oh, ow, o_count))
            num = part if num is None else num + part
        out = out + keras.ops.floor_divide(num, dec.d)  # exact: num = d * (sum of errors)
    zw_np = np.asarray(filter_zero_point, dtype=np.int64)
    if zw_np.ndim > 1 or (zw_np.ndim == 1 and zw_np.shape[0] not in (1, o_count)):
        raise ValueError(f"`filter_zero_point` must be a scalar or have {o_count} elements. Received: {zw_np.shape}")
    zw = keras.ops.convert_to_tensor(zw_np)
    ones = keras.ops.ones((kh, kw, c, 1), "float64")
    sa = keras.ops.cast(conv(xf, ones), "int64")  # sum of the window's codes, padding included (exact, < 2**53)
    if depthwise:
        sa = keras.ops.repeat(sa, o, axis=-1)  # channel c*M + m
        sw = keras.ops.reshape(keras.ops.sum(keras.ops.cast(w, "int64"), axis=(0, 1)), (o_count,))
    else:
        sw = keras.ops.sum(keras.ops.cast(w, "int64"), axis=(0, 1, 2))
    out = out - zw * sa - za * sw + taps * za * zw
    _check_int32(out, m.name)
    return keras.ops.cast(out, "int32")


def lowrank_conv2d(x_codes, w_codes, multiplier, strides=1, padding="VALID", dilations=1, input_zero_point=0,
                   filter_zero_point=0):
    """NHWC ``x_codes`` convolved with HWIO ``w_codes`` through ``multiplier``; int32 ``[N, OH, OW, O]``, equal to
    ``tfaxdnn.ops.nn.approx_conv2d`` (scalar ``input_zero_point``; ``filter_zero_point`` scalar or ``[O]``).

    Built from ``keras.ops`` only: ``conv(x, w) + sum_j conv(u_j[x], v_j[w]) / d`` in float64, on the code tensor
    padded explicitly with the input zero point's code (so padded taps contribute ``T[z_a, w]`` like the LUT op,
    which a zero-padded convolution would not), then VALID convolutions; the zero-point corrections in int64.

    Exactness: a float64 convolution of integer tensors is exact when the sum of the absolute values of every
    output's terms stays below 2**53 (then every partial sum, in any order, is an integer below 2**53). One
    output has ``K = kh*kw*in_c`` taps: the product part needs ``K * 2**16 < 2**53``; the ``r`` low-rank terms
    run as one convolution over ``in_c * r`` re-coded channels (per-tap bound ``term_bound``), chunked over input
    channels so that ``kh*kw*chunk*term_bound < 2**53``, each chunk's integer result summed in int64. Where even
    one channel cannot be exact (``kh*kw*term_bound >= 2**53``) a ValueError naming 2**53 is raised. TF's CPU
    float64 convolution is a plain accumulation (Eigen's im2col/GEMM contraction; no Winograd/FFT, no TF32), and
    FMA of exact integers is exact too. Sums outside int32 are refused when run eagerly, as the LUT op does.
    """
    return _lowrank_conv(x_codes, w_codes, multiplier, strides, padding, dilations, input_zero_point,
                         filter_zero_point, depthwise=False)


def lowrank_depthwise_conv2d(x_codes, w_codes, multiplier, strides=1, padding="VALID", dilations=1,
                             input_zero_point=0, filter_zero_point=0):
    """Depthwise form of :func:`lowrank_conv2d`: ``w_codes [h, w, in_c, mult]``, output channel ``c*mult + m``,
    equal to ``tfaxdnn.ops.nn.approx_depthwise_conv2d`` (``filter_zero_point`` scalar or ``[in_c*mult]``).

    Same exactness argument with ``K = kh*kw`` taps per output: the re-coded channels ``c*r + j`` are convolved
    depthwise (each output a ``kh*kw``-term sum bounded by ``kh*kw*term_bound < 2**53``, else ValueError), and
    the ``r`` terms of each output channel summed in int64 (``keras.ops.depthwise_conv``: TF's CPU float64
    depthwise kernel, a plain accumulation).
    """
    return _lowrank_conv(x_codes, w_codes, multiplier, strides, padding, dilations, input_zero_point,
                         filter_zero_point, depthwise=True)
