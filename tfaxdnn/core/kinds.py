"""The one table of layer kinds that can be approximated (SPEC section 4).

Every part of the package that asks "can this layer be approximated, and how" reads `KINDS`: plans, the Keras
rewrite, the tfmot import, XAI layer selection, the hardware model and the frozen-graph rewrite. A kind is matched
by class hierarchy *names*, so Keras 3 layers, their approximate subclasses and tf_keras layers inside tfmot's
``QuantizeWrapperV2`` are recognised without importing either Keras. Adding a kind = one `LayerKind` row (and its
approximate layer class).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional, Tuple

import numpy as np

__all__ = ["LayerKind", "KINDS", "kind_of", "kind_named", "supports", "unsupported_reason", "unwrap",
           "approximable_layers", "approximable_names", "n_outputs", "kind_of_graph_op", "NOT_APPROXIMATED",
           "gemm_conv", "gemm_depthwise", "gemm_dense", "conv_geometry"]


def gemm_dense(layer, in_shape, out_shape) -> Tuple[int, int, int, int]:
    return int(in_shape[-1]), int(layer.units), 1, int(np.prod(in_shape[:-1], dtype=np.int64))


def conv_geometry(layer, in_shape, out_shape) -> Tuple[int, int, int]:
    """``(in_channels, output positions, kernel taps)`` of a convolution of any rank (channels_first aware)."""
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
    cin = int(in_shape[0] if channels_first else in_shape[-1])
    f = int(np.prod(out_shape[1:] if channels_first else out_shape[:-1], dtype=np.int64))
    return cin, f, int(np.prod([int(v) for v in layer.kernel_size], dtype=np.int64))


def gemm_conv(layer, in_shape, out_shape) -> Tuple[int, int, int, int]:
    """``(k, o, groups, f)`` of a (grouped) convolution of any rank: im2col rows ``f`` = output positions."""
    cin, f, taps = conv_geometry(layer, in_shape, out_shape)
    groups, filters = int(getattr(layer, "groups", 1) or 1), int(layer.filters)
    if cin % groups or filters % groups:
        raise ValueError(f"Layer '{layer.name}': groups={groups} must divide input channels ({cin}) and filters "
                         f"({filters}).")
    return taps * cin // groups, filters // groups, groups, f


def gemm_depthwise(layer, in_shape, out_shape) -> Tuple[int, int, int, int]:
    """``(k, o, groups, f)`` of a depthwise convolution of any rank: one GEMM per input channel."""
    cin, f, taps = conv_geometry(layer, in_shape, out_shape)
    return taps, int(layer.depth_multiplier), cin, f


@dataclasses.dataclass(frozen=True)
class LayerKind:
    """One approximable layer kind.

    Attributes:
        name: the Keras class name (``"Conv2D"``, ``"DepthwiseConv2D"``, ``"Dense"``).
        hw_kind: the hardware model's name of the GEMM kind (``"conv2d"``, ``"depthwise"``, ``"dense"``).
        tfmot_kernel_attr: the kernel variable's name in tf_keras / tfmot wrappers.
        graph_ops: frozen-graph op types of this kind (float and TF1-quantised).
        approx_op: the compiled op that replaces it in a frozen graph.
        gemm: ``(layer, input_shape, output_shape) -> (k, o, groups, f)`` per sample (batch axis dropped): ``groups``
            GEMMs of ``(f x k) @ (k x o)``.
    """

    name: str
    hw_kind: str
    tfmot_kernel_attr: str
    graph_ops: Tuple[str, ...]
    approx_op: str
    gemm: Callable = dataclasses.field(repr=False, compare=False)

    def n_outputs(self, layer) -> int:
        """Output channels / units (depthwise: ``in_channels * depth_multiplier``, ordered ``c * mult + m``)."""
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            kernel = getattr(layer, self.tfmot_kernel_attr)
        shape = tuple(kernel.shape)
        return int(shape[-2] * shape[-1]) if self.name == "DepthwiseConv2D" else int(shape[-1])


#: Approximable kinds, most specific first (a subclass test takes the first match).
KINDS: Tuple[LayerKind, ...] = (
    LayerKind("DepthwiseConv2D", "depthwise", "depthwise_kernel",
              ("DepthwiseConv2dNative",), "TfaxApproxDepthwiseConv2D", gemm_depthwise),
    LayerKind("Conv2D", "conv2d", "kernel", ("Conv2D", "QuantizedConv2D"),
              "TfaxApproxConv2D", gemm_conv),
    LayerKind("Dense", "dense", "kernel", ("MatMul", "QuantizedMatMul"),
              "TfaxApproxMatMul", gemm_dense),
)

#: Layers with multiplications that stay float (a user is warned when a model holds them).
NOT_APPROXIMATED = ("SeparableConv2D", "Conv1D", "Conv3D", "Conv2DTranspose", "Conv1DTranspose", "DepthwiseConv1D",
                    "SeparableConv1D", "EinsumDense", "MultiHeadAttention", "LocallyConnected2D")


def _class_names(obj) -> List[str]:
    return [c.__name__ for c in type(obj).__mro__]


def unwrap(layer):
    """tfmot ``QuantizeWrapper(V2)`` -> the wrapped layer; anything else unchanged."""
    if any(n.startswith("QuantizeWrapper") for n in _class_names(layer)) and hasattr(layer, "layer"):
        return layer.layer
    return layer


def kind_named(name: str) -> LayerKind:
    for kind in KINDS:
        if kind.name == name:
            return kind
    raise ValueError(f"Unknown layer kind {name!r}. Valid choices: {[k.name for k in KINDS]}")


def kind_of(layer) -> Optional[LayerKind]:
    """The `LayerKind` of ``layer`` (or of the layer a tfmot wrapper holds), else None."""
    names = set(_class_names(unwrap(layer)))
    for kind in KINDS:
        if kind.name in names:
            return kind
    return None


def unsupported_reason(layer) -> Optional[str]:
    """Why ``layer`` cannot be approximated (None when it can)."""
    inner = unwrap(layer)
    kind = kind_of(inner)
    if kind is None:
        return (f"{type(inner).__name__} layers cannot be approximated (supported layer types: "
                f"{[k.name for k in KINDS]})")
    if kind.name == "Conv2D" and int(getattr(inner, "groups", 1) or 1) != 1:
        return f"grouped convolutions (groups={inner.groups}) cannot be approximated"
    if getattr(inner, "data_format", "channels_last") != "channels_last":
        return f"data_format={inner.data_format!r} is not supported (approximate layers are channels_last)"
    return None


def supports(layer) -> bool:
    """True when ``tfaxdnn.approximate`` can replace ``layer``."""
    return unsupported_reason(layer) is None


def approximable_layers(model) -> list:
    """The layers of ``model`` that can be approximated, in model order (top level only)."""
    return [layer for layer in model.layers if supports(layer)]


def approximable_names(model) -> List[str]:
    """Names of `approximable_layers` (for tfmot models: the wrapped layers' names)."""
    return [unwrap(layer).name for layer in approximable_layers(model)]


def n_outputs(layer) -> int:
    """Output channels / units of an approximable layer."""
    kind = kind_of(layer)
    if kind is None:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) is not an approximable layer.")
    return kind.n_outputs(unwrap(layer))


def kind_of_graph_op(op: str) -> Optional[LayerKind]:
    """The `LayerKind` of a frozen-graph op type, else None."""
    for kind in KINDS:
        if op in kind.graph_ops:
            return kind
    return None
