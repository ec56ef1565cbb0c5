"""Activation grids per layer (issue 27, item 4): ``QuantizationConfig(activation="auto")`` is asymmetric where the
calibrated input is one-sided (minimum >= 0) and the layer's multiplier is exact for activation code -128, symmetric
elsewhere; the Evaluator warns when the exact 8-bit model loses more than half a point against float."""

import warnings

import keras
import numpy as np
import pytest

import tfaxdnn
from tfaxdnn import multipliers
from tfaxdnn.quant import activation_params, activation_scheme, zero_code_exact


def test_auto_scheme_follows_the_calibrated_minimum():
    assert activation_scheme("auto", 0.0) == "asymmetric" and activation_scheme("auto", -1e-6) == "symmetric"
    assert activation_scheme("symmetric", 0.0) == "symmetric"
    exact, l2n = multipliers.get("mul8s_1KV6").table, multipliers.get("mul8s_1L2N").table
    assert zero_code_exact(exact) and zero_code_exact(multipliers.get("mul8s_1KVP").table)
    assert not zero_code_exact(l2n)                              # M(-128, w) != -128 w: a 0 input would err
    assert activation_scheme("auto", 0.0, [exact]) == "asymmetric"
    assert activation_scheme("auto", 0.0, [exact, l2n]) == "symmetric"
    one_sided = activation_params(0.0, 6.0, True, "auto")
    assert int(one_sided.zero_point) == -128 and float(one_sided.scale) == pytest.approx(6.0 / 255)
    two_sided = activation_params(-2.0, 6.0, True, "auto")
    assert int(two_sided.zero_point) == 0 and float(two_sided.scale) == pytest.approx(6.0 / 127)
    assert activation_params(0.0, 6.0, False, "auto").dtype == "uint8"
    with pytest.raises(ValueError, match="auto"):
        tfaxdnn.QuantizationConfig(activation="per_layer")
    plan = tfaxdnn.Plan(default_multiplier="mul8s_1KV6", quantization={"activation": "auto"})
    assert tfaxdnn.Plan.from_json(plan.to_json()) == plan


def test_auto_gives_each_layer_its_documented_zero_point():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, name="linear_conv")(inputs)            # [0, 1] images: one-sided
    x = keras.layers.Conv2D(3, 1, activation="relu", name="after_linear")(x)   # linear outputs: two-sided
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="after_relu")(x))  # ReLU outputs: one-sided
    x_cal = np.random.default_rng(0).uniform(0, 1, (32, 6, 6, 2)).astype("float32")
    zero_points = {}
    for scheme in ("symmetric", "asymmetric", "auto"):
        ax = tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier="mul8s_1KV6",
                                                     quantization={"activation": scheme}), calibration_data=x_cal)
        zero_points[scheme] = [int(ax.get_layer(n).ax_input_zero_point.numpy())
                               for n in ("linear_conv", "after_linear", "after_relu")]
    assert zero_points["symmetric"] == [0, 0, 0]
    assert zero_points["asymmetric"][0] == -128 and zero_points["asymmetric"][1] not in (0, -128)
    assert zero_points["auto"] == [-128, 0, -128]
    mixed = tfaxdnn.Plan({"linear_conv": "mul8s_1L2N", "after_relu": "recon_mild"}, default_multiplier="mul8s_1KV6",
                         quantization={"activation": "auto"})
    ax = tfaxdnn.approximate(model, mixed, calibration_data=x_cal)
    # mul8s_1L2N and recon_mild's M2 get products of code -128 wrong: their one-sided inputs stay symmetric
    assert [int(ax.get_layer(n).ax_input_zero_point.numpy()) for n in ("linear_conv", "after_relu")] == [0, 0]


def _argmax_of_two(d, n=400, seed=0):
    """Two inputs in [0, 1] that differ by ``d``; the label says which is larger. A fixed Dense layer computes
    ``[x1 - x2, x2 - x1]``: its weights (±1) quantise exactly, so only the input grid can lose accuracy."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.05, 0.9, n)
    y = rng.integers(0, 2, n)
    x = np.stack([u + d * (1 - y), u + d * y], axis=1).astype("float32")
    x_cal = np.concatenate([x, [[0.0, 1.0], [1.0, 0.0]]]).astype("float32")   # calibrated range [0, 1]
    inputs = keras.Input((2,))
    layer = keras.layers.Dense(2, use_bias=False, name="fc")
    model = keras.Model(inputs, layer(inputs), name="argmax_of_two")
    layer.set_weights([np.array([[1.0, -1.0], [-1.0, 1.0]], np.float32)])
    return model, (x, y), x_cal


def test_evaluator_warns_with_the_fix_when_the_exact_8_bit_model_loses_accuracy():
    from tfaxdnn.search import Evaluator
    from tfaxdnn.search.evaluator import ExactQuantizationWarning

    # inputs 0.005 apart: the symmetric step (1/127) often rounds both to one code, the asymmetric (1/255) never
    model, val, x_cal = _argmax_of_two(0.005)
    ev = Evaluator(model, val, x_cal, calibration_samples=None)
    with pytest.warns(ExactQuantizationWarning, match=r"(?s)points below the float.*\['fc'\].*'auto'.*1\.0000"):
        assert ev.baseline().accuracy == 1.0
    assert ev.cache_info() == {"hits": 0, "misses": 0, "size": 0}   # the check does not count as requests
    assert ev.exact().accuracy < 0.99 and ev.cache_info()["misses"] == 1
    auto = tfaxdnn.Plan(default_multiplier="mul8s_1KV6", quantization={"activation": "auto"})
    assert ev(auto).accuracy == 1.0


def test_evaluator_does_not_warn_when_the_exact_8_bit_model_keeps_accuracy():
    from tfaxdnn.search import Evaluator
    from tfaxdnn.search.evaluator import ExactQuantizationWarning

    model, val, x_cal = _argmax_of_two(0.05)
    ev = Evaluator(model, val, x_cal, calibration_samples=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExactQuantizationWarning)
        assert ev.baseline().accuracy == 1.0 and ev.exact().accuracy == 1.0
