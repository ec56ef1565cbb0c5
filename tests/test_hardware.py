"""Tests of tfaxdnn.hardware: hand-computed small cases, monotonicity, plan/model contracts, errors."""

import csv
import math

import keras
import numpy as np
import pytest

from tfaxdnn import hardware, models, multipliers
from tfaxdnn.hardware import Accelerator, estimate

T = 1e-9          # 1 GHz clock in the hand-computed cases
TC = 1.5e-9       # characterisation period of the multipliers' power (energy per multiplication = P * TC)
E_ACC = 0.1e-12   # accumulator energy per MAC
E_M = 2.7e-12     # memory energy per byte
P_EXACT = 0.425e-3  # mul8s_1KV6, W
P_L2N = 0.126e-3    # mul8s_1L2N, W


def pod4(**kw):
    """A 4x4 accelerator with the hand-computation constants."""
    base = dict(pods=1, rows=4, cols=4, pod_multipliers=(None,), clock_period_s=T, accumulator_energy_j=E_ACC,
                memory_energy_j_per_byte=E_M, bank_rows=128, characterisation_period_s=TC, name="pod4")
    base.update(kw)
    return Accelerator(**base)


def dense_model(units=6, features=10):
    inp = keras.Input((features,))
    return keras.Model(inp, keras.layers.Dense(units, name="fc")(inp))


def conv_model(filters=5, hw=6, cin=2, name="conv"):
    inp = keras.Input((hw, hw, cin))
    return keras.Model(inp, keras.layers.Conv2D(filters, 3, name=name)(inp))


@pytest.fixture(scope="module")
def lenet():
    return models.lenet5()


# ------------------------------------------------------------------ hand-computed cases
def test_dense_on_4x4_pod_hand_computed():
    # K=10, O=6, F=1: tiles ceil(10/4)*ceil(6/4) = 3*2 = 6; per tile 2*4 + 4 + 1 - 2 = 11 cycles.
    row = estimate(dense_model(), accelerator=pod4())["fc"]
    assert (row.macs, row.active_macs, row.tiles, row.cycles) == (60, 60, 6, 66)
    assert row.utilization == pytest.approx(60 / (66 * 16))
    assert row.latency_s == pytest.approx(66e-9)
    assert row.energy_compute_j == pytest.approx(60 * (P_EXACT * TC + E_ACC))  # 44.25 pJ
    # bytes: weights 60 + ifmap 1*10*2 col folds = 20 + int32 psums 6*(3-1)*2*4 = 96 + outputs 6 = 182
    assert row.energy_memory_j == pytest.approx(182 * E_M)
    assert row.energy_j == pytest.approx(row.energy_compute_j + row.energy_memory_j)
    assert row.weight_bytes == 60 and row.activation_bytes == 16


def test_conv3x3_hand_computed_single_and_two_pods():
    # 6x6x2 input, 5 filters 3x3 valid: K = 18, O = 5, F = 16, MACs = 16*18*5 = 1440.
    row = estimate(conv_model(), accelerator=pod4())["conv"]
    assert (row.macs, row.tiles) == (1440, 10)              # ceil(18/4)=5 row folds * 2 col folds
    assert row.cycles == 10 * (2 * 4 + 4 + 16 - 2)           # 260
    two = estimate(conv_model(), accelerator=pod4(pods=2, pod_multipliers=(None, None)))["conv"]
    assert two.cycles == 5 * 26                              # 10 tiles over 2 pods
    assert two.energy_compute_j == pytest.approx(row.energy_compute_j)  # placement never changes MAC energy


def test_conv3x3_on_split_pod_halves():
    # One pod with mul8s_1L2N in its lower half: both exact and approximate layers get a 2x4 half.
    acc = pod4(pod_multipliers=("mul8s_1L2N",))
    exact = estimate(conv_model(), accelerator=acc)["conv"]
    approx = estimate(conv_model(), {"default_multiplier": "mul8s_1L2N"}, acc)["conv"]
    # tiles ceil(18/2)=9 * 2 = 18, per tile 2*2 + 4 + 16 - 2 = 22 cycles
    assert (exact.tiles, exact.cycles) == (18, 396)
    assert (approx.tiles, approx.cycles) == (18, 396)
    assert approx.energy_compute_j == pytest.approx(1440 * (P_L2N * TC + E_ACC))
    assert exact.energy_compute_j == pytest.approx(1440 * (P_EXACT * TC + E_ACC))
    assert approx.energy_memory_j == pytest.approx(exact.energy_memory_j)
    assert approx.multiplier == "mul8s_1L2N" and approx.matched


