"""Issue 26 item 2: the low-rank matmul and convolutions are bit-identical to the LUT op (and to the NumPy
reference), in float32 chunks where the bounds allow and in float64 elsewhere."""

import numpy as np
import pytest

from tfaxdnn import multipliers as M
from tfaxdnn.ops import nn, reference
from tfaxdnn.ops.lowrank import lowrank_conv2d, lowrank_depthwise_conv2d, lowrank_matmul
from tfaxdnn.ops.lowrank_form import F32_EXACT, chunks, form_of, gemm_precision

CASES = [("mul8s_1L2N", 0), ("mul8s_1KVA", 1), ("mul8s_1KR3", 2), ("mul8s_1KV6", 3), ("mul8u_KEM", 4),
         ("mul8u_NGR", 5), ("mul8u_185Q", 6), ("mul8u_1JJQ", 7)]


@pytest.mark.parametrize("name,seed", CASES)
def test_lowrank_matmul_bit_identical_to_lut_op(name, seed):
    m = M.get(name)
    rng = np.random.default_rng(seed)
    dtype, lo, hi = (np.int8, -128, 128) if m.signed else (np.uint8, 0, 256)
    n, k, o = rng.integers(1, 9), rng.integers(1, 300), rng.integers(1, 9)
    a = rng.integers(lo, hi, (n, k)).astype(dtype)
    b = rng.integers(lo, hi, (k, o)).astype(dtype)
    za = int(rng.integers(lo, hi))
    zb = rng.integers(lo, hi, o) if seed % 2 else int(rng.integers(lo, hi))
    got = np.asarray(lowrank_matmul(a, b, m, za, zb))
    want = nn.approx_matmul(a, b, m, a_zero_point=za, b_zero_point=zb).numpy()
    assert got.dtype == np.int32 and np.array_equal(got, want), name
    np.testing.assert_array_equal(got, reference.matmul(a, b, m.table, za, zb))


def test_extreme_operands_and_k_chunking():
    # All-extreme codes maximise every partial sum; 185Q's term bound (~2**44) forces K-chunks of a few hundred.
    m = M.get("mul8u_185Q")
    assert (2 ** 53 - 1) // m.decomposition().term_bound < 1200
    rng = np.random.default_rng(9)
    a = rng.choice(np.array([0, 255], np.uint8), (3, 1200))
    b = rng.choice(np.array([0, 255], np.uint8), (1200, 2))
    got = np.asarray(lowrank_matmul(a, b, m, 7, 250))
    np.testing.assert_array_equal(got, nn.approx_matmul(a, b, m, a_zero_point=7, b_zero_point=250).numpy())


def test_rejects_tables_without_an_exact_float64_form_and_mixed_codes():
    a, b = np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8)
    assert M.get("mul8u_GJM").decomposition().term_bound >= 2 ** 53
    with pytest.raises(ValueError, match="2\\*\\*53"):
        lowrank_matmul(a, b, "mul8u_GJM")
    with pytest.raises(TypeError, match="must both be int8 or both uint8"):
        lowrank_matmul(a, b.astype(np.int8), "mul8s_1L2N")


def test_sums_outside_int32_are_refused_like_the_lut_op():
    k = 140_000                                   # 140,000 * (-128 * -128) = 2,293,760,000 > 2**31 - 1
    a = np.full((1, k), -128, dtype=np.int8)
    b = np.full((k, 1), -128, dtype=np.int8)
    with pytest.raises(Exception, match="int32"):
        nn.approx_matmul(a, b, "mul8s_1KV6")
    with pytest.raises(ValueError, match="do not fit int32"):
        lowrank_matmul(a, b, "mul8s_1KV6")
    half = k // 2                                 # 1,146,880,000 fits: both give it
    np.testing.assert_array_equal(lowrank_matmul(a[:, :half], b[:half], "mul8s_1KV6"),
                                  nn.approx_matmul(a[:, :half], b[:half], "mul8s_1KV6").numpy())


# -- convolutions: lowrank_conv2d / lowrank_depthwise_conv2d against the LUT ops ----------------------------------

