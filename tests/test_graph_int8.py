"""quantize(scheme=int8) equals the Keras path; depthwise in both schemes; batch-norm folding; the report."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

import tfaxdnn
from tfaxdnn.cli import transform_graph as cli
from tfaxdnn.graphs import GraphTransformError, RefusalError
from tfaxdnn.graphs.approximate import approximate_graph
from tfaxdnn.graphs.graphdef_io import save_graph_def
from tfaxdnn.graphs.quantize import quantize_graph
from tfaxdnn.graphs.report import report
from tfaxdnn.ops.loader import load

L = keras.layers


def freeze(model, shape):
    f = tf.function(lambda v: model(v, training=False)).get_concrete_function(
        tf.TensorSpec([None, *shape], tf.float32, name="image"))
    return convert_variables_to_constants_v2(f).graph.as_graph_def()


def run(graph_def, x, fetch="Identity:0"):
    load()
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as sess:
            return sess.run(fetch, {"image:0": x})


@pytest.fixture(scope="module")
def small_cnn():
    """Conv (no bias) + BatchNorm + ReLU, strided depthwise, conv + ReLU, average pooling, dense; frozen."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", use_bias=False, name="c1")(inp)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(name="r1")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(x)
    x = L.Conv2D(5, 1, activation="relu", name="c2")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, L.Dense(3, name="fc")(x))
    rng = np.random.default_rng(0)
    model.get_layer("bn1").set_weights([rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=4),
                                        rng.uniform(0.5, 2, 4)])
    x = rng.uniform(size=(48, 8, 8, 3)).astype("float32")
    return model, freeze(model, (8, 8, 3)), x


@pytest.mark.parametrize("activation", ["symmetric", "asymmetric"])
def test_int8_scheme_equals_keras_path(small_cnn, activation):
    """Same plan, same calibration data: the frozen graph (quantize int8 + approximate) and tfaxdnn.approximate on
    the Keras model give identical outputs -- BN folded, depthwise included, with and without weight mapping."""
    model, gd, x = small_cnn
    quant = {"dtype": "int8", "activation": activation}
    q = quantize_graph(gd, "image", x, scheme="int8", activation=activation)
    ops = sorted(n.op for n in q.node if n.op.startswith("Tfax"))
    assert ops == ["TfaxApproxConv2D", "TfaxApproxConv2D", "TfaxApproxDepthwiseConv2D", "TfaxApproxMatMul"]
    assert not any(n.op in ("Conv2D", "DepthwiseConv2dNative", "MatMul") or "bn1" in n.name and n.op == "Rsqrt"
                   for n in tf.compat.v1.graph_util.extract_sub_graph(q, ["Identity"]).node)
    plans = [tfaxdnn.Plan(default_multiplier="mul8s_1KV6", quantization=quant),
             tfaxdnn.Plan({"c1": {"multiplier": "mul8s_1L2N", "weight_mapping": "uniform"}, "dw": "mul8s_1L2J",
                           "c2": "mul8s_1KV9", "fc": {"multiplier": "mul8s_1L2L", "weight_mapping": "uniform"}},
                          quantization=quant)]
    exact = run(q, x)
    np.testing.assert_allclose(exact, model.predict(x, verbose=0), atol=0.05 * np.abs(exact).max())
    for plan in plans:
        graph_out = run(approximate_graph(q, plan), x)
        keras_out = tfaxdnn.approximate(model, plan, calibration_data=x).predict(x, verbose=0)
        np.testing.assert_array_equal(graph_out, keras_out)
    assert np.abs(graph_out - exact).max() > 0  # the approximate tables do change the result


def test_lut_form_refuses_unsigned_table_on_int8_codes(small_cnn):
    _, gd, x = small_cnn
    q = quantize_graph(gd, "image", x[:8], scheme="int8")
    with pytest.raises(RefusalError, match=r"'model/c1_1/convolution|c1_1/convolution.*int8.*mul8u_1JJQ"):
        approximate_graph(q, tfaxdnn.Plan({"c1": "mul8u_1JJQ"}, quantization={"dtype": "uint8"}))
    with pytest.raises(GraphTransformError, match="scheme must be one of"):
        quantize_graph(gd, "image", x[:8], scheme="int4")
    with pytest.raises(GraphTransformError, match="activation='symmetric' does not fit scheme='uint8'"):
        quantize_graph(gd, "image", x[:8], scheme="uint8", activation="symmetric")


