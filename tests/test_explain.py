"""tfaxdnn.xai.explanations.compare: tf-explain maps of exact vs approximate models, similarity, grid PNG, IG cross-check."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfaxdnn
from tfaxdnn.data import load_mnist, preprocess_mnist
from tfaxdnn.xai import (conductance_integrated_gradients, explain, explanation_figure, save_explanation_grid,
                         spearman, top_k_iou)
from tfaxdnn.xai.explanations import methods as em

PNG = b"\x89PNG\r\n\x1a\n"
FAST = dict(n_steps=8, smoothgrad_samples=4)


def _cnn(seed=0, shape=(28, 28, 1)):
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape, name="image")
    h = keras.layers.Conv2D(6, 3, activation="relu", name="conv1")(inp)
    h = keras.layers.MaxPooling2D(2, name="pool1")(h)
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(h)
    h = keras.layers.MaxPooling2D(2, name="pool2")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    return keras.Model(inp, keras.layers.Dense(10, name="fc")(h), name="small_cnn")


@pytest.fixture(scope="module")
def mnist():
    (xtr, ytr), (xte, yte), _ = load_mnist(full=False)
    return preprocess_mnist(xtr[:1000]), ytr[:1000], preprocess_mnist(xte[:8]), yte[:8]


@pytest.fixture(scope="module")
def models(mnist):
    xtr, ytr, _, _ = mnist
    model = _cnn()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(xtr, ytr, batch_size=64, epochs=1, verbose=0)
    ax = tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier="mul8s_1L2N"), calibration_data=xtr[:200])
    return model, ax


def test_similarity_measures():
    a = np.arange(16.0).reshape(4, 4)
    assert spearman(a, a) == 1.0 and spearman(a, -a) == -1.0 and spearman(a, a ** 3) == pytest.approx(1.0)
    assert spearman(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0 and np.isnan(spearman(a, np.zeros((4, 4))))
    assert top_k_iou(a, a, 0.25) == 1.0
    b = a.copy()
    b[3] = 0  # the top 4 pixels of a (last row) are not among b's: the 4 largest |b| are 8..11
    assert top_k_iou(a, b, 0.25) == 0.0
    assert top_k_iou(a, -a, 0.25) == 1.0 and top_k_iou(a, a[::-1], 0.5) == 0.0  # magnitudes count
    c = a.copy()
    c[3, 3] = 10.0  # top 4 of c: 14, 13, 12 (shared with a) and 11 at (2, 3): IoU 3 / 5
    assert top_k_iou(a, c, 0.25) == pytest.approx(3 / 5)


def test_model_with_itself_is_identical(models, mnist):
    model, _ = models
    x = mnist[2][:3]
    res = explain(model, model, x, seed=1, **FAST)
    pred = np.asarray(model(x)).argmax(-1)
    np.testing.assert_array_equal(res.targets, pred)  # default target: the exact model's prediction
    assert res.layer == "pool2"  # last 4-D layer larger than 1x1
    assert list(res.methods) == ["integrated_gradients", "grad_cam", "smoothgrad", "occlusion"]
    for name, c in res.methods.items():
        assert c.exact.shape == c.approx.shape == (3, 28, 28), name
        assert np.ptp(c.exact[0]) > 0, name  # a real map, not a constant
        np.testing.assert_array_equal(c.exact, c.approx)
        assert np.all(c.spearman == 1.0) and np.all(c.top_k_iou == 1.0), name
    assert res.mean()["occlusion"] == {"spearman": 1.0, "top_k_iou": 1.0}
    d = json.loads(json.dumps(res.to_dict()))
    assert d["per_image"]["grad_cam"]["spearman"] == [1.0] * 3 and d["targets"] == pred.tolist()


def test_approximate_model_attends_differently(models, mnist):
    model, ax = models
    _, _, x, y = mnist
    res = explain(model, ax, x[:4], y[:4], **FAST)
    np.testing.assert_array_equal(res.targets, y[:4])
    means = res.mean()
    for name, s in means.items():  # similar (same evidence broadly) but no longer identical
        assert 0.2 < s["spearman"] < 0.995, (name, s)
        assert s["top_k_iou"] < 1.0, (name, s)
    assert not np.array_equal(res.methods["occlusion"].exact, res.methods["occlusion"].approx)


def test_occlusion_matches_manual_patch_drop():
    """Only the top-left 4x4 quadrant of an 8x8 image drives class 0: occluding it (mid-grey, 0.5) lowers p_0."""
    inp = keras.Input((8, 8, 1))
    quad = keras.layers.Cropping2D(((0, 4), (0, 4)))(inp)
    s = keras.layers.Flatten()(quad)
    model = keras.Model(inp, keras.layers.Dense(2, name="fc")(s))
    model.get_layer("fc").set_weights([np.tile([[0.1, 0.0]], (16, 1)), np.zeros(2)])
    x = np.zeros((1, 8, 8, 1), np.float32)
    x[0, :4, :4] = 1.0
    occ = em.occlusion(model, x, np.array([0]), patch_size=4)[0]  # x in [0, 1]: grey 0.5
    p = lambda img: float(tf.nn.softmax(model(img[None]))[0, 0])  # noqa: E731
    patched = x[0].copy()
    patched[:4, :4] = 0.5
    assert occ[0, 0] == pytest.approx(p(x[0]) - p(patched), abs=1e-5) and occ[0, 0] > 0.1
    assert occ[7, 7] == pytest.approx(0.0, abs=1e-6)  # the other quadrants do not matter
    black = em.occlusion(model, x, np.array([0]), patch_size=4, patch_value=0.0)[0]
    patched[:4, :4] = 0.0
    assert black[0, 0] == pytest.approx(p(x[0]) - p(patched), abs=1e-5)


def test_ig_conductance_cross_check_with_tf_explain():
    """tfaxdnn's conductance at the input (an identity layer in front of the model) is integrated gradients.

    tf-explain's raw attributions come from its public static methods ``generate_interpolations`` and
    ``get_integrated_gradients`` (mean gradient over m points a = i/(m-1), i = 0..m-1, zero baseline), times x.
    Conductance with ``riemann_trapezoid`` and ``n_steps = m - 1`` sums the gradient at the same points but the last,
    each times (x - 0)/(m - 1); tf-explain's ``VanillaGradients.compute_gradients`` gives that last gradient. So
    ``m * IG_tfx - x * g(x) == (m - 1) * C`` exactly (float32 tolerance), and at many steps the two agree directly.
    """
    from tf_explain.core import VanillaGradients

    model = _cnn(seed=3, shape=(12, 12, 1))
    x = np.random.default_rng(0).random((3, 12, 12, 1)).astype(np.float32)
    t = np.array([1, 4, 7])
    m = 16
    ig_tfx = em.integrated_gradients(model, x, t, n_steps=m)
    cond = conductance_integrated_gradients(model, x, t, n_steps=m - 1, method="riemann_trapezoid")
    g_end = np.stack([np.asarray(VanillaGradients.compute_gradients(x[i:i + 1], model, int(k)))[0]
                      for i, k in enumerate(t)])
    np.testing.assert_allclose(m * ig_tfx - x * g_end, (m - 1) * cond, rtol=1e-4, atol=1e-6)
    # Same path integral, different quadratures: at 200 points they agree to 1 % of the largest attribution, and
    # both are complete (sum = F(x) - F(0)) to 1 %.
    a = em.integrated_gradients(model, x, t, n_steps=200)
    b = conductance_integrated_gradients(model, x, t, n_steps=50)
    f = np.asarray(model(x))[np.arange(3), t] - np.asarray(model(np.zeros_like(x)))[np.arange(3), t]
    for v in (a, b):
        np.testing.assert_allclose(v.reshape(3, -1).sum(1), f, rtol=0.01)
    assert np.abs(a - b).max() < 0.01 * np.abs(b).max()


def test_sequential_called_on_data_works():
    """A Sequential model never built with an Input has no `output`: tf-explain's Grad-CAM fails on it directly."""
    keras.utils.set_random_seed(2)
    seq = keras.Sequential([keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
                            keras.layers.Conv2D(4, 3, activation="relu", name="c2"),
                            keras.layers.Flatten(), keras.layers.Dense(3, name="out")])
    x = np.random.default_rng(1).random((2, 10, 10, 1)).astype(np.float32)
    seq(x)
    res = explain(seq, seq, x, methods=("grad_cam", "smoothgrad"), **FAST)
    assert res.layer == "c2" and res.methods["grad_cam"].exact.shape == (2, 10, 10)
    assert np.all(res.methods["smoothgrad"].spearman == 1.0)