CONV_CASES = [("mul8s_1L2N", 10), ("mul8s_1KVA", 11), ("mul8s_1KR3", 12), ("mul8s_1KV6", 13), ("mul8u_KEM", 14),
              ("mul8u_NGR", 15)]
#: (strides, dilations, padding): strides 1 and 2, dilation 2, both paddings, mixed per-axis values
GEOMETRIES = [(1, 1, "SAME"), (2, 1, "SAME"), (1, 2, "VALID"), (2, 1, "VALID"), (1, 2, "SAME"),
              ((2, 1), (1, 2), "SAME")]


@pytest.mark.parametrize("name,seed", CONV_CASES)
def test_lowrank_convolutions_bit_identical_to_lut_ops(name, seed):
    m = M.get(name)
    rng = np.random.default_rng(seed)
    dtype, lo, hi = (np.int8, -128, 128) if m.signed else (np.uint8, 0, 256)
    for i, (s, d, padding) in enumerate(GEOMETRIES):
        n, h, w, c = int(rng.integers(1, 3)), int(rng.choice([5, 7, 9])), int(rng.choice([5, 7, 11])), \
            int(rng.integers(1, 6))
        kh, kw, o, mult = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 5)), \
            int(rng.integers(1, 3))
        x = rng.integers(lo, hi, (n, h, w, c)).astype(dtype)
        f = rng.integers(lo, hi, (kh, kw, c, o)).astype(dtype)
        fd = rng.integers(lo, hi, (kh, kw, c, mult)).astype(dtype)
        za = int(rng.integers(lo, hi))  # non-zero input zero points: SAME padding holds T[z_a, w] products
        per_channel = i % 2 == 1
        zw = rng.integers(lo, hi, o) if per_channel else int(rng.integers(lo, hi))
        zwd = rng.integers(lo, hi, c * mult) if per_channel else int(rng.integers(lo, hi))
        args = (s, padding, d)
        got = np.asarray(lowrank_conv2d(x, f, m, *args, input_zero_point=za, filter_zero_point=zw))
        want = nn.approx_conv2d(x, f, m, *args, input_zero_point=za, filter_zero_point=zw).numpy()
        assert got.dtype == np.int32 and np.array_equal(got, want), (name, x.shape, f.shape, args, za)
        got = np.asarray(lowrank_depthwise_conv2d(x, fd, m, *args, input_zero_point=za, filter_zero_point=zwd))
        want = nn.approx_depthwise_conv2d(x, fd, m, *args, input_zero_point=za, filter_zero_point=zwd).numpy()
        assert got.dtype == np.int32 and np.array_equal(got, want), (name, x.shape, fd.shape, args, za)


def test_lowrank_conv2d_matches_the_reference_with_padding_of_the_zero_point():
    # A zero-padded float convolution would differ here: the padded taps must contribute T[z_a, w].
    m = M.get("mul8s_1L2N")
    rng = np.random.default_rng(16)
    x = rng.integers(-128, 128, (1, 3, 4, 2)).astype(np.int8)
    f = rng.integers(-128, 128, (3, 3, 2, 3)).astype(np.int8)
    got = np.asarray(lowrank_conv2d(x, f, m, 1, "SAME", 1, 57, [3, -4, 5]))
    np.testing.assert_array_equal(got, reference.conv2d(x, f, m.table, 1, "SAME", 1, 57, np.array([3, -4, 5])))


def test_lowrank_conv2d_chunks_input_channels():
    # 185Q's term bound (~2**44) allows 72 channels of a 3x3 kernel per exact chunk: 80 channels take two.
    m = M.get("mul8u_185Q")
    assert (2 ** 53 - 1) // (9 * m.decomposition().term_bound) < 80
    rng = np.random.default_rng(17)
    x = rng.choice(np.array([0, 255], np.uint8), (1, 3, 4, 80))
    f = rng.choice(np.array([0, 255], np.uint8), (3, 3, 80, 2))
    got = np.asarray(lowrank_conv2d(x, f, m, 1, "SAME", 1, 255, [0, 250]))
    want = nn.approx_conv2d(x, f, m, 1, "SAME", 1, 255, [0, 250]).numpy()
    np.testing.assert_array_equal(got, want)
    fd = f[..., :1]
    got = np.asarray(lowrank_depthwise_conv2d(x, fd, m, 2, "SAME", 1, 3, 200))
    np.testing.assert_array_equal(got, nn.approx_depthwise_conv2d(x, fd, m, 2, "SAME", 1, 3, 200).numpy())


