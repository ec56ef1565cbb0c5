"""Functional API of the compiled LUT op: integer codes in, exact int32 accumulators out.

For one output element with K products (SPEC section 2)::

    acc = sum_k LUT[a_k, w_k] - z_w * sum_k a_k - z_a * sum_k w_k + K * z_a * z_w

Only the product goes through the table; zero-point corrections are exact. Padded positions hold the code
``z_a`` (the real value 0). ``multiplier`` accepts a :class:`~tfaxdnn.multipliers.Multiplier`, a bundled name
(``"mul8s_1L2N"``) or a ``[256, 256]`` table (whose signedness then follows the operand dtype); a table given as a
tensor or variable (a layer's table weight) is used as is, and ``multiplier_name`` then names it in the op's
informational ``multiplier`` attribute (other forms carry their own name).
"""

from __future__ import annotations

import collections
import threading

import numpy as np
import tensorflow as tf

from tfaxdnn.multipliers import Multiplier, resolve
from tfaxdnn.ops.arguments import padding_mode, pair
from tfaxdnn.ops.loader import load

__all__ = ["approx_conv2d", "approx_depthwise_conv2d", "approx_matmul", "quantize", "table_tensor"]

_CODE_DTYPES = (tf.int8, tf.uint8)
_INT32 = np.iinfo(np.int32)
TABLE_CACHE_BYTES = 64 << 20
"""Bound of the eager table cache (least recently used tables are evicted beyond it; each table is 256 KiB)."""


def _codes(x, name: str) -> tf.Tensor:
    t = tf.convert_to_tensor(x)
    if t.dtype not in _CODE_DTYPES:
        raise TypeError(f"`{name}` must hold int8 or uint8 quantised codes. Received: {name}.dtype={t.dtype.name}")
    return t


def _known_value(x):
    """The value of a Python/NumPy object, an eager tensor or variable, or a constant; None when symbolic."""
    if isinstance(x, tf.Variable):
        return x.numpy() if tf.executing_eagerly() else None
    if tf.is_tensor(x):
        return tf.get_static_value(x)
    return x


def _exact_int32(x, name: str, lo: int = _INT32.min, hi: int = _INT32.max, what: str = "int32",
                 floats: bool = True) -> tf.Tensor:
    """``x`` as an int32 tensor, refusing every value that the cast would change (wrap-around, fractions) or that
    lies outside ``[lo, hi]``: a ValueError naming ``name`` for known values, an assertion in the graph otherwise.
    Integer-valued floats are accepted when ``floats``, otherwise an integer dtype is required (TypeError)."""

    def check_dtype(is_integer, is_floating, dtype_name):
        if not (is_integer or (floats and is_floating)):
            raise TypeError(f"`{name}` must hold integers. Received: dtype={dtype_name}")

    if (tf.is_tensor(x) or isinstance(x, tf.Variable)) and x.dtype == tf.int32 and (lo, hi) == (_INT32.min,
                                                                                               _INT32.max):
        return tf.convert_to_tensor(x)  # nothing to check
    value = _known_value(x)
    if value is None:  # symbolic: the graph checks that the cast is exact (the kernels check the code ranges)
        t = tf.convert_to_tensor(x)
        check_dtype(t.dtype.is_integer, t.dtype.is_floating, t.dtype.name)
        if t.dtype == tf.int32:
            return t
        t32 = tf.cast(t, tf.int32)
        check = tf.debugging.assert_equal(tf.cast(t32, t.dtype), t, message=f"`{name}` holds values that are not "
                                          "int32 integers (they would be changed by the cast)")
        with tf.control_dependencies([check]):
            return tf.identity(t32)
    arr = np.asarray(value)
    if arr.dtype == object:  # Python ints beyond int64 (out of range in any case)
        arr = np.asarray(value, dtype=np.float64)
        floats = True
    is_floating = np.issubdtype(arr.dtype, np.floating)
    check_dtype(np.issubdtype(arr.dtype, np.integer), is_floating, arr.dtype)
    bad = (arr < lo) | (arr > hi)
    if is_floating:
        bad |= ~np.isfinite(arr) | (arr != np.round(arr))
    if bad.any():
        where = np.unravel_index(int(np.argmax(bad)), arr.shape) if arr.ndim else ()
        at = f"{name}[{', '.join(map(str, where))}]" if arr.ndim else name
        raise ValueError(f"`{name}` must hold integers in [{lo}, {hi}] ({what}). Received: {at}={arr[where].item()!r}")
    return tf.constant(arr.astype(np.int32))


