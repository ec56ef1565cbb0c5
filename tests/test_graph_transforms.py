"""tfaxdnn.graphs: (a) TF1 quantised graphs (bit-exact), (b) FakeQuant graphs, (c) quantize, refusals, CLI."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import graph_pb2
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

import tfaxdnn
from tfaxdnn.graphs import GraphFileError, GraphTransformError, RefusalError
from tfaxdnn import cli as tfaxdnn_cli
from tfaxdnn.cli import transform_graph as cli
from tfaxdnn.graphs.approximate import approximate_graph, match_plan
from tfaxdnn.graphs.graph_index import GraphIndex
from tfaxdnn.graphs.graphdef_io import load_graph_def, save_graph_def
from tfaxdnn.graphs.parser import parse_transforms
from tfaxdnn.graphs.quantize import quantize_graph
from tfaxdnn.ops.loader import load
from tfaxdnn.quant.fake_quant import fake_quant_codes

UINT8 = {"dtype": "uint8", "activation": "asymmetric"}


def run(graph_def, x, outputs=("output:0",)):
    load()
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as sess:
            return sess.run(list(outputs), {"image:0": x})


def aggressive_unsigned():
    ms = [tfaxdnn.multipliers.get(n) for n in tfaxdnn.multipliers.names(signed=False)]
    return max(ms, key=lambda m: m.mae_percent).name


@pytest.fixture(scope="module")
def tf1_graph():
    """A TF1-style quantised graph: QuantizedConv2D -> requantise -> QuantizedMatMul (ALWANN's kind)."""
    rng = np.random.default_rng(0)
    w, w2 = rng.normal(size=(3, 3, 2, 4)).astype("float32"), rng.normal(size=(36, 3)).astype("float32")
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 6, 6, 2], name="image")
        qx = tf.raw_ops.QuantizeV2(input=x, min_range=tf.reduce_min(x), max_range=tf.reduce_max(x), T=tf.quint8,
                                   mode="MIN_FIRST", name="q_in")
        qw = tf.raw_ops.QuantizeV2(input=tf.constant(w), min_range=float(w.min()), max_range=float(w.max()),
                                   T=tf.quint8, mode="MIN_FIRST", name="q_w")
        c = tf.raw_ops.QuantizedConv2D(input=qx.output, filter=qw.output, min_input=qx.output_min,
                                       max_input=qx.output_max, min_filter=qw.output_min, max_filter=qw.output_max,
                                       strides=[1, 1, 1, 1], padding="SAME", out_type=tf.qint32, name="conv1/conv")
        r = tf.raw_ops.QuantizeDownAndShrinkRange(input=c.output, input_min=c.min_output, input_max=c.max_output,
                                                  out_type=tf.quint8, name="conv1/requant")
        y = tf.raw_ops.Dequantize(input=r.output, min_range=r.output_min, max_range=r.output_max, mode="MIN_FIRST")
        y = tf.nn.relu(tf.reshape(y, [-1, 144]))[:, :36]
        qy = tf.raw_ops.QuantizeV2(input=y, min_range=tf.reduce_min(y), max_range=tf.reduce_max(y), T=tf.quint8,
                                   mode="MIN_FIRST")
        qw2 = tf.raw_ops.QuantizeV2(input=tf.constant(w2), min_range=float(w2.min()), max_range=float(w2.max()),
                                    T=tf.quint8, mode="MIN_FIRST")
        mm = tf.raw_ops.QuantizedMatMul(a=qy.output, b=qw2.output, min_a=qy.output_min, max_a=qy.output_max,
                                        min_b=qw2.output_min, max_b=qw2.output_max, Toutput=tf.qint32,
                                        name="fc/matmul")
        tf.raw_ops.Dequantize(input=mm.out, min_range=mm.min_out, max_range=mm.max_out, mode="MIN_FIRST",
                              name="output")
    return g.as_graph_def(), rng.normal(size=(3, 6, 6, 2)).astype("float32")


