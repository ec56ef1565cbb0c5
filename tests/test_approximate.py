"""`tfaxdnn.approximate`: structure, calibration, bit-consistency with the op, skipping, saving, errors."""

import dataclasses
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfaxdnn
from tfaxdnn import multipliers, nn
from tfaxdnn.core.skipping import SkipTieWarning, kept_mask
from tfaxdnn.layers import ApproxConv2D, ApproxDense, ApproxDepthwiseConv2D
from tfaxdnn.models import lenet5


def small_cnn(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((12, 12, 2), name="x")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Flatten(name="flat")(x)
    outputs = keras.layers.Dense(5, name="fc")(x)
    model = keras.Model(inputs, outputs, name="small_cnn")
    # non-trivial batch-norm statistics so folding is exercised
    bn = model.get_layer("bn")
    rng = np.random.default_rng(seed)
    bn.set_weights([rng.uniform(0.5, 1.5, 8).astype("float32"), rng.normal(0, 0.1, 8).astype("float32"),
                    rng.normal(0, 0.1, 8).astype("float32"), rng.uniform(0.5, 2.0, 8).astype("float32")])
    return model


def residual_model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="stem")(inputs)
    y = keras.layers.Conv2D(4, 3, padding="same", name="branch")(x)
    x = keras.layers.Add(name="add")([x, y])
    z = keras.layers.Conv2D(2, 1, name="side")(x)
    x = keras.layers.Concatenate(name="cat")([x, z])
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="fc")(x), name="residual")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    return rng.uniform(0, 1, (64, 12, 12, 2)).astype("float32")


def test_layers_are_replaced_and_others_kept(data):
    model = small_cnn()
    plan = tfaxdnn.Plan({"conv": "mul8s_1KV8", "fc": "mul8s_1L2N"})
    ax = tfaxdnn.approximate(model, plan, calibration_data=data)
    assert isinstance(ax.get_layer("conv"), ApproxConv2D)
    assert isinstance(ax.get_layer("fc"), ApproxDense)
    assert type(ax.get_layer("dw")) is keras.layers.DepthwiseConv2D  # not in the plan: exact float
    assert ax.get_layer("conv").multiplier_name == "mul8s_1KV8"
    assert ax.name == "small_cnn_approx"
    np.testing.assert_array_equal(ax.get_layer("fc").multiplier.table, multipliers.get("mul8s_1L2N").table)


def test_exact_multiplier_is_close_to_float_and_batch_norm_is_folded(data):
    model = small_cnn()
    ax = tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier="mul8s_1KV6"), calibration_data=data)
    assert isinstance(ax.get_layer("dw"), ApproxDepthwiseConv2D)
    assert type(ax.get_layer("bn")) is keras.layers.Identity   # folded into the depthwise conv
    ref = model.predict(data, verbose=0)
    out = ax.predict(data, verbose=0)
    assert np.max(np.abs(out - ref)) < 0.05 * np.max(np.abs(ref))
    assert np.max(np.abs(out - ref)) > 0  # it is quantised, not the float model


def test_input_model_is_not_mutated(data):
    model = small_cnn()
    before = [w.copy() for w in model.get_weights()]
    config = model.get_config()
    ax = tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier="mul8s_1L2N", default_weight_mapping="uniform"),
                             calibration_data=data)
    ax.compile("sgd", "mse")
    ax.fit(data, np.zeros((len(data), 5)), epochs=1, verbose=0)  # training the copy leaves the original alone
    assert model.get_config() == config
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert all(type(layer).__module__.startswith("keras") for layer in model.layers)


def _reference_dense(layer, x):
    """The approximate Dense output recomputed from its stored quantisation state with `tfaxdnn.ops.nn`."""
    s_a = float(layer.ax_input_scale.numpy())
    z_a = int(layer.ax_input_zero_point.numpy())
    s_w = layer.ax_kernel_scale.numpy()
    xq = np.clip(np.round(x / s_a) + z_a, -128, 127).astype(np.int8)
    wq = np.clip(np.round(layer.kernel.numpy() / s_w), -127, 127).astype(np.int64)
    wq = layer.ax_weight_map.numpy()[wq + 128].astype(np.int8)
    acc = nn.approx_matmul(xq, wq, layer.multiplier, a_zero_point=z_a).numpy()
    return acc.astype(np.float32) * (np.float32(s_a) * s_w) + layer.bias.numpy()


