"""Edge cases of the LUT op and its Python API (issue 17): empty sums, windowless filters, scratch limits,
values that a cast would wrap, and the bounded eager table cache."""

import numpy as np
import pytest
import tensorflow as tf

from tfaxdnn import multipliers as M
from tfaxdnn.ops import nn
from tfaxdnn.ops import reference as ref
from tfaxdnn.ops.loader import load, load_bench

SIGNED = "mul8s_1L2N"


def _codes(rng, shape, dtype=np.int8):
    lo, hi = (-128, 128) if dtype == np.int8 else (0, 256)
    return rng.integers(lo, hi, shape).astype(dtype)


def _dirty_thread_buffers(rng):
    """A call with many tap-table units on every pool thread, leaving non-zero accumulators behind."""
    x, f = _codes(rng, (4, 32, 32, 8)), _codes(rng, (3, 3, 8, 32))
    nn.approx_conv2d(x, f, SIGNED, 1, "SAME", 1, 3, 5).numpy()


# --- K = 0: no products, so every sum and zero-point correction is 0 (zero channels are valid) ---------------

def test_matmul_without_inner_dimension_returns_zeros():
    rng = np.random.default_rng(0)
    for n, o in [(300, 40), (5, 3), (20, 130)]:  # tap tables, gather, transposed tap tables
        _dirty_thread_buffers(rng)
        a, b = np.zeros((n, 0), np.int8), np.zeros((0, o), np.int8)
        got = nn.approx_matmul(a, b, SIGNED, a_zero_point=3, b_zero_point=-7).numpy()
        np.testing.assert_array_equal(got, ref.matmul(a, b, M.get(SIGNED).table, 3, -7))
        assert got.shape == (n, o) and not got.any()


def test_conv_with_zero_channels_returns_zeros():
    rng = np.random.default_rng(1)
    _dirty_thread_buffers(rng)
    x, f = np.zeros((2, 16, 16, 0), np.int8), np.zeros((3, 3, 0, 8), np.int8)
    got = nn.approx_conv2d(x, f, SIGNED, 1, "SAME", 1, 3, [5, -5, 1, 2, 3, 4, 5, 6]).numpy()
    assert got.shape == (2, 16, 16, 8) and not got.any()
    got = nn.approx_depthwise_conv2d(x, np.zeros((3, 3, 0, 2), np.int8), SIGNED, 1, "SAME", 1, 3, 5).numpy()
    assert got.shape == (2, 16, 16, 0)


# --- a filter without a window has no output size: refused, eagerly and at graph construction ----------------

@pytest.mark.parametrize("op,f_shape", [
    (nn.approx_conv2d, (0, 3, 3, 4)), (nn.approx_conv2d, (3, 0, 3, 4)),
    (nn.approx_depthwise_conv2d, (0, 0, 3, 1)), (nn.approx_depthwise_conv2d, (3, 0, 3, 2)),
])
def test_filter_without_window_is_refused(op, f_shape):
    x, f = np.ones((1, 8, 8, 3), np.int8), np.ones(f_shape, np.int8)
    shape = r"\[" + ",".join(map(str, f_shape)) + r"\]"
    for padding in ("VALID", "SAME"):
        with pytest.raises(tf.errors.InvalidArgumentError, match="height and width must be at least 1.*" + shape):
            op(x, f, SIGNED, padding=padding)
    traced = tf.function(lambda a, b: op(a, b, SIGNED, padding="VALID"))
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="height and width must be at least 1"):
        traced(x, f)


def test_naive_op_refuses_filter_without_window():
    """The benchmark library (the naive baseline op, built apart from the op library) builds, loads and checks."""
    assert not hasattr(load(), "tfax_naive_conv2d")  # not part of the production op library
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"at least 1, got filter shape \[0,3,3,4\]"):
        load_bench().tfax_naive_conv2d(np.ones((1, 8, 8, 3), np.int8), np.ones((0, 3, 3, 4), np.int8),
                                 nn.table_tensor(M.get(SIGNED)), 0, 0, strides=[1] * 4, padding="VALID")


# --- scratch: bounded per thread, a position needing more than the limit is refused (never an abort) ---------

def test_position_needing_more_scratch_than_the_limit_is_refused(monkeypatch):
    # the pattern of x [1,32,32,100000] * f [32,32,100000,1] (52 GB of im2col codes), scaled down, with a small limit
    monkeypatch.setenv("TFAXDNN_SCRATCH_LIMIT_BYTES", "50000")
    rng = np.random.default_rng(2)
    x, f = _codes(rng, (1, 32, 32, 30)), _codes(rng, (32, 32, 30, 1))
    with pytest.raises(tf.errors.ResourceExhaustedError,
                       match=r"one output position needs \d+ bytes of scratch \(30720 products.*limit of 50000"):
        nn.approx_conv2d(x, f, SIGNED, padding="SAME")


def test_scratch_limit_shrinks_position_blocks_exactly(monkeypatch):
    rng = np.random.default_rng(3)
    x, f = _codes(rng, (1, 32, 32, 30)), _codes(rng, (32, 32, 30, 2))
    expected = ref.conv2d(x, f, M.get(SIGNED).table, 1, "SAME", 1, 4, -3)
    np.testing.assert_array_equal(nn.approx_conv2d(x, f, SIGNED, 1, "SAME", 1, 4, -3).numpy(), expected)
    monkeypatch.setenv("TFAXDNN_SCRATCH_LIMIT_BYTES", "300000")  # a few positions per unit
    np.testing.assert_array_equal(nn.approx_conv2d(x, f, SIGNED, 1, "SAME", 1, 4, -3).numpy(), expected)