def test_lowrank_convolutions_refuse_what_cannot_be_exact():
    x, f = np.zeros((1, 4, 4, 2), np.uint8), np.zeros((3, 3, 2, 1), np.uint8)
    with pytest.raises(ValueError, match="2\\*\\*53"):
        lowrank_conv2d(x, f, "mul8u_GJM")             # term bound >= 2**53: not even one tap is exact
    with pytest.raises(ValueError, match="exceed int64"):
        lowrank_depthwise_conv2d(x, f, "mul8u_GJM")   # factors beyond int64
    for op in (lowrank_conv2d, lowrank_depthwise_conv2d):
        with pytest.raises(TypeError, match="both be int8 or both uint8"):
            op(x, f.astype(np.int8), "mul8s_1L2N")
    k = 140_000                                    # K * (-128 * -128) > 2**31 - 1: refused like the LUT op
    x, f = np.full((1, 1, 1, k), -128, np.int8), np.full((1, 1, k, 1), -128, np.int8)
    with pytest.raises(ValueError, match="do not fit int32"):
        lowrank_conv2d(x, f, "mul8s_1KV6")


def test_large_kernels_of_a_large_term_bound_are_exact():
    # 676 taps of one channel times 185Q's term bound (~2**44) reach 2**53: the GEMM takes chunks of fewer taps
    # (float64), the depthwise form int64 multiply-adds; both equal the LUT ops.
    m = M.get("mul8u_185Q")
    rng = np.random.default_rng(18)
    x = rng.choice(np.array([0, 255], np.uint8), (1, 26, 26, 2))
    f = rng.choice(np.array([0, 255], np.uint8), (26, 26, 2, 1))
    np.testing.assert_array_equal(np.asarray(lowrank_conv2d(x, f, m, 1, "VALID", 1, 250, 5)),
                                  nn.approx_conv2d(x, f, m, 1, "VALID", 1, 250, 5).numpy())
    np.testing.assert_array_equal(np.asarray(lowrank_depthwise_conv2d(x, f, m, 1, "VALID", 1, 250, [5, 9])),
                                  nn.approx_depthwise_conv2d(x, f, m, 1, "VALID", 1, 250, [5, 9]).numpy())


# -- exactness bounds: float32 chunks, float64 where needed ------------------------------------------------------

def test_precision_choice_follows_the_bounds():
    assert gemm_precision(form_of(M.get("mul8s_1L2J")), 576) == "float32"
    assert gemm_precision(form_of(M.get("mul8s_1L2J")), 576, "float64") == "float64"
    assert gemm_precision(form_of(M.get("mul8u_185Q")), 9) == "float64"      # term bound > 2**24
    assert gemm_precision(form_of(M.get("mul8s_1KV6")), 40_000) == "float64"  # int32 accumulators could overflow
    with pytest.raises(ValueError, match="no exact float32 form"):
        gemm_precision(form_of(M.get("mul8u_185Q")), 9, "float32")
    with pytest.raises(ValueError, match="precision"):
        gemm_precision(form_of(M.get("mul8s_1L2J")), 9, "half")