def test_dense_output_matches_the_op_on_stored_codes():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((20,))
    model = keras.Model(inputs, keras.layers.Dense(7, name="fc")(inputs))
    x = np.random.default_rng(2).normal(size=(32, 20)).astype("float32")
    plan = tfaxdnn.Plan({"fc": {"multiplier": "mul8s_1L2N", "weight_mapping": "uniform"}},
                        quantization={"activation": "asymmetric"})
    ax = tfaxdnn.approximate(model, plan, calibration_data=x)
    layer = ax.get_layer("fc")
    assert int(layer.ax_input_zero_point.numpy()) != 0
    np.testing.assert_allclose(ax(x).numpy(), _reference_dense(layer, x), rtol=1e-6, atol=1e-6)


def test_residual_add_and_concatenate_graph(rng):
    model = residual_model()
    x = rng.uniform(0, 1, (16, 8, 8, 3)).astype("float32")
    ax = tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier="mul8s_1KV6"), calibration_data=x)
    assert [type(layer).__name__ for layer in ax.layers if layer.name in ("stem", "branch", "side", "fc")] == \
        ["ApproxConv2D", "ApproxConv2D", "ApproxConv2D", "ApproxDense"]
    ref = model.predict(x, verbose=0)
    np.testing.assert_allclose(ax.predict(x, verbose=0), ref, atol=0.05 * np.abs(ref).max())


def _pairwise_mean(x):
    """NumPy float32 reference of OrderedGlobalAveragePooling2D: positions added pairwise, then one division."""
    n = x.shape[1] * x.shape[2]
    v = x.reshape(len(x), n, -1).astype(np.float32)
    while v.shape[1] > 1:
        m = v.shape[1]
        pairs = v[:, 0:m - m % 2:2] + v[:, 1:m - m % 2:2]
        v = pairs if m % 2 == 0 else np.concatenate([pairs, v[:, m - 1:]], axis=1)
    return v[:, 0] / np.float32(n)


def test_global_average_pooling_becomes_the_ordered_one(rng, tmp_path):
    # a float mean whose summation order every backend and device shares (the one GPU-vs-CPU difference left)
    model = residual_model()
    x = rng.uniform(0, 1, (16, 8, 8, 3)).astype("float32")
    ax = tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier="mul8s_1L2J"), calibration_data=x)
    gap = ax.get_layer("gap")
    assert type(gap) is tfaxdnn.layers.OrderedGlobalAveragePooling2D and type(model.get_layer("gap")) is \
        keras.layers.GlobalAveragePooling2D                                 # the input model is left alone
    g = rng.standard_normal((5, 7, 5, 6)).astype("float32") * 50
    got = gap(g).numpy()
    np.testing.assert_array_equal(got.view(np.uint32), _pairwise_mean(g).view(np.uint32))
    np.testing.assert_allclose(got, keras.layers.GlobalAveragePooling2D()(g).numpy(), rtol=1e-5, atol=1e-4)
    assert tfaxdnn.layers.OrderedGlobalAveragePooling2D(keepdims=True)(g).shape == (5, 1, 1, 6)
    ax.save(tmp_path / "gap.keras")
    loaded = keras.models.load_model(tmp_path / "gap.keras")
    assert type(loaded.get_layer("gap")) is tfaxdnn.layers.OrderedGlobalAveragePooling2D
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), ax.predict(x, verbose=0))
    with pytest.raises(ValueError, match="static spatial sizes"):
        tfaxdnn.layers.OrderedGlobalAveragePooling2D()(keras.Input((None, None, 3)))


def test_skipped_neurons_output_zero_and_are_reported(data):
    model = small_cnn()
    scores = np.array([0.5, 0.1, 0.9, 0.3])
    ax = tfaxdnn.approximate(model, {"layers": {"conv": {"skip_fraction": 0.5}}}, calibration_data=data,
                             importance={"conv": scores})
    conv = ax.get_layer("conv")
    np.testing.assert_array_equal(conv.kept_outputs, [True, False, True, False])
    out = keras.Model(ax.inputs[0], conv.output)(data).numpy()
    assert np.all(out[..., 1] == 0) and np.all(out[..., 3] == 0)
    assert np.any(out[..., 0] != 0)
    report = tfaxdnn.hardware.estimate(ax)
    row = {r.name: r for r in report.layers}["conv"]
    assert row.active_macs == row.macs // 2