# --- values that tf.cast would wrap or truncate are refused before the cast ----------------------------------

@pytest.mark.parametrize("value", [2 ** 32, np.int64(2 ** 32), np.array(2 ** 32 + 3), 2 ** 70,
                                   tf.constant(2 ** 32, tf.int64), tf.Variable(np.int64(2 ** 32))])
def test_zero_point_beyond_int32_is_refused(value):
    x, f = np.zeros((1, 5, 5, 3), np.int8), np.zeros((3, 3, 3, 2), np.int8)
    with pytest.raises(ValueError, match=r"`input_zero_point` must hold integers in \[-128, 127\] \(int8 codes\)"):
        nn.approx_conv2d(x, f, SIGNED, input_zero_point=value)


def test_zero_point_vector_names_the_bad_element():
    a, b = np.zeros((4, 5), np.uint8), np.zeros((5, 3), np.uint8)
    with pytest.raises(ValueError, match=r"`b_zero_point` .*\[0, 255\].*b_zero_point\[2\]=4294967296"):
        nn.approx_matmul(a, b, "mul8u_17C8", b_zero_point=np.array([1, 2, 2 ** 32], np.int64))
    with pytest.raises(TypeError, match="`a_zero_point` must hold integers"):
        nn.approx_matmul(a, b, "mul8u_17C8", a_zero_point=np.float32(3))


@pytest.mark.parametrize("bad,match", [
    (lambda t: t.astype(np.int64) + np.where(np.arange(65536).reshape(256, 256) == 7, 2 ** 32, 0),
     r"multiplier\[0, 7\]=42949\d{5}"),
    (lambda t: t.astype(np.float32) + np.where(np.arange(65536).reshape(256, 256) == 9, 0.7, 0),
     r"multiplier\[0, 9\]=-?\d+\.\d+"),
])
def test_table_tensor_that_a_cast_would_change_is_refused(bad, match):
    table = M.get(SIGNED).table
    x, f = np.zeros((1, 5, 5, 3), np.int8), np.zeros((3, 3, 3, 2), np.int8)
    with pytest.raises(ValueError, match="`multiplier` must hold integers in .*" + match):
        nn.approx_conv2d(x, f, tf.constant(bad(table)))
    with pytest.raises(ValueError):  # NumPy tables go through Multiplier's validation
        nn.approx_conv2d(x, f, bad(table))
    traced = tf.function(lambda t: nn.approx_conv2d(x, f, t))  # symbolic: checked in the graph
    with pytest.raises(tf.errors.InvalidArgumentError, match="`multiplier` holds values that are not int32"):
        traced(tf.constant(bad(table))).numpy()


def test_integer_valued_tables_of_other_dtypes_are_accepted():
    m, rng = M.get(SIGNED), np.random.default_rng(4)
    x, f = _codes(rng, (1, 6, 6, 3)), _codes(rng, (3, 3, 3, 4))
    expected = ref.conv2d(x, f, m.table)
    for t in (tf.constant(m.table, tf.int64), tf.constant(m.table, tf.float32), tf.Variable(m.table)):
        np.testing.assert_array_equal(nn.approx_conv2d(x, f, t).numpy(), expected)


# --- the eager table cache is bounded (least recently used tables evicted) ----------------------------------

def test_table_cache_is_bounded_and_keeps_recent_tables(monkeypatch):
    monkeypatch.setattr(nn, "TABLE_CACHE_BYTES", 4 * 256 * 256 * 4)
    nn._table_cache.clear()
    base = M.get("mul8u_17C8").table.astype(np.int64)
    mults = [M.Multiplier(f"user_{i}", False, base + i) for i in range(10)]
    first = nn.table_tensor(mults[0])
    for i, m in enumerate(mults[1:], 1):
        nn.table_tensor(m)
        if i % 2:
            assert nn.table_tensor(mults[0]) is first  # recently used: kept
        assert len(nn._table_cache) <= 4 and nn._table_cache.nbytes() <= nn.TABLE_CACHE_BYTES
    np.testing.assert_array_equal(nn.table_tensor(mults[9]).numpy(), mults[9].table)
    assert nn.table_tensor(mults[1]) is not None and len(nn._table_cache) == 4


# --- the kernels' prepared tables are cached by content, never by identity -----------------------------------

def test_prepared_tables_follow_table_content():
    """A table variable assigned in place, and more distinct tables than the cache holds, give exact results."""
    rng = np.random.default_rng(5)
    x, f = _codes(rng, (2, 10, 10, 4)), _codes(rng, (3, 3, 4, 16))     # tap tables (column-major copy)
    xd, fd = _codes(rng, (2, 10, 10, 12)), _codes(rng, (3, 3, 12, 1))  # depthwise channel tables
    base = M.get(SIGNED).table.astype(np.int64)
    table = tf.Variable(base.astype(np.int32))
    for i in range(10):
        t = (base + 7 * i * (np.arange(65536).reshape(256, 256) % 3)).astype(np.int32)
        table.assign(t)
        np.testing.assert_array_equal(nn.approx_conv2d(x, f, table, 1, "SAME").numpy(),
                                      ref.conv2d(x, f, t, 1, "SAME"))
        np.testing.assert_array_equal(nn.approx_depthwise_conv2d(xd, fd, table, 1, "SAME", 1, 2, -3).numpy(),
                                      ref.depthwise_conv2d(xd, fd, t, 1, "SAME", 1, 2, -3))
