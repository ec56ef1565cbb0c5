"""tfmot-quantised tf_keras models: their own grids are reused; the exact multiplier reproduces tfmot's predict."""

import numpy as np
import pytest

tf_keras = pytest.importorskip("tf_keras")
tfmot = pytest.importorskip("tensorflow_model_optimization")

import tfaxdnn  # noqa: E402
from tfaxdnn.layers import ApproxConv2D, ApproxDense, FakeQuant  # noqa: E402


@pytest.fixture(scope="module")
def qat():
    tf_keras.utils.set_random_seed(0)
    inp = tf_keras.Input((12, 12, 2))
    x = tf_keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = tf_keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = tf_keras.layers.BatchNormalization(name="bn")(x)
    x = tf_keras.layers.ReLU(name="relu")(x)
    y = tf_keras.layers.Conv2D(4, 1, name="side")(x)
    x = tf_keras.layers.Add(name="add")([x, y])
    x = tf_keras.layers.MaxPooling2D(name="pool")(x)
    x = tf_keras.layers.Flatten(name="flat")(x)
    out = tf_keras.layers.Dense(5, name="fc")(x)
    model = tfmot.quantization.keras.quantize_model(tf_keras.Model(inp, out))
    model.compile("adam", "mse")
    x = np.random.default_rng(0).uniform(0, 1, (64, 12, 12, 2)).astype("float32")
    model.fit(x, np.random.default_rng(1).uniform(size=(64, 5)), epochs=2, verbose=0)
    return model, x


def test_exact_multiplier_reproduces_tfmot_predict(qat):
    model, x = qat
    before = [w.copy() for w in model.get_weights()]
    ax = tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier="mul8s_1KV6"))
    assert isinstance(ax.get_layer("conv"), ApproxConv2D) and isinstance(ax.get_layer("fc"), ApproxDense)
    assert any(isinstance(layer, FakeQuant) for layer in ax.layers)
    ref = model.predict(x, verbose=0)
    diff = np.abs(ax.predict(x, verbose=0) - ref).max()
    assert diff <= 1e-5 * np.abs(ref).max()
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_unplanned_layers_keep_tfmot_fake_quantised_kernels(qat):
    model, x = qat
    ax = tfaxdnn.approximate(model, {"layers": {"quant_fc": "mul8s_1KV6"}})  # wrapper names are accepted
    assert type(ax.get_layer("conv")).__name__ == "Conv2D"
    np.testing.assert_allclose(ax.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_approximate_multiplier_changes_outputs_and_skipping(qat):
    model, x = qat
    ref = model.predict(x, verbose=0)
    ax = tfaxdnn.approximate(model, {"layers": {"conv": {"multiplier": "mul8s_1L2N", "skip_fraction": 0.5,
                                                         "weight_mapping": "uniform"}}},
                             importance={"conv": np.array([4.0, 1.0, 3.0, 2.0])})
    np.testing.assert_array_equal(ax.get_layer("conv").kept_outputs, [True, False, True, False])
    assert np.abs(ax.predict(x, verbose=0) - ref).max() > 0


def test_errors_name_the_problem(qat):
    model, _ = qat
    with pytest.raises(ValueError, match=r"'cnv'.*Did you mean: 'conv'"):
        tfaxdnn.approximate(model, {"layers": {"cnv": "mul8s_1KV6"}})
    with pytest.raises(ValueError, match="weight_mapping='data' needs calibration"):
        tfaxdnn.approximate(model, {"layers": {"fc": {"weight_mapping": "data"}}})
    plain = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(2)])
    with pytest.raises(TypeError, match="without tfmot quantisation wrappers"):
        tfaxdnn.approximate(plain, {})


def test_sequential_and_uncalibrated_models():
    seq = tf_keras.Sequential([tf_keras.Input((8, 8, 1)), tf_keras.layers.Conv2D(3, 3, activation="relu", name="c"),
                               tf_keras.layers.Flatten(name="f"), tf_keras.layers.Dense(4, name="d")])
    q = tfmot.quantization.keras.quantize_model(seq)
    with pytest.raises(ValueError, match="'quantize_layer(_[0-9]+)?'.*has not been trained or calibrated"):
        tfaxdnn.approximate(q, tfaxdnn.Plan(default_multiplier="mul8s_1KV6"))
    x = np.random.default_rng(0).uniform(size=(16, 8, 8, 1)).astype("float32")
    q.compile("adam", "mse")
    q.fit(x, np.zeros((16, 4)), verbose=0)
    ax = tfaxdnn.approximate(q, tfaxdnn.Plan(default_multiplier="mul8s_1KV6"))
    np.testing.assert_allclose(ax.predict(x, verbose=0), q.predict(x, verbose=0), atol=1e-5)
