"""ALWANN weight mapping: the mapped codes never raise the mean absolute product error, ties keep the weight."""

import numpy as np
import pytest

from tfaxdnn import multipliers
from tfaxdnn.quant.weight_mapping import apply_mapping, code_histogram, mapping_error, mapping_table


def _mae(multiplier, weight_codes, p_a):
    """Mean over the given weight codes of Σ_a p(a)|M(a, w) − a·w_original| after mapping."""
    m = multipliers.get(multiplier)
    a = np.arange(-128, 128) if m.signed else np.arange(256)
    p = p_a / p_a.sum()
    off = 128 if m.signed else 0
    table = mapping_table(m, p_a)
    mapped = apply_mapping(weight_codes, table, m.signed)
    before = [(p * np.abs(m.table[:, w + off] - a * w)).sum() for w in weight_codes]
    after = [(p * np.abs(m.table[:, v + off] - a * w)).sum() for w, v in zip(weight_codes, mapped)]
    return np.mean(before), np.mean(after)


@pytest.mark.parametrize("name", ["mul8s_1L2N", "mul8s_1KVP", "mul8s_1L2J", "mul8u_1JFF"])
def test_mapping_never_increases_mean_absolute_error(name, rng):
    signed = multipliers.get(name).signed
    codes = np.arange(-127, 128) if signed else np.arange(256)
    for p_a in (np.ones(256), rng.gamma(0.3, size=256)):   # uniform and a skewed activation distribution
        before, after = _mae(name, codes, p_a)
        assert after <= before + 1e-9
    w = rng.integers(-127, 128, 500) if signed else rng.integers(0, 256, 500)
    before, after = _mae(name, w, np.ones(256))
    assert after <= before + 1e-9


def test_aggressive_multiplier_gains_and_exact_is_identity():
    before, after = _mae("mul8s_1L2N", np.arange(-127, 128), np.ones(256))
    assert after < 0.9 * before
    exact = mapping_table("mul8s_1KV6")
    np.testing.assert_array_equal(exact, np.arange(-128, 128))


def test_signed_map_avoids_minus_128_and_is_a_minimiser():
    table = mapping_table("mul8s_1L2N")
    assert table.min() >= -127 or table[0] == -128   # only code -128 itself may stay -128
    err = mapping_error("mul8s_1L2N")
    chosen = err[table + 128, np.arange(256)]
    assert np.all(chosen[1:] <= err[1:, 1:].min(axis=0) + 1e-9)


def test_histogram_and_bad_inputs():
    np.testing.assert_array_equal(code_histogram(np.array([-128, 0, 0, 127]), True)[[0, 128, 255]], [1, 2, 1])
    with pytest.raises(ValueError, match="out of range for uint8"):
        code_histogram(np.array([-1]), False)
    with pytest.raises(ValueError, match=r"shape \(256,\)"):
        mapping_table("mul8s_1L2N", np.ones(10))
    with pytest.raises(ValueError, match="non-negative"):
        mapping_table("mul8s_1L2N", -np.ones(256))


def test_mapping_accounts_for_the_activation_zero_point():
    """With an asymmetric input grid the accumulator's exact `z_a·Σw` term moves with the re-coded weight: the
    z_a-aware table minimises the error that the layer really makes."""
    from tfaxdnn import multipliers
    from tfaxdnn.quant.weight_mapping import mapping_error, mapping_table

    m = multipliers.get("mul8u_17C8")
    z_a = 128
    err = mapping_error(m, activation_zero_point=z_a)           # [v, w]
    cols = np.arange(256)
    aware, plain = mapping_table(m, activation_zero_point=z_a), mapping_table(m)
    e_aware, e_plain = err[aware, cols].mean(), err[plain, cols].mean()
    assert e_aware < e_plain < err[cols, cols].mean()          # 312.6 < 351.7 < 370.0 for this circuit
    np.testing.assert_array_equal(mapping_table(m, activation_zero_point=0), plain)
