"""Layers that multiply but cannot be approximated (issue 27, item 3): priced as exact 8-bit MACs, flagged, warned.

Hand-computed GEMMs (per sample, batch 1): ``groups`` GEMMs of ``(f x k) @ (k x o)``, MACs = ``f * k * groups * o``.
"""

import warnings

import keras
import numpy as np
import pytest

from tfaxdnn import hardware, multipliers
from tfaxdnn.hardware import Accelerator, estimate

#: layer (report row) -> MACs, computed by hand for `mixed_model`
HAND_MACS = {
    "sep1/depthwise": 10 * 10 * 9 * 4 * 2,   # 3x3 valid on 12x12x4, depth_multiplier 2: f=100, k=9, 4 groups of o=2
    "sep1/pointwise": 10 * 10 * 8 * 8,       # 1x1: k = 4*2 = 8, o = 8 filters
    "sep2/depthwise": 10 * 10 * 9 * 8,       # 'same' on 10x10x8: f=100, k=9, 8 groups of o=1
    "sep2/pointwise": 10 * 10 * 8 * 6,       # k = 8, o = 6
    "grp": 8 * 8 * (3 * 3 * 3) * 6,          # Conv2D groups=2 on 10x10x6: f=64, k=9*3=27, 2 groups of o=3
    "tconv": 8 * 8 * 6 * (2 * 2 * 3),        # Conv2DTranspose 2x2 stride 2 on 8x8x6: f=64 inputs, k=6, o=4 taps*3
    "c1d": 62 * (3 * 6) * 4,                 # Conv1D k=3 on 64x6: f=62, k=18, o=4
    "dw1d": 60 * 3 * 4,                      # DepthwiseConv1D k=3 on 62x4: f=60, 4 groups of k=3, o=1
    "sep1d/depthwise": 58 * 3 * 4,           # SeparableConv1D k=3 on 60x4: f=58, 4 groups of k=3
    "sep1d/pointwise": 58 * 4 * 5,           # k = 4, o = 5
    "fc": (58 * 5 + 3) * 10,                 # Dense on the 290 + 3 concatenated features
}
NOT_APPROXIMABLE = ("sep1", "sep2", "grp", "tconv", "c1d", "dw1d", "sep1d")


def mixed_model():
    L = keras.layers
    inp = keras.Input((12, 12, 4))
    x = L.SeparableConv2D(8, 3, depth_multiplier=2, name="sep1")(inp)
    x = L.SeparableConv2D(6, 3, padding="same", name="sep2")(x)
    x = L.Conv2D(6, 3, groups=2, name="grp")(x)
    t = L.GlobalAveragePooling2D(name="gap")(L.Conv2DTranspose(3, 2, strides=2, name="tconv")(x))
    s = L.Reshape((64, 6), name="seq")(x)
    s = L.SeparableConv1D(5, 3, name="sep1d")(L.DepthwiseConv1D(3, name="dw1d")(L.Conv1D(4, 3, name="c1d")(s)))
    z = L.Concatenate(name="cat")([L.Flatten(name="flat")(s), t])
    return keras.Model(inp, L.Dense(10, name="fc")(z))


@pytest.fixture(scope="module")
def model():
    return mixed_model()


