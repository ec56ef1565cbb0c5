"""Energy priced mode by mode on a tiny layer, against hand-computed numbers."""

import numpy as np
import pytest

from tfaxdnn import Plan
from tfaxdnn.hardware import Accelerator, LayerShape, estimate
from tfaxdnn.hardware.mode_energy import estimate_modes, layer_modes

# A 2x2 conv, 1 -> 2 channels, on a 4x4 input (VALID): 4 weights per output, 9 output positions.
SHAPE = LayerShape("c", "conv2d", k=4, o=2, groups=1, f=9, input_elems=16, output_elems=18)
CODES = np.array([[0, 1], [2, -1], [5, 0], [-3, 10]])  # [k, outputs]; median 0.5
ACC = Accelerator(clock_period_s=2e-9, accumulator_energy_j=0.1e-12, multiplier_energy="clock")  # E = P * 2 ns
P = np.array([0.425, 0.301, 0.126]) * 1e-3  # recon_evo mode powers (W)


def test_energy_per_mode_by_hand():
    plan = Plan({"c": {"multiplier": "recon_evo", "mode_fractions": (0.25, 0.375)}})
    rep = estimate_modes([SHAPE], plan, {"c": CODES}, ACC)
    row = rep.layers[0]
    # M2 = codes {0, 1} (3 weights), M1 = {-1, 2} (2), M0 = {5, -3, 10} (3); times 9 positions
    assert row.ranges == ((-1, 2), (0, 1))
    assert row.weights == (3, 2, 3) and row.multiplications == (27, 18, 27)
    assert row.utilization == pytest.approx((27 / 72, 18 / 72, 27 / 72))
    e_mult = (27 * P[0] + 18 * P[1] + 27 * P[2]) * 2e-9           # 4.059e-11 J
    e_m0 = 72 * P[0] * 2e-9                                        # 6.12e-11 J
    assert row.energy_mult_j == pytest.approx(e_mult) and rep.m0_energy_mult_j == pytest.approx(e_m0)
    assert row.energy_mac_j == pytest.approx(e_mult + 72 * 0.1e-12)
    assert rep.gain == pytest.approx(1 - (4.059e-11 + 7.2e-12) / (6.12e-11 + 7.2e-12))  # 0.3013
    assert rep.gain_multiplier == pytest.approx(1 - 4.059e-11 / 6.12e-11)
    assert rep.utilization() == pytest.approx([27 / 72, 18 / 72, 27 / 72])


def test_skipped_outputs_and_batch():
    plan = Plan({"c": {"multiplier": "recon_evo", "mode_fractions": (0.25, 0.375), "skip_fraction": 0.5}},
                importance={"c": [1.0, 0.0]})  # output 1 skipped: only codes 0, 2, 5, -3 count
    row = estimate_modes([SHAPE], plan, {"c": CODES}, ACC, batch_size=2).layers[0]
    assert row.weights == (2, 1, 1) and row.multiplications == (36, 18, 18)


def test_static_and_unplanned_layers_are_one_mode():
    row = layer_modes(SHAPE, CODES, None, accelerator=ACC)  # not in the plan: the exact multiplier
    assert row.mode_names == ("mul8s_1KV6",) and row.multiplications == (72,)
    assert row.energy_mac_j == pytest.approx(row.m0_energy_mac_j)
    with pytest.raises(ValueError, match="Layer 'c': 6 weight codes given, the shape has 8 weights"):
        layer_modes(SHAPE, CODES.reshape(-1)[:6], None, accelerator=ACC)
    with pytest.raises(ValueError, match="weight codes are missing for layers \\['c'\\]"):
        estimate_modes([SHAPE], Plan(), {}, ACC)


def test_hardware_estimate_prices_each_mode():
    plan = Plan({"c": {"multiplier": "recon_evo", "mode_fractions": (0.25, 0.375)}})
    row = estimate(None, plan, ACC, shapes=[SHAPE], weight_codes={"c": CODES}).layers[0]
    assert row.mode_utilization == pytest.approx((3 / 8, 2 / 8, 3 / 8))
    assert row.energy_multiplier_j == pytest.approx((27 * P[0] + 18 * P[1] + 27 * P[2]) * 2e-9)  # 72 MACs
    assert row.energy_compute_j == pytest.approx(4.059e-11 + 72 * 0.1e-12)
    all_m0 = estimate(None, Plan({"c": {"multiplier": "recon_evo"}}), ACC, shapes=[SHAPE]).layers[0]
    assert all_m0.energy_multiplier_j == pytest.approx(72 * P[0] * 2e-9)
    with pytest.raises(ValueError, match="Layer 'c': pricing mode_fractions \\(0.25, 0.375\\) .* weight codes"):
        estimate(None, plan, ACC, shapes=[SHAPE])


def test_an_approximate_model_carries_its_modes(tmp_path):
    """A layer on a reconfigurable multiplier stores its composite table *and* its mode fractions, so `plan_of` names
    the registered multiplier and `estimate(model)` prices it mode by mode without the plan (before: "no power
    figure"), also after a .keras round trip."""
    import keras

    import tfaxdnn

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="c"), keras.layers.Flatten(),
                              keras.layers.Dense(3, name="d")])
    plan = Plan({"c": {"multiplier": "recon_evo", "mode_fractions": (0.25, 0.375)}})
    ax = tfaxdnn.approximate(model, plan, calibration_data=np.random.default_rng(0).random((16, 8, 8, 1), np.float32))
    path = str(tmp_path / "ax.keras")
    ax.save(path)
    for m in (ax, keras.models.load_model(path)):
        carried = tfaxdnn.plan_of(m).layers["c"]
        assert (carried.multiplier, carried.mode_fractions) == ("recon_evo", (0.25, 0.375))
        assert estimate(m).energy_j == pytest.approx(estimate(m, plan).energy_j)
