"""Layers that multiply but cannot be approximated: their GEMM shapes, so the hardware model prices them as exact.

`tfaxdnn.approximate` leaves SeparableConv, Conv1D/3D, transposed, 1-D depthwise and grouped convolutions in float
(`tfaxdnn.core.kinds.NOT_APPROXIMATED`). An accelerator that runs the rest of the model in 8-bit runs them as exact
8-bit GEMMs on the same array, so the hardware model prices them that way, in the energy of every plan and in the
all-exact reference alike (docs/hardware.md, "Layers that cannot be approximated"). Layers whose multiplications have
no GEMM shape here (`UNPRICED`: attention, recurrent, `EinsumDense`, ...) are never counted as zero: `estimate`
refuses the model unless told to exclude them by name.

Each shaped layer becomes one or more parts ``(suffix, kind, k, o, groups, f, input_elems, output_elems)`` per sample:
``groups`` GEMMs of ``(f x k) @ (k x o)``, as `tfaxdnn.hardware.shapes.LayerShape`.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from tfaxdnn.core import kinds

__all__ = ["SHAPED", "UNPRICED", "classify", "parts"]

Part = Tuple[str, str, int, int, int, int, int, int]


def _prod(values) -> int:
    return int(np.prod([int(v) for v in values], dtype=np.int64))


def _conv(layer, in_shape, out_shape) -> List[Part]:
    """Conv1D / Conv3D (and grouped): the kinds table's convolution GEMM (`tfaxdnn.core.kinds.gemm_conv`)."""
    return [("", "conv", *kinds.gemm_conv(layer, in_shape, out_shape), _prod(in_shape), _prod(out_shape))]


def _depthwise(layer, in_shape, out_shape) -> List[Part]:
    """DepthwiseConv1D: one GEMM per input channel (`tfaxdnn.core.kinds.gemm_depthwise`)."""
    return [("", "depthwise", *kinds.gemm_depthwise(layer, in_shape, out_shape), _prod(in_shape), _prod(out_shape))]


def _separable(layer, in_shape, out_shape) -> List[Part]:
    """SeparableConv1D/2D = depthwise (strided, per channel) then a 1x1 pointwise GEMM on its output."""
    taps, dm, cin, f = kinds.gemm_depthwise(layer, in_shape, out_shape)
    mid = f * cin * dm
    return [("/depthwise", "depthwise", taps, dm, cin, f, _prod(in_shape), mid),
            ("/pointwise", "pointwise", cin * dm, int(layer.filters), 1, f, mid, _prod(out_shape))]


def _transpose(layer, in_shape, out_shape) -> List[Part]:
    """ConvNDTranspose as the scatter GEMM (col2im): every input position times the ``cin x (taps * filters)``
    kernel; no multiplication by inserted zeros. The overlap-add of the products is not a MAC."""
    cin, f_in, taps = kinds.conv_geometry(layer, in_shape, in_shape)    # positions of the input
    return [("", "conv_transpose", cin, taps * int(layer.filters), 1, f_in, _prod(in_shape), _prod(out_shape))]


#: Keras class name -> GEMM parts (Keras 3 and tf_keras names).
SHAPED: Dict[str, Callable] = {
    "SeparableConv2D": _separable, "SeparableConv1D": _separable, "DepthwiseConv1D": _depthwise,
    "Conv1D": _conv, "Conv3D": _conv,
    "Conv1DTranspose": _transpose, "Conv2DTranspose": _transpose, "Conv3DTranspose": _transpose,
}

#: Layers with multiplications the model cannot shape: a model holding one is refused (or they are excluded, named).
#: Element-wise products (Multiply, Dot, unfolded BatchNormalization, activations) are outside the model, as always.
UNPRICED = tuple(n for n in kinds.NOT_APPROXIMATED if n not in SHAPED) + (
    "GroupedQueryAttention", "GroupQueryAttention", "Attention", "AdditiveAttention", "SimpleRNN", "LSTM", "GRU",
    "RNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "LocallyConnected1D")

_KIND_NAMES = tuple(k.name for k in kinds.KINDS)
_NOTES = {"SeparableConv2D": "depthwise + pointwise", "SeparableConv1D": "depthwise + pointwise",
          "Conv1DTranspose": "scatter GEMM", "Conv2DTranspose": "scatter GEMM", "Conv3DTranspose": "scatter GEMM"}


def classify(layer) -> Tuple[str, Optional[str]]:
    """How the hardware model treats a (tfmot-unwrapped) layer: ``("approximable", None)``, ``("exact", note)``
    (multiplies, cannot be approximated, priced exact), ``("unpriced", note)`` (multiplies, no GEMM shape) or
    ``("other", None)`` (no weight multiplication modelled). The most derived class name in a table decides."""
    inner = kinds.unwrap(layer)
    for name in (c.__name__ for c in type(inner).__mro__):
        if name in _KIND_NAMES:
            reason = kinds.unsupported_reason(inner)
            return ("approximable", None) if reason is None else ("exact", f"{type(inner).__name__}: {reason}")
        if name in SHAPED:
            return "exact", name + (f": {_NOTES[name]}" if name in _NOTES else "")
        if name in UNPRICED:
            return "unpriced", name
        if name == "TimeDistributed":
            wrapped = getattr(inner, "layer", None)
            if wrapped is not None and classify(wrapped)[0] != "other":
                return "unpriced", f"TimeDistributed({type(wrapped).__name__})"
            return "other", None
    return "other", None


def parts(layer, in_shape, out_shape) -> List[Part]:
    """GEMM parts of a layer `classify` calls ``"exact"`` (a not-approximable Conv2D / DepthwiseConv2D: its kind's
    own GEMM)."""
    inner = kinds.unwrap(layer)
    for name in (c.__name__ for c in type(inner).__mro__):
        if name in SHAPED:
            return SHAPED[name](inner, in_shape, out_shape)
        if name in _KIND_NAMES:
            kind = kinds.kind_of(inner)
            k, o, groups, f = kind.gemm(inner, in_shape, out_shape)
            return [("", kind.hw_kind, k, o, groups, f, _prod(in_shape), _prod(out_shape))]
    raise ValueError(f"Layer '{inner.name}' ({type(inner).__name__}) has no GEMM shape in the hardware model.")