def _estimate(*args, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = estimate(*args, **kw)
    return report, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def test_not_approximable_layers_are_priced_with_hand_computed_macs(model):
    report, _ = _estimate(model, {"default_multiplier": "mul8s_1L2N"}, Accelerator.paper())
    assert {r.name: r.macs for r in report.layers} == HAND_MACS
    assert report.macs == sum(HAND_MACS.values())
    for r in report.layers:
        assert r.active_macs == r.macs and r.energy_multiplier_j > 0 and r.energy_sram_j > 0
        assert r.approximable == (r.name == "fc")
        assert r.multiplier == ("mul8s_1L2N" if r.name == "fc" else "exact")   # the plan's default does not reach them


def test_estimate_warns_once_naming_every_not_approximable_layer(model):
    _, messages = _estimate(model, {"default_multiplier": "mul8s_1L2N"}, Accelerator.paper())
    hits = [m for m in messages if "cannot be approximated" in m]
    assert len(hits) == 1, messages
    for name in NOT_APPROXIMABLE:
        assert f"'{name}'" in hits[0]
    assert "'fc'" not in hits[0] and "exact 8-bit" in hits[0]


def test_exact_reference_and_reductions_include_them(model):
    acc = Accelerator.paper()
    report, _ = _estimate(model, {"default_multiplier": "mul8s_1L2N"}, acc)
    e_exact = hardware.multiplier_energy_j(None, acc) + acc.accumulator_energy_j
    e_l2n = hardware.mac_energy_j(multipliers.get("mul8s_1L2N"), acc)
    total, fc = sum(HAND_MACS.values()), HAND_MACS["fc"]
    assert report.exact_totals["compute"] == pytest.approx(total * e_exact)
    assert report.energy("compute") == pytest.approx((total - fc) * e_exact + fc * e_l2n)
    assert report.reduction("compute") == pytest.approx(total * e_exact / ((total - fc) * e_exact + fc * e_l2n))
    exact_rows = {r.name: r for r in _estimate(model, None, acc)[0].layers}
    for r in report.layers:   # not-approximable rows cost the same in both reports
        if not r.approximable:
            assert r.energy_j == pytest.approx(exact_rows[r.name].energy_j)
    assert "not approximable" in str(report) and "priced as exact" in str(report)


def test_shapes_path_prices_the_same(model):
    plan = {"default_multiplier": "mul8s_1L2N"}
    direct, _ = _estimate(model, plan, Accelerator.paper())
    via_shapes, _ = _estimate(None, plan, Accelerator.paper(), shapes=hardware.model_shapes(model))
    assert via_shapes.macs == sum(HAND_MACS.values())
    assert via_shapes.energy_j == pytest.approx(direct.energy_j)
    assert via_shapes.exact_energy_j == pytest.approx(direct.exact_energy_j)


def test_a_plan_cannot_approximate_a_not_approximable_layer(model):
    with pytest.raises(ValueError, match="'grp'.*grouped"):
        estimate(model, {"layers": {"grp": "mul8s_1L2N"}})
    with pytest.raises(ValueError, match="'sep1'.*SeparableConv2D"):
        estimate(model, {"layers": {"sep1": "mul8s_1L2N"}})


def test_layers_without_a_gemm_shape_are_an_error_or_a_named_exclusion():
    inp = keras.Input((6, 8))
    x = keras.layers.MultiHeadAttention(2, 4, name="mha")(inp, inp)
    model = keras.Model(inp, keras.layers.Dense(3, name="fc")(x))
    with pytest.raises(ValueError, match="'mha'.*MultiHeadAttention"):
        estimate(model)
    with pytest.raises(ValueError, match="'mha'.*MultiHeadAttention"):
        hardware.model_shapes(model)
    shapes = hardware.model_shapes(model, unpriced="exclude")
    with pytest.raises(ValueError, match="'mha'"):   # the Evaluator's path: the shapes carry the exclusion along
        estimate(None, shapes=shapes)
    assert _estimate(None, shapes=shapes, unpriced="exclude")[0].unpriced == ("mha (MultiHeadAttention)",)
    report, messages = _estimate(model, unpriced="exclude")
    assert [r.name for r in report.layers] == ["fc"]
    assert report.unpriced == ("mha (MultiHeadAttention)",)
    assert any("'mha'" in m and "NOT priced" in m for m in messages)
    assert "NOT priced" in str(report)


def test_mode_energy_prices_not_approximable_layers_as_exact(model):
    shapes = hardware.model_shapes(model)
    codes = {"fc": np.ones((293, 10), np.int64)}
    from tfaxdnn.hardware.mode_energy import estimate_modes

    rep = estimate_modes(shapes, {"layers": {"fc": "mul8s_1KV6"}}, codes, Accelerator.paper())
    assert sum(sum(r.multiplications) for r in rep.layers) == sum(HAND_MACS.values())
