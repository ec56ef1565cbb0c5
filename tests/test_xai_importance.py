"""Layer/block importance, reductions, block detection, plots."""

import numpy as np
import pytest
import keras

from tfaxdnn.xai import (LayerImportance, detect_blocks, layer_importance, reduce_neurons,
                         save_layer_importance_plot, select_layers)


def _res_model():
    keras.utils.set_random_seed(7)
    inp = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="stem")(inp)
    y = keras.layers.Conv2D(2, 3, padding="same", name="blk_conv")(h)
    y = keras.layers.Add(name="blk_add")([y, h])
    y = keras.layers.ReLU(name="blk_out")(y)
    z = keras.layers.Conv2D(2, 3, padding="same", name="blk2_conv")(y)
    z = keras.layers.Add(name="blk2_add")([z, y])
    z = keras.layers.Flatten()(z)
    return keras.Model(inp, keras.layers.Dense(3, name="fc")(z))


def test_reductions():
    c = np.array([[1.0, -2.0], [0.5, 0.5]])
    np.testing.assert_allclose(reduce_neurons(c, "abs_sum"), [3.0, 1.0])
    np.testing.assert_allclose(reduce_neurons(c, "abs_mean"), [1.5, 0.5])
    np.testing.assert_allclose(reduce_neurons(c, "sum"), [-1.0, 1.0])
    np.testing.assert_allclose(reduce_neurons(c, "signed_sum"), [-1.0, 1.0])
    with pytest.raises(ValueError, match=r"\['abs_sum', 'abs_mean', 'sum'\]. Received: reduce='max'"):
        reduce_neurons(c, "max")


def test_block_detection_and_default_selection():
    m = _res_model()
    assert detect_blocks(m) == {"blk": "blk_out", "blk2": "blk2_add"}
    assert select_layers(m) == ["stem", "blk_conv", "blk_out", "blk2_conv", "blk2_add", "fc"]


def test_signed_sum_cannot_rank_cut_layers_abs_sum_can():
    m = _res_model()
    rng = np.random.default_rng(0)
    x, y = rng.random((6, 6, 6, 1)).astype("float32"), np.array([0, 1, 2, 0, 1, 2])
    signed = layer_importance(m, (x, y), targets="label", reduce="sum", n_steps=20, verbose=False)
    cuts = [signed.scores["stem"], signed.scores["fc"], signed.blocks["blk"], signed.blocks["blk2"]]
    np.testing.assert_allclose(cuts, cuts[0], rtol=0.01)  # all equal mean F(x) - F(x')
    res = layer_importance(m, (x, y), targets=[0, 2], n_steps=20, verbose=False)
    assert isinstance(res, LayerImportance) and res.reduce == "abs_sum"
    assert res.layers == ("stem", "blk_conv", "blk2_conv", "fc")
    assert list(res.per_experiment) == ["class 0", "class 2"] and res.samples == {"class 0": 2, "class 2": 2}
    mean = {k: (res.per_experiment["class 0"][k] + res.per_experiment["class 2"][k]) / 2 for k in res.layers}
    assert res.scores == pytest.approx(mean)
    assert sorted(res.ranking) == sorted(res.layers) and res.scores[res.ranking[0]] == max(res.scores.values())
    assert set(res.block_ranking) == {"blk", "blk2"} and "block" in str(res)


def test_importance_errors_and_plot(tmp_path):
    m = _res_model()
    x = np.random.default_rng(1).random((3, 6, 6, 1)).astype("float32")
    with pytest.raises(ValueError, match="No sample with label 2"):
        layer_importance(m, (x, np.array([0, 1, 1])), targets=[2], verbose=False)
    with pytest.raises(ValueError, match="needs labels"):
        layer_importance(m, x, targets="label", verbose=False)
    with pytest.raises(ValueError, match="unknown output layer 'nope'"):
        layer_importance(m, x, blocks={"b": "nope"}, verbose=False)
    res = layer_importance(m, x, targets="predicted", blocks=False, n_steps=4, verbose=False)
    assert res.blocks == {} and list(res.per_experiment) == ["predicted"]
    with pytest.raises(ValueError, match=r"\['neuron', 'element'\]. Received: granularity='channel'"):
        layer_importance(m, x, granularity="channel", verbose=False)
    el = layer_importance(m, x, targets=[0, 1], n_steps=4, granularity="element", verbose=False)
    res = layer_importance(m, x, targets=[0, 1], n_steps=4, verbose=False)
    assert all(el.scores[k] >= res.scores[k] - 1e-9 for k in res.layers)  # |sum| <= sum |.|
    assert el.scores["fc"] == pytest.approx(res.scores["fc"]) and el.granularity == "element"
    path = save_layer_importance_plot(res, tmp_path / "fig" / "importance.png", title="tiny")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_title_fits_and_legend_explains_the_red_bar():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from tfaxdnn.xai import plot_layer_importance

    scores = {"conv1": 0.8, "conv2": 0.3, "conv3": 0.05, "fc1": 0.02, "fc2": 1.0}
    res = LayerImportance(layers=tuple(scores), scores=scores, per_experiment={"label": scores})
    title = "XAI-Gen layer importance (validation accuracy drop)"
    fig = plot_layer_importance(res, title=title, ylabel="validation accuracy drop")
    FigureCanvasAgg(fig).draw()
    box, page = fig._suptitle.get_window_extent(), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1  # not clipped
    assert fig._suptitle.get_text().replace("\n", " ") == title
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["most important layer", "other layers"]
    ax = fig.axes[0]
    assert [p.get_facecolor() == legend.legend_handles[0].get_facecolor() for p in ax.patches] == [
        False, False, False, False, True]
    assert ax.get_ylabel() == "validation accuracy drop"
    flat = {k: 1.0 for k in scores}  # nothing stands out: no red bar, no legend
    assert not plot_layer_importance(LayerImportance(tuple(flat), flat, {"label": flat})).legends
