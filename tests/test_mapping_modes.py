"""Reconfigurable multipliers, per-weight mode selection and the composite table (bit-exact per product)."""

import keras
import numpy as np
import pytest

from tfaxdnn import Plan, approximate
from tfaxdnn import multipliers as M
from tfaxdnn.multipliers.mode_selection import check_fractions, select_modes
from tfaxdnn.multipliers import Reconfigurable


def _per_product_matmul(a, w, recon, mode):
    """Independent reference: every product through the table of its weight's mode."""
    stack = np.stack([m.table for m in recon.modes]).astype(np.int64)  # [modes, a, w]
    return stack[mode[None, :, :], a[:, :, None].astype(np.int64) + 128, w[None].astype(np.int64) + 128].sum(1)


def test_presets_are_documented_evoapprox_circuits():
    r = M.get("recon_evo")
    assert isinstance(r, Reconfigurable) and isinstance(r, M.Multiplier)
    assert [m.name for m in r.modes] == ["mul8s_1KV6", "mul8s_1L2J", "mul8s_1L2N"]
    assert r.mode_powers_mw == (0.425, 0.301, 0.126)
    assert r.modes[0].is_exact and r.modes[1].mae_percent < r.modes[2].mae_percent
    assert np.array_equal(r.table, r.modes[0].table) and r.power_mw == 0.425
    assert r.hash != r.modes[0].hash  # the hash covers every mode
    assert M.lookup("recon_mild").modes[2].name == "mul8s_1L2L"