def test_calibration_is_reusable_across_plans(data):
    from tfaxdnn.rewrite.keras_model import calibrate

    model = small_cnn()
    calibration = calibrate(model, data)
    for plan in (tfaxdnn.Plan(default_multiplier="mul8s_1L2N", default_weight_mapping="data"),
                 tfaxdnn.Plan({"fc": "mul8s_1KV9"})):
        np.testing.assert_array_equal(
            tfaxdnn.approximate(model, plan, calibration_data=calibration).predict(data, verbose=0),
            tfaxdnn.approximate(model, plan, calibration_data=data).predict(data, verbose=0))
    with pytest.raises(ValueError, match="does not fit model 'other'.*lacks layers"):
        inputs = keras.Input((3,))
        other = keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs), name="other")
        tfaxdnn.approximate(other, {"layers": {"d": "mul8s_1KV8"}}, calibration_data=calibration)


def test_kept_mask_rules():
    assert kept_mask("l", 4, 0.0, None) is None
    np.testing.assert_array_equal(kept_mask("l", 4, 0.25, np.array([[1, -5, 3, 4], [1, 5, -3, 0.0]])),
                                  [False, True, True, True])
    with pytest.raises(ValueError, match="needs neuron importance"):
        kept_mask("conv7", 4, 0.5, None)
    with pytest.raises(ValueError, match=r"conv7.*shape \(4,\)"):
        kept_mask("conv7", 4, 0.5, np.ones(5))


def test_a_skip_cut_inside_tied_scores_warns_that_position_decides():
    with pytest.warns(SkipTieWarning, match=r"(?s)4 neurons of equal importance 1 .*by position.*0/1 kept-output"):
        np.testing.assert_array_equal(kept_mask("fc", 5, 0.4, [0, 1, 1, 1, 1.0]), [False, False, True, True, True])
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkipTieWarning)
        kept_mask("fc", 4, 0.5, [0, 0, 1, 1.0])       # the cut falls between the tied groups
        kept_mask("fc", 4, 0.25, [3, 1, 2, 4.0])
        kept_mask("fc", 4, 1.0, np.ones(4))           # every neuron skipped: nothing to choose
        kept_mask("fc", 4, 0.25, [0, 0, 0.3, 0.7])    # zero importance (dead neurons): any of them will do
    with pytest.warns(SkipTieWarning, match=r"^(?!.*0/1).*2 neurons of equal importance 0.5"):
        kept_mask("fc", 4, 0.5, [0.1, 0.5, 0.5, 0.7])
    with pytest.warns(SkipTieWarning, match="0/1 kept-output mask"):   # a mask asked to skip fewer
        kept_mask("fc", 4, 0.25, [0, 1, 0, 1.0])


def test_a_carried_plan_asked_to_skip_more_warns(data):
    model = small_cnn()
    ax = tfaxdnn.approximate(model, {"layers": {"conv": {"skip_fraction": 0.25}}}, calibration_data=data,
                             importance={"conv": np.array([0.5, 0.1, 0.9, 0.3])})
    carried = tfaxdnn.plan_of(ax)
    assert carried.importance["conv"] == (1.0, 0.0, 1.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkipTieWarning)
        again = tfaxdnn.approximate(model, carried, calibration_data=data)   # the same neurons: no choice made
    np.testing.assert_array_equal(again.get_layer("conv").kept_outputs, [True, False, True, True])
    more = dataclasses.replace(carried, layers={**carried.layers,
                                                "conv": dataclasses.replace(carried.layers["conv"], skip_fraction=0.5)})
    with pytest.warns(SkipTieWarning, match="Layer 'conv'.*3 neurons of equal importance 1"):
        ax2 = tfaxdnn.approximate(model, more, calibration_data=data)
    np.testing.assert_array_equal(ax2.get_layer("conv").kept_outputs, [False, False, True, True])


def test_save_and_load_keras_file_gives_identical_outputs(tmp_path, data):
    model = small_cnn()
    plan = tfaxdnn.Plan(default_multiplier="mul8s_1L2N", default_weight_mapping="data",
                        layers={"conv": {"multiplier": "mul8s_1KV9", "skip_fraction": 0.25}})
    ax = tfaxdnn.approximate(model, plan, calibration_data=data, importance={"conv": np.arange(4.0)})
    path = tmp_path / "ax.keras"
    ax.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), ax.predict(data, verbose=0))
    assert loaded.get_layer("conv").multiplier_name == "mul8s_1KV9"
    np.testing.assert_array_equal(loaded.get_layer("conv").kept_outputs, ax.get_layer("conv").kept_outputs)


def test_straight_through_gradient_lets_fit_lower_the_loss(rng):
    keras.utils.set_random_seed(0)
    x = rng.normal(size=(256, 10)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 0).astype("int32")
    inputs = keras.Input((10,))
    h = keras.layers.Dense(16, activation="relu", name="h")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(h))
    ax = tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier="mul8s_1L2N"), calibration_data=x)
    ax.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = ax.fit(x, y, epochs=8, batch_size=32, verbose=0).history["loss"]
    assert history[-1] < 0.8 * history[0]
    grads = None
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(ax(x[:8]))
    grads = tape.gradient(loss, ax.trainable_variables)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)