def test_smoothgrad_seeded():
    model = _cnn(seed=4, shape=(12, 12, 1))
    x = np.random.default_rng(2).random((2, 12, 12, 1)).astype(np.float32)
    a, b, c = (em.smoothgrad(model, x, np.array([0, 1]), num_samples=3, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_grid_and_figure_written(models, mnist, tmp_path):
    import matplotlib.image

    model, ax = models
    _, _, x, y = mnist
    res = explain(model, ax, x[:2], y[:2], methods=("integrated_gradients", "occlusion"), **FAST)
    path = save_explanation_grid(res, tmp_path / "sub" / "grid.png", title="test grid")
    with open(path, "rb") as f:
        assert f.read(8) == PNG
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[1] > img.shape[0] > 200  # 2 rows, 7 columns
    res2 = explanation_figure(model, ax, x, y, tmp_path / "fig.png", n_images=2, seed=0,
                              methods=("occlusion",), **FAST)
    with open(tmp_path / "fig.png", "rb") as f:
        assert f.read(8) == PNG
    summary = json.loads((tmp_path / "fig.json").read_text())
    assert len(summary["image_indices"]) == 2 and summary["targets"] == y[summary["image_indices"]].tolist()
    assert summary["mean"]["occlusion"]["spearman"] == pytest.approx(res2.mean()["occlusion"]["spearman"])


def test_bad_inputs_give_clear_errors(models, mnist):
    model, ax = models
    x = mnist[2][:2]
    with pytest.raises(ValueError, match=r"different inputs.*\(28, 28, 1\).*\(12, 12, 1\)"):
        explain(model, _cnn(shape=(12, 12, 1)), x)
    with pytest.raises(ValueError, match=r"Unknown explanation method 'lime'.*integrated_gradients"):
        explain(model, ax, x, methods=("lime",))
    with pytest.raises(ValueError, match=r"Grad-CAM layer 'conv9' is not a layer of model 'small_cnn'.*'conv1'"):
        explain(model, ax, x, methods=("grad_cam",), layer="conv9")
    with pytest.raises(ValueError, match=r"`images` must have shape \[N, 28, 28, 1\]"):
        explain(model, ax, x[..., 0][:, :20])
    with pytest.raises(ValueError, match="2 integer class indices"):
        explain(model, ax, x, labels=[1, 2, 3])
    with pytest.raises(ValueError, match=r"\[0, 10\).*11"):
        explain(model, ax, x, labels=[1, 11], methods=("occlusion",))


def test_callback_writes_grid_and_similarity_per_epoch(models, mnist, tmp_path):
    from tfaxdnn.xai import ExplanationCallback

    model, _ = models
    xtr, ytr, x, y = mnist
    ax = tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier="mul8s_1L2N"), calibration_data=xtr[:200])
    ax.compile(keras.optimizers.SGD(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = ExplanationCallback(model, (x[:2], y[:2]), tmp_path / "cb", methods=("occlusion",),
                             log_dir=str(tmp_path / "tb"), patch_size=7)
    ax.fit(xtr[:64], ytr[:64], batch_size=32, epochs=2, verbose=0, callbacks=[cb])
    lines = [json.loads(l) for l in (tmp_path / "cb" / "similarity.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [1, 2] and set(lines[0]["mean"]) == {"occlusion"}
    for e in (1, 2):
        with open(tmp_path / "cb" / f"epoch_{e:03d}.png", "rb") as f:
            assert f.read(8) == PNG
    assert cb.history[1]["mean"] == lines[1]["mean"]
    events = [str(p) for p in (tmp_path / "tb").iterdir()]
    tags = {v.tag for e in tf.compat.v1.train.summary_iterator(events[0]) for v in e.summary.value}
    assert {"explain/occlusion/spearman", "explain/occlusion/top_k_iou", "explain/grid"} <= tags
    with pytest.raises(ValueError, match="every=0"):
        ExplanationCallback(model, x[:2], tmp_path, every=0)


def test_cli_explain(models, mnist, tmp_path):
    import argparse

    from tfaxdnn.cli import explain as explain_cli

    model, ax = models
    xtr, ytr, x, y = mnist
    model.save(tmp_path / "m.keras")
    ax.save(tmp_path / "ax.keras")
    np.savez(tmp_path / "d.npz", x_train=(xtr[:10, ..., 0] * 255).astype(np.uint8), y_train=ytr[:10],
             x_test=(x[..., 0] * 255).astype(np.uint8), y_test=y)
    parser = argparse.ArgumentParser()
    explain_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["explain", "--model", str(tmp_path / "m.keras"), "--approx", str(tmp_path / "ax.keras"),
                              "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "out"), "--images", "2",
                              "--methods", "occlusion"])
    assert args.func(args) == 0
    summary = json.loads((tmp_path / "out" / "explain.json").read_text())
    assert list(summary["mean"]) == ["occlusion"] and summary["n_images"] == 2
    with open(tmp_path / "out" / "explain.png", "rb") as f:
        assert f.read(8) == PNG
    args = parser.parse_args(["explain", "--model", str(tmp_path / "m.keras"), "--approx", str(tmp_path / "ax.keras"),
                              "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "o2"), "--layer", "conv7"])
    with pytest.raises(SystemExit, match="Grad-CAM layer 'conv7'"):
        args.func(args)


def test_cli_plugin_registered():
    from tfaxdnn.cli import build_parser

    args = build_parser().parse_args(["explain", "--model", "m.keras", "--approx", "a.keras", "--data", "d.npz",
                                      "--out", "o", "--methods", "grad_cam", "occlusion", "--scale", "255"])
    assert args.methods == ["grad_cam", "occlusion"] and args.scale == 255.0 and args.images == 8
    from tfaxdnn.cli import explain as explain_cli

    assert args.func is explain_cli.run