@pytest.fixture(scope="module")
def qat_graph():
    """A frozen tfmot QAT model (FakeQuant graph) and the model itself."""
    tf_keras = pytest.importorskip("tf_keras")
    tfmot = pytest.importorskip("tensorflow_model_optimization")
    tf_keras.utils.set_random_seed(0)
    inp = tf_keras.Input((12, 12, 2))
    x = tf_keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = tf_keras.layers.MaxPooling2D(name="pool")(x)
    x = tf_keras.layers.Flatten(name="flat")(x)
    q = tfmot.quantization.keras.quantize_model(tf_keras.Model(inp, tf_keras.layers.Dense(5, name="fc")(x)))
    q.compile("adam", "mse")
    xd = np.random.default_rng(0).uniform(size=(32, 12, 12, 2)).astype("float32")
    q.fit(xd, np.random.default_rng(1).uniform(size=(32, 5)), verbose=0)
    f = tf.function(lambda v: q(v, training=False)).get_concrete_function(
        tf.TensorSpec([None, 12, 12, 2], tf.float32, name="image"))
    return convert_variables_to_constants_v2(f).graph.as_graph_def(), xd, q


def test_tf1_quantized_graph_exact_multiplier_is_bit_exact(tf1_graph):
    gd, x = tf1_graph
    new = approximate_graph(gd, tfaxdnn.Plan(default_multiplier="mul8u_1JJQ", quantization=UINT8))
    assert sorted(n.op for n in new.node if n.op.startswith("Tfax")) == ["TfaxApproxConv2D", "TfaxApproxMatMul"]
    assert not any(n.op in ("QuantizedConv2D", "QuantizedMatMul") for n in new.node)
    np.testing.assert_array_equal(run(new, x)[0], run(gd, x)[0])
    # the three outputs keep their meaning: int32 accumulators and TF's output range
    before = run(gd, x, ("conv1/conv:0", "conv1/conv:1", "conv1/conv:2"))
    after = run(new, x, ("conv1/conv:0", "conv1/conv/tfax/range/min:0", "conv1/conv/tfax/range/max:0"))
    for a, b in zip(before, after):
        np.testing.assert_array_equal(np.asarray(a).view(np.int32) if a.dtype != np.float32 else a,
                                      np.asarray(b).view(np.int32) if b.dtype != np.float32 else b)
    approx = approximate_graph(gd, tfaxdnn.Plan({"conv1": aggressive_unsigned()}, quantization=UINT8))
    assert np.abs(run(approx, x)[0] - run(gd, x)[0]).max() > 0
    with pytest.raises(RefusalError, match="'conv1/conv' \\(QuantizedConv2D\\) has uint8 codes.*'mul8s_1KV6'.*"
                                           "mul8u_1JJQ"):
        approximate_graph(gd, tfaxdnn.Plan({"conv1/conv": "mul8s_1KV6"}))
    with pytest.raises(RefusalError, match="reconfigurable multiplier 'recon_evo' .* not supported on frozen graphs"):
        approximate_graph(gd, tfaxdnn.Plan({"conv1/conv": {"multiplier": "recon_evo", "mode_fractions": (0.2, 0.3)}}))


def test_fake_quant_graph_matches_original_and_keras_path(qat_graph):
    gd, x, q = qat_graph
    ref = run(gd, x, ("Identity:0",))[0]
    for mult, quant in (("mul8s_1KV6", {}), ("mul8u_1JJQ", UINT8)):
        new = approximate_graph(gd, tfaxdnn.Plan(default_multiplier=mult, quantization=quant))
        assert sum(n.op.startswith("Tfax") for n in new.node) == 2
        np.testing.assert_allclose(run(new, x, ("Identity:0",))[0], ref, atol=1e-5)
    plan = tfaxdnn.Plan({"conv": {"multiplier": "mul8s_1L2N", "weight_mapping": "uniform"}, "fc": "mul8s_1L2J"})
    graph_out = run(approximate_graph(gd, plan), x, ("Identity:0",))[0]
    keras_out = tfaxdnn.approximate(q, plan).predict(x, verbose=0)
    assert np.abs(graph_out - ref).max() > 0
    np.testing.assert_allclose(graph_out, keras_out, atol=1e-5)


