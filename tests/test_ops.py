"""The compiled LUT op against the independent NumPy int64 reference: zero mismatches allowed."""

import numpy as np
import pytest
import tensorflow as tf

from tfaxdnn import multipliers as M
from tfaxdnn.ops import nn
from tfaxdnn.ops import reference as ref

TABLES = ["mul8s_1KV6", "mul8s_1L2N", "mul8s_1KVP", "mul8u_1JJQ", "mul8u_17C8", "mul8u_ZB3"]


def _codes(rng, shape, signed):
    lo, hi = (-128, 128) if signed else (0, 256)
    return rng.integers(lo, hi, shape).astype(np.int8 if signed else np.uint8)


def _zp(rng, signed, size=None):
    lo, hi = (-128, 128) if signed else (0, 256)
    return rng.integers(lo, hi, size)


@pytest.mark.parametrize("name", TABLES)
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_conv2d_randomised_matches_reference(name, padding):
    m = M.get(name)
    rng = np.random.default_rng(abs(hash((name, padding))) % 2**32)
    for _ in range(6):
        n, h, w = rng.integers(1, 3), rng.integers(5, 14), rng.integers(5, 14)
        c, o = rng.integers(1, 7), int(rng.choice([1, 5, 32, 33, 70]))
        kh, kw = rng.integers(1, 4), rng.integers(1, 4)
        s = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        if padding == "VALID" and ((kh - 1) * d[0] + 1 > h or (kw - 1) * d[1] + 1 > w):
            continue
        x, f = _codes(rng, (n, h, w, c), m.signed), _codes(rng, (kh, kw, c, o), m.signed)
        za = int(_zp(rng, m.signed))
        zw = _zp(rng, m.signed, o) if rng.random() < 0.5 else int(_zp(rng, m.signed))
        got = nn.approx_conv2d(x, f, m, s, padding, d, za, zw).numpy()
        exp = ref.conv2d(x, f, m.table, s, padding, d, za, zw)
        assert got.shape == exp.shape
        assert np.count_nonzero(got != exp) == 0, (name, x.shape, f.shape, s, d, padding)


# Shapes that take the 16-bit tap-table strategy over several tap chunks, output blocks and position units (the
# conv with 37 outputs and the matmul with 40 exercise partial blocks), and its transposed orientation (few
# positions, many outputs: 40 positions = one full and one partial block of positions). Output blocks of the same
# positions reuse one gather of their codes.
LARGE_CASES = {
    "conv2d": (nn.approx_conv2d, ref.conv2d, (4, 48, 48, 5), (3, 3, 5, 37), 37),
    "conv2d_wide": (nn.approx_conv2d, ref.conv2d, (2, 16, 16, 3), (3, 3, 3, 200), 200),  # 7 blocks share codes
    "depthwise": (nn.approx_depthwise_conv2d, ref.depthwise_conv2d, (2, 24, 24, 3), (3, 3, 3, 9), 27),
    "matmul": (nn.approx_matmul, ref.matmul, (1100, 70), (70, 40), 40),
    "matmul_transposed": (nn.approx_matmul, ref.matmul, (40, 300), (300, 130), 130),
}


@pytest.mark.parametrize("case", sorted(LARGE_CASES))
@pytest.mark.parametrize("name", ["mul8s_1L2N", "mul8u_17C8"])
def test_large_problems_use_tap_tables_exactly(name, case):
    op, reference, x_shape, f_shape, n_out = LARGE_CASES[case]
    m, rng = M.get(name), np.random.default_rng(7)
    x, f = _codes(rng, x_shape, m.signed), _codes(rng, f_shape, m.signed)
    za, zw = int(_zp(rng, m.signed)), _zp(rng, m.signed, n_out)
    conv_args = () if case.startswith("matmul") else (1, "SAME", 1)
    got = op(x, f, m, *conv_args, za, zw).numpy()
    np.testing.assert_array_equal(got, reference(x, f, m.table, *conv_args, za, zw))


