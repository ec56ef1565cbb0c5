"""The quantise op (`nn.quantize`) against the same arithmetic in float32 TF ops, and its argument checks."""

import numpy as np
import pytest
import tensorflow as tf

from tfaxdnn.ops import nn
def _tf_ops(x, scale, zero_point, lo, hi, code_map, signed):
    """The composition the layers used before the op: divide, round, add, clip, cast, gather (per-channel scales
    broadcast over the trailing dimensions)."""
    n = np.size(scale)
    trailing = next(x.shape[i:] for i in range(x.ndim) if np.prod(x.shape[i:]) == n) if n > 1 else ()
    s = tf.reshape(tf.constant(scale, tf.float32), trailing)
    z = tf.reshape(tf.cast(tf.constant(zero_point, tf.int32), tf.float32), trailing)
    q = tf.cast(tf.clip_by_value(tf.round(x / s) + z, lo, hi), tf.int32)
    if code_map is not None:
        q = tf.gather(tf.constant(code_map, tf.int32), q + (128 if signed else 0))
    return q.numpy()


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("mapped", [False, True])
@pytest.mark.parametrize("shape,n", [((3, 3, 16, 8), 8), ((3, 3, 4, 3), 12), ((50, 10), 10), ((2, 7, 7, 5), 1),
                                     ((3, 37), 37)])
def test_quantize_equals_the_tf_op_composition(signed, mapped, shape, n):
    """Per output channel over the trailing dimensions (HWIO, depthwise C*M, Dense) and per tensor, with ties
    (x / s exactly k + 0.5: half to even), values beyond the clip range, and a weight map."""
    rng = np.random.default_rng(n + 10 * signed + 100 * mapped)
    scale = (rng.random(n) * 0.1 + 0.01).astype(np.float32)
    zero_point = rng.integers(-5, 6, n) + (0 if signed else 128)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    flat = x.reshape(-1)
    flat[:n] = (np.arange(n) % 7 - 3 + 0.5) * scale  # ties (exact in float32 only up to rounding of the product)
    flat[n:2 * n] = 1e6  # far beyond the clip range
    lo, hi = (-127, 127) if signed else (0, 255)
    dtype = tf.int8 if signed else tf.uint8
    code_map = rng.permutation(np.arange(-128, 128) if signed else np.arange(256)).astype(np.int32) if mapped else None
    s, z = (scale[0], int(zero_point[0])) if n == 1 else (scale, zero_point)
    codes = nn.quantize(tf.constant(x), s, z, dtype, lo, hi, code_map=code_map)
    assert codes.dtype == dtype and codes.shape == shape
    expected = _tf_ops(tf.constant(x), s, z, lo, hi, code_map, signed)
    np.testing.assert_array_equal(codes.numpy().astype(np.int32), expected)


@pytest.mark.parametrize("length", [4, 21])  # the scalar loop alone; 8-wide vectors and a scalar tail
def test_quantize_in_a_traced_function_and_nan_takes_the_zero_point(length):
    x = tf.constant(np.resize(np.float32([np.nan, 0.26, -0.25, 0.75, 1e9, -np.inf]), length))
    codes = tf.function(lambda v: nn.quantize(v, 0.5, 3, tf.uint8, clip_max=250))(x)
    # 0.52 -> 1, -0.5 -> -0 and 1.5 -> 2 (half to even), beyond the clip range, -inf
    assert codes.numpy().tolist() == np.resize([3, 4, 3, 5, 250, 0], length).tolist()


@pytest.mark.parametrize("call,error,match", [
    (lambda: nn.quantize(np.zeros(4, np.float32), 1.0, 0, tf.int32), TypeError, "int8 or uint8"),
    (lambda: nn.quantize(np.zeros(4, np.float32), 1.0, 0, tf.int8, -129, 0), ValueError, "clip range"),
    (lambda: nn.quantize(np.zeros(4, np.float32), 1.0, 0, tf.uint8, 10, 5), ValueError, "clip range"),
    (lambda: nn.quantize(np.zeros(4, np.int32), 1.0, 0, tf.uint8), TypeError, "floating point"),
    (lambda: nn.quantize(np.zeros(4, np.float32), 1.0, 300, tf.uint8), ValueError, "zero_point"),
    (lambda: nn.quantize(np.zeros(4, np.float32), 1.0, 0, tf.uint8, code_map=np.zeros(10, np.int32)), ValueError,
     r"shape \(256,\)"),
    (lambda: nn.quantize(np.zeros(4, np.float32), 1.0, 0, tf.int8, code_map=np.full(256, 200, np.int32)),
     ValueError, "code_map"),
    (lambda: nn.quantize(np.zeros((2, 3), np.float32), np.ones(4, np.float32), np.zeros(4, np.int32), tf.uint8),
     tf.errors.InvalidArgumentError, "4 per-channel scales"),
    (lambda: nn.quantize(np.zeros((2, 3), np.float32), np.ones(3, np.float32), np.zeros(2, np.int32), tf.uint8),
     tf.errors.InvalidArgumentError, "zero_point must have"),
])
def test_quantize_rejects_bad_arguments_by_name(call, error, match):
    with pytest.raises(error, match=match):
        call()