def test_fake_quant_codes_follow_tf_nudging(rng):
    x = rng.normal(size=(50, 3)).astype("float32")
    lo, hi = np.array([-1.0, -0.5, -2.0], np.float32), np.array([1.0, 0.7, 2.0], np.float32)
    codes, scale, zp = fake_quant_codes(x, lo, hi, True)
    fq = tf.quantization.fake_quant_with_min_max_vars_per_channel(x, lo, hi, narrow_range=True).numpy()
    np.testing.assert_allclose((codes - zp) * scale, fq, atol=1e-6)
    assert codes.min() >= 1 and codes.max() <= 255


def test_quantize_then_approximate(tf1_graph, tmp_path, float_graph):
    gd, rng = float_graph()
    calib = rng.uniform(size=(16, 6, 6, 2)).astype("float32")
    quantized = quantize_graph(gd, "image", calib)
    assert sorted(n.op for n in quantized.node if n.op.startswith("Quantized")) == ["QuantizedConv2D",
                                                                                   "QuantizedMatMul"]
    ref = run(gd, calib)[0]
    q_out = run(quantized, calib)[0]
    assert np.abs(q_out - ref).max() < 0.05 * np.abs(ref).max()   # 8-bit quantisation error only
    approx = approximate_graph(quantized, tfaxdnn.Plan(default_multiplier="mul8u_1JJQ", quantization=UINT8))
    np.testing.assert_array_equal(run(approx, calib)[0], q_out)  # (a) is bit-exact


def test_plan_errors_and_nothing_to_rewrite(tf1_graph):
    gd, _ = tf1_graph
    with pytest.raises(GraphTransformError, match=r"Unknown node 'conv9'.*conv1/conv"):
        approximate_graph(gd, tfaxdnn.Plan({"conv9": "mul8u_1JJQ"}, quantization=UINT8))
    with pytest.raises(RefusalError, match=r"'q_in' \(QuantizeV2\), which cannot be rewritten"):
        approximate_graph(gd, tfaxdnn.Plan({"q_in": "mul8u_1JJQ"}, quantization=UINT8))
    g = tf.Graph()
    with g.as_default():
        tf.identity(tf.compat.v1.placeholder(tf.float32, [None, 3], name="image"), name="output")
    with pytest.warns(UserWarning, match="graph is unchanged"):
        out = approximate_graph(g.as_graph_def(), tfaxdnn.Plan(default_multiplier="mul8s_1KV6"))
    assert out == g.as_graph_def()


def test_refuses_float_conv_without_fake_quant_input():
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 6, 6, 2], name="image")
        k = tf.quantization.fake_quant_with_min_max_vars(tf.ones((3, 3, 2, 4)), -1.0, 1.0, narrow_range=True)
        tf.nn.conv2d(x, k, 1, "SAME", name="conv/Conv2D")
    with pytest.raises(RefusalError, match=r"'conv/Conv2D' \(Conv2D\): its input is not on a FakeQuant grid"):
        approximate_graph(g.as_graph_def(), tfaxdnn.Plan(default_multiplier="mul8s_1KV6"))