@pytest.mark.parametrize("case", sorted(c for c in LARGE_CASES if c != "depthwise"))
@pytest.mark.parametrize("lo,hi", [(0, 128), (37, 50), (-3, 1)])
def test_tap_tables_built_only_for_the_rows_the_codes_reach(case, lo, hi):
    """Tap tables are built only over the rows (table indices, in groups of 16) that the unit's codes use: ReLU
    outputs under the symmetric int8 scheme ([0, 128)), a narrow band, and a band across the sign boundary; the
    zero point (the code of padded taps) lies outside the band."""
    op, reference, x_shape, f_shape, n_out = LARGE_CASES[case]
    m, rng = M.get("mul8s_1L2N"), np.random.default_rng(lo + 300)
    x = rng.integers(lo, hi, x_shape).astype(np.int8)
    f = rng.integers(lo, hi, f_shape).astype(np.int8) if case == "matmul_transposed" else _codes(rng, f_shape, True)
    za, zw = min(hi + 20, 127), _zp(rng, True, n_out)
    conv_args = () if case.startswith("matmul") else (1, "SAME", 1)
    got = op(x, f, m, *conv_args, za, zw).numpy()
    np.testing.assert_array_equal(got, reference(x, f, m.table, *conv_args, za, zw))


@pytest.mark.parametrize("offset", [-30000, 3_400_000])  # int32 sums; int64 sums (K * max|entry| leaves int32)
def test_tap_table_split_sums_stay_exact_over_several_segments(offset):
    """16-bit split sums are carried across chunks and widened once per segment of 256 taps: K = 600 gives two full
    segments and a partial one, with the rows of the largest code at the top of the uint16 range (the low bytes'
    sums at their maximum)."""
    rng = np.random.default_rng(11)
    table = rng.integers(0, 65536, (256, 256)).astype(np.int64)
    table[255, :] = 65535
    table = (table + offset).astype(np.int32)
    a, b = rng.integers(0, 256, (96, 600)).astype(np.uint8), rng.integers(0, 256, (600, 40)).astype(np.uint8)
    a[:8] = 255
    got = nn.approx_matmul(a, b, tf.constant(table), 3, 5).numpy()
    np.testing.assert_array_equal(got, ref.matmul(a, b, table, 3, 5))


def test_wide_table_range_falls_back_from_int16_tables():
    """Entries spanning more than 65535 cannot be int16 with one bias: the int32 paths must take over."""
    a, w = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    table = (a * w * 3 - 70000 * (a == 5)).astype(np.int32)   # a raw table tensor: no uint16 limit
    rng = np.random.default_rng(5)
    x, f = _codes(rng, (2, 24, 24, 4), False), _codes(rng, (3, 3, 4, 16), False)
    got = nn.approx_conv2d(x, f, tf.constant(table), 1, "SAME", 1, 3, 7).numpy()
    np.testing.assert_array_equal(got, ref.conv2d(x, f, table, 1, "SAME", 1, 3, 7))
    a, b = _codes(rng, (20, 50), False), _codes(rng, (50, 90), False)  # few positions: the gather path
    got = nn.approx_matmul(a, b, tf.constant(table), 9, 4).numpy()
    np.testing.assert_array_equal(got, ref.matmul(a, b, table, 9, 4))


@pytest.mark.parametrize("name", TABLES)
def test_depthwise_randomised_matches_reference(name):
    m, rng = M.get(name), np.random.default_rng(3)
    for s, d, padding, mult in [(1, 1, "SAME", 1), (2, 1, "VALID", 2), (1, 2, "SAME", 3), ((2, 1), (1, 2), "SAME", 1)]:
        x, f = _codes(rng, (2, 11, 10, 4), m.signed), _codes(rng, (3, 3, 4, mult), m.signed)
        za, zw = int(_zp(rng, m.signed)), _zp(rng, m.signed, 4 * mult)
        got = nn.approx_depthwise_conv2d(x, f, m, s, padding, d, za, zw).numpy()
        np.testing.assert_array_equal(got, ref.depthwise_conv2d(x, f, m.table, s, padding, d, za, zw))


@pytest.mark.parametrize("name", ["mul8s_1L2N", "mul8u_17C8", "mul8u_ZB3"])
def test_depthwise_channel_tables_randomised_match_reference(name):
    """The per-channel table path: several channel blocks and a partial one (the last pixel's codes read through a
    buffer), multipliers whose lanes span input channels, strides, dilations, windows up to 5x5, both paddings."""
    m, rng = M.get(name), np.random.default_rng(13)
    cases = [(1, 1, "SAME", 1, (3, 3)), (2, 1, "SAME", 1, (3, 3)), (1, 2, "VALID", 1, (3, 3)),
             ((2, 1), (1, 2), "SAME", 2, (3, 2)), (1, 1, "SAME", 3, (5, 5)), (2, 2, "VALID", 5, (2, 3)),
             (1, 1, "SAME", 1, (1, 1))]
    for s, d, padding, mult, (kh, kw) in cases:
        c = int(rng.choice([5, 16, 21, 37]))
        x, f = _codes(rng, (2, 9, 11, c), m.signed), _codes(rng, (kh, kw, c, mult), m.signed)
        za = int(_zp(rng, m.signed))
        zw = _zp(rng, m.signed, c * mult) if rng.random() < 0.5 else int(_zp(rng, m.signed))
        got = nn.approx_depthwise_conv2d(x, f, m, s, padding, d, za, zw).numpy()
        np.testing.assert_array_equal(got, ref.depthwise_conv2d(x, f, m.table, s, padding, d, za, zw),
                                      err_msg=str((s, d, padding, mult, kh, kw, c)))


