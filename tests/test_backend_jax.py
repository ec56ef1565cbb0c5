"""Issue 26 item 3: the approximate layers on Keras's JAX backend, on a machine without TensorFlow.

One subprocess (KERAS_BACKEND=jax, ``tensorflow``/``tf_keras``/``tensorflow_model_optimization`` unimportable)
imports tfaxdnn.layers/multipliers/models, rebuilds approximate models with ``tfaxdnn.approximate`` from a float
model and the activation ranges measured here under TensorFlow, loads a ``.keras`` approximate model saved here,
and runs the low-rank ops; its logits must equal, bit for bit, those of the LUT op computed here.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfaxdnn
from tfaxdnn.layers import use_path
from tfaxdnn.ops import nn
from tfaxdnn.rewrite.keras_model import calibrate
from tfaxdnn.search.evaluator import Evaluator

pytest.importorskip("jax")

SCRIPT = r'''
import importlib.abc, json, os, sys


class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf_keras", "tensorflow_model_optimization"):
            raise ImportError(f"{name} is unimportable in this test")
        return None


sys.meta_path.insert(0, NoTensorFlow())
import numpy as np
import keras
import jax
import tfaxdnn
import tfaxdnn.layers, tfaxdnn.models, tfaxdnn.multipliers
from tfaxdnn.ops import codes, lowrank, reference
from tfaxdnn.rewrite.keras_model import Calibration

d = sys.argv[1]
out = {"backend": np.array(keras.backend.backend()), "x64": np.array(jax.config.read("jax_enable_x64"))}
spec = json.load(open(os.path.join(d, "spec.json")))
data = np.load(os.path.join(d, "data.npy"))
model = keras.models.load_model(os.path.join(d, "float.keras"))
calibration = Calibration(model.name, {k: tuple(v) for k, v in spec["ranges"].items()}, "minmax", data)
for name, plan in spec["plans"].items():
    ax = tfaxdnn.approximate(model, plan, calibration_data=calibration)
    out[name + "_predict"] = ax.predict(data, batch_size=6, verbose=0)  # jit, two batches of 6
    if name == "signed":
        out["signed_call"] = np.asarray(ax(data))                         # eager, one batch
        out["signed_grad"] = np.asarray(jax.jit(jax.grad(lambda x: ax(x).sum()))(data[:3]))
        table = ax.get_layer("fc2").ax_table                              # assigned behind the layer:
        original = table.numpy()
        table.assign(tfaxdnn.multipliers.get("mul8s_1L2J").table)
        out["stale_predict"] = ax.predict(data, batch_size=6, verbose=0)  # the old trace refuses (NaN)
        out["changed_call"] = np.asarray(ax(data))                        # eager calls read the new table
        table.assign(original)
        out["restored_call"] = np.asarray(ax(data))
g = np.random.default_rng(9).standard_normal((3, 7, 6, 5)).astype("float32") * 100
out["ordered_gap"] = np.asarray(jax.jit(tfaxdnn.layers.OrderedGlobalAveragePooling2D())(g))
loaded = keras.models.load_model(os.path.join(d, "approx.keras"))
out["loaded_call"] = np.asarray(loaded(data))
out["loaded_codes"] = loaded.get_layer("dw").weight_codes()

# the functional low-rank ops against the NumPy reference, at the float32 chunk bounds (extreme codes)
rng = np.random.default_rng(5)
for name in ("mul8s_1L2N", "mul8u_KEM"):
    m = tfaxdnn.multipliers.get(name)
    lo, hi, dt = (-128, 127, np.int8) if m.signed else (0, 255, np.uint8)
    a, b = rng.choice(np.array([lo, hi], dt), (3, 1100)), rng.choice(np.array([lo, hi], dt), (1100, 2))
    x, f = rng.choice(np.array([lo, hi], dt), (2, 5, 6, 64)), rng.choice(np.array([lo, hi], dt), (3, 3, 64, 2))
    got = jax.jit(lambda: (lowrank.lowrank_matmul(a, b, m, lo, [hi, lo]),
                           lowrank.lowrank_conv2d(x, f, m, 2, "SAME", 1, hi, lo),
                           lowrank.lowrank_depthwise_conv2d(x, f[..., :1], m, 1, "SAME", 2, hi, lo)))()
    want = (reference.matmul(a, b, m.table, lo, np.array([hi, lo])),
            reference.conv2d(x, f, m.table, 2, "SAME", 1, hi, lo),
            reference.depthwise_conv2d(x, f[..., :1], m.table, 1, "SAME", 2, hi, lo))
    out["ops_" + name] = np.array([np.array_equal(np.asarray(g), w) for g, w in zip(got, want)])

out["fake_quant"] = np.asarray(jax.jit(lambda v: codes.fake_quant(v, -1.3, 2.7))(data))
# codes at rounding boundaries: XLA turns a division by a broadcast scale into a multiplication by its reciprocal
# and fuses multiply-adds, which flips about one code in 20,000 (and one fake-quantised value in 10) unless prevented
qx, qs = np.load(os.path.join(d, "qdata.npy")), np.load(os.path.join(d, "qscale.npy"))
zeros64 = np.zeros(64, np.int32)
out["codes_per_channel"] = np.asarray(jax.jit(lambda v, sc: codes.quantize(v, sc, zeros64, True))(qx, qs))
out["codes_scalar"] = np.asarray(jax.jit(lambda v: codes.quantize(v, qs[3], 0, True))(qx))
out["fake_quant_many"] = np.asarray(jax.jit(lambda v: codes.fake_quant(v, -0.61, 0.83))(qx))
from tfaxdnn.ops import backend
out["mul_then_add"] = np.asarray(jax.jit(lambda u, v, w: backend.unfused(u * v) + w)(qx, qs, qx[::-1]))
out["mul_then_add_numpy"] = qx * qs + qx[::-1]     # NumPy rounds twice, as TensorFlow's kernels do
out["fused_anyway"] = np.asarray(jax.jit(lambda u, v, w: u * v + w)(qx, qs, qx[::-1]))

errors = []
try:  # a table that needs float64 GEMMs, without jax_enable_x64
    lowrank.lowrank_matmul(np.zeros((1, 4), np.uint8), np.zeros((4, 1), np.uint8), "mul8u_185Q")
except ValueError as e:
    errors.append(str(e))
layer = tfaxdnn.layers.ApproxDense(2, multiplier="mul8u_T83")  # error rank 17, above the default limit 16
try:
    layer(np.zeros((1, 3), np.float32))
except ValueError as e:
    errors.append(str(e))
layer.compute_path = "lut"
try:
    layer(np.zeros((1, 3), np.float32))
except ValueError as e:
    errors.append(str(e))
out["errors"] = np.array(errors)
# the bfloat16 form (JAX on a GPU by default), asked for on this CPU: ops against the reference, the model's logits
rng = np.random.default_rng(8)
for name in ("mul8s_1L2N", "mul8s_1L2J", "mul8s_1KVA", "mul8s_1KVM", "mul8s_1KV6", "mul8s_1KR3"):
    m = tfaxdnn.multipliers.get(name)
    ext = lambda shape: rng.choice(np.array([-128, 127], np.int8), shape)
    a, b, zb = ext((3, 1300)), ext((1300, 3)), rng.integers(-128, 128, 3)
    x, f = ext((2, 7, 9, 70)), ext((3, 2, 70, 4))
    xc, fc = ext((1, 4, 4, 600)), ext((3, 3, 600, 2))    # 1L2N: ~57 channels per exact float32 chunk
    got = jax.jit(lambda: (lowrank.lowrank_matmul(a, b, m, -7, zb, precision="bfloat16"),
                           lowrank.lowrank_conv2d(x, f, m, 2, "SAME", 1, 5, -9, precision="bfloat16"),
                           lowrank.lowrank_conv2d(x, f, m, (1, 2), "VALID", 2, -3, zb[:1].repeat(4),
                                                  precision="bfloat16"),
                           lowrank.lowrank_conv2d(xc, fc, m, 1, "SAME", 1, 127, -128, precision="bfloat16"),
                           lowrank.lowrank_depthwise_conv2d(x, f[..., :2], m, 2, "SAME", 1, 5, zb[:2].repeat(70),
                                                            precision="bfloat16")))()
    want = (reference.matmul(a, b, m.table, -7, zb), reference.conv2d(x, f, m.table, 2, "SAME", 1, 5, -9),
            reference.conv2d(x, f, m.table, (1, 2), "VALID", 2, -3, zb[:1].repeat(4)),
            reference.conv2d(xc, fc, m.table, 1, "SAME", 1, 127, -128),
            reference.conv2d(x, f[..., :2], m.table, 2, "SAME", 1, 5, zb[:2].repeat(70), depthwise=True))
    out["bf16_" + name] = np.array([np.array_equal(np.asarray(g), w) for g, w in zip(got, want)])
os.environ["TFAXDNN_LOWRANK_GEMM"] = "bfloat16"       # read when a layer first plans its product
ax = tfaxdnn.approximate(model, spec["plans"]["signed"], calibration_data=calibration)
out["signed_bf16_predict"] = ax.predict(data, batch_size=6, verbose=0)
del os.environ["TFAXDNN_LOWRANK_GEMM"]
# a search's candidate evaluation under JAX (the GPU path of XAI-NAS / XAI-Gen): the Evaluator, given the ranges
# measured under TensorFlow (`tfaxdnn.search.calibration_file`), scores the plan image for image as it does there
from tfaxdnn.search.evaluator import Evaluator
ev = Evaluator(model, (data, np.load(os.path.join(d, "labels.npy"))), data, calibration_samples=None)
ev.use_calibration(calibration)
scored = ev(spec["plans"]["signed"])
out["evaluator_correct"], out["evaluator_energy"] = scored.correct, np.array(scored.energy_j)
out["evaluator_device"] = np.array(backend.device())
out["tf_modules"] = np.array(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras")))
np.savez(os.path.join(d, "jax.npz"), **out)
'''


def _float_model():
    """Every approximable kind, a folded BatchNorm, a residual add, max pooling, a rank-3 Dense input."""
    keras.utils.set_random_seed(7)
    inp = keras.Input((10, 10, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv1")(inp)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=1, activation="relu", name="dw")(x)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.Conv2D(12, 3, strides=2, dilation_rate=1, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Reshape((4, 12), name="rows")(x)
    x = keras.layers.Dense(6, activation="relu", name="fc1")(x)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(5, name="fc2")(x)
    model = keras.Model(inp, out, name="mixed")
    rng = np.random.default_rng(3)
    bn = model.get_layer("bn1")
    bn.set_weights([rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.1, 8), rng.normal(0, 0.1, 8), rng.uniform(0.5, 2, 8)])
    return model


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("jax_backend")
    model = _float_model()
    data = np.random.default_rng(4).normal(size=(12, 10, 10, 3)).astype("float32")
    cal = calibrate(model, data)
    plans = {
        "signed": tfaxdnn.Plan({"conv1": "mul8s_1L2J", "dw": "mul8s_1L2N",
                                "conv2": {"multiplier": "mul8s_1KVA", "weight_mapping": "uniform"},
                                "fc1": {"multiplier": "mul8s_1KV6", "skip_fraction": 0.5}, "fc2": "mul8s_1KR3"},
                               quantization={"activation": "asymmetric"},
                               importance={"fc1": [0.3, 0.1, 0.9, 0.5, 0.2, 0.8]}),
        "unsigned": tfaxdnn.Plan(default_multiplier="mul8u_KEM", quantization={"dtype": "uint8"}),
    }
    want = {}
    with use_path("lut"):
        for name, plan in plans.items():
            ax = tfaxdnn.approximate(model, plan, calibration_data=cal)
            want[name] = ax.predict(data, verbose=0)
            if name == "signed":
                ax.save(d / "approx.keras")
                want["dw_codes"] = ax.get_layer("dw").weight_codes()
                x = tf.constant(data[:3])
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    s = tf.reduce_sum(ax(x))
                want["grad"] = tape.gradient(s, x).numpy()
    want["fake_quant"] = tf.quantization.fake_quant_with_min_max_vars(data, -1.3, 2.7).numpy()
    rng = np.random.default_rng(6)
    qx = rng.normal(0, 0.3, (20000, 64)).astype("float32")
    qs = rng.uniform(0.001, 0.01, 64).astype("float32")
    np.save(d / "qdata.npy", qx)
    np.save(d / "qscale.npy", qs)
    want["codes_per_channel"] = nn.quantize(tf.constant(qx), tf.constant(qs), tf.zeros(64, tf.int32), tf.int8).numpy()
    want["codes_scalar"] = nn.quantize(tf.constant(qx), tf.constant(qs[3]), tf.constant(0), tf.int8).numpy()
    want["fake_quant_many"] = tf.quantization.fake_quant_with_min_max_vars(qx, -0.61, 0.83).numpy()
    labels = np.arange(len(data)) % 5
    ev = Evaluator(model, (data, labels), data, calibration_samples=None)
    ev.use_calibration(cal)
    scored = ev(plans["signed"])
    want["evaluator_correct"], want["evaluator_energy"] = scored.correct, scored.energy_j
    np.save(d / "labels.npy", labels)
    model.save(d / "float.keras")
    np.save(d / "data.npy", data)
    spec = {"ranges": {k: list(v) for k, v in cal.ranges.items()}, "plans": {n: p.to_json() for n, p in plans.items()}}
    (d / "spec.json").write_text(json.dumps(spec))
    (d / "script.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_", "TFAXDNN_"))}
    # (partitionable threefry, JAX's default, compiled each Keras initializer for seconds on CPU)
    env.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", JAX_THREEFRY_PARTITIONABLE="0")
    proc = subprocess.run([sys.executable, str(d / "script.py"), str(d)], env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-6000:]
    return want, dict(np.load(d / "jax.npz"))


def test_the_subprocess_ran_jax_without_tensorflow(jax_run):
    _, got = jax_run
    assert str(got["backend"]) == "jax" and not bool(got["x64"])
    assert got["tf_modules"].size == 0, got["tf_modules"]


@pytest.mark.parametrize("plan", ["signed", "unsigned"])
def test_approximate_under_jax_gives_the_lut_op_logits(jax_run, plan):
    want, got = jax_run
    np.testing.assert_array_equal(got[plan + "_predict"], want[plan])   # jit (model.predict), batches of 6
    if plan == "signed":
        np.testing.assert_array_equal(got["signed_call"], want[plan])   # eager call, one batch
    assert np.abs(want[plan]).max() > 0


def test_a_search_candidate_scores_alike_under_jax(jax_run):
    want, got = jax_run
    np.testing.assert_array_equal(got["evaluator_correct"], want["evaluator_correct"])
    assert float(got["evaluator_energy"]) == want["evaluator_energy"]
    assert str(got["evaluator_device"]) == "jax on CPU"


def test_a_table_assigned_behind_the_layer_under_jax(jax_run):
    want, got = jax_run
    assert np.isnan(got["stale_predict"]).all()
    assert not np.isnan(got["changed_call"]).any() and not np.array_equal(got["changed_call"], want["signed"])
    np.testing.assert_array_equal(got["restored_call"], want["signed"])


def test_keras_file_saved_under_tensorflow_loads_under_jax(jax_run):
    want, got = jax_run
    np.testing.assert_array_equal(got["loaded_call"], want["signed"])
    np.testing.assert_array_equal(got["loaded_codes"], want["dw_codes"])


def test_ordered_global_average_pooling_has_the_same_bits_under_jax(jax_run):
    # the float mean before a final dense layer: one unit in the last place moved an input code on the GPU before
    _, got = jax_run
    g = np.random.default_rng(9).standard_normal((3, 7, 6, 5)).astype("float32") * 100
    here = tfaxdnn.layers.OrderedGlobalAveragePooling2D()(g).numpy()
    np.testing.assert_array_equal(got["ordered_gap"].view(np.uint32), here.view(np.uint32))


def test_straight_through_gradient_under_jax(jax_run):
    # the gradient of the exact product of the dequantised operands, passed straight through, as on TensorFlow
    # (float convolution gradients of two libraries: equal to rounding)
    want, got = jax_run
    assert np.abs(want["grad"]).max() > 0
    np.testing.assert_allclose(got["signed_grad"], want["grad"], rtol=1e-4, atol=1e-5)


def test_lowrank_ops_and_fake_quant_under_jax_match(jax_run):
    want, got = jax_run
    np.testing.assert_array_equal(got["fake_quant"], want["fake_quant"])
    for name in ("mul8s_1L2N", "mul8u_KEM"):
        assert got["ops_" + name].all(), (name, got["ops_" + name])


def test_bfloat16_form_under_jax_is_exact(jax_run):
    # int8 values in bfloat16 convolutions / GEMMs with float32 accumulation (the GPU default): matmul, conv and
    # grouped depthwise, zero points (per channel too), strides, dilation, channel chunks; the model's logits (every
    # layer kind) equal the LUT op's
    want, got = jax_run
    for name in ("mul8s_1L2N", "mul8s_1L2J", "mul8s_1KVA", "mul8s_1KVM", "mul8s_1KV6", "mul8s_1KR3"):
        assert got["bf16_" + name].all(), (name, got["bf16_" + name])
    np.testing.assert_array_equal(got["signed_bf16_predict"], want["signed"])


def test_codes_and_fake_quant_at_rounding_boundaries_under_jax(jax_run):
    want, got = jax_run
    for key in ("codes_per_channel", "codes_scalar", "fake_quant_many"):
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    np.testing.assert_array_equal(got["mul_then_add"], got["mul_then_add_numpy"])
    # what `backend.unfused` prevents (if XLA ever stops contracting, this says so and the guard may go)
    assert (got["fused_anyway"] != got["mul_then_add_numpy"]).any()


def test_jax_errors_name_the_table_and_what_to_do(jax_run):
    _, got = jax_run
    needs64, rank, lut = (str(e) for e in got["errors"])
    assert "mul8u_185Q" in needs64 and "jax_enable_x64" in needs64
    assert "mul8u_T83" in rank and "error rank 17" in rank and "set_max_rank(17)" in rank
    assert "needs the TensorFlow backend" in lut


def test_division_is_corrected_to_the_ieee_quotient():
    """XLA's GPU division is not correctly rounded (an H100 got ~3 quotients in 10 one unit off, which flipped a weight
    code of a ResNet-20): the quotient is corrected through an exact residual. Here quotients put one unit off on
    purpose come back as NumPy's IEEE quotients."""
    import jax.numpy as jnp

    from tfaxdnn.ops import backend

    rng = np.random.default_rng(0)
    a = rng.normal(0, 10, (5000, 64)).astype(np.float32)
    b = np.broadcast_to(rng.uniform(0.001, 2, 64).astype(np.float32), a.shape)
    want = a / b
    q = jnp.asarray(want)
    up, down = rng.random(want.shape) < 0.3, rng.random(want.shape) < 0.3
    above, below = jnp.nextafter(q, jnp.float32(np.inf)), jnp.nextafter(q, jnp.float32(-np.inf))
    off = jnp.where(up, above, jnp.where(down, below, q))
    assert (np.asarray(off) != want).mean() > 0.4
    np.testing.assert_array_equal(np.asarray(backend._correctly_rounded(jnp.asarray(a), jnp.asarray(b), off)), want)
    edge = np.array([0, 1e-30, -5, np.inf, np.nan, 3e38, 7], np.float32)
    by = np.array([1, 3, 0, 2, 1, 0.5, 1e-40], np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(np.asarray(backend._correctly_rounded(jnp.asarray(edge), jnp.asarray(by),
                                                                             jnp.asarray(edge / by))), edge / by)
