"""Approximate matmul / convolutions as ordinary GEMMs, from a table's exact low-rank error (issue 26), built from
``keras.ops`` (any Keras backend: TensorFlow, JAX, PyTorch; CPU or GPU) and bit-identical to the LUT op.

With ``T[a, w] = a*w + sum_j u_j[a] v_j[w] / d`` (:meth:`Multiplier.decomposition`) and the zero points folded into
the exact part, one accumulator of K products is::

    acc = sum_k a_k (w_k - z_w)  +  (sum_k sum_j u_j[a_k] v_j[w_k]) / d  -  z_a sum_k (w_k - z_w)

(the LUT op's ``sum T - z_w sum a - z_a sum w + K z_a z_w``), the activations padded with the code ``z_a`` as the
LUT op pads. The first two sums are GEMMs over re-coded operands: each activation code becomes the row
``[a, u_1[a], .., u_r[a]]`` and each weight code ``[w - z_w, v_1[w], .., v_r[w]]`` (one gather each), so one GEMM
of ``K * (r + 1)`` columns computes both when ``d = 1`` (two GEMMs when ``d > 1``). Convolutions gather the padded
input once and cut it into the ``kh * kw`` shifted windows (strided slices, im2col) for one GEMM: a convolution
algorithm of the backend might round (Winograd, FFT), a GEMM of exactly bounded integers cannot. Depthwise
convolutions, ``kh * kw`` products per output, are integer multiply-adds (no GEMM; XLA fuses them).

Exactness (`tfaxdnn.ops.lowrank_form`): float32 GEMMs where each chunk of the reduction provably sums integers
below 2**24 (at full precision: no TF32), float64 where it must (JAX: ``jax_enable_x64``), integers with
wrap-around for everything after the GEMMs. The ``"int8"`` form (signed tables; asked for explicitly) multiplies
int8 re-codings in integer GEMMs with int32 accumulation, exact by construction (`LowRankForm.int8_groups`) where
the backend's integer GEMM is (XLA's on a GPU is not: see `backend.prefers_int8_gemm`). The ``"bfloat16"`` form
(signed tables, JAX; the default on a GPU: `tfaxdnn.ops.lowrank_bf16`) multiplies the same int8 values, exact in
bfloat16, with float32 accumulation in chunks whose partial sums stay below 2**24, and convolves the re-coded input
directly (no im2col: 1.5-2x faster on an H100 than the float32 GEMMs at full precision,
benchmarks/gpu_conv_probe.py). There the convolution algorithm is cuDNN's, chosen by XLA's autotuner: an algorithm
that transformed its operands (Winograd, FFT) could round; none did on the probe's shapes or the models' 10,000
images (measured, not proven). Every function here runs under ``jax.jit`` / ``tf.function``: the tables are
constants, the zero points may be tensors.
"""

from __future__ import annotations

import functools

import keras
import numpy as np

from tfaxdnn.multipliers import resolve
from tfaxdnn.ops import backend
from tfaxdnn.ops.arguments import padding_mode, pair
from tfaxdnn.ops.lowrank_bf16 import (bf16_acc, bf16_depthwise_acc, bf16_depthwise_fits, bf16_table,
                                      bf16_weights)
from tfaxdnn.ops.lowrank_form import (LowRankForm, add_group, chunks, exact_gemm, form_of, gemm_precision, int8_gemm,
                                      int_dtype)

__all__ = ["lowrank_conv2d", "lowrank_depthwise_conv2d", "lowrank_matmul", "matmul_acc", "conv2d_acc",
           "depthwise_acc", "depthwise_int_dtype", "depthwise_precision", "same_pads"]

ops = keras.ops


# -- the engines (int32 codes in, integer accumulators out; used by the approximate layers) ---------------------

def _weight_rows(table, w, off: int, zw, product: bool, fdtype: str):
    """Re-coded weights ``[..., O, c]``: the table rows of codes ``w`` (int), column 0 replaced by ``w - z_w`` in a
    product group (``zw`` broadcast over the output axis)."""
    rows = ops.take(ops.convert_to_tensor(table), w + off, axis=0)
    if not product:
        return rows
    exact = ops.cast(ops.expand_dims(w, -1), fdtype) - ops.cast(ops.reshape(zw, (-1, 1)), fdtype)
    return ops.concatenate([exact, rows[..., 1:]], axis=-1)