def test_user_modes_register_and_clear_errors():
    exact = M.exact_table(True)
    r = Reconfigurable("my_recon_t1", modes=["mul8s_1KV6", {"table": exact // 2 * 2, "power_mw": 0.2}])
    assert M.lookup(r) is r and M.get("my_recon_t1") is r and r.n_modes == 2
    with pytest.raises(ValueError, match=r"shape \[256, 256\], got \[255, 256\]"):
        Reconfigurable("bad1", modes=["mul8s_1KV6", {"table": exact[:255], "power_mw": 0.1}])
    with pytest.raises(ValueError, match="no power figure"):
        Reconfigurable("bad2", modes=["mul8s_1KV6", {"table": exact}])
    with pytest.raises(ValueError, match="at least two modes"):
        Reconfigurable("bad3", modes=["mul8s_1KV6"])
    with pytest.raises(ValueError, match="signedness"):
        Reconfigurable("bad4", modes=["mul8s_1KV6", "mul8u_1JJQ"])
    other = Reconfigurable("my_recon_t1", modes=["mul8s_1KV6", "mul8s_1L2N"])
    with pytest.raises(ValueError, match="registered already"):
        M.register(other)


def test_selection_is_nested_code_ranges_around_the_median(rng):
    codes = np.clip(np.round(rng.normal(4, 20, 3000)), -127, 127).astype(int)
    sel = select_modes(codes, (0.3, 0.4))
    (lo1, hi1), (lo2, hi2) = sel.ranges
    assert lo1 <= lo2 <= sel.median <= hi2 <= hi1
    modes = sel.modes_of(codes)
    assert np.array_equal(modes == 2, (codes >= lo2) & (codes <= hi2))  # comparators select the mode
    assert np.array_equal(modes == 1, (codes >= lo1) & (codes <= hi1) & ~((codes >= lo2) & (codes <= hi2)))
    assert np.allclose(sel.fractions, [0.3, 0.3, 0.4], atol=0.03)
    assert select_modes(codes, (0.0, 1.0)).counts.tolist() == [0, 0, 3000]
    assert select_modes(codes, (0.0, 0.0)).ranges == (None, None)


def test_selection_hand_example():
    # median 0.5; ranking 0, 1, -1, 2, ...; targets 3 (M2) and 5 (M1+M2) weights of 8.
    sel = select_modes([0, 1, 2, -1, 5, 0, -3, 10], (0.25, 0.375))
    assert sel.ranges == ((-1, 2), (0, 1)) and sel.counts.tolist() == [3, 2, 3]


@pytest.mark.parametrize("fractions, match", [((0.7, 0.5), "sum to at most 1"), ((-0.1, 0.2), r"in \[0, 1\]"),
                                              ((), "one fraction per approximate mode")])
def test_bad_fractions(fractions, match):
    with pytest.raises(ValueError, match=match):
        check_fractions(fractions)


def test_composite_table_matches_products_mode_by_mode(rng):
    """The LUT op with one composite table == every product through its own mode's table (bit-exact)."""
    from tfaxdnn.ops import nn
    r = M.get("recon_evo")
    a = rng.integers(-128, 128, (7, 40)).astype(np.int8)
    w = rng.integers(-127, 128, (40, 9)).astype(np.int8)
    sel = select_modes(w, (0.35, 0.4))
    table = r.composite(sel.mode_of_code)
    got = nn.approx_matmul(a, w, table).numpy()
    want = _per_product_matmul(a, w, r, sel.modes_of(w))
    assert np.array_equal(got, want)
    assert len(np.unique(sel.modes_of(w))) == 3


def _dense_model(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((12,))
    h = keras.layers.Dense(16, activation="relu", name="d1")(inp)
    return keras.Model(inp, keras.layers.Dense(5, name="d2")(h))


def test_approximate_with_mode_fractions_bit_exact_and_serialisable(rng, tmp_path):
    model = _dense_model()
    x = rng.normal(size=(30, 12)).astype("float32")
    plan = Plan({"d1": {"multiplier": "recon_evo", "mode_fractions": (0.3, 0.5)}, "d2": "recon_evo"})
    assert Plan.from_json(plan.to_json()) == plan
    ax = approximate(model, plan, calibration_data=x)
    layer = ax.get_layer("d1")

    r = M.get("recon_evo")
    w = layer.weight_codes()
    s_a = float(layer.ax_input_scale.numpy())
    a = np.clip(np.round(x / s_a), -128, 127).astype(np.int8)
    acc = _per_product_matmul(a, w, r, select_modes(w, (0.3, 0.5)).modes_of(w))
    want = np.maximum(acc * (s_a * layer.ax_kernel_scale.numpy()) + layer.bias.numpy(), 0)
    probe = keras.Model(ax.inputs, layer.output)
    np.testing.assert_allclose(probe.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    # d2 without fractions: every weight in M0 (exact)
    assert np.array_equal(ax.get_layer("d2").ax_table.numpy(), M.exact_table(True))
    path = tmp_path / "m.keras"
    ax.save(path)
    loaded = keras.models.load_model(path)
    assert np.array_equal(loaded.predict(x, verbose=0), ax.predict(x, verbose=0))
    assert loaded.get_layer("d1").multiplier_name == "recon_evo:d1"


def test_plan_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"Layer 'd1'.*sum to at most 1.*v1=0.7, v2=0.5"):
        Plan({"d1": {"multiplier": "recon_evo", "mode_fractions": (0.7, 0.5)}})
    with pytest.raises(ValueError, match="Layer 'd1'.*needs a reconfigurable multiplier.*'mul8s_1L2N' has a single"):
        Plan({"d1": {"multiplier": "mul8s_1L2N", "mode_fractions": (0.1, 0.1)}})
    with pytest.raises(ValueError, match="3 modes, so 2 fractions"):
        Plan({"d1": {"multiplier": "recon_evo", "mode_fractions": (0.1,)}})
    with pytest.raises(ValueError, match="cannot be combined with a weight mapping"):
        Plan({"d1": {"multiplier": "recon_evo", "mode_fractions": (0.1, 0.1), "weight_mapping": "uniform"}})
    plan = Plan({"d1": {"mode_fractions": (0.2, 0.2)}}, default_multiplier="recon_mild")
    assert plan.match(["d1", "d2"])["d1"].mode_fractions == (0.2, 0.2)


def test_tfmot_models_refuse_reconfigurable_plans():
    tf_keras = pytest.importorskip("tf_keras")
    tfmot = pytest.importorskip("tensorflow_model_optimization")
    inp = tf_keras.Input((6,))
    q = tfmot.quantization.keras.quantize_model(tf_keras.Model(inp, tf_keras.layers.Dense(3, name="fc")(inp)))
    with pytest.raises(ValueError, match=r"Keras 3 models only.*\['fc'\]"):
        approximate(q, Plan({"fc": {"multiplier": "recon_evo", "mode_fractions": (0.1, 0.2)}}))