@pytest.mark.parametrize("name", ["mul8s_1L2N", "mul8s_1L2J", "mul8s_1KVA", "mul8s_1KV6", "mul8u_KEM"])
def test_float32_chunks_are_exact_at_the_bound(name):
    # Extreme codes and zero points drive every partial sum towards the chunk bound; K spans several float32
    # chunks of the exact part (514 signed / 258 unsigned taps) and of the low-rank part (1L2N: 73 taps, d = 16).
    m = M.get(name)
    f = form_of(m)
    lo, hi, dtype = (-128, 127, np.int8) if m.signed else (0, 255, np.uint8)
    rng = np.random.default_rng(19)
    k = 1100
    a = rng.choice(np.array([lo, hi], dtype), (4, k))
    b = rng.choice(np.array([lo, hi], dtype), (k, 3))
    zb = np.array([hi, lo, hi])
    assert gemm_precision(f, k) == "float32" and chunks(k, f.tap_bound, F32_EXACT)[0] >= 2
    want = nn.approx_matmul(a, b, m, a_zero_point=lo, b_zero_point=zb).numpy()
    for precision in ("float32", "float64"):
        np.testing.assert_array_equal(np.asarray(lowrank_matmul(a, b, m, lo, zb, precision=precision)), want)
    x = rng.choice(np.array([lo, hi], dtype), (1, 4, 5, 64))
    w = rng.choice(np.array([lo, hi], dtype), (3, 3, 64, 2))      # 576 taps: two float32 chunks at least
    want = nn.approx_conv2d(x, w, m, 1, "SAME", 1, hi, lo).numpy()
    for precision in ("float32", "float64"):
        got = lowrank_conv2d(x, w, m, 1, "SAME", 1, hi, lo, precision=precision)
        np.testing.assert_array_equal(np.asarray(got), want)


def test_zero_points_are_checked():
    a, b = np.zeros((2, 3), np.int8), np.zeros((3, 2), np.int8)
    with pytest.raises(ValueError, match="codes in \\[-128, 127\\]"):
        lowrank_matmul(a, b, "mul8s_1L2N", 200, 0)
    with pytest.raises(ValueError, match="scalar or have 2 elements"):
        lowrank_matmul(a, b, "mul8s_1L2N", 0, [1, 2, 3])


# -- the int8 form: integer GEMMs (JAX on a GPU by default), exact on every signed table -------------------------

def test_int8_form_is_exact_on_every_signed_table():
    # Each signed table's int8 groups rebuild it exactly (v in int8, u in base-256 digits); unsigned ones have none.
    for name in M.names(signed=True):
        f = form_of(M.get(name))
        vals = np.arange(-128, 128)
        exact = np.zeros((256, 256), np.int64)
        num = np.zeros((256, 256), np.int64)
        for g in f.int8_groups:
            assert g.a_tab.dtype == np.int8 and g.w_tab.dtype == np.int8
            part = g.scale * (g.a_tab.astype(np.int64) @ g.w_tab.astype(np.int64).T)
            if g.numerator:
                num += part
            else:
                exact += part
        assert np.all(num % f.d == 0), name
        np.testing.assert_array_equal(exact + num // f.d, M.get(name).table.astype(np.int64), err_msg=name)
        assert np.abs(vals[:, None] * vals[None]).max() <= f.product_bound
    assert form_of(M.get("mul8u_KEM")).int8_groups is None
    with pytest.raises(ValueError, match="no int8 form"):
        gemm_precision(form_of(M.get("mul8u_KEM")), 9, "int8")
    with pytest.raises(ValueError, match="no int8 form"):
        gemm_precision(form_of(M.get("mul8s_1KV6")), 140_000, "int8")


@pytest.mark.parametrize("name,seed", [("mul8s_1L2N", 30), ("mul8s_1L2J", 31), ("mul8s_1KVA", 32),
                                       ("mul8s_1KVM", 33), ("mul8s_1KV6", 34)])
def test_int8_form_bit_identical_to_lut_ops(name, seed):
    # Zero points (per channel too), strides, dilation and both paddings; the weight zero point leaves the exact
    # part as -z_w * sum(a), the d > 1 numerators are divided per chunk (1L2N: 2 digit levels).
    m = M.get(name)
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (5, 300)).astype(np.int8)
    b = rng.integers(-128, 128, (300, 4)).astype(np.int8)
    zb = rng.integers(-128, 128, 4)
    got = np.asarray(lowrank_matmul(a, b, m, -77, zb, precision="int8"))
    np.testing.assert_array_equal(got, nn.approx_matmul(a, b, m, a_zero_point=-77, b_zero_point=zb).numpy())
    for i, (s, d, padding) in enumerate(GEOMETRIES):
        x = rng.integers(-128, 128, (2, 7, 9, 3)).astype(np.int8)
        f = rng.integers(-128, 128, (3, 2, 3, 4)).astype(np.int8)
        za, zw = int(rng.integers(-128, 128)), (rng.integers(-128, 128, 4) if i % 2 else int(rng.integers(-128, 128)))
        got = np.asarray(lowrank_conv2d(x, f, m, s, padding, d, za, zw, precision="int8"))
        want = nn.approx_conv2d(x, f, m, s, padding, d, za, zw).numpy()
        assert got.dtype == np.int32 and np.array_equal(got, want), (name, s, d, padding)


