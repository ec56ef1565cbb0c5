"""Edge cases of the LUT op and its Python API (issue 17): empty sums, windowless filters, scratch limits,
values that a cast would wrap, and the bounded eager table cache."""

import json
import os
import pathlib
import subprocess
import sys

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


# --- tables near the int32 limits: the int16 copy's bias and the int64 sums never wrap (issue 27 item 6) ------

@pytest.mark.parametrize("n,o", [(1, 32), (1, 5), (300, 40), (20, 130)])  # row permutes, gather, tap tables
def test_tables_at_the_int32_limits_give_exact_sums_or_refuse(n, o):
    """Every entry 2**31 - 1 (or -2**31): an int16 copy needs a bias beyond int32 (lo + 32768). Sums that fit are
    exact; those that do not are refused with their true range (not widened to include 0)."""
    a, b = np.full((n, 1), 5, np.int8), np.ones((1, o), np.int8)
    top, bottom = tf.constant(np.full((256, 256), 2 ** 31 - 1, np.int32)), tf.constant(np.full((256, 256), -2 ** 31,
                                                                                                   np.int32))
    np.testing.assert_array_equal(nn.approx_matmul(a, b, top, 0, 0).numpy(), np.full((n, o), 2 ** 31 - 1))
    np.testing.assert_array_equal(nn.approx_matmul(a, b, bottom, 0, 0).numpy(), np.full((n, o), -2 ** 31))
    # - zw * sum(a) = +5 (2147483652) and -5 (-2147483653): out of int32
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"range \[2147483652, 2147483652\]\) in positions 0\.\..*does not fit int32"):
        nn.approx_matmul(a, b, top, 0, -1).numpy()
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"range \[-2147483653, -2147483653\]\) in positions 0\.\..*does not fit int32"):
        nn.approx_matmul(a, b, bottom, 0, 1).numpy()


def test_overflow_message_gives_the_true_range():
    table = np.full((256, 256), 2 ** 30, np.int32)
    table[128 + 5, 128 + 1] = 2 ** 30 + 1000
    a, b = np.full((1, 4), 5, np.int8), np.array([[1, 2, 3]] * 4, np.int8)  # sums 4 * 2**30 (+ 4000 in column 0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"range \[4294967296, 4294971296\]\) in positions 0\.\.0"):
        nn.approx_matmul(a, b, tf.constant(table)).numpy()


# --- depthwise code planes: bounded by the scratch limit, sizes overflow-checked (issue 27 item 7) -----------

def test_depthwise_scratch_limit_shrinks_units_or_falls_back_exactly(monkeypatch):
    """Under a small limit the fast path takes fewer channel blocks and rows per unit, or (a single row of one block
    over the limit) the LUT GEMM groups take over: results unchanged."""
    rng = np.random.default_rng(6)
    table = M.get(SIGNED).table
    cases = [((2, 12, 12, 70), (3, 3, 70, 1), 2, 3),   # 5 blocks of 16 channels, units shrunk to fit
             ((1, 2, 3000, 1), (1, 3, 1, 2), 1, 7),    # one wide row: 3000 pixels x 16 lanes per block
             ((1, 1, 1, 3), (3, 3, 3, 1), 1, 40)]      # a dilated window: 81 x 81 padded pixels
    for xs, fs, s, d in cases:
        x, f = _codes(rng, xs), _codes(rng, fs)
        expected = ref.depthwise_conv2d(x, f, table, s, "SAME", d, 3, -2)
        monkeypatch.delenv("TFAXDNN_SCRATCH_LIMIT_BYTES", raising=False)
        np.testing.assert_array_equal(nn.approx_depthwise_conv2d(x, f, SIGNED, s, "SAME", d, 3, -2).numpy(), expected)
        for limit in (20000, 3000):
            monkeypatch.setenv("TFAXDNN_SCRATCH_LIMIT_BYTES", str(limit))
            np.testing.assert_array_equal(nn.approx_depthwise_conv2d(x, f, SIGNED, s, "SAME", d, 3, -2).numpy(),
                                          expected, err_msg=str((xs, fs, limit)))


def test_depthwise_position_over_the_scratch_limit_is_refused(monkeypatch):
    monkeypatch.setenv("TFAXDNN_SCRATCH_LIMIT_BYTES", "100")
    x, f = np.ones((1, 4, 4, 2), np.int8), np.ones((3, 3, 2, 1), np.int8)
    with pytest.raises(tf.errors.ResourceExhaustedError,
                       match=r"TfaxApproxDepthwiseConv2D: one output position needs \d+ bytes of scratch.*limit of 100 "
                             r"bytes.*TFAXDNN_SCRATCH_LIMIT_BYTES"):
        nn.approx_depthwise_conv2d(x, f, SIGNED, 1, "SAME").numpy()


_HUGE_DILATION_SCRIPT = r"""
import json, os
import numpy as np
import tensorflow as tf
from tfaxdnn.ops import nn

x = np.full((1, 1, 1, 1), 100, np.int8)
f = np.arange(60, 69, dtype=np.int8).reshape(3, 3, 1, 1)
report = {}


def run(d):
    try:
        return nn.approx_depthwise_conv2d(x, f, "mul8s_1L2N", 1, "SAME", d).numpy().ravel().tolist()
    except tf.errors.OpError as e:
        return f"{type(e).__name__}: {e.message}"


def kib(key):
    with open("/proc/self/status") as status:
        return next(int(ln.split()[1]) for ln in status if ln.startswith(key + ":"))


report["1"] = run(1)
os.environ["TFAXDNN_SCRATCH_LIMIT_BYTES"] = str(4 << 20)
try:
    with open("/proc/self/clear_refs", "w") as clear:  # the peak resident size restarts from the current one
        clear.write("5")
    before = kib("VmRSS")
except OSError:
    before = None
report["1000"] = run(1000)  # 2001 x 2001 padded pixels x 16 lanes: 64 MB of codes for one output, unless bounded
report["peak_growth_mib"] = None if before is None else (kib("VmHWM") - before) / 1024
del os.environ["TFAXDNN_SCRATCH_LIMIT_BYTES"]
for d in (400_000_000, 2 ** 31 - 1):  # code-plane sizes beyond int64
    report[str(d)] = run(d)
print("REPORT", json.dumps(report), flush=True)
"""


def test_depthwise_huge_dilation_is_bounded_and_never_crashes():
    """A 1x1 result of a huge dilation: the code planes (padded rows x padded width x 16 lanes) are bounded by the
    scratch limit and their size is overflow-checked (at dilation 4e8 it exceeded int64 and the process died)."""
    root = pathlib.Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TFAXDNN_SCRATCH_LIMIT_BYTES", None)
    proc = subprocess.run([sys.executable, "-c", _HUGE_DILATION_SCRIPT], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-3000:])
    report = json.loads(proc.stdout.split("REPORT", 1)[1])
    expected = report["1"]  # only the centre tap lies inside the 1x1 input, at any dilation
    assert isinstance(expected, list) and len(expected) == 1, report
    for d in (1000, 400_000_000, 2 ** 31 - 1):
        assert report[str(d)] == expected, report
    if report["peak_growth_mib"] is not None:  # the 64 MB of code planes were not allocated
        assert report["peak_growth_mib"] < 24, report