def test_depthwise_tiles_per_channel():
    inp = keras.Input((5, 5, 4))
    model = keras.Model(inp, keras.layers.DepthwiseConv2D(3, name="dw")(inp))
    row = estimate(model, accelerator=pod4())["dw"]
    # 4 groups of (k=9) x (o=1), F = 9: each group ceil(9/4) = 3 tiles, 19 cycles per tile
    assert (row.macs, row.tiles, row.cycles) == (4 * 9 * 9, 12, 12 * 19)


def test_paper_equations_hand_computed():
    assert hardware.paper_weight_groups(60, 16, 1) == 8                 # ceil(2*60 / 16)
    assert hardware.paper_cycles(60, 3, 16, 1) == 24                    # f_l * w_half
    assert hardware.paper_memory_accesses(8, 10, 16) == 8               # x <= m/2
    assert hardware.paper_memory_accesses(12, 10, 16) == 40             # 8 * max(10*(12/8 - 1), 1)
    assert hardware.paper_memory_accesses(60, 1, 16) == 44              # 16 * max(1*(60/16 - 1), 1)
    row = estimate(dense_model(), accelerator=pod4(), cycle_model="paper")["fc"]
    assert row.cycles == 8
    p_pod = 16 * (P_EXACT + E_ACC / T)                                  # (m/2) P_mac + (m/2) P_xmac, exact layer
    assert row.energy_compute_j == pytest.approx(8 * T * p_pod)
    assert row.energy_memory_j == pytest.approx(44 / 128 * E_M)


# ------------------------------------------------------------------ monotonicity and skipping
@pytest.mark.parametrize("cycle_model", ["ws", "paper"])
def test_more_aggressive_multiplier_never_raises_energy(lenet, cycle_model):
    energies = [estimate(lenet, {"default_multiplier": name}, Accelerator.paper(), cycle_model=cycle_model).energy_j
                for name in multipliers.PAPER_MULTIPLIERS]  # ordered by MAE, exact first
    assert all(b <= a for a, b in zip(energies, energies[1:])), energies
    assert energies[-1] < energies[0]


def test_energy_follows_power_over_all_signed_multipliers():
    shapes = hardware.model_shapes(conv_model())
    names = [n for n in multipliers.names(signed=True)]
    by_power = sorted(names, key=lambda n: multipliers.get(n).power_mw)
    acc = pod4(pod_multipliers=("mul8s_1KV8",))
    energies = [estimate(shapes=shapes, plan={"default_multiplier": n}, accelerator=acc).energy_j for n in by_power]
    assert all(b >= a - 1e-24 for a, b in zip(energies, energies[1:]))


def test_skipping_half_the_neurons_halves_active_macs(lenet):
    full = estimate(lenet)["conv2"]
    plan = {"layers": {"conv2": {"multiplier": "mul8s_1KV6", "skip_fraction": 0.5}}}
    half = estimate(lenet, plan, structured_skipping=False)
    assert half["conv2"].macs == full.macs
    assert half["conv2"].active_macs * 2 == full.active_macs
    before = estimate(lenet)
    for other in ("conv1", "conv3", "fc1"):  # per-layer skipping: the next layer's inputs are untouched
        assert half[other].active_macs == before[other].active_macs
    assert half["conv2"].energy_compute_j == pytest.approx(full.energy_compute_j / 2)
    assert half["conv2"].weight_bytes * 2 == full.weight_bytes