def _acc_from_groups(form: LowRankForm, precision: str, features, weights, taps: int, zw):
    """Sum of the GEMM groups of ``form`` (see the module docstring); ``features(table)`` gives the activation
    matrix ``[M, taps * c]``, ``weights(table, product)`` the weight rows ``[taps, O, c]``."""
    fdtype = precision
    out = None
    for a_tab, w_tab, bound, divisor, product in form.groups(fdtype):
        cols = a_tab.shape[1]
        rows = weights(w_tab, product)                                    # [taps, O, c]
        b = ops.reshape(ops.transpose(rows, (0, 2, 1)), (taps * cols, -1))  # row t*c + j
        part = exact_gemm(features(a_tab), b, taps, cols, bound, divisor, precision)
        out = part if out is None else out + part
    return out


def _int8_acc(form: LowRankForm, features, weights, taps: int, zw, a_sums):
    """The ``"int8"`` form (`LowRankForm.int8_groups`): int32 accumulators ``sum T[a, w] - z_w sum a`` from integer
    GEMMs; ``features(table)`` / ``weights(table)`` as in `_acc_from_groups` (int8 tables, weight codes
    themselves), ``a_sums()`` the activations' sum per output ``[M]``."""
    groups = form.int8_groups
    num_bound = sum(g.tap_bound for g in groups if g.numerator)
    n, per = chunks(taps, num_bound, 2 ** 31 - 1) if num_bound else (1, taps)
    acc = num = None
    for g in groups:
        cols = g.a_tab.shape[1]
        rows = weights(g.w_tab)                                             # [taps, O, c]
        b = ops.reshape(ops.transpose(rows, (0, 2, 1)), (taps * cols, -1))
        if g.numerator:
            part = int8_gemm(features(g.a_tab), b, taps, cols, n, per)     # [n, M, O]
        else:
            part = backend.int8_matmul(features(g.a_tab), b)
        acc, num = add_group(g, part, acc, num)
    if num is not None:
        acc = acc + ops.sum(ops.floor_divide(num, form.d), axis=0)
    return acc - ops.expand_dims(a_sums(), -1) * ops.reshape(zw, (1, -1))


def matmul_acc(a, b, form: LowRankForm, za, zw, precision: str):
    """``a [N, K]`` times ``b [K, O]`` (int32 codes) through ``form``'s table: integer accumulators ``[N, O]``
    (int32 for float32 GEMMs, int64 for float64); ``za`` scalar, ``zw`` scalar or ``[O]`` (ints or tensors)."""
    K = int(a.shape[1])
    idt = int_dtype(precision)
    ia = a + form.off
    zw = ops.cast(zw, idt)

    def features(table):
        f = ops.take(ops.convert_to_tensor(table), ia, axis=0)  # [N, K, c]
        return ops.reshape(f, (-1, K * table.shape[1]))

    def weights(table, product):
        return _weight_rows(table, b, form.off, zw, product, precision)  # [K, O, c]

    if precision == "int8":
        acc = _int8_acc(form, features, lambda table: weights(table, False), K, zw, lambda: ops.sum(a, axis=1))
    elif precision == "bfloat16":
        def operands(g):  # [N, K*c], [K*c, O]
            f = ops.reshape(ops.take(bf16_table(g.a_tab), ia, axis=0), (-1, K * g.a_tab.shape[1]))
            w_rows = ops.transpose(bf16_weights(g, b, form.off, zw), (0, 2, 1))           # [K, c, O]
            return f, ops.reshape(w_rows, (K * g.a_tab.shape[1], -1))
        acc = bf16_acc(form, operands, backend.bf16_matmul, K, 1)
    else:
        acc = _acc_from_groups(form, precision, features, weights, K, zw)
    sw = ops.sum(ops.cast(b, idt) - ops.reshape(zw, (1, -1)), axis=0)  # sum_k (w_k - z_w), [O]
    return ops.cast(acc - ops.cast(za, idt) * sw, idt)