def _multiplier_for(multiplier, dtype: tf.DType, multiplier_name=None):
    """Returns (name for the op's attribute, table tensor) and checks signedness against the operand dtype."""
    signed = dtype == tf.int8
    if tf.is_tensor(multiplier) or isinstance(multiplier, tf.Variable):
        if tuple(multiplier.shape) != (256, 256):
            raise ValueError(f"`multiplier` table must have shape [256, 256]. Received: shape={multiplier.shape}")
        return multiplier_name or "", _exact_int32(multiplier, "multiplier")
    m = resolve(multiplier, signed=signed)
    if m.signed != signed:
        raise ValueError(f"Multiplier '{m.name}' is {'signed' if m.signed else 'unsigned'} but the operands are "
                         f"{dtype.name} codes: use {'int8' if m.signed else 'uint8'} codes or a "
                         f"{'signed (mul8s_*)' if signed else 'unsigned (mul8u_*)'} multiplier.")
    return m.name, table_tensor(m)


class _TableCache:
    """Table constants by table hash, least recently used evicted beyond ``TABLE_CACHE_BYTES``."""

    def __init__(self):
        self._tables = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, multiplier: Multiplier) -> tf.Tensor:
        with self._lock:
            key = multiplier.hash
            if key in self._tables:
                self._tables.move_to_end(key)
                return self._tables[key]
            t = self._tables[key] = tf.constant(multiplier.table, dtype=tf.int32)
            while len(self._tables) > 1 and self.nbytes() > TABLE_CACHE_BYTES:
                self._tables.popitem(last=False)
            return t

    def nbytes(self) -> int:
        return sum(t.dtype.size * t.shape.num_elements() for t in self._tables.values())

    def __len__(self) -> int:
        return len(self._tables)

    def clear(self) -> None:
        with self._lock:
            self._tables.clear()


_table_cache = _TableCache()


def table_tensor(multiplier: Multiplier) -> tf.Tensor:
    """The multiplier's table as an int32 constant (cached by table hash in eager mode, bounded by
    ``TABLE_CACHE_BYTES``)."""
    if not tf.executing_eagerly():  # graph or tf.function: a constant of that graph
        return tf.constant(multiplier.table, dtype=tf.int32)
    return _table_cache.get(multiplier)


def _pair(value, name: str):
    return [1, *pair(value, name), 1]


def _zero_point(z, name: str, dtype: tf.DType) -> tf.Tensor:
    """A zero point (scalar or vector) as int32; known values must lie in the code range of ``dtype``."""
    lo, hi = (-128, 127) if dtype == tf.int8 else (0, 255)
    return _exact_int32(z, name, lo, hi, f"{dtype.name} codes", floats=False)


def _convolution(op: str, inputs, filters, multiplier, strides, padding, dilations, input_zero_point,
                 filter_zero_point, name, multiplier_name) -> tf.Tensor:
    """The shared argument checks of the convolution ops, then ``op`` of the loaded library."""
    x, w = _codes(inputs, "inputs"), _codes(filters, "filters")
    if x.dtype != w.dtype:
        raise TypeError(f"`inputs` and `filters` must have the same code type. Received: inputs.dtype="
                        f"{x.dtype.name}, filters.dtype={w.dtype.name}")
    label, table = _multiplier_for(multiplier, x.dtype, multiplier_name)
    return getattr(load(), op)(
        x, w, table, _zero_point(input_zero_point, "input_zero_point", x.dtype),
        _zero_point(filter_zero_point, "filter_zero_point", x.dtype), strides=_pair(strides, "strides"),
        padding=padding_mode(padding), dilations=_pair(dilations, "dilations"), multiplier=label, name=name)


