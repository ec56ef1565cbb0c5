"""Independent NumPy int64 reference of the LUT arithmetic (SPEC section 2), for tests and documentation.

Deliberately plain: explicit padding with the activation zero point, explicit patches, table lookups, and
the exact zero-point corrections ``- z_w*sum(a) - z_a*sum(w) + K*z_a*z_w``.
"""

from __future__ import annotations

import numpy as np


def _offset(dtype) -> int:
    return 128 if np.dtype(dtype) == np.int8 else 0


def _pair(v):
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _pads(size, k, stride, dilation, padding):
    eff = (k - 1) * dilation + 1
    if padding == "VALID":
        return (size - eff) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return out, total // 2, total - total // 2


def _lut_sum(table, a_codes, w_codes, off):
    return table[a_codes.astype(np.int64) + off, w_codes.astype(np.int64) + off].astype(np.int64)


def conv2d(x, w, table, strides=1, padding="VALID", dilations=1, za=0, zw=0, depthwise=False):
    """x [N,H,W,C] codes, w [kh,kw,C,O] (or [kh,kw,C,M] depthwise) codes -> int64 accumulators."""
    off = _offset(x.dtype)
    table = np.asarray(table, dtype=np.int64)
    (sh, sw), (dh, dw) = _pair(strides), _pair(dilations)
    n, h, wd, c = x.shape
    kh, kw = w.shape[:2]
    oh, pt, pb = _pads(h, kh, sh, dh, padding)
    ow, pl, pr = _pads(wd, kw, sw, dw, padding)
    xp = np.full((n, h + pt + pb, wd + pl + pr, c), za, dtype=np.int64)
    xp[:, pt:pt + h, pl:pl + wd, :] = x
    o_count = c * w.shape[3] if depthwise else w.shape[3]
    zw = np.broadcast_to(np.asarray(zw, dtype=np.int64), (o_count,))
    out = np.zeros((n, oh, ow, o_count), dtype=np.int64)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * sh:i * sh + (kh - 1) * dh + 1:dh, j * sw:j * sw + (kw - 1) * dw + 1:dw, :]  # n,kh,kw,c
            if depthwise:
                m = w.shape[3]
                a = patch.reshape(n, kh * kw, c)[:, :, :, None]               # n,K,c,1
                ww = w.reshape(kh * kw, c, m)[None].astype(np.int64)          # 1,K,c,m
                prod = _lut_sum(table, np.broadcast_to(a, (n, kh * kw, c, m)), np.broadcast_to(ww, (n, kh * kw, c, m)), off)
                k_count = kh * kw
                acc = prod.sum(1).reshape(n, c * m)
                sa = np.repeat(a[..., 0].sum(1), m, axis=1)                 # n, c*m
                sw_ = ww[0].sum(0).reshape(c * m)
            else:
                a = patch.reshape(n, -1)                                      # n,K
                ww = w.reshape(-1, w.shape[3]).astype(np.int64)               # K,O
                prod = _lut_sum(table, a[:, :, None], ww[None, :, :], off)    # n,K,O
                k_count = a.shape[1]
                acc = prod.sum(1)
                sa = np.repeat(a.sum(1, keepdims=True), o_count, axis=1)
                sw_ = ww.sum(0)
            out[:, i, j, :] = acc - zw * sa - za * sw_ + k_count * za * zw
    return out


def depthwise_conv2d(x, w, table, strides=1, padding="VALID", dilations=1, za=0, zw=0):
    return conv2d(x, w, table, strides, padding, dilations, za, zw, depthwise=True)


def matmul(a, b, table, za=0, zb=0):
    """a [N,K] activation codes, b [K,O] weight codes -> int64 accumulators."""
    off = _offset(a.dtype)
    table = np.asarray(table, dtype=np.int64)
    zb = np.broadcast_to(np.asarray(zb, dtype=np.int64), (b.shape[1],))
    prod = _lut_sum(table, a[:, :, None], b[None, :, :], off).sum(1)
    k = a.shape[1]
    return prod - zb * a.astype(np.int64).sum(1, keepdims=True) - za * b.astype(np.int64).sum(0) + k * za * zb
