"""Approximate Keras layers (registered for ``.keras`` saving under the package name ``tfaxdnn``)."""

from tfaxdnn.layers.base import ApproxMixin
from tfaxdnn.layers.conv import ApproxConv2D, ApproxDepthwiseConv2D
from tfaxdnn.layers.dense import ApproxDense
from tfaxdnn.layers.fake_quant import FakeQuant

#: Keras base class name -> approximate class.
APPROX_CLASSES = {"Conv2D": ApproxConv2D, "DepthwiseConv2D": ApproxDepthwiseConv2D, "Dense": ApproxDense}

__all__ = ["ApproxConv2D", "ApproxDepthwiseConv2D", "ApproxDense", "FakeQuant", "ApproxMixin", "APPROX_CLASSES",
           "custom_objects"]


def custom_objects() -> dict:
    """Every serialisable tfaxdnn class by name, for loaders that need explicit ``custom_objects``."""
    return {c.__name__: c for c in (ApproxConv2D, ApproxDepthwiseConv2D, ApproxDense, FakeQuant)}