def test_depthwise_in_both_schemes():
    """Depthwise convolutions are quantised and approximated in both schemes, equal to the Keras path (uint8: the
    Keras path's asymmetric per-channel weights, since TF1 has no quantised depthwise op)."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((6, 6, 2), name="image")
    model = keras.Model(inp, L.DepthwiseConv2D(3, depth_multiplier=2, padding="valid", name="dw")(inp))
    gd = freeze(model, (6, 6, 2))
    x = np.random.default_rng(1).normal(size=(16, 6, 6, 2)).astype("float32")
    for scheme, mult in (("uint8", "mul8u_17C8"), ("int8", "mul8s_1L2J")):
        quant = {"dtype": scheme}
        q = quantize_graph(gd, "image", x, scheme=scheme)
        assert [n.op for n in q.node if n.op.startswith("Tfax")] == ["TfaxApproxDepthwiseConv2D"]
        plan = tfaxdnn.Plan({"dw": mult}, quantization=quant)
        out = run(approximate_graph(q, plan), x)
        np.testing.assert_array_equal(out, tfaxdnn.approximate(model, plan, calibration_data=x).predict(x, verbose=0))
        assert np.abs(out - run(q, x)).max() > 0


def test_fused_batch_norm_is_folded():
    """TF1/tf_keras graphs freeze BatchNormalization as FusedBatchNormV3: folded into the kernel, like TF1's
    fold_old_batch_norms; the quantised graph stays close to the float one."""
    rng = np.random.default_rng(2)
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 6, 6, 2], name="image")
        y = tf.nn.conv2d(x, tf.constant(rng.normal(size=(3, 3, 2, 4)).astype("float32")), 1, "SAME", name="conv")
        y = tf.compat.v1.nn.fused_batch_norm(y, *(tf.constant(v.astype("float32")) for v in (
            rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 2, 4))),
            is_training=False, name="bn")[0]
        tf.nn.relu(y, name="Identity")
    gd = g.as_graph_def()
    data = rng.uniform(size=(16, 6, 6, 2)).astype("float32")
    for scheme in ("uint8", "int8"):
        q = quantize_graph(gd, "image", data, scheme=scheme)
        assert not any(n.op.startswith("FusedBatchNorm") for n in q.node)
        ref = run(gd, data)
        assert np.abs(run(q, data) - ref).max() < 0.03 * np.abs(ref).max()


def test_report_lists_rewritten_and_left_nodes(tmp_path, capsys):
    """The report names every conv/matmul node; a conv whose filter is computed at run time is listed as left (and
    why); nodes left unchanged that could have been rewritten are a warning."""
    rng = np.random.default_rng(3)
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 6, 6, 2], name="image")
        k = tf.compat.v1.placeholder_with_default(rng.normal(size=(1, 1, 4, 4)).astype("float32"), [1, 1, 4, 4],
                                                  name="run_time_filter")
        y = tf.nn.relu(tf.nn.conv2d(x, tf.constant(rng.normal(size=(3, 3, 2, 4)).astype("float32")), 1, "SAME",
                                    name="conv1"))
        y = tf.nn.conv2d(y, k, 1, "SAME", name="conv2")
        y = tf.reshape(y, [-1, 144])
        y = tf.matmul(y, tf.constant(rng.normal(size=(144, 3)).astype("float32")), name="fc")
        tf.identity(y, name="Identity")
    gd = g.as_graph_def()
    with pytest.warns(UserWarning, match=r"2 conv/matmul node\(s\) left unchanged.*conv1.*quantize can rewrite"):
        rows = report(gd)
    assert [(r.node, r.status) for r in rows] == [("conv1", "left"), ("conv2", "left"), ("fc", "left")]
    assert "filter is not a constant" in rows[1].reason and not rows[1].could_rewrite
    data = rng.uniform(size=(8, 6, 6, 2)).astype("float32")
    with pytest.warns(UserWarning, match=r"stay float.*'conv2' \(Conv2D\): its filter is not a constant"):
        q = quantize_graph(gd, "image", data, scheme="int8")
    ax = approximate_graph(q, tfaxdnn.Plan({"conv1": {"multiplier": "mul8s_1L2J", "weight_mapping": "uniform"}}))
    rows = {r.node: r for r in report(ax)}
    assert (rows["conv1"].status, rows["conv1"].multiplier, rows["conv1"].scheme, rows["conv1"].weight_mapping,
            rows["conv1"].macs) == ("approximated", "mul8s_1L2J", "int8", "uniform", 6 * 6 * 3 * 3 * 2 * 4)
    assert rows["conv2"].status == "left" and "filter is not a constant" in rows["conv2"].reason
    assert (rows["fc"].status, rows["fc"].multiplier, rows["fc"].macs) == ("quantised (exact)", "mul8s_1KV6", 432)
    save_graph_def(ax, tmp_path / "ax.pb")
    code = cli.main(["--in_graph", str(tmp_path / "ax.pb"), "--out_graph", str(tmp_path / "same.pb"),
                     "--transforms", f"report(out={tmp_path / 'report.json'})"])
    assert code == 0 and "1 of 3 nodes approximated" in capsys.readouterr().out
    assert [r["node"] for r in json.loads((tmp_path / "report.json").read_text())] == ["conv1", "conv2", "fc"]


def test_tf1_graph_report_warns_about_unapproximated_nodes():
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="image")
        tf.matmul(x, tf.ones((4, 2)), name="fc")
    q = quantize_graph(g.as_graph_def(), "image", np.ones((4, 4), np.float32))
    with pytest.warns(UserWarning, match=r"fc \(TF1 quantised op not approximated"):
        rows = report(q)
    assert rows[0].scheme == "uint8 (TF1 quint8)" and rows[0].macs == 8
