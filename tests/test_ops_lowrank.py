"""Issue 26 item 2: the low-rank matmul is bit-identical to the LUT op (and to the NumPy reference)."""

import numpy as np
import pytest

from tfaxdnn import multipliers as M
from tfaxdnn.ops import nn, reference
from tfaxdnn.ops.lowrank import lowrank_matmul

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
