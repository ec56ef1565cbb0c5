"""Shared test setup: quiet TF logs, deterministic seeds, loading a script (example or benchmark) as a module."""

import importlib.util
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def load_script(relative_path: str, name: str):
    """The repository's script ``relative_path`` (e.g. ``examples/demo.py``) imported as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def conv_matmul_graph(seed: int = 3):
    """A float frozen graph ``image [N, 6, 6, 2]`` -> 3x3 conv (``conv1/Conv2D``, 4 filters) -> ReLU -> matmul
    (``output``, 3 classes), and the generator that drew its weights (for calibration data drawn after them)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    w = rng.normal(size=(3, 3, 2, 4)).astype("float32")
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 6, 6, 2], name="image")
        y = tf.nn.relu(tf.nn.conv2d(x, tf.constant(w), 1, "SAME", name="conv1/Conv2D"))
        tf.matmul(tf.reshape(y, [-1, 144]), tf.constant(rng.normal(size=(144, 3)).astype("float32")), name="output")
    return g.as_graph_def(), rng


@pytest.fixture(scope="session")
def float_graph():
    """`conv_matmul_graph` as a fixture: call it for ``(graph_def, rng)``."""
    return conv_matmul_graph