@pytest.mark.parametrize("name", ["mul8s_1L2N", "mul8u_17C8"])
def test_depthwise_channel_tables_over_several_row_chunks_match_reference(name):
    """Work units are row chunks x channel blocks (blocks fastest, each unit rebuilding its block's tables): layers
    with several chunks, blocks and a partial block, stride 2, dilation 2, multipliers 1-3, per-channel zero points."""
    m, rng = M.get(name), np.random.default_rng(17)
    for s, d, padding, mult, c in [(2, 1, "SAME", 1, 36), (1, 2, "SAME", 2, 13), (2, 2, "VALID", 3, 7)]:
        x, f = _codes(rng, (3, 45, 44, c), m.signed), _codes(rng, (3, 3, c, mult), m.signed)
        za, zw = int(_zp(rng, m.signed)), _zp(rng, m.signed, c * mult)
        got = nn.approx_depthwise_conv2d(x, f, m, s, padding, d, za, zw).numpy()
        np.testing.assert_array_equal(got, ref.depthwise_conv2d(x, f, m.table, s, padding, d, za, zw),
                                      err_msg=str((s, d, padding, mult, c)))


def test_depthwise_generic_paths_for_large_windows_and_wide_tables():
    """Windows over 64 taps and tables whose corrected sums could leave int32 take the LUT GEMM groups instead."""
    rng = np.random.default_rng(14)
    m = M.get("mul8s_1L2N")
    x, f = _codes(rng, (1, 12, 12, 10), True), _codes(rng, (9, 9, 10, 1), True)  # 81 taps
    np.testing.assert_array_equal(nn.approx_depthwise_conv2d(x, f, m, 1, "SAME", 1, 3, -2).numpy(),
                                  ref.depthwise_conv2d(x, f, m.table, 1, "SAME", 1, 3, -2))
    a, w = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    table = (a * w).astype(np.int32)
    table[255, 255] = 2 ** 29  # 9 such entries would overflow int32 sums; the codes below never reach it
    x, f = rng.integers(0, 200, (1, 6, 6, 9)).astype(np.uint8), _codes(rng, (3, 3, 9, 2), False)
    np.testing.assert_array_equal(nn.approx_depthwise_conv2d(x, f, tf.constant(table), 1, "SAME", 1, 7, 9).numpy(),
                                  ref.depthwise_conv2d(x, f, table, 1, "SAME", 1, 7, 9))


@pytest.mark.parametrize("name", TABLES)
@pytest.mark.parametrize("n,k,o", [(1, 1, 1), (7, 33, 10), (300, 64, 40), (512, 120, 84)])
def test_matmul_randomised_matches_reference(name, n, k, o):
    m, rng = M.get(name), np.random.default_rng(n * 1000 + k)
    a, b = _codes(rng, (n, k), m.signed), _codes(rng, (k, o), m.signed)
    za, zb = int(_zp(rng, m.signed)), _zp(rng, m.signed, o)
    np.testing.assert_array_equal(nn.approx_matmul(a, b, m, za, zb).numpy(), ref.matmul(a, b, m.table, za, zb))