def test_uint8_scheme(data):
    model = small_cnn()
    plan = tfaxdnn.Plan(default_multiplier="mul8u_1JFF", quantization={"dtype": "uint8", "activation": "asymmetric"})
    ax = tfaxdnn.approximate(model, plan, calibration_data=data)
    assert ax.get_layer("conv").signed is False
    ref = model.predict(data, verbose=0)
    assert np.max(np.abs(ax.predict(data, verbose=0) - ref)) < 0.1 * np.abs(ref).max()


@pytest.mark.parametrize("plan, match", [
    ({"layers": {"conv9": "mul8s_1KV8"}}, r"conv9.*Did you mean: 'conv'"),
    ({"layers": {"flat": "mul8s_1KV8"}}, r"'flat': Flatten layers cannot be approximated"),
    ({"layers": {"conv": "mul8s_1KV88"}}, r"Unknown multiplier.*mul8s_1KV8"),
    ({"layers": {"conv": {"skip_fraction": 1.5}}}, r"skip_fraction.*\[0, 1\]"),
    ({"layers": {"conv": "mul8u_1JFF"}}, r"mul8u_1JFF.*unsigned.*int8"),
])
def test_bad_plans_name_the_offender(data, plan, match):
    with pytest.raises(ValueError, match=match):
        tfaxdnn.approximate(small_cnn(), plan, calibration_data=data)


def test_other_bad_inputs(data):
    model = small_cnn()
    with pytest.raises(ValueError, match="Calibration data is needed"):
        tfaxdnn.approximate(model, {"layers": {"conv": "mul8s_1KV8"}})
    with pytest.raises(ValueError, match=r"importance.*'dw'"):
        tfaxdnn.approximate(model, {"layers": {"conv": "mul8s_1KV8"}}, calibration_data=data,
                            importance={"dw": np.ones(8)})
    with pytest.raises(ValueError, match="skip_fraction=0.5 needs neuron importance"):
        tfaxdnn.approximate(model, {"layers": {"conv": {"skip_fraction": 0.5}}}, calibration_data=data)
    with pytest.raises(TypeError, match="`plan` must be"):
        tfaxdnn.approximate(model, 3, calibration_data=data)
    with pytest.raises(TypeError, match="`model` must be"):
        tfaxdnn.approximate("model.keras", {}, calibration_data=data)


def test_shared_layer_is_refused(data):
    inputs = keras.Input((6,))
    shared = keras.layers.Dense(6, name="shared")
    model = keras.Model(inputs, shared(shared(inputs)))
    with pytest.raises(ValueError, match="'shared' is called 2 times"):
        tfaxdnn.approximate(model, {"layers": {"shared": "mul8s_1KV8"}}, calibration_data=np.ones((4, 6)))


def test_plan_json_round_trip(tmp_path):
    plan = tfaxdnn.Plan({"conv": {"multiplier": "mul8s_1L2N", "skip_fraction": 0.1, "weight_mapping": "data"}},
                        default_multiplier="mul8s_1KV8")
    assert tfaxdnn.Plan.from_json(plan.to_json()) == plan
    plan.to_json(tmp_path / "p.json")
    assert tfaxdnn.Plan.from_json(str(tmp_path / "p.json")) == plan


def test_evaluate_counts_per_batch(rng):
    model = lenet5()
    x = rng.uniform(0, 1, (50, 28, 28, 1)).astype("float32")
    labels = model.predict(x, verbose=0).argmax(axis=1)
    y = labels.copy()
    y[:5] = (y[:5] + 1) % 10
    result = tfaxdnn.evaluate(model, x, y, batch_size=20)
    assert result.accuracy == pytest.approx(0.9)
    np.testing.assert_allclose(result.batch_accuracies, [0.75, 1.0])
    with pytest.raises(ValueError, match="same number of samples"):
        tfaxdnn.evaluate(model, x, y[:10])


def test_predictions_do_not_depend_on_the_batch_size():
    """Issue 17.15: predict at batch sizes 1, 7 and 64 gives bit-identical outputs."""
    from tfaxdnn import models

    x = np.random.default_rng(3).random((64, 28, 28, 1)).astype("float32")
    ax = tfaxdnn.approximate(models.lenet5(), tfaxdnn.Plan(default_multiplier="mul8s_1L2N"), calibration_data=x)
    outs = [ax.predict(x, batch_size=b, verbose=0) for b in (1, 7, 64)]
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])