def test_files_parser_and_cli(tf1_graph, tmp_path, capsys):
    gd, x = tf1_graph
    save_graph_def(gd, tmp_path / "g.pb")
    save_graph_def(gd, tmp_path / "g.pbtxt")
    assert load_graph_def(tmp_path / "g.pbtxt") == load_graph_def(tmp_path / "g.pb")
    (tmp_path / "bad.pb").write_bytes(b"\x00\xffnot a graph" * 10)
    with pytest.raises(GraphFileError, match="Cannot read"):
        load_graph_def(tmp_path / "bad.pb")
    with pytest.raises(GraphFileError, match="does not exist"):
        load_graph_def(tmp_path / "missing.pb")
    assert parse_transforms("approximate(plan=p.json) strip_unused_nodes") == [
        ("approximate", {"plan": "p.json"}), ("strip_unused_nodes", {})]
    plan = tmp_path / "plan.json"
    tfaxdnn.Plan(default_multiplier="mul8u_1JJQ", quantization=UINT8).to_json(plan)
    code = cli.main(["--in_graph", str(tmp_path / "g.pb"), "--out_graph", str(tmp_path / "ax.pbtxt"),
                     "--inputs", "image", "--outputs", "output",
                     "--transforms", f"approximate(plan={plan}) strip_unused_nodes"])
    assert code == 0 and "2 approximate ops" in capsys.readouterr().out
    new = load_graph_def(tmp_path / "ax.pbtxt")
    assert not any(n.op == "QuantizedConv2D" for n in new.node)
    code = tfaxdnn_cli.main(["transform-graph", "--in_graph", str(tmp_path / "g.pb"), "--out_graph",
                             str(tmp_path / "ax2.pbtxt"), "--inputs", "image", "--outputs", "output",
                             "--transforms", f"approximate(plan={plan}) strip_unused_nodes"])
    assert code == 0 and "2 approximate ops" in capsys.readouterr().out      # the same as a verb of `tfaxdnn`
    assert load_graph_def(tmp_path / "ax2.pbtxt") == new
    np.testing.assert_array_equal(run(new, x)[0], run(gd, x)[0])
    code = cli.main(["--in_graph", str(tmp_path / "g.pb"), "--out_graph", str(tmp_path / "x.pb"),
                     "--transforms", "fold_everything"])
    assert code == 2 and "Unknown transform 'fold_everything'" in capsys.readouterr().err


def test_keras3_frozen_layer_names_match_plan_keys(tf1_graph):
    """Keras 3 freezes layer `c1` as `.../c1_1/convolution`: the plan key `c1` finds it."""
    gd, _ = tf1_graph
    renamed = graph_pb2.GraphDef()
    renamed.CopyFrom(gd)
    old, new = "conv1/conv", "seq/c1_1/convolution"
    for node in renamed.node:
        if node.name == old:
            node.name = new
        node.input[:] = [new + ref[len(old):] if ref.split(":")[0] == old else ref for ref in node.input]
    targets = match_plan(tfaxdnn.Plan({"c1": "mul8u_1JJQ"}, quantization=UINT8), GraphIndex(renamed))
    assert list(targets) == [new]


def test_weight_mapping_in_tf1_quantised_graphs_recodes_run_time_codes(tf1_graph):
    """`uniform` weight mapping on a TF1 graph: the run-time weight codes go through the same mapping table as the
    Keras path's constant codes (`tfaxdnn.quant.weight_mapping.mapping_table`), and the op computes on the mapped codes."""
    from tfaxdnn.ops import reference
    from tfaxdnn.quant.weight_mapping import mapping_table

    gd, x = tf1_graph
    p = "conv1/conv/tfax"
    codes = run(approximate_graph(gd, tfaxdnn.Plan({"conv1/conv": "mul8u_1JJQ"}, quantization=UINT8)), x,
                [f"{p}/w:0"])[0].astype(np.int64)
    # the most aggressive unsigned circuit whose mapping re-codes some of this layer's weights
    unsigned = sorted((tfaxdnn.multipliers.get(n) for n in tfaxdnn.multipliers.names(signed=False)),
                      key=lambda c: -c.mae_percent)
    m = next(c for c in unsigned if np.any(mapping_table(c)[codes] != codes))
    name = m.name
    plan = tfaxdnn.Plan({"conv1/conv": {"multiplier": name, "weight_mapping": "uniform"}}, quantization=UINT8)
    mapped = approximate_graph(gd, plan)
    a, w, w_mapped, za, zw, acc = run(mapped, x, [f"{p}/a:0", f"{p}/w:0", f"{p}/w_mapped:0", f"{p}/za:0", f"{p}/zw:0",
                                                  f"{p}/acc:0"])
    np.testing.assert_array_equal(w_mapped, mapping_table(m)[w.astype(np.int64)])
    assert not np.array_equal(w_mapped, w)  # the aggressive table does re-code some weights
    np.testing.assert_array_equal(acc, reference.conv2d(a, w_mapped, m.table, padding="SAME", za=za, zw=zw))
