"""Issue 26 item 3 on TensorFlow: the approximate layers' two paths (LUT op, low-rank GEMMs) give the same bits, the
path setting and its errors, the ``keras.ops`` quantisers that the other backends use, and the stale-table check."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfaxdnn
from tfaxdnn.layers import paths
from tfaxdnn.ops import codes, nn


def _model():
    keras.utils.set_random_seed(11)
    inp = keras.Input((9, 9, 4))
    x = keras.layers.Conv2D(6, 3, padding="same", dilation_rate=2, activation="relu", name="conv")(inp)
    x = keras.layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same", name="dw")(x)
    x = keras.layers.Reshape((25, 12), name="rows")(x)
    x = keras.layers.Dense(7, activation="relu", name="fc1")(x)   # a rank-3 input
    x = keras.layers.Flatten()(x)
    return keras.Model(inp, keras.layers.Dense(3, name="fc2")(x))


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(2).normal(size=(6, 9, 9, 4)).astype("float32")


@pytest.mark.parametrize("multiplier,dtype", [("mul8s_1L2N", "int8"), ("mul8s_1KR3", "int8"),
                                              ("mul8u_KEM", "uint8")])
def test_lut_and_lowrank_paths_give_the_same_bits(data, multiplier, dtype):
    plan = tfaxdnn.Plan(default_multiplier=multiplier, quantization={"dtype": dtype, "activation": "asymmetric"}
                        if dtype == "int8" else {"dtype": dtype})
    ax = tfaxdnn.approximate(_model(), plan, calibration_data=data)
    out = {}
    for path in ("lut", "lowrank", "auto"):
        with paths.use_path(path):
            out[path] = np.asarray(ax(data))
            out[path + " graph"] = ax.predict(data, batch_size=4, verbose=0)  # a new trace per path
            ax.make_predict_function(force=True)
    assert np.abs(out["lut"]).max() > 0
    for path, y in out.items():
        np.testing.assert_array_equal(y, out["lut"], err_msg=path)


def test_auto_measures_once_per_geometry_and_form(data):
    paths.clear_choices()
    ax = tfaxdnn.approximate(_model(), tfaxdnn.Plan(default_multiplier="mul8s_1L2J"), calibration_data=data)
    ax(data)
    first = paths.choices()
    assert len(first) == 4 and {v[0] for v in first.values()} <= {"lut", "lowrank"}
    assert all(v[1] > 0 and v[2] > 0 for v in first.values())
    ax2 = tfaxdnn.approximate(_model(), tfaxdnn.Plan(default_multiplier="mul8s_1L2H"), calibration_data=data)
    ax2(data)                                 # 1L2H has 1L2J's form (rank, denominator, bounds): no new timing
    assert paths.choices() == first


def test_auto_measures_each_batch_bucket_apart(data):
    assert [paths.batch_bucket(b) for b in (1, 2, 8, 9, 64, 65, 512, 10_000, None)] == \
        [1, 8, 8, 64, 64, 512, 512, 512, 8]
    paths.clear_choices()
    ax = tfaxdnn.approximate(_model(), tfaxdnn.Plan(default_multiplier="mul8s_1L2J"), calibration_data=data)
    with paths.use_path("auto"):
        single = np.asarray(ax(data[:1]))
        n_single = len(paths.choices())
        ax(data[:1])                                    # the same bucket: no new timing
        assert len(paths.choices()) == n_single
        many = np.asarray(ax(np.concatenate([data] * 3)[:20]))
    batches = sorted({k[1] for k in paths.choices()})
    assert batches == [1, 64] and len(paths.choices()) == 2 * n_single   # batch 1 and batch 20 chose apart
    with paths.use_path("lut"):
        np.testing.assert_array_equal(single, np.asarray(ax(data[:1])))
        np.testing.assert_array_equal(many, np.asarray(ax(np.concatenate([data] * 3)[:20])))


def test_the_compute_path_of_a_layer_wins_and_is_not_saved():
    layer = tfaxdnn.layers.ApproxDense(2, multiplier="mul8s_1L2N", compute_path="lowrank")
    assert layer.compute_path == "lowrank" and "compute_path" not in layer.get_config()
    with pytest.raises(ValueError, match="compute_path"):
        tfaxdnn.layers.ApproxDense(2, compute_path="gpu")
    with pytest.raises(ValueError, match="`path` must be one of"):
        paths.set_path("fast")


def test_the_environment_sets_the_path_and_the_rank_limit(monkeypatch):
    monkeypatch.setenv("TFAXDNN_PATH", "lowrank")
    monkeypatch.setenv("TFAXDNN_MAX_RANK", "3")
    assert paths.get_path() == "lowrank" and paths.max_rank() == 3
    with paths.use_path("lut"):
        assert paths.get_path() == "lut"
    assert paths.get_path() == "lowrank"
    monkeypatch.setenv("TFAXDNN_PATH", "quick")
    with pytest.raises(ValueError, match="TFAXDNN_PATH"):
        paths.get_path()
    monkeypatch.setenv("TFAXDNN_MAX_RANK", "many")
    with pytest.raises(ValueError, match="TFAXDNN_MAX_RANK"):
        paths.max_rank()


def test_a_table_above_the_rank_limit():
    x = np.random.default_rng(3).normal(size=(2, 5)).astype("float32")
    layer = tfaxdnn.layers.ApproxDense(3, multiplier="mul8u_T83")   # error rank 17 > 16
    assert layer.build((None, 5)) is None and layer.lowrank_form().rank == 17
    with paths.use_path("lowrank"), pytest.raises(ValueError, match="'mul8u_T83' has error rank 17.*set_max_rank"):
        layer(x)
    with paths.use_path("auto"):                   # TensorFlow on a CPU: the LUT op takes it
        want = np.asarray(layer(x))
    try:
        paths.set_max_rank(17)
        with paths.use_path("lowrank"):
            np.testing.assert_array_equal(np.asarray(layer(x)), want)
    finally:
        paths.set_max_rank(None)


def test_a_table_changed_behind_the_layer_is_refused_by_the_lowrank_trace(data):
    ax = tfaxdnn.approximate(_model(), tfaxdnn.Plan(default_multiplier="mul8s_1L2N"), calibration_data=data)
    layer = ax.get_layer("fc2")
    with paths.use_path("lowrank"):
        fn = tf.function(lambda x: ax(x))
        before = fn(data).numpy()
        layer.ax_table.assign(tfaxdnn.multipliers.get("mul8s_1L2J").table)
        with pytest.raises(tf.errors.InvalidArgumentError, match="set_table"):
            fn(data)
        layer.set_table(tfaxdnn.multipliers.get("mul8s_1L2N").table)
        np.testing.assert_array_equal(fn(data).numpy(), before)
        weights = ax.get_weights()
        layer.set_table(tfaxdnn.multipliers.get("mul8s_1L2J").table)   # eager calls see it at once
        after = np.asarray(ax(data))
        ax.set_weights(weights)                                          # behind the layer: eager calls notice
        np.testing.assert_array_equal(np.asarray(ax(data)), before)
    with paths.use_path("lut"):
        np.testing.assert_array_equal(np.asarray(ax(data)), before)
        layer.set_table(tfaxdnn.multipliers.get("mul8s_1L2J").table)
        np.testing.assert_array_equal(np.asarray(ax(data)), after)
    assert not np.array_equal(before, after)


def test_keras_ops_quantize_equals_the_compiled_op():
    rng = np.random.default_rng(4)
    v = rng.normal(0, 3, (5, 3, 4, 6)).astype(np.float32)
    v.flat[:6] = [np.nan, np.inf, -np.inf, 2.5, -0.5, 1e30]
    halves = (rng.integers(-300, 300, 40) + 0.5).astype(np.float32)   # ties: half to even
    v.flat[6:46] = halves * np.float32(0.25)
    for signed, dtype, z in ((True, tf.int8, 3), (False, tf.uint8, 130)):
        s = np.float32(0.25)
        np.testing.assert_array_equal(np.asarray(codes.quantize(v, s, z, signed)),
                                      nn.quantize(v, s, z, dtype).numpy().astype(np.int32))
        sc = rng.uniform(0.01, 0.5, 6).astype(np.float32)               # per channel (the trailing axis)
        zc = rng.integers(-5, 5, 6) + (0 if signed else 128)
        cmap = rng.permutation(np.arange(-128, 128) if signed else np.arange(256))
        lo, hi = (-127, 127) if signed else (0, 255)
        got = codes.quantize(v, sc, zc, signed, lo, hi, code_map=cmap)
        want = nn.quantize(v, sc, zc, dtype, lo, hi, code_map=cmap).numpy()
        np.testing.assert_array_equal(np.asarray(got), want.astype(np.int32))
        k = v.reshape(3, 1, 10, 12)                                      # depthwise: C*M = 12 trailing
        sk, zk = rng.uniform(0.01, 0.5, 12).astype(np.float32), rng.integers(0, 5, 12)
        np.testing.assert_array_equal(np.asarray(codes.quantize(k, sk, zk, signed)),
                                      nn.quantize(k, sk, zk, dtype).numpy().astype(np.int32))


@pytest.mark.parametrize("lo,hi,narrow", [(-1.3, 2.7, False), (0.0, 6.0, True), (-0.02, 0.0, False),
                                          (0.3, 1.1, False), (0.0, 0.0, False)])
def test_keras_ops_fake_quant_equals_tensorflow(lo, hi, narrow):
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(lo - 1, hi + 1, 4000), np.linspace(lo, hi, 1001)]).astype(np.float32)
    want = tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=8, narrow_range=narrow).numpy()
    got = np.asarray(codes.fake_quant(x, np.float32(lo), np.float32(hi), 8, narrow))
    np.testing.assert_array_equal(got, want)
