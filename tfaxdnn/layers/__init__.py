"""Approximate Keras layers (registered for ``.keras`` saving under the package name ``tfaxdnn``), on any Keras 3
backend: their products go through the LUT op (TensorFlow) or exact low-rank GEMMs (`paths` chooses; `set_path`,
`use_path`, `set_max_rank`). Importing this package imports no TensorFlow."""

from tfaxdnn.layers.base import ApproxMixin
from tfaxdnn.layers.conv import ApproxConv2D, ApproxDepthwiseConv2D
from tfaxdnn.layers.dense import ApproxDense
from tfaxdnn.layers.fake_quant import FakeQuant
from tfaxdnn.layers.paths import choices, get_path, max_rank, set_max_rank, set_path, use_path
from tfaxdnn.layers.pooling import OrderedGlobalAveragePooling2D

__all__ = ["ApproxConv2D", "ApproxDepthwiseConv2D", "ApproxDense", "FakeQuant", "OrderedGlobalAveragePooling2D",
           "ApproxMixin", "custom_objects",
           "weight_codes", "approximate_class", "APPROXIMATE_CLASSES", "set_path", "get_path", "use_path",
           "set_max_rank", "max_rank", "choices"]


#: the approximate layer of each kind of `tfaxdnn.core.kinds.KINDS`
APPROXIMATE_CLASSES = {"Conv2D": ApproxConv2D, "DepthwiseConv2D": ApproxDepthwiseConv2D, "Dense": ApproxDense}


def approximate_class(kind) -> type:
    """The approximate layer class of a `tfaxdnn.core.kinds.LayerKind` (or its name)."""
    return APPROXIMATE_CLASSES[getattr(kind, "name", kind)]


def weight_codes(model) -> dict:
    """``{layer: weight codes}`` of every approximate layer of ``model`` (`ApproxMixin.weight_codes`)."""
    return {layer.name: layer.weight_codes() for layer in model.layers if isinstance(layer, ApproxMixin)}


def custom_objects() -> dict:
    """Every serialisable tfaxdnn class by name, for loaders that need explicit ``custom_objects``."""
    return {c.__name__: c for c in (ApproxConv2D, ApproxDepthwiseConv2D, ApproxDense, FakeQuant,
                                    OrderedGlobalAveragePooling2D)}
