"""Layer shapes as GEMMs: what the systolic-array model needs from a Keras model.

Every Conv2D / DepthwiseConv2D / Dense layer (Keras 3, also the approximate subclasses, and tf_keras layers wrapped by
tfmot's ``QuantizeWrapperV2``) becomes a `LayerShape`: ``groups`` independent GEMMs, each multiplying an
``f x k`` activation matrix (im2col rows) by a ``k x o`` weight matrix.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional

import numpy as np

from tfaxdnn.core import kinds


@dataclasses.dataclass(frozen=True)
class LayerShape:
    """One layer as ``groups`` GEMMs of ``(f x k) @ (k x o)`` for one input sample.

    Attributes:
        name: layer name (for tfmot wrappers: the wrapped layer's name).
        kind: ``"conv2d"``, ``"depthwise"`` or ``"dense"``.
        k: reduction length per output (``kh*kw*cin/groups`` for convolutions, ``in_features`` for Dense).
        o: output channels per group (``filters/groups``; depthwise: ``depth_multiplier``; Dense: ``units``).
        groups: independent GEMMs (1; depthwise: input channels; grouped conv: ``groups``).
        f: output positions per sample that reuse each weight (``Ho*Wo``; Dense: product of middle dims, else 1).
        input_elems, output_elems: activation elements per sample.
        layer: the Keras layer (None for shapes built by hand), used to read approximate-layer attributes.
    """

    name: str
    kind: str
    k: int
    o: int
    groups: int
    f: int
    input_elems: int
    output_elems: int
    layer: object = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def outputs(self) -> int:
        """Total output channels / units ``groups * o``."""
        return self.groups * self.o

    @property
    def weights(self) -> int:
        """Total weights ``n_w = groups * k * o``."""
        return self.groups * self.k * self.o


def _io_shapes(outer, inner):
    """(input_shape, output_shape) without the batch axis, from whichever of the layers knows them."""
    for obj in (outer, inner):
        try:
            return tuple(obj.input.shape)[1:], tuple(obj.output.shape)[1:]
        except Exception:  # noqa: BLE001 - Keras raises various errors for unbuilt / multiply-called layers
            pass
        try:
            return tuple(obj.input_shape)[1:], tuple(obj.output_shape)[1:]
        except Exception:  # noqa: BLE001
            pass
    raise ValueError(f"Layer '{inner.name}' ({type(inner).__name__}): cannot read its input/output shapes. Build the "
                     "model on a fixed input shape (keras.Input(shape=...)) and call each layer exactly once.")


def _check_known(name, what, shape):
    if any(d is None for d in shape):
        raise ValueError(f"Layer '{name}': {what} shape {shape} has unknown dimensions; the hardware model needs "
                         "fixed shapes (build the model with keras.Input(shape=...) without None axes).")


def layer_shape(layer) -> Optional[LayerShape]:
    """The `LayerShape` of one Conv2D / DepthwiseConv2D / Dense layer, or None for other layers."""
    inner = kinds.unwrap(layer)
    kind = kinds.kind_of(inner)
    if kind is None:
        return None
    in_shape, out_shape = _io_shapes(layer, inner)
    _check_known(inner.name, "input", in_shape)
    _check_known(inner.name, "output", out_shape)
    k, o, groups, f = kind.gemm(inner, in_shape, out_shape)
    return LayerShape(inner.name, kind.hw_kind, k, o, groups, f, int(np.prod(in_shape)), int(np.prod(out_shape)),
                      inner)


def _iter_layers(model):
    for layer in getattr(model, "layers", []):
        if kinds.kind_of(layer) is None and getattr(layer, "layers", None) and kinds.unwrap(layer) is layer:
            yield from _iter_layers(layer)  # nested sub-model
        else:
            yield layer


def model_shapes(model) -> List[LayerShape]:
    """`LayerShape` of every Conv2D / DepthwiseConv2D / Dense layer of ``model``, in ``model.layers`` order.

    Raises:
        TypeError: ``model`` has no ``layers`` attribute.
        ValueError: no supported layer, a layer with unknown shapes, or duplicate layer names.
    """
    if not hasattr(model, "layers"):
        raise TypeError(f"`model` must be a Keras model (Keras 3 or tf_keras). Received: {type(model).__name__}")
    shapes = [s for s in (layer_shape(layer) for layer in _iter_layers(model)) if s is not None]
    if not shapes:
        raise ValueError(f"Model '{getattr(model, 'name', '?')}' has no Conv2D, DepthwiseConv2D or Dense layer; "
                         "nothing to map onto the systolic array.")
    names = [s.name for s in shapes]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"Duplicate layer names {dup}: plans address layers by name, rename them.")
    return shapes


def kept_per_group(shape: LayerShape, kept_mask: Optional[np.ndarray]) -> np.ndarray:
    """Kept outputs per group (int array of length ``groups``) from a boolean mask over all outputs."""
    if kept_mask is None:
        return np.full(shape.groups, shape.o, dtype=np.int64)
    mask = np.asarray(kept_mask, dtype=bool).reshape(-1)
    if mask.size != shape.outputs:
        raise ValueError(f"Layer '{shape.name}': kept_outputs mask has {mask.size} entries, expected "
                         f"{shape.outputs} (one per output channel/unit).")
    # Keras orders grouped/depthwise outputs group-major (channel c*o + j belongs to group c).
    return mask.reshape(shape.groups, shape.o).sum(axis=1).astype(np.int64)
