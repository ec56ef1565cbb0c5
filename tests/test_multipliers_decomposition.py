"""Issue 26 item 1: exact low-rank factorisation of every bundled table's error ``T - a*w``."""

import numpy as np
import pytest

from tfaxdnn import multipliers as M
from tfaxdnn.multipliers import ErrorDecomposition, Multiplier
from tfaxdnn.multipliers.decomposition import decompose

SIGNED_RANKS = {
    0: ["1KV6", "1KV8__lite2020"],
    1: ["1KVM", "1KXF", "1L12", "1KR8", "1KTY", "1KR3"],
    2: ["1KV8", "1L2J", "1L2L", "1L2N", "1L2H", "1L2D", "1L1G", "1KVA__lite2020"],
    3: ["1KV9", "1KVP", "1KVB", "1KR6"],
    4: ["1KVA", "1KVQ", "1KX5", "1KX2", "1KRC", "1KVL"],
}


def _check_exact(m: Multiplier, dec: ErrorDecomposition):
    rebuilt = dec.reconstruct()
    assert rebuilt.dtype == np.int64 and np.array_equal(rebuilt, m.table), m.name
    assert dec.u.shape == (256, dec.rank) and dec.v.shape == (dec.rank, 256)
    assert all(isinstance(int(x), int) for x in (dec.d, dec.u_max, dec.v_max, dec.term_bound)) and dec.d >= 1
    if dec.rank:
        assert dec.u_max == max(abs(int(x)) for x in dec.u.ravel())
        assert dec.v_max == max(abs(int(x)) for x in dec.v.ravel())
        # term_bound bounds every entry of the numerator u @ v = d * E.
        assert dec.d * int(np.abs(m.error_table()).max()) <= dec.term_bound


def test_signed_ranks_match_issue_26():
    assert sorted(n for ns in SIGNED_RANKS.values() for n in ns) == sorted(n[6:] for n in M.names(signed=True))
    measured = {n[6:]: M.get(n).decomposition().rank for n in M.names(signed=True)}
    assert measured == {n: r for r, ns in SIGNED_RANKS.items() for n in ns}


def test_all_103_tables_reconstruct_exactly():
    ranks = {}
    for name in M.names():
        m = M.get(name)
        dec = m.decomposition()
        _check_exact(m, dec)
        ranks[name] = dec.rank
        assert m.decomposition() is dec  # cached by hash
    unsigned = sorted(r for n, r in ranks.items() if n.startswith("mul8u_"))
    assert (unsigned[0], unsigned[len(unsigned) // 2], unsigned[-1]) == (0, 11, 228)  # as stated in issue 26
    assert all(dec_rank == 0 for n, dec_rank in ranks.items() if M.get(n).is_exact)


def test_rank_is_true_rank_not_an_upper_bound():
    # Rank r with an integer identity E = u v / d proves rank <= r; rank >= r: some r x r minor is non-zero,
    # checked here in floating point on a small signed case and on an unsigned one of moderate rank.
    for name in ("mul8s_1KVA", "mul8u_KEM"):
        m = M.get(name)
        r = m.decomposition().rank
        assert np.linalg.matrix_rank(m.error_table().astype(np.float64)) == r


def test_1l2n_needs_a_denominator_and_has_small_bounds():
    dec = M.get("mul8s_1L2N").decomposition()
    assert dec.rank == 2 and dec.d > 1
    assert dec.u_max <= 2 ** 10 and dec.v_max < 2 ** 7 and dec.term_bound < 2 ** 18
    assert dec.u.dtype == np.int64 and dec.v.dtype == np.int64
    assert not dec.u.flags.writeable and not dec.v.flags.writeable


def test_user_tables_random_low_rank_and_full_rank():
    rng = np.random.default_rng(0)
    exact = M.exact(True).table
    # A random rank-3 integer error on top of the exact signed product.
    E = rng.integers(-20, 21, (256, 3)) @ rng.integers(-30, 31, (3, 256))
    m = Multiplier(name="rk3", signed=True, table=exact + E)
    dec = m.decomposition()
    assert dec.rank == 3
    _check_exact(m, dec)
    # Full-rank error (random noise): rank 256, still exact.
    noise = rng.integers(-3, 4, (256, 256))
    m2 = Multiplier(name="noise", signed=True, table=exact + noise)
    dec2 = m2.decomposition()
    assert dec2.rank == 256
    _check_exact(m2, dec2)


def test_zero_error_is_rank_0_and_result_is_frozen():
    dec = decompose(np.zeros((256, 256), np.int64), signed=True)
    assert dec.rank == 0 and dec.d == 1 and np.array_equal(dec.reconstruct(), M.exact(True).table)
    with pytest.raises(dataclasses_frozen_error()):
        dec.rank = 1


def dataclasses_frozen_error():
    import dataclasses
    return dataclasses.FrozenInstanceError
