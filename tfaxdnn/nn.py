"""Functional API of the compiled LUT op: integer codes in, exact int32 accumulators out.

For one output element with K products (SPEC section 2)::

    acc = sum_k LUT[a_k, w_k] - z_w * sum_k a_k - z_a * sum_k w_k + K * z_a * z_w

Only the product goes through the table; zero-point corrections are exact. Padded positions hold the code
``z_a`` (the real value 0). ``multiplier`` accepts a :class:`~tfaxdnn.multipliers.Multiplier`, a bundled name
(``"mul8s_1L2N"``) or a ``[256, 256]`` table (whose signedness then follows the operand dtype).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfaxdnn.multipliers import Multiplier, resolve
from tfaxdnn.ops.loader import load

__all__ = ["approx_conv2d", "approx_depthwise_conv2d", "approx_matmul", "table_tensor"]

_CODE_DTYPES = (tf.int8, tf.uint8)
_table_cache: dict = {}


def _codes(x, name: str) -> tf.Tensor:
    t = tf.convert_to_tensor(x)
    if t.dtype not in _CODE_DTYPES:
        raise TypeError(f"`{name}` must hold int8 or uint8 quantised codes. Received: {name}.dtype={t.dtype.name}")
    return t


def _multiplier_for(multiplier, dtype: tf.DType):
    """Returns (Multiplier or None, table tensor) and checks signedness against the operand dtype."""
    signed = dtype == tf.int8
    if isinstance(multiplier, tf.Tensor) or (isinstance(multiplier, tf.Variable)):
        if tuple(multiplier.shape) != (256, 256):
            raise ValueError(f"`multiplier` table must have shape [256, 256]. Received: shape={multiplier.shape}")
        return None, tf.cast(multiplier, tf.int32)
    m = resolve(multiplier, signed=signed)
    if m.signed != signed:
        raise ValueError(f"Multiplier '{m.name}' is {'signed' if m.signed else 'unsigned'} but the operands are "
                         f"{dtype.name} codes: use {'int8' if m.signed else 'uint8'} codes or a "
                         f"{'signed (mul8s_*)' if signed else 'unsigned (mul8u_*)'} multiplier.")
    return m, table_tensor(m)


def table_tensor(multiplier: Multiplier) -> tf.Tensor:
    """The multiplier's table as an int32 constant (cached by table hash in eager mode)."""
    if not tf.executing_eagerly():  # graph or tf.function: a constant of that graph
        return tf.constant(multiplier.table, dtype=tf.int32)
    key = multiplier.hash
    if key not in _table_cache:
        _table_cache[key] = tf.constant(multiplier.table, dtype=tf.int32)
    return _table_cache[key]


def _pair(value, name: str):
    if isinstance(value, (int, np.integer)):
        value = (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f"`{name}` must be a positive int or a pair of positive ints. Received: {name}={value}")
    return [1, value[0], value[1], 1]


def _padding(padding: str) -> str:
    p = str(padding).upper()
    if p not in ("SAME", "VALID"):
        raise ValueError(f"`padding` must be 'SAME' or 'VALID'. Received: padding={padding!r}")
    return p


def _zero_point(z, name: str) -> tf.Tensor:
    z = tf.convert_to_tensor(z)
    if not z.dtype.is_integer:
        raise TypeError(f"`{name}` must be an integer scalar or vector. Received: dtype={z.dtype.name}")
    return tf.cast(z, tf.int32)


def approx_conv2d(inputs, filters, multiplier, strides=1, padding="VALID", dilations=1, input_zero_point=0,
                  filter_zero_point=0, name=None) -> tf.Tensor:
    """2-D convolution of NHWC ``inputs`` codes with HWIO ``filters`` codes through ``multiplier``'s table.

    Returns int32 accumulators ``[N, OH, OW, O]``. ``filter_zero_point`` is a scalar or a per-output-channel vector.
    """
    x, w = _codes(inputs, "inputs"), _codes(filters, "filters")
    if x.dtype != w.dtype:
        raise TypeError(f"`inputs` and `filters` must have the same code type. Received: inputs.dtype="
                        f"{x.dtype.name}, filters.dtype={w.dtype.name}")
    m, table = _multiplier_for(multiplier, x.dtype)
    return load().tfax_approx_conv2d(
        x, w, table, _zero_point(input_zero_point, "input_zero_point"),
        _zero_point(filter_zero_point, "filter_zero_point"), strides=_pair(strides, "strides"),
        padding=_padding(padding), dilations=_pair(dilations, "dilations"), multiplier=m.name if m else "",
        name=name)


def approx_depthwise_conv2d(inputs, filters, multiplier, strides=1, padding="VALID", dilations=1,
                            input_zero_point=0, filter_zero_point=0, name=None) -> tf.Tensor:
    """Depthwise convolution; ``filters`` is ``[h, w, in_c, mult]``; output channel ``c * mult + m``."""
    x, w = _codes(inputs, "inputs"), _codes(filters, "filters")
    if x.dtype != w.dtype:
        raise TypeError(f"`inputs` and `filters` must have the same code type. Received: inputs.dtype="
                        f"{x.dtype.name}, filters.dtype={w.dtype.name}")
    m, table = _multiplier_for(multiplier, x.dtype)
    return load().tfax_approx_depthwise_conv2d(
        x, w, table, _zero_point(input_zero_point, "input_zero_point"),
        _zero_point(filter_zero_point, "filter_zero_point"), strides=_pair(strides, "strides"),
        padding=_padding(padding), dilations=_pair(dilations, "dilations"), multiplier=m.name if m else "",
        name=name)


def approx_matmul(a, b, multiplier, a_zero_point=0, b_zero_point=0, name=None) -> tf.Tensor:
    """``a [N, K]`` activation codes times ``b [K, O]`` weight codes; int32 ``[N, O]``."""
    x, w = _codes(a, "a"), _codes(b, "b")
    if x.dtype != w.dtype:
        raise TypeError(f"`a` and `b` must have the same code type. Received: a.dtype={x.dtype.name}, "
                        f"b.dtype={w.dtype.name}")
    m, table = _multiplier_for(multiplier, x.dtype)
    return load().tfax_approx_mat_mul(
        x, w, table, _zero_point(a_zero_point, "a_zero_point"), _zero_point(b_zero_point, "b_zero_point"),
        multiplier=m.name if m else "", name=name)