def test_int64_accumulation_when_int32_could_overflow():
    # 65025 * 40000 products exceeds int32 inside the sum; the final results still fit after zero points.
    m = M.get("mul8u_1JJQ")
    a = np.full((300, 40000), 255, np.uint8)
    b = np.full((40000, 9), 255, np.uint8)
    got = nn.approx_matmul(a, b, m, a_zero_point=255, b_zero_point=255).numpy()
    np.testing.assert_array_equal(got, ref.matmul(a, b, m.table, 255, 255))
    with pytest.raises(tf.errors.InvalidArgumentError, match="does not fit int32"):
        nn.approx_matmul(a, b, m).numpy()


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("s,d,padding", [(1, 1, "SAME"), (2, 1, "VALID"), (1, 2, "SAME"), (2, 2, "VALID")])
def test_exact_table_equals_integer_conv(signed, s, d, padding):
    """With the exact table and zero points the op is the integer quantised convolution (tf.nn.conv2d, float64)."""
    rng = np.random.default_rng(11)
    m = M.exact(signed)
    x, f = _codes(rng, (2, 12, 12, 6), signed), _codes(rng, (3, 3, 6, 8), signed)
    za, zw = int(_zp(rng, signed)), _zp(rng, signed, 8)
    got = nn.approx_conv2d(x, f, m, s, padding, d, za, zw).numpy()
    # Integer conv of zero-point-shifted operands; padding holds real 0 = code za, i.e. shifted value 0.
    xs = tf.constant(x.astype(np.float64) - za)
    fs = tf.constant(f.astype(np.float64) - zw)
    exp = tf.nn.conv2d(xs, fs, strides=s, padding=padding, dilations=d).numpy()
    np.testing.assert_array_equal(got, exp.astype(np.int64))


def test_multiplier_argument_forms_agree():
    rng = np.random.default_rng(5)
    m = M.get("mul8s_1L2J")
    x, f = _codes(rng, (1, 6, 6, 3), True), _codes(rng, (3, 3, 3, 4), True)
    outs = [nn.approx_conv2d(x, f, mm).numpy() for mm in (m, "mul8s_1L2J", m.table, tf.constant(m.table))]
    for o in outs[1:]:
        np.testing.assert_array_equal(outs[0], o)


def test_works_inside_tf_function():
    rng = np.random.default_rng(6)
    m = M.get("mul8s_1L2L")
    x, f = _codes(rng, (2, 7, 7, 3), True), _codes(rng, (3, 3, 3, 4), True)
    fn = tf.function(lambda a, b: nn.approx_conv2d(a, b, m, 2, "SAME"))
    np.testing.assert_array_equal(fn(x, f).numpy(), ref.conv2d(x, f, m.table, 2, "SAME"))


def test_runs_in_v1_graph_imported_from_graphdef():
    rng = np.random.default_rng(8)
    m = M.get("mul8u_17C8")
    x, f = _codes(rng, (1, 6, 6, 2), False), _codes(rng, (2, 2, 2, 3), False)
    graph = tf.Graph()
    with graph.as_default():
        inp = tf.compat.v1.placeholder(tf.uint8, [None, 6, 6, 2], name="x")
        nn.approx_conv2d(inp, tf.constant(f), m, 1, "VALID", 1, 3, 4, name="approx")
    graph_def = graph.as_graph_def()
    fresh = tf.Graph()
    with fresh.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=fresh) as sess:
            got = sess.run("approx:0", {"x:0": x})
    np.testing.assert_array_equal(got, ref.conv2d(x, f, m.table, 1, "VALID", 1, 3, 4))
    node = [n for n in graph_def.node if n.name == "approx"][0]
    assert node.attr["multiplier"].s == b"mul8u_17C8"


# --- validation ----------------------------------------------------------------------------------------------

def _x(shape=(1, 5, 5, 3), dtype=np.int8):
    return np.zeros(shape, dtype)


