"""The ``"bfloat16"`` form of the low-rank path (JAX; the default on a GPU): the int8 values of
`LowRankForm.int8_groups` (weight factors in int8, activation factors in base-256 digits, the codes themselves) are
exact in bfloat16, so each group is one bfloat16 convolution (`backend.bf16_conv`, no im2col) or GEMM
(`backend.bf16_matmul`) with float32 accumulation, in chunks whose partial sums provably stay below 2**24; the sums are
added in int32, scaled, and a ``d > 1`` numerator divided per chunk that cannot wrap. Used by `tfaxdnn.ops.lowrank`.
"""

from __future__ import annotations

import keras
import numpy as np

from tfaxdnn.ops import backend
from tfaxdnn.ops.lowrank_form import F32_EXACT, LowRankForm, add_group

__all__ = ["bf16_acc", "bf16_table", "bf16_weights", "bf16_depthwise_fits", "bf16_depthwise_acc"]

ops = keras.ops


def bf16_acc(form: LowRankForm, operands, multiply, units: int, unit_taps: int):
    """The ``"bfloat16"`` form: int32 ``sum T[a, w] - z_w sum a`` from the int8 values of `LowRankForm.int8_groups`
    (the product group's weights being ``w - z_w``, `bf16_weights`), exact in bfloat16, multiplied with float32
    accumulation.

    ``operands(group)`` gives the group's bfloat16 activations ``[..., units * c]`` and weights
    ``[..., units * c, O]`` (unit ``u`` being columns ``u*c .. u*c + c - 1``; a unit: one input channel's
    ``unit_taps = kh*kw`` taps of a convolution, or one column of a matmul); ``multiply(f, k)`` their float32
    product (`backend.bf16_conv`, `backend.bf16_matmul`). Each product covers few enough units that every partial
    sum stays below 2**24 (a group's ``tap_bound / scale`` bounds one tap's sum of absolute products), so float32
    rounds nothing in any order of accumulation; the products are added in int32, scaled, and a ``d > 1`` numerator
    is divided per chunk of units that cannot wrap int32 (each tap's numerator is a multiple of ``d``)."""
    groups = form.int8_groups
    ops_of = [operands(g) for g in groups]
    num_bound = sum(g.tap_bound for g in groups if g.numerator) * unit_taps
    coarse = max(1, (2 ** 31 - 1) // num_bound) if num_bound else units
    acc = None
    for s0 in range(0, units, coarse):
        e0, num = min(units, s0 + coarse), None
        for g, (f, k) in zip(groups, ops_of):
            fine = (F32_EXACT - 1) // (-(-g.tap_bound // g.scale) * unit_taps)
            if fine < 1:
                raise ValueError(f"{form.describe()}: {unit_taps} taps of one unit exceed the exact float32 range.")
            c = g.a_tab.shape[1]
            part = None
            for s in range(s0, e0, fine):
                e = min(e0, s + fine)
                p = ops.cast(multiply(f[..., s * c:e * c], k[..., s * c:e * c, :]), "int32")
                part = p if part is None else part + p
            acc, num = add_group(g, part, acc, num)
        if num is not None:
            acc = acc + ops.floor_divide(num, form.d)
    return acc


def bf16_table(table):
    """An int8 NumPy table as a bfloat16 tensor (exact)."""
    return ops.cast(ops.convert_to_tensor(np.asarray(table, np.float32)), "bfloat16")


def bf16_weights(g, w, off: int, zw):
    """The weight rows ``[..., O, c]`` of group ``g`` for codes ``w [..., O]`` in bfloat16; a product group's column
    0 is ``w - z_w`` (``zw`` scalar or ``[O]``): at most 255 in magnitude, exact in bfloat16, and within the group's
    tap bound (`LowRankForm.product_bound`), so no ``- z_w sum a`` correction is needed."""
    rows = ops.take(bf16_table(g.w_tab), w + off, axis=0)
    if not g.product:
        return rows
    exact = ops.cast(ops.expand_dims(w - ops.cast(zw, w.dtype), -1), "bfloat16")
    return ops.concatenate([exact, rows[..., 1:]], axis=-1)


def bf16_depthwise_fits(form: LowRankForm, taps: int) -> bool:
    """Whether ``taps`` products per output keep every group's float32 sum below 2**24 and the numerator in int32."""
    groups = form.int8_groups
    num = sum(g.tap_bound for g in groups if g.numerator) * taps
    return num < 2 ** 31 and all(-(-g.tap_bound // g.scale) * taps < F32_EXACT for g in groups)


def bf16_depthwise_acc(xp, oh: int, ow: int, w, form: LowRankForm, za, zwc, strides, dilations):
    """`depthwise_acc` in the ``"bfloat16"`` form: each input channel's re-coded columns of every int8 group (``c``
    columns in all) convolved in one grouped convolution (``feature_group_count = C``) with a kernel giving each
    group its own outputs, ``[kh, kw, c, C * G * M]``; the sums of ``kh * kw`` taps stay below 2**24
    (`depthwise_precision` checks), then scaled, divided and added in int32."""
    kh, kw, c, m = (int(v) for v in w.shape)
    groups = form.int8_groups
    n_g = len(groups)
    f = ops.take(bf16_table(np.hstack([g.a_tab for g in groups])), xp + form.off, axis=0)  # [N, Hp, Wp, C, ctot]
    ctot = int(f.shape[-1])
    f = ops.reshape(f, (-1, int(f.shape[1]), int(f.shape[2]), c * ctot))
    blocks = []
    for gi, g in enumerate(groups):
        rows = ops.transpose(bf16_weights(g, w, form.off, zwc), (0, 1, 2, 4, 3))     # [kh, kw, C, cg, M]
        blocks.append(ops.pad(ops.expand_dims(rows, 4), [[0, 0]] * 4 + [[gi, n_g - 1 - gi], [0, 0]]))
    k = ops.concatenate(blocks, axis=3)                                               # [kh, kw, C, ctot, G, M]
    k = ops.reshape(ops.transpose(k, (0, 1, 3, 2, 4, 5)), (kh, kw, ctot, c * n_g * m))
    out = backend.bf16_conv(f, k, strides, dilations, groups=c)                       # [N, OH, OW, C*G*M]
    out = ops.cast(ops.reshape(out, (-1, oh, ow, c, n_g, m)), "int32")
    acc = num = None
    for gi, g in enumerate(groups):
        acc, num = add_group(g, out[..., gi, :], acc, num)
    if num is not None:
        acc = acc + ops.floor_divide(num, form.d)
    wp = ops.cast(w, "int32") - zwc
    acc = acc - ops.cast(za, "int32") * ops.sum(ops.reshape(wp, (kh * kw, c, m)), axis=0)
    return ops.reshape(acc, (-1, oh, ow, c * m))