def test_relative_energy_and_totals(lenet):
    exact = estimate(lenet)
    assert exact.relative_energy == pytest.approx(1.0)
    approx = estimate(lenet, {"default_multiplier": "mul8s_1L2N"})
    assert 0 < approx.relative_energy < 1
    assert approx.relative_energy == pytest.approx(approx.energy_j / exact.energy_j)
    assert approx.energy_j == pytest.approx(sum(r.energy_j for r in approx.layers))
    assert approx.latency_s == pytest.approx(sum(r.latency_s for r in approx.layers))
    assert approx.memory_bytes == (sum(r.weight_bytes for r in approx.layers)
                                   + max(r.activation_bytes for r in approx.layers))
    assert [r.name for r in approx.layers] == ["conv1", "conv2", "conv3", "fc1", "fc2"]


def test_batch_scales_streamed_rows():
    one = estimate(dense_model(), accelerator=pod4())["fc"]
    four = estimate(dense_model(), accelerator=pod4(), batch_size=4)["fc"]
    assert four.macs == 4 * one.macs
    assert four.cycles == 6 * (2 * 4 + 4 + 4 - 2)


# ------------------------------------------------------------------ mapping policy
def test_mapping_policy():
    acc = Accelerator.paper()
    l2n = multipliers.get("mul8s_1L2N")
    p = hardware.place("x", l2n, acc)
    assert p.pods == (5,) and p.units == 1 and p.tile_rows == 128 and p.matched
    exact = hardware.place("x", None, acc)
    assert exact.units == 8 + 2 and exact.tile_rows == 128     # 8 upper halves + both halves of 2 exact pods
    other = hardware.place("x", multipliers.get("mul8s_1L12"), acc)
    assert not other.matched and other.pods == (0, 1, 2, 3, 4, 5)
    with pytest.raises(ValueError, match="mul8s_1L12"):
        hardware.place("x", multipliers.get("mul8s_1L12"), acc, strict=True)
    with pytest.raises(ValueError, match="no approximate pod"):
        hardware.place("x", l2n, Accelerator.single_array(8, 8))
    full = hardware.place("x", None, Accelerator.single_array(8, 8))
    assert (full.tile_rows, full.tile_cols, full.units) == (8, 8, 1)


def test_configured_for():
    acc = Accelerator.tpu_v4_like().configured_for(["mul8s_1KV6", "mul8s_1L12", "mul8s_1L2N"])
    assert acc.pod_multipliers == ("mul8s_1L12", "mul8s_1L2N", "mul8s_1L12", "mul8s_1L2N")
    with pytest.raises(ValueError, match="do not fit"):
        Accelerator(pods=1, rows=4, cols=4, pod_multipliers=("mul8s_1L2N",)).configured_for(
            ["mul8s_1L2N", "mul8s_1L2L"])


# ------------------------------------------------------------------ inputs: plans, approximate layers, errors
class FakeApproxDense(keras.layers.Dense):
    """Stands in for the approximate layers of tfaxdnn.approximate (same attribute contract)."""

    def __init__(self, *a, multiplier_name=None, kept_outputs=None, skip_fraction=0.0, **kw):
        super().__init__(*a, **kw)
        self.multiplier_name, self.kept_outputs, self.skip_fraction = multiplier_name, kept_outputs, skip_fraction


def test_approximate_layer_attributes_are_read():
    inp = keras.Input((10,))
    kept = np.array([True, False, True, False, True, False])
    out = FakeApproxDense(6, name="fc", multiplier_name="mul8s_1L2N", kept_outputs=kept)(inp)
    row = estimate(keras.Model(inp, out), accelerator=pod4(pod_multipliers=("mul8s_1L2N",)))["fc"]
    assert row.multiplier == "mul8s_1L2N" and row.active_macs == 30 and row.macs == 60
    # a plan entry replaces the layer's own settings (multiplier and skipping)
    row = estimate(keras.Model(inp, out), {"layers": {"fc": {"multiplier": "mul8s_1KV6"}}}, pod4())["fc"]
    assert row.multiplier == "mul8s_1KV6" and row.active_macs == 60
    row = estimate(keras.Model(inp, out), {"layers": {"fc": {"multiplier": "mul8s_1KV6", "skip_fraction": 0.5}}},
                   pod4())["fc"]
    assert row.multiplier == "mul8s_1KV6" and row.active_macs == 30


class PlanLike:
    def to_dict(self):
        return {"default_multiplier": "mul8s_1L2N",
                "layers": {"fc1": {"multiplier": "mul8s_1KV6", "skip_fraction": 0.0, "weight_mapping": "none"}}}


