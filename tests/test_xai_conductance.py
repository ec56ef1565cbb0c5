"""Conductance: closed form, completeness (Sequential cut, residual block), plain reference loop, chunking, tf_keras."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from tfaxdnn.xai import LayerConductance, SUPPORTED_METHODS, approximation_parameters, layer_conductance
from tfaxdnn.xai import neuron_conductance


def _seq_cnn(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(3, 3, activation="relu", name="c1"),
        keras.layers.MaxPooling2D(2, name="p1"),
        keras.layers.Conv2D(4, 2, activation="relu", name="c2"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(5, activation="relu", name="d1"),
        keras.layers.Dense(3, name="out"),
    ], name="tiny_seq")


def _residual(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="stem")(inp)
    y = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="b_conv1")(h)
    y = keras.layers.Conv2D(3, 3, padding="same", name="b_conv2")(y)
    y = keras.layers.Add(name="b_add")([y, h])
    y = keras.layers.ReLU(name="b_out")(y)
    y = keras.layers.GlobalAveragePooling2D(name="gap")(y)
    return keras.Model(inp, keras.layers.Dense(4, name="fc")(y), name="tiny_res")


def _rel_delta(lc, cond, x, t):
    delta = lc.convergence_delta(cond, x, None, t)
    f = lc.forward(x)[np.arange(len(x)), t] - lc.forward(np.zeros_like(x))[np.arange(len(x)), t]
    return {k: np.abs(v) / np.abs(f) for k, v in delta.items()}


def test_alphas_match_captum_rules():
    steps, alphas = approximation_parameters("gausslegendre")
    a, w = np.array(alphas(5)), np.array(steps(5))
    assert np.all(np.diff(a) > 0) and 0 < a[0] and a[-1] < 1 and np.isclose(w.sum(), 1.0)
    steps, alphas = approximation_parameters("riemann_trapezoid")
    assert np.allclose(alphas(5), np.linspace(0, 1, 5)) and np.allclose(steps(4), [0.125, 0.25, 0.25, 0.125])
    with pytest.raises(ValueError, match="riemann_trapezoid.*gausslegendre.*Received: method='simpson'"):
        approximation_parameters("simpson")
    assert "gausslegendre" in SUPPORTED_METHODS


def test_linear_model_closed_form():
    keras.utils.set_random_seed(1)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="h"), keras.layers.Dense(2, name="out")])
    x = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    cond = layer_conductance(m, x, target=[1, 0], layers=["h"], method="riemann_trapezoid", n_steps=4,
                             verbose=False)["h"]
    W, _ = m.get_layer("h").get_weights()
    V, _ = m.get_layer("out").get_weights()
    want = np.stack([V[:, t] * (x[i] @ W) for i, t in enumerate([1, 0])])
    np.testing.assert_allclose(cond, want, rtol=1e-5, atol=1e-6)


def test_completeness_sequential_every_layer_is_a_cut():
    m = _seq_cnn()
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype("float32")
    t = np.array([0, 1, 2, 0, 1])
    lc = LayerConductance(m)
    assert lc.layer_names == ("c1", "c2", "d1", "out")
    cond = lc.attribute(x, target=t, n_steps=50)
    assert cond["c1"].shape == (5, 6, 6, 3) and cond["out"].shape == (5, 3)
    for name, err in _rel_delta(lc, cond, x, t).items():
        assert err.max() < 0.01, (name, err)


def test_residual_block_output_complete_inner_conv_not():
    m = _residual()
    x = np.random.default_rng(1).random((4, 6, 6, 2)).astype("float32")
    t = np.array([0, 1, 2, 3])
    lc = LayerConductance(m)
    assert lc.layer_names == ("stem", "b_conv1", "b_conv2", "b_out", "fc")
    err = _rel_delta(lc, lc.attribute(x, target=t), x, t)
    for cut in ("stem", "b_out", "fc"):
        assert err[cut].max() < 0.01, (cut, err[cut])
    for inner in ("b_conv1", "b_conv2"):  # part of F's change flows through the shortcut instead
        assert err[inner].min() > 0.05, (inner, err[inner])


def _reference(model, layer, x, baseline, target, n_steps, method):
    """Plain per-layer, per-step loop (Captum's definition), independent of the library's chunking."""
    _, alphas_fn = approximation_parameters(method)
    tap = keras.Model(model.inputs, [model.get_layer(layer).output, model.outputs[0]])
    out = []
    for i in range(len(x)):
        ys, gs = [], []
        for a in alphas_fn(n_steps + 1):
            p = tf.constant((baseline[i] + a * (x[i] - baseline[i]))[None])
            with tf.GradientTape() as tape:
                tape.watch(p)
                y, logits = tap(p)
                f = logits[0, target[i]]
            ys.append(y.numpy()[0])
            gs.append(tape.gradient(f, y).numpy()[0])
        out.append(sum(gs[s] * (ys[s + 1] - ys[s]) for s in range(n_steps)))
    return np.stack(out)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid"])
def test_matches_plain_reference_loop(method):
    m = _residual(seed=3)
    rng = np.random.default_rng(2)
    x = rng.random((2, 6, 6, 2)).astype("float32")
    base = 0.1 * rng.random((2, 6, 6, 2)).astype("float32")
    t = [2, 1]
    got = layer_conductance(m, x, t, baseline=base, n_steps=6, method=method, batch_size=5, verbose=False)
    for layer in ("stem", "b_conv1", "b_out"):
        np.testing.assert_allclose(got[layer], _reference(m, layer, x, base, t, 6, method), rtol=1e-4, atol=1e-6)


def test_chunking_does_not_change_result():
    m = _seq_cnn(seed=4)
    x = np.random.default_rng(3).random((3, 8, 8, 1)).astype("float32")
    lc = LayerConductance(m)
    full = lc.attribute(x, target=2, n_steps=10, internal_batch_size=1000)
    for bs in (1, 2, 7):
        part = lc.attribute(x, target=2, n_steps=10, internal_batch_size=bs)
        for k in full:
            np.testing.assert_allclose(part[k], full[k], rtol=1e-4, atol=1e-6)


def test_neuron_conductance_sums_conv_channels():
    m = _seq_cnn()
    x = np.random.default_rng(4).random((2, 8, 8, 1)).astype("float32")
    layer = layer_conductance(m, x, 1, n_steps=8, verbose=False)
    neuron = neuron_conductance(m, x, 1, n_steps=8, verbose=False)
    assert neuron["c1"].shape == (2, 3) and neuron["d1"].shape == (2, 5)
    np.testing.assert_allclose(neuron["c1"], layer["c1"].sum(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(neuron["d1"], layer["d1"])


def test_tf_keras_model_matches_keras3():
    import tf_keras

    m = _seq_cnn(seed=5)
    tm = tf_keras.Sequential([
        tf_keras.Input((8, 8, 1)),
        tf_keras.layers.Conv2D(3, 3, activation="relu", name="c1"),
        tf_keras.layers.MaxPooling2D(2, name="p1"),
        tf_keras.layers.Conv2D(4, 2, activation="relu", name="c2"),
        tf_keras.layers.Flatten(name="flat"),
        tf_keras.layers.Dense(5, activation="relu", name="d1"),
        tf_keras.layers.Dense(3, name="out"),
    ])
    tm.set_weights(m.get_weights())
    x = np.random.default_rng(5).random((2, 8, 8, 1)).astype("float32")
    a = layer_conductance(m, x, [0, 2], n_steps=10, verbose=False)
    lc = LayerConductance(tm)
    b, delta = lc.attribute(x, target=[0, 2], n_steps=10, return_convergence_delta=True)
    assert lc.layer_names == ("c1", "c2", "d1", "out")
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-6)


def test_validation_messages():
    m = _seq_cnn()
    x = np.zeros((2, 8, 8, 1), "float32")
    with pytest.raises(ValueError, match=r"Unknown layer 'c3'.*'c1'"):
        LayerConductance(m, ["c3"])
    lc = LayerConductance(m, ["c1"])
    with pytest.raises(ValueError, match="must have shape \\[N, 8, 8, 1\\].*Received: inputs.shape=\\(2, 8, 8\\)"):
        lc.attribute(x[..., 0], target=0)
    with pytest.raises(ValueError, match="`target` is required"):
        lc.attribute(x)
    with pytest.raises(ValueError, match=r"\[0, 3\).*containing 3"):
        lc.attribute(x, target=3)
    with pytest.raises(ValueError, match="2 ints"):
        lc.attribute(x, target=[0, 1, 2])
    with pytest.raises(ValueError, match="n_steps=0"):
        lc.attribute(x, target=0, n_steps=0)
    with pytest.raises(ValueError, match="gausslegendre"):
        lc.attribute(x, target=0, method="left")
    with pytest.raises(ValueError, match="baselines"):
        lc.attribute(x, target=0, baselines=np.zeros((3, 8, 8, 1)))
    with pytest.raises(ValueError, match="Keras 3 or tf_keras Model"):
        LayerConductance(lambda v: v)


def _saved_and_loaded(model, tmp_path):
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    return keras.models.load_model(path)


@pytest.mark.parametrize("build", [_seq_cnn, _residual])
def test_model_loaded_from_keras_file_has_the_in_memory_conductance(build, tmp_path):
    # Keras rebuilds a loaded Sequential model more than once: each layer then has several calls and `layer.output`
    # (the first one) is not connected to `model.outputs`; tapping it gave None gradients, silently zeroed.
    m = build(seed=3)
    loaded = _saved_and_loaded(m, tmp_path)
    shape = (3,) + tuple(m.inputs[0].shape[1:])
    x = np.random.default_rng(3).random(shape).astype("float32")
    want = layer_conductance(m, x, target=[0, 1, 2], n_steps=8, verbose=False)
    got = layer_conductance(loaded, x, target=[0, 1, 2], n_steps=8, verbose=False)
    assert list(got) == list(want)
    for name in want:
        assert np.abs(want[name]).sum() > 0, name
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-6, err_msg=name)


class _StopGradient(keras.layers.Layer):
    def call(self, x):
        return keras.ops.stop_gradient(x)


def test_none_gradient_is_an_error_naming_the_layer():
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    cut = _StopGradient(name="stop")(keras.layers.Dense(3, name="cut_off")(inp))
    h = keras.layers.Add(name="add")([cut, keras.layers.Dense(3, name="kept")(inp)])
    m = keras.Model(inp, keras.layers.Dense(2, name="out")(h))
    x = np.ones((2, 4), "float32")
    with pytest.raises(ValueError, match=r"no gradient \(None\).*\['cut_off'\]"):
        layer_conductance(m, x, target=0, layers=["cut_off", "kept"], n_steps=4, verbose=False)
    kept = layer_conductance(m, x, target=0, layers=["kept", "out"], n_steps=4, verbose=False)
    assert all(np.abs(v).sum() > 0 for v in kept.values())


def test_layer_called_twice_in_the_graph_is_an_error():
    inp = keras.Input((3,))
    shared = keras.layers.Dense(3, name="shared")
    out = keras.layers.Dense(2, name="out")(shared(shared(inp)))
    with pytest.raises(ValueError, match="Layer 'shared' .*called 2 times"):
        LayerConductance(keras.Model(inp, out), ["shared"])
