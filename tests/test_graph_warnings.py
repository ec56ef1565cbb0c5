"""Frozen-graph rewrites say what they leave float, and refuse ambiguous calibration files."""

import numpy as np
import pytest
import tensorflow as tf

import tfaxdnn
from tfaxdnn.graphs.approximate import approximate_graph
from tfaxdnn.graphs.errors import GraphTransformError
from tfaxdnn.graphs.transforms import load_calibration


def depthwise_graph():
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 6, 6, 2], name="image")
        w = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 2, 1)).astype("float32"))
        y = tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "VALID", name="dw")
        k = tf.constant(np.random.default_rng(1).normal(size=(2, 3)).astype("float32"))
        tf.identity(tf.matmul(tf.reshape(y, [-1, 2]), k), name="out")
    return g.as_graph_def()


def test_approximate_warns_about_depthwise_left_float():
    with pytest.warns(UserWarning, match="graph is unchanged"):
        with pytest.warns(UserWarning, match="depthwise convolutions have no FakeQuant filter and stay float.*dw"):
            approximate_graph(depthwise_graph(), tfaxdnn.Plan(default_multiplier="mul8s_1KV6"))


def test_calibration_file_with_several_unnamed_arrays_is_refused(tmp_path):
    np.savez(tmp_path / "c.npz", a=np.zeros((2, 3)), b=np.ones((2, 3)))
    with pytest.raises(GraphTransformError, match=r"several arrays.*key=NAME"):
        load_calibration(str(tmp_path / "c.npz"))
    np.savez(tmp_path / "one.npz", images=np.ones((4, 3)))
    assert load_calibration(str(tmp_path / "one.npz")).shape == (4, 3)