def test_plan_object_with_to_dict(lenet):
    rep = estimate(lenet, PlanLike())
    assert rep["fc1"].multiplier == "mul8s_1KV6"
    assert rep["conv1"].multiplier == "mul8s_1L2N"
    assert estimate(lenet, PlanLike().to_dict()).energy_j == pytest.approx(rep.energy_j)


def test_errors_name_the_offender(lenet):
    with pytest.raises(ValueError, match=r"'convX'.*conv1"):
        estimate(lenet, {"layers": {"convX": {"multiplier": "mul8s_1L2N"}}})
    with pytest.raises(KeyError, match="conv1.*mul8s_NOPE"):
        estimate(lenet, {"layers": {"conv1": {"multiplier": "mul8s_NOPE"}}})
    with pytest.raises(ValueError, match="skip_fraction"):
        estimate(lenet, {"layers": {"conv1": {"multiplier": "mul8s_1L2N", "skip_fraction": 1.5}}})
    with pytest.raises(ValueError, match="cycle_model"):
        estimate(lenet, cycle_model="os")
    with pytest.raises(ValueError, match="a plan alone"):
        estimate(None, {"default_multiplier": "mul8s_1L2N"})
    custom = multipliers.Multiplier("mine", True, multipliers.exact_table(True) // 2 * 2)
    with pytest.raises(ValueError, match="conv1.*'mine'.*power_mw"):
        estimate(lenet, {"layers": {"conv1": {"multiplier": custom}}})
    with pytest.raises(ValueError, match="rows"):
        Accelerator(rows=3)
    with pytest.raises(ValueError, match="pod_multipliers"):
        Accelerator(pods=2, pod_multipliers=("mul8s_1L2N",))


def test_custom_multiplier_with_power():
    custom = multipliers.Multiplier("mine", True, multipliers.exact_table(True) // 2 * 2, power_mw=0.2)
    acc = pod4(pod_multipliers=(custom,))
    row = estimate(conv_model(), {"default_multiplier": custom}, acc)["conv"]
    assert row.multiplier == "mine" and row.matched
    assert row.energy_compute_j == pytest.approx(1440 * (0.2e-3 * TC + E_ACC))
    with pytest.raises(ValueError, match="conv.*'mine'.*delay_ns"):  # the power-delay product needs a delay
        estimate(conv_model(), {"default_multiplier": custom}, acc.replace(multiplier_energy="delay"))


def test_report_csv_and_str(tmp_path, lenet):
    rep = estimate(lenet, {"default_multiplier": "mul8s_1L2N"})
    path = tmp_path / "hw.csv"
    rep.to_csv(str(path))
    rows = list(csv.DictReader(open(path)))
    assert [r["name"] for r in rows] == ["conv1", "conv2", "conv3", "fc1", "fc2", "TOTAL"]
    assert float(rows[-1]["energy_j"]) == pytest.approx(rep.energy_j)
    assert int(rows[1]["cycles"]) == rep["conv2"].cycles
    text = str(rep)
    assert "conv3" in text and "mul8s_1L2N" in text and "x all-exact" in text


def test_presets_have_explicit_units():
    paper = Accelerator.paper()
    assert (paper.pods, paper.rows, paper.cols, paper.bank_rows) == (8, 256, 256, 128)
    assert paper.memory_energy_j_per_byte == pytest.approx(2.7e-12)
    assert paper.macs_per_pod == 65536 and paper.total_macs == 8 * 65536
    tpu = Accelerator.tpu_v4_like()
    assert tpu.pods == 4 and len(set(tpu.pod_multipliers)) == 4
    assert math.isclose(tpu.clock_hz, 1.05e9)


def test_resnet8_shapes():
    shapes = {s.name: s for s in hardware.model_shapes(models.resnet8())}
    s = shapes["stage2_block1_conv1"]  # 3x3, 16 -> 32 channels, stride 2 on 32x32
    assert (s.k, s.o, s.groups, s.f) == (3 * 3 * 16, 32, 1, 16 * 16)
    assert shapes["fc"].k == 64 and shapes["fc"].f == 1


def test_tf_keras_model_shapes():
    tf_keras = pytest.importorskip("tf_keras", reason="tf_keras not installed")
    model = tf_keras.Sequential([tf_keras.layers.Conv2D(4, 3, input_shape=(8, 8, 1), name="c"),
                                 tf_keras.layers.Flatten(), tf_keras.layers.Dense(3, name="d")])
    rep = estimate(model, accelerator=Accelerator.single_array(4, 4))
    assert rep["c"].macs == 36 * 9 * 4 and rep["d"].macs == 144 * 3
    assert rep["c"].tiles == 3 * 1  # ceil(9/4) row folds, one column fold


# ------------------------------------------------------------------ energy breakdown and accountings (issue 14)
def _assert_parts_add_up(rep):
    for r in rep.layers:
        assert r.energy_compute_j == pytest.approx(r.energy_multiplier_j + r.energy_accumulator_j)
        assert r.energy_sram_j == pytest.approx(r.energy_sram_weights_j + r.energy_sram_ifmap_j
                                                + r.energy_sram_psum_j + r.energy_sram_ofmap_j)
        dram = r.energy_dram_j if rep.include_dram else 0.0
        assert r.energy_memory_j == pytest.approx(r.energy_sram_j + dram)
        assert r.energy_j == pytest.approx(r.energy_compute_j + r.energy_memory_j)
    parts = rep.breakdown()
    dram = parts.pop("energy_dram_j") if rep.include_dram else 0.0
    parts.pop("energy_dram_j", None)
    assert rep.energy_j == pytest.approx(sum(parts.values()) + dram)
    assert rep.energy("system") == pytest.approx(rep.energy_j)
    assert rep.energy("compute") == pytest.approx(parts["energy_multiplier_j"] + parts["energy_accumulator_j"])
    assert rep.energy("multiplier") == pytest.approx(parts["energy_multiplier_j"])


@pytest.mark.parametrize("cycle_model", ["ws", "paper"])
@pytest.mark.parametrize("include_dram", [False, True])
def test_totals_equal_sum_of_parts(lenet, cycle_model, include_dram):
    acc = Accelerator.paper().replace(include_dram=include_dram)
    plan = {"default_multiplier": "mul8s_1L2N", "layers": {"conv2": {"skip_fraction": 0.25}}}
    rep = estimate(lenet, plan, acc, cycle_model=cycle_model, batch_size=2)
    _assert_parts_add_up(rep)
    assert rep.relative_energy == pytest.approx(rep.energy_j / rep.exact_totals["system"])
    for accounting in ("system", "compute", "multiplier"):
        assert rep.reduction(accounting) == pytest.approx(rep.exact_totals[accounting] / rep.energy(accounting))
    with pytest.raises(ValueError, match="accounting"):
        rep.reduction("memory")


def test_breakdown_hand_computed_and_dram():
    # Dense K=10, O=6 on a 4x4 pod, batch 1: SRAM weights 60 B, ifmap 20 B, psums 96 B, outputs 6 B.
    acc = pod4(dram_energy_j_per_byte=100e-12)
    row = estimate(dense_model(), accelerator=acc)["fc"]
    assert row.energy_multiplier_j == pytest.approx(60 * P_EXACT * TC)
    assert row.energy_accumulator_j == pytest.approx(60 * E_ACC)
    assert (row.sram_weight_bytes, row.sram_ifmap_bytes, row.sram_psum_bytes, row.sram_ofmap_bytes) == (60, 20, 96, 6)
    assert row.energy_sram_psum_j == pytest.approx(96 * E_M)
    # DRAM: unique tensor bytes = 60 weights + 10 inputs + 6 outputs, shown but not in the system energy by default
    assert row.dram_bytes == 76 and row.energy_dram_j == pytest.approx(76 * 100e-12)
    assert row.energy_j == pytest.approx(row.energy_compute_j + row.energy_sram_j)
    with_dram = estimate(dense_model(), accelerator=acc.replace(include_dram=True))["fc"]
    assert with_dram.energy_j == pytest.approx(row.energy_j + 76 * 100e-12)


def test_clock_sets_latency_only():
    slow, fast = pod4(clock_period_s=4e-9), pod4(clock_period_s=0.5e-9)
    a, b = (estimate(conv_model(), {"default_multiplier": "mul8s_1L2N"}, acc.replace(pod_multipliers=("mul8s_1L2N",)))
            for acc in (slow, fast))
    assert a.latency_s == pytest.approx(8 * b.latency_s)
    assert a.energy_j == pytest.approx(b.energy_j)
    # energy per multiplication scales with the characterisation period, and follows the chosen convention
    l2n = multipliers.get("mul8s_1L2N")
    for mode, period in (("fixed_period", TC), ("delay", l2n.delay_ns * 1e-9), ("clock", 4e-9)):
        acc = slow.replace(pod_multipliers=("mul8s_1L2N",), multiplier_energy=mode)
        row = estimate(conv_model(), {"default_multiplier": "mul8s_1L2N"}, acc)["conv"]
        assert row.energy_multiplier_j == pytest.approx(1440 * l2n.power_mw * 1e-3 * period), mode
    with pytest.raises(ValueError, match="multiplier_energy"):
        pod4(multiplier_energy="pdk")


def test_printed_report_shows_accountings_batch_and_clock(lenet):
    text = str(estimate(lenet, {"default_multiplier": "mul8s_1L2N"}, batch_size=4))
    assert "batch 4" in text and "clock T = 2 ns" in text and "1.48 ns" in text
    for word in ("system", "compute", "multiplier", "reduction", "TOTAL", "DRAM"):
        assert word in text


def test_utilization_printed_with_significant_digits():
    inp = keras.Input((16, 16, 8))
    model = keras.Model(inp, keras.layers.DepthwiseConv2D(3, name="dw")(inp))
    rep = estimate(model)
    assert 0 < rep["dw"].utilization < 1e-3
    line = next(line for line in str(rep).splitlines() if line.startswith("dw"))
    assert "0.0%" not in line and f"{rep['dw'].utilization * 100:.3g}%" in line


# ------------------------------------------------------------------ structured skipping (issue 14)
def _lenet_plan(**skips):
    return {"layers": {name: {"multiplier": "mul8s_1KV6", "skip_fraction": f} for name, f in skips.items()}}


def test_structured_skipping_lenet_hand_computed(lenet):
    rep = estimate(lenet, _lenet_plan(conv1=0.5, conv3=0.25))
    # conv1 keeps 3 of 6 channels -> pool1 -> conv2 sees 3 zero input channels: K = 5*5*3 = 75
    assert rep["conv2"].zero_input_channels == 3
    assert rep["conv2"].active_macs == 10 * 10 * 75 * 16 == 120_000
    assert rep["conv2"].weight_bytes == 75 * 16
    assert rep["conv2"].sram_ifmap_bytes == 100 * 75  # one column fold on the 128-row halves
    assert rep["conv2"].dram_bytes == 75 * 16 + 14 * 14 * 3 + 10 * 10 * 16
    # conv3 keeps 90 of 120 -> flatten (1x1x120) -> fc1 has K = 90
    assert rep["fc1"].zero_input_channels == 30 and rep["fc1"].active_macs == 90 * 84
    assert rep["conv1"].active_macs == 28 * 28 * 25 * 3
    unstructured = estimate(lenet, _lenet_plan(conv1=0.5, conv3=0.25), structured_skipping=False)
    assert unstructured["conv2"].active_macs == 240_000 and unstructured["fc1"].active_macs == 120 * 84
    assert rep.energy_j < unstructured.energy_j
    assert rep.structured_skipping and not unstructured.structured_skipping
    # without the model (as the Evaluator calls it), the graph is followed downstream from the shapes' layers
    shapes_only = estimate(None, _lenet_plan(conv1=0.5, conv3=0.25), shapes=hardware.model_shapes(lenet))
    assert [r.active_macs for r in shapes_only.layers] == [r.active_macs for r in rep.layers]
    assert shapes_only.energy_j == pytest.approx(rep.energy_j)


def test_flatten_maps_a_channel_to_its_positions():
    inp = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c")(inp)      # 4x4x4
    out = keras.layers.Dense(3, name="d")(keras.layers.Flatten()(x))      # 64 inputs
    rep = estimate(keras.Model(inp, out), {"layers": {"c": {"skip_fraction": 0.5}}}, pod4())
    assert rep["d"].zero_input_channels == 32 and rep["d"].active_macs == 32 * 3


def _residual(shortcut_conv: bool):
    inp = keras.Input((6, 6, 4))
    y = FakeApproxConv(4, 3, padding="same", name="a")(inp)
    s = FakeApproxConv(4, 1, name="s")(inp) if shortcut_conv else inp
    y = keras.layers.Add(name="add")([y, s])
    y = keras.layers.ReLU()(y)
    return keras.Model(inp, keras.layers.Conv2D(2, 3, name="b")(y))


class FakeApproxConv(keras.layers.Conv2D):
    """A Conv2D carrying the approximate layers' attribute contract (kept_outputs known by position)."""

    def __init__(self, *a, kept_outputs=None, **kw):
        super().__init__(*a, **kw)
        self.kept_outputs, self.multiplier_name, self.skip_fraction = kept_outputs, "mul8s_1KV6", 0.0


def test_residual_add_passes_only_channels_zero_in_every_branch():
    model = _residual(shortcut_conv=True)
    kept_a = np.array([False, False, True, True])
    kept_s = np.array([False, True, True, False])
    model.get_layer("a").kept_outputs, model.get_layer("s").kept_outputs = kept_a, kept_s
    rep = estimate(model, accelerator=pod4())
    assert rep["b"].zero_input_channels == 1                       # only channel 0 is skipped in both branches
    assert rep["b"].active_macs == 4 * 4 * 9 * 3 * 2
    # identity shortcut: the input is not zero anywhere, so nothing passes the add
    ident = _residual(shortcut_conv=False)
    ident.get_layer("a").kept_outputs = kept_a
    assert estimate(ident, accelerator=pod4())["b"].zero_input_channels == 0
    # fractions without neuron scores: positions unknown, so branches are never intersected
    frac = estimate(_residual(shortcut_conv=True), {"layers": {"a": {"skip_fraction": 0.5},
                                                              "s": {"skip_fraction": 0.5}}}, pod4())
    assert frac["b"].zero_input_channels == 0


def test_batch_norm_passes_zero_only_when_folded_or_zero_at_zero():
    def model(bn_after_relu):
        inp = keras.Input((6, 6, 2))
        x = keras.layers.Conv2D(4, 3, name="c")(inp)
        if bn_after_relu:
            x = keras.layers.BatchNormalization(name="bn", center=True)(keras.layers.ReLU()(x))
        else:
            x = keras.layers.ReLU()(keras.layers.BatchNormalization(name="bn")(x))
        m = keras.Model(inp, keras.layers.Conv2D(2, 3, name="d")(x))
        bn = m.get_layer("bn")
        bn.set_weights([np.ones(4), np.full(4, 0.5), np.zeros(4), np.ones(4)])   # BN(0) = beta = 0.5
        return m
    plan = {"layers": {"c": {"skip_fraction": 0.5}}}
    assert estimate(model(False), plan, pod4())["d"].zero_input_channels == 2   # folded into c on the chip
    assert estimate(model(True), plan, pod4())["d"].zero_input_channels == 0    # BN(0) = 0.5 != 0


def test_sigmoid_stops_the_zero():
    inp = keras.Input((8,))
    x = keras.layers.Dense(6, activation="sigmoid", name="a")(inp)   # skipped outputs are 0 after the activation
    x = keras.layers.Activation("sigmoid")(x)                          # sigmoid(0) = 0.5
    m = keras.Model(inp, keras.layers.Dense(2, name="b")(x))
    assert estimate(m, {"layers": {"a": {"skip_fraction": 0.5}}}, pod4())["b"].zero_input_channels == 0
    inp = keras.Input((8,))
    x = keras.layers.Activation("tanh")(keras.layers.Dense(6, name="a")(inp))
    m = keras.Model(inp, keras.layers.Dense(2, name="b")(x))
    assert estimate(m, {"layers": {"a": {"skip_fraction": 0.5}}}, pod4())["b"].zero_input_channels == 3


# ------------------------------------------------------------------ accelerator validation (issue 17 item 13)
def test_pod_multipliers_are_validated():
    with pytest.raises(ValueError, match=r"pod_multipliers\[1\].*mul8s_1L2X.*Did you mean"):
        Accelerator(pods=2, rows=4, cols=4, pod_multipliers=("mul8s_1L2N", "mul8s_1L2X"))
    with pytest.raises(ValueError, match="pod 0 carries unsigned multiplier 'mul8u_2NDH'.*signed"):
        Accelerator(pods=1, rows=4, cols=4, pod_multipliers=("mul8u_2NDH",))
    with pytest.raises(ValueError, match="unsigned"):
        Accelerator.paper().configured_for(["mul8u_2NDH"])
    chip = Accelerator(pods=1, rows=4, cols=4, pod_multipliers=("mul8u_2NDH",),
                       exact_multiplier=multipliers.EXACT_UNSIGNED)
    assert chip.pod_multipliers == ("mul8u_2NDH",)
    with pytest.raises(ValueError, match="exact_multiplier.*not an exact"):
        Accelerator(exact_multiplier="mul8s_1L2N")
    with pytest.raises(TypeError, match="pod_multipliers"):
        Accelerator(pods=1, pod_multipliers=(3,))


# ------------------------------------------------------------------ the paper's Table I plans (regression, issue 14)
@pytest.mark.parametrize("row, expected", [
    (0, (1.054, 1.034, 1.036, 1.003)),
    (1, (1.037, 1.033, 1.037, 1.015)),
    (2, (1.037, 1.025, 1.027, 1.003)),
])
def test_paper_table_i_lenet5_regression(lenet, row, expected):
    from tfaxdnn.hardware import paper

    network, skips, mults, _, _ = paper.TABLE_I[row]
    plan = paper.table_i_plan(network, skips, mults, [s.name for s in hardware.model_shapes(lenet)])
    assert plan["layers"]["conv2"] == {"multiplier": "mul8s_1KV6", "skip_fraction": 0.0}
    rep = estimate(lenet, plan, Accelerator.paper())
    eq = estimate(lenet, plan, Accelerator.paper(), cycle_model="paper")
    got = (rep.reduction("system"), rep.reduction("compute"), rep.reduction("multiplier"), eq.reduction("system"))
    assert got == pytest.approx(expected, abs=5e-4)


def test_structured_zeros_are_zero_in_the_approximate_model():
    """Soundness on a real `tfaxdnn.approximate` ResNet-8 (folded BatchNorms, residual adds): every input channel the
    hardware model removes is exactly zero in the approximate model's activations."""
    import tfaxdnn
    from tfaxdnn.hardware.assignment import assign
    from tfaxdnn.hardware.structure import zero_input_channels

    model = models.resnet8()
    rng = np.random.default_rng(0)
    shapes = hardware.model_shapes(model)[:-1]
    importance = {s.name: np.arange(s.outputs, dtype=float) for s in shapes}  # same channels skipped everywhere
    plan = tfaxdnn.Plan(layers={s.name: {"multiplier": "mul8s_1KV6", "skip_fraction": 0.25} for s in shapes})
    ax = tfaxdnn.approximate(model, plan, calibration_data=rng.random((8, 32, 32, 3)).astype("float32"),
                             importance=importance)
    zeros = zero_input_channels(ax, assign(hardware.model_shapes(ax), None, ax))
    assert zeros["stage2_block1_conv1"].sum() == 4    # stem and stage1 conv2 skip channels 0-3: zero after the add
    assert zeros["stage2_block1_shortcut"].sum() == 4
    probe = keras.Model(ax.inputs, [ax.get_layer(n).input for n in zeros])
    outs = probe.predict(rng.random((4, 32, 32, 3)).astype("float32"), verbose=0)
    for (name, z), out in zip(zeros.items(), outs):
        assert (out.reshape(-1, out.shape[-1])[:, z] == 0).all(), name
    rep = estimate(ax)
    assert rep["stage2_block1_conv1"].zero_input_channels == 4 and rep.structured_skipping
    # the float model with the same plan and importance, priced from its shapes alone (the Evaluator's call)
    scored = plan.with_importance(importance)
    float_rep = estimate(None, scored, shapes=hardware.model_shapes(model))
    assert [r.zero_input_channels for r in float_rep.layers] == [r.zero_input_channels for r in rep.layers]