def approx_conv2d(inputs, filters, multiplier, strides=1, padding="VALID", dilations=1, input_zero_point=0,
                  filter_zero_point=0, name=None, multiplier_name=None) -> tf.Tensor:
    """2-D convolution of NHWC ``inputs`` codes with HWIO ``filters`` codes through ``multiplier``'s table.

    Returns int32 accumulators ``[N, OH, OW, O]``. ``filter_zero_point`` is a scalar or a per-output-channel vector.
    """
    return _convolution("tfax_approx_conv2d", inputs, filters, multiplier, strides, padding, dilations,
                        input_zero_point, filter_zero_point, name, multiplier_name)


def approx_depthwise_conv2d(inputs, filters, multiplier, strides=1, padding="VALID", dilations=1,
                            input_zero_point=0, filter_zero_point=0, name=None, multiplier_name=None) -> tf.Tensor:
    """Depthwise convolution; ``filters`` is ``[h, w, in_c, mult]``; output channel ``c * mult + m``."""
    return _convolution("tfax_approx_depthwise_conv2d", inputs, filters, multiplier, strides, padding, dilations,
                        input_zero_point, filter_zero_point, name, multiplier_name)


def approx_matmul(a, b, multiplier, a_zero_point=0, b_zero_point=0, name=None, multiplier_name=None) -> tf.Tensor:
    """``a [N, K]`` activation codes times ``b [K, O]`` weight codes; int32 ``[N, O]``."""
    x, w = _codes(a, "a"), _codes(b, "b")
    if x.dtype != w.dtype:
        raise TypeError(f"`a` and `b` must have the same code type. Received: a.dtype={x.dtype.name}, "
                        f"b.dtype={w.dtype.name}")
    label, table = _multiplier_for(multiplier, x.dtype, multiplier_name)
    return load().tfax_approx_mat_mul(
        x, w, table, _zero_point(a_zero_point, "a_zero_point", x.dtype),
        _zero_point(b_zero_point, "b_zero_point", x.dtype), multiplier=label, name=name)


def quantize(values, scale, zero_point, dtype, clip_min=None, clip_max=None, code_map=None, name=None):
    """Quantised codes of float ``values`` in one op (SPEC section 2)::

        q = clip(round_half_even(values / scale) + zero_point, clip_min, clip_max)
        codes = code_map[q + off]   (off = 128 for int8, 0 for uint8; codes = q without a code map)

    ``scale`` (float32) and ``zero_point`` are scalars or vectors of n elements that apply to the flat index modulo
    n: per output channel, n is the product of the trailing dimensions (O of an HWIO kernel, C*M of a depthwise
    one). The clip range defaults to the code type's; NaN values take the zero point. ``code_map`` is an ``int[256]``
    table indexed like the multiplier tables (the ALWANN weight map). Returns ``dtype`` codes of ``values``' shape,
    equal element for element to the same arithmetic in float32 TF ops (divide, round, add, clip, cast, gather) in
    one pass instead of about eight ops. The dequantised value of a code is ``scale * (code - zero_point)``.
    """
    dtype = tf.as_dtype(dtype)
    if dtype not in _CODE_DTYPES:
        raise TypeError(f"`dtype` must be int8 or uint8. Received: dtype={dtype.name}")
    info = np.iinfo(dtype.as_numpy_dtype)
    lo = int(info.min if clip_min is None else clip_min)
    hi = int(info.max if clip_max is None else clip_max)
    if not info.min <= lo <= hi <= info.max:
        raise ValueError(f"The clip range must lie in [{info.min}, {info.max}] ({dtype.name} codes) with clip_min <= "
                         f"clip_max. Received: clip_min={lo}, clip_max={hi}")
    v = tf.convert_to_tensor(values)
    if not v.dtype.is_floating:
        raise TypeError(f"`values` must be floating point. Received: values.dtype={v.dtype.name}")
    s = tf.convert_to_tensor(scale)
    v, s = (t if t.dtype == tf.float32 else tf.cast(t, tf.float32) for t in (v, s))
    z = _zero_point(zero_point, "zero_point", dtype)
    if code_map is None:
        code_map = tf.zeros([0], tf.int32)
    else:
        code_map = _exact_int32(code_map, "code_map", int(info.min), int(info.max), f"{dtype.name} codes",
                                floats=False)
        if tuple(code_map.shape) != (256,):
            raise ValueError(f"`code_map` must have shape (256,). Received: shape={tuple(code_map.shape)}")
    return load().tfax_quantize(v, s, z, code_map, T=dtype, clip_min=lo, clip_max=hi, name=name)