@pytest.mark.parametrize("call,error,match", [
    (lambda: nn.approx_conv2d(_x((5, 5, 3)), _x((3, 3, 3, 2)), "mul8s_1KV6"), tf.errors.InvalidArgumentError,
     "input must be 4-D NHWC"),
    (lambda: nn.approx_conv2d(_x(), _x((3, 3, 3)), "mul8s_1KV6"), tf.errors.InvalidArgumentError,
     "filter must be 4-D HWIO"),
    (lambda: nn.approx_conv2d(_x(), _x((3, 3, 4, 2)), "mul8s_1KV6"), tf.errors.InvalidArgumentError,
     r"filter in_channels \(4\) must equal input channels \(3\)"),
    (lambda: nn.approx_conv2d(_x(), _x((3, 3, 3, 2)), tf.zeros([256, 128], tf.int32)), ValueError,
     r"shape \[256, 256\]"),
    (lambda: nn.approx_conv2d(_x(), _x((3, 3, 3, 2)), "mul8s_1KV6", input_zero_point=200),
     ValueError, r"`input_zero_point` must hold integers in \[-128, 127\] \(int8 codes\)\. Received: "
                 r"input_zero_point=200"),
    (lambda: nn.approx_conv2d(_x(), _x((3, 3, 3, 2)), "mul8s_1KV6", filter_zero_point=[1, 2, 3]),
     tf.errors.InvalidArgumentError, "filter_zero_point must be a scalar or a vector of 2"),
    (lambda: nn.approx_conv2d(_x(), _x((3, 3, 3, 2)), "mul8s_1KV6", filter_zero_point=[0, -129]),
     ValueError, r"filter_zero_point\[1\]=-129"),
    (lambda: nn.approx_conv2d(_x(), _x((7, 7, 3, 2)), "mul8s_1KV6"), tf.errors.InvalidArgumentError,
     "must fit the input"),
    (lambda: nn.approx_conv2d(_x(), _x((3, 3, 3, 2)), "mul8s_1KV6", strides=0), ValueError,
     "`strides` must be a positive int"),
    (lambda: nn.approx_conv2d(_x(), _x((3, 3, 3, 2)), "mul8s_1KV6", padding="FULL"), ValueError,
     "`padding` must be 'SAME' or 'VALID'"),
    (lambda: nn.approx_conv2d(_x(), _x((3, 3, 3, 2)), "mul8u_1JJQ"), ValueError,
     "is unsigned but the operands are int8"),
    (lambda: nn.approx_conv2d(_x(dtype=np.uint8), _x((3, 3, 3, 2)), "mul8s_1KV6"), TypeError,
     "same code type"),
    (lambda: nn.approx_conv2d(np.zeros((1, 5, 5, 3), np.float32), _x((3, 3, 3, 2)), "mul8s_1KV6"), TypeError,
     "int8 or uint8 quantised codes"),
    (lambda: nn.approx_conv2d(_x(), _x((3, 3, 3, 2)), "mul8s_XXXX"), KeyError, "Unknown multiplier"),
    (lambda: nn.approx_depthwise_conv2d(_x(), _x((3, 3, 2, 1)), "mul8s_1KV6"), tf.errors.InvalidArgumentError,
     r"filter in_channels \(2\) must equal input channels \(3\)"),
    (lambda: nn.approx_depthwise_conv2d(_x(), _x((3, 3, 3, 1)), "mul8s_1KV6", filter_zero_point=[1, 2]),
     tf.errors.InvalidArgumentError, "vector of 3 output-channel values"),
    (lambda: nn.approx_matmul(_x((4, 5)), _x((6, 2)), "mul8s_1KV6"), tf.errors.InvalidArgumentError,
     "inner dimensions differ"),
    (lambda: nn.approx_matmul(_x((4, 5, 1)), _x((5, 2)), "mul8s_1KV6"), tf.errors.InvalidArgumentError,
     r"a must be 2-D \[N, K\]"),
    (lambda: nn.approx_matmul(_x((4, 5), np.uint8), _x((5, 2), np.uint8), "mul8u_1JJQ", a_zero_point=-1),
     ValueError, r"`a_zero_point` must hold integers in \[0, 255\] \(uint8 codes\). Received: a_zero_point=-1"),
])
def test_bad_input_is_rejected_with_a_clear_message(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_kernel_rejects_bad_table_shape_directly():
    from tfaxdnn.ops.loader import load
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"table must have shape \[256,256\], got \[256,255\]"):
        load().tfax_approx_mat_mul(_x((2, 3)), _x((3, 4)), tf.zeros([256, 255], tf.int32), 0, 0)


@pytest.mark.parametrize("za,zw,match", [
    (200, 0, r"input_zero_point must lie in \[-128, 127\] for int8 codes, got 200"),
    (0, [0, -129], r"filter_zero_point\[1\] must lie in \[-128, 127\]"),
])
def test_kernel_rejects_zero_points_outside_the_code_range_directly(za, zw, match):
    """The Python API refuses them first; a graph built by hand reaches the kernel's own check."""
    from tfaxdnn.ops.loader import load
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        load().tfax_approx_conv2d(_x(), _x((3, 3, 3, 2)), tf.zeros([256, 256], tf.int32), za, zw,
                                  strides=[1] * 4, padding="SAME")


def test_kernel_rejects_bad_strides_attr_directly():
    from tfaxdnn.ops.loader import load
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="strides"):
        load().tfax_approx_conv2d(_x(), _x((3, 3, 3, 2)), tf.zeros([256, 256], tf.int32), 0, 0,
                                  strides=[2, 1, 1, 1], padding="SAME")
