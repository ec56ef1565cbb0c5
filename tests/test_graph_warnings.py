"""Frozen-graph rewrites say what they leave float, and refuse ambiguous calibration files."""

import numpy as np
import pytest
import tensorflow as tf

from graph_transforms.errors import GraphTransformError
from graph_transforms.quantize import quantize_graph
from graph_transforms.transforms import load_calibration


def depthwise_graph():
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 6, 6, 2], name="image")
        w = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 2, 1)).astype("float32"))
        y = tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "VALID", name="dw")
        k = tf.constant(np.random.default_rng(1).normal(size=(2, 3)).astype("float32"))
        tf.identity(tf.matmul(tf.reshape(y, [-1, 2]), k), name="out")
    return g.as_graph_def()


def test_quantize_warns_about_depthwise_left_float():
    x = np.random.default_rng(0).random((8, 6, 6, 2)).astype("float32")
    with pytest.warns(UserWarning, match="depthwise convolutions stay float.*dw"):
        quantize_graph(depthwise_graph(), "image", x)


def test_calibration_file_with_several_unnamed_arrays_is_refused(tmp_path):
    np.savez(tmp_path / "c.npz", a=np.zeros((2, 3)), b=np.ones((2, 3)))
    with pytest.raises(GraphTransformError, match=r"several arrays.*key=NAME"):
        load_calibration(str(tmp_path / "c.npz"))
    np.savez(tmp_path / "one.npz", images=np.ones((4, 3)))
    assert load_calibration(str(tmp_path / "one.npz")).shape == (4, 3)