def test_int8_numerators_are_chunked_where_they_could_wrap():
    # 1L2N's numerator bound per tap (~2.9e5) allows ~7,300 taps per int32 chunk: 9,000 taps of extreme codes take
    # two, each divided exactly; the exact part may wrap (it agrees modulo 2**32 and the total fits int32).
    m = M.get("mul8s_1L2N")
    f = form_of(m)
    k = 9000
    bound = sum(g.tap_bound for g in f.int8_groups if g.numerator)
    assert chunks(k, bound, 2 ** 31 - 1)[0] == 2
    rng = np.random.default_rng(35)
    a = rng.choice(np.array([-128, 127], np.int8), (3, k))
    b = rng.choice(np.array([-128, 127], np.int8), (k, 2))
    got = np.asarray(lowrank_matmul(a, b, m, 0, 0, precision="int8"))
    np.testing.assert_array_equal(got, nn.approx_matmul(a, b, m).numpy())


def test_int8_form_is_opt_in(monkeypatch):
    # float32 GEMMs by default everywhere; TFAXDNN_LOWRANK_GEMM=int8 makes "auto" take the int8 form.
    from tfaxdnn.ops import backend
    f = form_of(M.get("mul8s_1L2J"))
    monkeypatch.delenv("TFAXDNN_LOWRANK_GEMM", raising=False)
    assert gemm_precision(f, 576) == "float32"
    monkeypatch.setenv("TFAXDNN_LOWRANK_GEMM", "int8")
    assert gemm_precision(f, 576) == "int8" and gemm_precision(form_of(M.get("mul8u_KEM")), 9) == "float32"
    monkeypatch.setenv("TFAXDNN_LOWRANK_GEMM", "fast")
    with pytest.raises(ValueError, match="TFAXDNN_LOWRANK_GEMM must be"):
        backend.prefers_int8_gemm()


def test_bfloat16_form_needs_jax_and_a_signed_table(monkeypatch):
    # bfloat16 convolutions return bfloat16 sums on TensorFlow: refused there, with what to use instead (the form
    # itself is checked under JAX in test_backend_jax); "auto" takes it only on JAX on a GPU or when asked for.
    f = form_of(M.get("mul8s_1L2J"))
    monkeypatch.delenv("TFAXDNN_LOWRANK_GEMM", raising=False)
    with pytest.raises(ValueError, match="bfloat16 form needs JAX.*precision='float32'"):
        gemm_precision(f, 576, "bfloat16")
    with pytest.raises(ValueError, match="no bfloat16 form"):
        gemm_precision(form_of(M.get("mul8u_KEM")), 9, "bfloat16")
    with pytest.raises(ValueError, match="overflow int32"):
        gemm_precision(form_of(M.get("mul8s_1KV6")), 140_000, "bfloat16")
    assert gemm_precision(f, 576) == "float32"
    monkeypatch.setenv("TFAXDNN_LOWRANK_GEMM", "bfloat16")
    with pytest.raises(ValueError, match="bfloat16 form needs JAX"):
        gemm_precision(f, 576)
    assert gemm_precision(form_of(M.get("mul8u_KEM")), 9) == "float32"   # unsigned: no such form, float32 GEMMs
    from tfaxdnn.ops.lowrank import depthwise_precision
    monkeypatch.delenv("TFAXDNN_LOWRANK_GEMM", raising=False)
    assert depthwise_precision(f, 9) == "int32"
    with pytest.raises(ValueError, match="bfloat16 form needs JAX"):
        depthwise_precision(f, 9, "bfloat16")
    with pytest.raises(ValueError, match="must be auto, bfloat16 or int"):
        depthwise_precision(f, 9, "float32")