def same_pads(size: int, k: int, stride: int, dilation: int, padding: str):
    """(before, after) padding of one spatial axis, as TF (and the LUT op) compute it."""
    eff = (k - 1) * dilation + 1
    if padding == "VALID":
        return 0, 0
    total = max((-(-size // stride) - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def _padded(x, za, kh: int, kw: int, strides, dilations, padding: str):
    """The codes padded with ``za`` as the LUT op pads, and the output size ``(oh, ow)``."""
    h, w = int(x.shape[1]), int(x.shape[2])
    (pt, pb), (pl, pr) = (same_pads(h, kh, strides[0], dilations[0], padding),
                          same_pads(w, kw, strides[1], dilations[1], padding))
    oh = (h + pt + pb - (kh - 1) * dilations[0] - 1) // strides[0] + 1
    ow = (w + pl + pr - (kw - 1) * dilations[1] - 1) // strides[1] + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"The {kh}x{kw} kernel (dilations {dilations}) does not fit the {h}x{w} input with "
                         f"padding {padding}.")
    if pt or pb or pl or pr:
        za = ops.cast(za, x.dtype)
        x = ops.pad(x - za, [[0, 0], [pt, pb], [pl, pr], [0, 0]]) + za
    return x, oh, ow


def _window(x, i: int, j: int, oh: int, ow: int, strides, dilations):
    """The input positions that tap ``(i, j)`` of every output reads: ``x[:, i*dh + s*y, j*dw + s*x, ...]``."""
    r0, c0 = i * dilations[0], j * dilations[1]
    return x[:, r0:r0 + (oh - 1) * strides[0] + 1:strides[0], c0:c0 + (ow - 1) * strides[1] + 1:strides[1]]


def conv2d_acc(x, w, form: LowRankForm, za, zw, strides, padding: str, dilations, precision: str):
    """NHWC codes ``x`` (int32, known H, W) convolved with HWIO codes ``w`` through ``form``'s table: integer
    accumulators ``[N, OH, OW, O]`` (see `matmul_acc`)."""
    kh, kw, c, o = (int(v) for v in w.shape)
    idt = int_dtype(precision)
    xp, oh, ow = _padded(x, za, kh, kw, strides, dilations, padding)
    ix = xp + form.off
    zw = ops.cast(zw, idt)
    taps = kh * kw * c

    def features(table):
        cols = table.shape[1]
        f = ops.take(ops.convert_to_tensor(table), ix, axis=0)  # [N, Hp, Wp, C, c]
        f = ops.reshape(f, (-1, int(f.shape[1]), int(f.shape[2]), c * cols))
        patches = [_window(f, i, j, oh, ow, strides, dilations) for i in range(kh) for j in range(kw)]
        f = patches[0] if len(patches) == 1 else ops.concatenate(patches, axis=-1)  # column (t*C + ch)*c + j
        return ops.reshape(f, (-1, taps * cols))

    def weights(table, product):
        return ops.reshape(_weight_rows(table, w, form.off, zw, product, precision), (taps, o, table.shape[1]))

    def a_sums():  # sum of the (padded) activations each output reads, [M]
        xs = ops.sum(xp, axis=-1)[..., None]
        win = [_window(xs, i, j, oh, ow, strides, dilations) for i in range(kh) for j in range(kw)]
        return ops.reshape(functools.reduce(lambda p, q: p + q, win), (-1,))

    if precision == "int8":
        acc = _int8_acc(form, features, lambda table: weights(table, False), taps, zw, a_sums)
    elif precision == "bfloat16":  # convolutions of the re-coded operands, no im2col
        def operands(g):  # [N, Hp, Wp, C*c], [kh, kw, C*c, O]
            f = ops.take(bf16_table(g.a_tab), ix, axis=0)                               # [N, Hp, Wp, C, c]
            k = ops.transpose(bf16_weights(g, w, form.off, zw), (0, 1, 2, 4, 3))        # [kh, kw, C, c, O]
            return (ops.reshape(f, (-1, int(f.shape[1]), int(f.shape[2]), c * g.a_tab.shape[1])),
                    ops.reshape(k, (kh, kw, -1, o)))

        def multiply(f, k):
            return backend.bf16_conv(f, k, strides, dilations)
        acc = ops.reshape(bf16_acc(form, operands, multiply, c, kh * kw), (-1, o))
    else:
        acc = _acc_from_groups(form, precision, features, weights, taps, zw)
    sw = ops.sum(ops.reshape(ops.cast(w, idt), (taps, o)) - ops.reshape(zw, (1, -1)), axis=0)
    acc = acc - ops.cast(za, idt) * sw
    return ops.cast(ops.reshape(acc, (-1, oh, ow, o)), idt)


def depthwise_precision(form: LowRankForm, taps: int, precision: str = "auto") -> str:
    """``"bfloat16"`` (one grouped bfloat16 convolution of the int8 form, `lowrank_bf16.bf16_depthwise_acc`) where
    asked for (``precision="bfloat16"``, or ``"auto"`` with ``TFAXDNN_LOWRANK_GEMM=bfloat16``); else the integer
    type of the multiply-adds (`depthwise_int_dtype`). Unlike the GEMM layers, ``"auto"`` does not take it on a GPU
    by itself: it is exact, but on an H100 it made MobileNet-V2 2.4x slower than the integer multiply-adds (cuDNN's
grouped convolutions with few channels per group). ``precision``: ``"auto"``,
    ``"bfloat16"`` or ``"int"``."""
    if precision not in ("auto", "bfloat16", "int"):
        raise ValueError(f"`precision` must be auto, bfloat16 or int. Received: precision={precision!r}")
    if precision == "bfloat16" or (precision == "auto" and form.int8_groups and backend.gemm_choice() == "bfloat16"
                                   and bf16_depthwise_fits(form, taps)):
        gemm_precision(form, taps, "bfloat16")       # raises saying why where the form does not exist here
        if not bf16_depthwise_fits(form, taps):
            raise ValueError(f"{form.describe()}: {taps} taps per output exceed the exact bfloat16 form.")
        return "bfloat16"
    return depthwise_int_dtype(form, taps)


def depthwise_int_dtype(form: LowRankForm, taps: int) -> str:
    """``"int32"`` or ``"int64"``: the integer type in which the depthwise engine is exact for ``taps`` products
    per output (int32 needs the factors, one tap's low-rank terms and ``taps * acc_tap_bound`` below 2**31)."""
    if (form.entry_bound < 2 ** 31 and form.term_bound < 2 ** 31 and taps * form.acc_tap_bound < 2 ** 31):
        return "int32"
    if form.entry_bound >= 2 ** 63 or form.term_bound >= 2 ** 63:
        raise ValueError(f"{form.describe()}: its factors exceed int64: no exact low-rank form; use the LUT op.")
    if not backend.wide_types():
        raise ValueError(f"{form.describe()} needs int64 for a depthwise convolution of {taps} taps, and JAX has "
                         "int64 only with jax.config.update('jax_enable_x64', True).")
    return "int64"


def depthwise_acc(x, w, form: LowRankForm, za, zw, strides, padding: str, dilations, idt: str):
    """Depthwise ``x [N, H, W, C]`` with ``w [kh, kw, C, M]`` (int32 codes): accumulators ``[N, OH, OW, C*M]``
    (output channel ``c*M + m``) in integer multiply-adds of type ``idt`` (`depthwise_int_dtype`), or for ``idt =
    "bfloat16"`` one grouped bfloat16 convolution (`depthwise_precision`)."""
    kh, kw, c, m = (int(v) for v in w.shape)
    if idt == "bfloat16":
        xp, oh, ow = _padded(x, za, kh, kw, strides, dilations, padding)
        return bf16_depthwise_acc(xp, oh, ow, w, form, za, _per_channel(ops.cast(zw, "int32"), c, m), strides,
                                  dilations)
    xp, oh, ow = _padded(ops.cast(x, idt), za, kh, kw, strides, dilations, padding)
    wi = ops.cast(w, idt)
    wp = wi - _per_channel(ops.cast(zw, idt), c, m)                # w - z_w, [kh, kw, C, M]
    taps = [(i, j) for i in range(kh) for j in range(kw)]
    acc = None
    for i, j in taps:
        term = ops.expand_dims(_window(xp, i, j, oh, ow, strides, dilations), -1) * wp[i, j]
        acc = term if acc is None else acc + term
    if form.rank:
        u, v = (ops.convert_to_tensor(t) for t in form.int_tables(idt))
        fu = ops.take(u, xp + form.off, axis=0)                  # [N, Hp, Wp, C, r]
        fv = ops.take(v, wi + form.off, axis=0)                  # [kh, kw, C, M, r]
        limit = 2 ** 31 - 1 if idt == "int32" else 2 ** 63 - 1
        n, per = chunks(len(taps), form.term_bound, limit) if form.d > 1 else (1, len(taps))
        for k in range(n):
            num = None
            for i, j in taps[k * per:(k + 1) * per]:
                win = ops.expand_dims(_window(fu, i, j, oh, ow, strides, dilations), -2)  # [N, OH, OW, C, 1, r]
                term = ops.sum(win * fv[i, j], axis=-1)
                num = term if num is None else num + term
            acc = acc + (num if form.d == 1 else ops.floor_divide(num, form.d))
    acc = acc - ops.cast(za, idt) * ops.sum(ops.reshape(wp, (kh * kw, c, m)), axis=0)
    return ops.cast(ops.reshape(acc, (-1, oh, ow, c * m)), idt)


def _per_channel(z, c: int, m: int):
    """A scalar or ``[C*M]`` zero point as a ``[C, M]``-broadcastable tensor."""
    if len(z.shape) == 0:
        return z
    return ops.reshape(ops.broadcast_to(ops.reshape(z, (-1,)), (c * m,)), (c, m))


# -- the functional API (int8/uint8 codes, checked arguments, int32 results like the LUT op) ---------------------

def _codes(a, b, names: str):
    """Both operands as tensors of one code type; ``(a, b, signed)``."""
    a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
    da, db = keras.backend.standardize_dtype(a.dtype), keras.backend.standardize_dtype(b.dtype)
    if da not in ("int8", "uint8") or da != db:
        raise TypeError(f"{names} must both be int8 or both uint8 codes. Received: {da}, {db}")
    return a, b, da == "int8"


def _form(multiplier, signed: bool) -> LowRankForm:
    m = resolve(multiplier, signed=signed)
    if m.signed != signed:
        raise ValueError(f"Multiplier '{m.name}' does not match the operands' signedness.")
    return form_of(m)


def _zero_points(za, zw, n: int, what: str, signed: bool):
    """Checked zero points (known values must be codes; ``zw`` a scalar or ``n`` values)."""
    lo, hi = (-128, 127) if signed else (0, 255)
    for name, z in (("input zero point", za), (what, zw)):
        value = backend.concrete(z) if not isinstance(z, (int, np.integer, list, tuple)) else np.asarray(z)
        if value is not None and np.size(value) and (np.min(value) < lo or np.max(value) > hi):
            raise ValueError(f"The {name} must hold {'int8' if signed else 'uint8'} codes in [{lo}, {hi}]. "
                             f"Received: {np.asarray(value).tolist()}")
    zw_shape = tuple(ops.shape(ops.convert_to_tensor(zw)))
    if len(zw_shape) > 1 or (len(zw_shape) == 1 and zw_shape[0] not in (1, n)):
        raise ValueError(f"`{what}` must be a scalar or have {n} elements. Received: shape {zw_shape}")
    if len(zw_shape) == 1 and zw_shape[0] == 1:
        zw = ops.reshape(ops.convert_to_tensor(zw), ())
    return ops.cast(za, "int32"), ops.cast(zw, "int32")


def _finish(out, name: str):
    """int32 accumulators; sums outside int32 refused when run eagerly (as the LUT op refuses them)."""
    value = backend.concrete(out)
    if value is not None and value.size and (value.min() < -2 ** 31 or value.max() > 2 ** 31 - 1):
        raise ValueError(f"'{name}': accumulated sums range [{value.min()}, {value.max()}] do not fit int32 "
                         "(the LUT op refuses them too).")
    return ops.cast(out, "int32")


def lowrank_matmul(a_codes, b_codes, multiplier, a_zero_point=0, b_zero_point=0, precision: str = "auto"):
    """``a [N, K]`` activation codes times ``b [K, O]`` weight codes through ``multiplier``; int32 ``[N, O]``,
    equal to ``tfaxdnn.ops.nn.approx_matmul`` (scalar ``a_zero_point``; ``b_zero_point`` scalar or ``[O]``).

    ``precision``: ``"auto"`` (float32 GEMMs where provably exact, else float64), ``"float32"`` or
    ``"float64"``; a ValueError says why where the one asked for cannot be exact (e.g. a term bound >= 2**53).
    """
    a, b, signed = _codes(a_codes, b_codes, "`a` and `b`")
    if len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"Expected a [N, K] and b [K, O]. Received: {a.shape}, {b.shape}")
    form = _form(multiplier, signed)
    za, zw = _zero_points(a_zero_point, b_zero_point, int(b.shape[1]), "b_zero_point", signed)
    prec = gemm_precision(form, int(a.shape[1]), precision)
    acc = matmul_acc(ops.cast(a, "int32"), ops.cast(b, "int32"), form, za, zw, prec)
    return _finish(acc, form.name)


def _conv_args(x_codes, w_codes, strides, padding, dilations):
    x, w, signed = _codes(x_codes, w_codes, "`inputs` and `filters`")
    if len(x.shape) != 4 or len(w.shape) != 4 or x.shape[3] != w.shape[2] or None in tuple(x.shape[1:]):
        raise ValueError(f"Expected NHWC inputs (known H, W, C) and [h, w, C, O] filters. Received: {x.shape}, "
                         f"{w.shape}")
    return x, w, signed, pair(strides, "strides"), padding_mode(padding), pair(dilations, "dilations")


def lowrank_conv2d(x_codes, w_codes, multiplier, strides=1, padding="VALID", dilations=1, input_zero_point=0,
                   filter_zero_point=0, precision: str = "auto"):
    """NHWC ``x_codes`` convolved with HWIO ``w_codes`` through ``multiplier``; int32 ``[N, OH, OW, O]``, equal to
    ``tfaxdnn.ops.nn.approx_conv2d`` (scalar ``input_zero_point``; ``filter_zero_point`` scalar or ``[O]``).

    The input is padded with the input zero point's code (so padded taps contribute ``T[z_a, w]`` like the LUT
    op's, which a zero-padded convolution would not), cut into windows and multiplied as one GEMM of
    ``K = kh*kw*in_c`` taps (see the module docstring; ``precision`` as for `lowrank_matmul`).
    """
    x, w, signed, strides, padding, dilations = _conv_args(x_codes, w_codes, strides, padding, dilations)
    form = _form(multiplier, signed)
    za, zw = _zero_points(input_zero_point, filter_zero_point, int(w.shape[3]), "filter_zero_point", signed)
    prec = gemm_precision(form, int(np.prod(w.shape[:3])), precision)
    acc = conv2d_acc(ops.cast(x, "int32"), ops.cast(w, "int32"), form, za, zw, strides, padding, dilations, prec)
    return _finish(acc, form.name)


def lowrank_depthwise_conv2d(x_codes, w_codes, multiplier, strides=1, padding="VALID", dilations=1,
                             input_zero_point=0, filter_zero_point=0, precision: str = "auto"):
    """Depthwise form of :func:`lowrank_conv2d`: ``w_codes [h, w, in_c, mult]``, output channel ``c*mult + m``,
    equal to ``tfaxdnn.ops.nn.approx_depthwise_conv2d`` (``filter_zero_point`` scalar or ``[in_c*mult]``).

    ``K = kh*kw`` products per output, as integer multiply-adds (int32 where provably exact, else int64: see
    `depthwise_int_dtype`), the low-rank numerators divided by ``d`` per chunk of taps; or one grouped bfloat16
    convolution (``precision="bfloat16"``: `depthwise_precision`).
    """
    x, w, signed, strides, padding, dilations = _conv_args(x_codes, w_codes, strides, padding, dilations)
    form = _form(multiplier, signed)
    kh, kw, c, m = (int(v) for v in w.shape)
    za, zw = _zero_points(input_zero_point, filter_zero_point, c * m, "filter_zero_point", signed)
    idt = depthwise_precision(form, kh * kw, precision)
    acc = depthwise_acc(ops.cast(x, "int32"), ops.cast(w, "int32"), form, za, zw, strides, padding, dilations, idt)
    return _finish(acc, form.name)
