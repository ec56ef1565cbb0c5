"""Layer shapes as GEMMs: what the systolic-array model needs from a Keras model.

Every Conv2D / DepthwiseConv2D / Dense layer (Keras 3, also the approximate subclasses, and tf_keras layers wrapped by
tfmot's ``QuantizeWrapperV2``) becomes a `LayerShape`: ``groups`` independent GEMMs, each multiplying an
``f x k`` activation matrix (im2col rows) by a ``k x o`` weight matrix. Layers that multiply but cannot be
approximated (SeparableConv, Conv1D/3D, transposed, 1-D depthwise, grouped convolutions: `unapproximated`) become
shapes with ``approximable=False`` (a SeparableConv two: ``name/depthwise`` and ``name/pointwise``), priced exact.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

import numpy as np

from tfaxdnn.core import kinds
from tfaxdnn.hardware import unapproximated

#: `model_shapes` / `estimate` choices for layers that multiply but have no GEMM shape (`unapproximated.UNPRICED`).
UNPRICED_POLICIES = ("raise", "exclude")


@dataclasses.dataclass(frozen=True)
class LayerShape:
    """One layer as ``groups`` GEMMs of ``(f x k) @ (k x o)`` for one input sample.

    Attributes:
        name: layer name (for tfmot wrappers: the wrapped layer's name); a part of a SeparableConv layer ``sep`` is
            ``sep/depthwise`` or ``sep/pointwise`` (Keras layer names hold no ``/``).
        kind: ``"conv2d"``, ``"depthwise"`` or ``"dense"``; for layers that cannot be approximated also ``"conv"``
            (Conv1D/3D), ``"pointwise"`` (a SeparableConv's 1x1 part) or ``"conv_transpose"`` (scatter GEMM: ``f``
            input positions, ``k = cin``, ``o = taps * filters``).
        k: reduction length per output (``kh*kw*cin/groups`` for convolutions, ``in_features`` for Dense).
        o: output channels per group (``filters/groups``; depthwise: ``depth_multiplier``; Dense: ``units``).
        groups: independent GEMMs (1; depthwise: input channels; grouped conv: ``groups``).
        f: output positions per sample that reuse each weight (``Ho*Wo``; Dense: product of middle dims, else 1).
        input_elems, output_elems: activation elements per sample.
        layer: the Keras layer (None for shapes built by hand), used to read approximate-layer attributes.
        approximable: False for a layer that multiplies but cannot be approximated: `estimate` prices it with the
            accelerator's exact multiplier whatever the plan says (and warns).
        note: what the layer is, for such layers (``"SeparableConv2D: depthwise + pointwise"``).
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
    approximable: bool = True
    note: str = ""

    @property
    def origin(self) -> str:
        """Name of the Keras layer this GEMM belongs to (a SeparableConv's parts share it)."""
        return self.layer.name if self.layer is not None else self.name

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


def layer_shapes(layer) -> List[LayerShape]:
    """The `LayerShape` parts of one layer: one for Conv2D / DepthwiseConv2D / Dense and single-GEMM layers that
    cannot be approximated, two for a SeparableConv, none for layers without a modelled multiplication or without a
    GEMM shape (`unapproximated.classify` tells them apart)."""
    inner = kinds.unwrap(layer)
    how, note = unapproximated.classify(inner)
    if how not in ("approximable", "exact"):
        return []
    in_shape, out_shape = _io_shapes(layer, inner)
    _check_known(inner.name, "input", in_shape)
    _check_known(inner.name, "output", out_shape)
    if how == "approximable":
        kind = kinds.kind_of(inner)
        k, o, groups, f = kind.gemm(inner, in_shape, out_shape)
        return [LayerShape(inner.name, kind.hw_kind, k, o, groups, f, int(np.prod(in_shape)),
                           int(np.prod(out_shape)), inner)]
    return [LayerShape(inner.name + suffix, kind, k, o, groups, f, n_in, n_out, inner, approximable=False, note=note)
            for suffix, kind, k, o, groups, f, n_in, n_out in unapproximated.parts(inner, in_shape, out_shape)]


def layer_shape(layer) -> Optional[LayerShape]:
    """The `LayerShape` of a one-GEMM layer (Conv2D / DepthwiseConv2D / Dense, or one that cannot be approximated,
    ``approximable=False``), None for other layers; a SeparableConv (two GEMMs) is an error: use `layer_shapes`."""
    shapes = layer_shapes(layer)
    if len(shapes) > 1:
        raise ValueError(f"Layer '{kinds.unwrap(layer).name}' is {len(shapes)} GEMMs {[s.name for s in shapes]}; "
                         "use layer_shapes().")
    return shapes[0] if shapes else None


def _iter_layers(model):
    for layer in getattr(model, "layers", []):
        if kinds.kind_of(layer) is None and getattr(layer, "layers", None) and kinds.unwrap(layer) is layer:
            yield from _iter_layers(layer)  # nested sub-model
        else:
            yield layer


class ModelShapes(list):
    """`model_shapes`' list of `LayerShape`; ``unpriced`` names the layers that multiply but have no GEMM shape
    (``"name (Class)"``), excluded from the list (only with ``unpriced="exclude"``)."""

    unpriced: Tuple[str, ...] = ()


def unpriced_layers(model) -> Tuple[str, ...]:
    """``"name (Class)"`` of every layer of ``model`` that multiplies but has no GEMM shape in the hardware model."""
    out = []
    for layer in _iter_layers(model):
        how, note = unapproximated.classify(layer)
        if how == "unpriced":
            out.append(f"{kinds.unwrap(layer).name} ({note})")
    return tuple(out)


def quoted(entries) -> str:
    """``"name (Class)"`` entries as ``'name' (Class), ...`` for messages."""
    return ", ".join("'{}' ({}".format(*e.partition(" (")[::2]) for e in entries)


def unpriced_error(names, where: str = "estimate") -> ValueError:
    """The error for layers without a GEMM shape (``unpriced="raise"``)."""
    return ValueError(f"{where}: layers {quoted(names)} multiply but have no GEMM shape in the hardware model, so "
                      "their energy, latency and memory cannot be priced. Pass unpriced='exclude' to leave them "
                      "out (named in the report and warned: every figure, the all-exact reference included, then "
                      "omits them).")


def model_shapes(model, unpriced: str = "raise") -> ModelShapes:
    """`LayerShape` of every multiplying layer of ``model`` with a GEMM shape, in ``model.layers`` order:
    Conv2D / DepthwiseConv2D / Dense, and the layers that cannot be approximated (``approximable=False``).

    Args:
        unpriced: ``"raise"`` (default) or ``"exclude"``: what to do with layers that multiply but have no GEMM
            shape (`unapproximated.UNPRICED`, e.g. MultiHeadAttention). Excluded ones are listed in the result's
            ``unpriced``; they are never counted as zero silently.

    Raises:
        TypeError: ``model`` has no ``layers`` attribute.
        ValueError: no supported layer, a layer with unknown shapes, duplicate layer names, or (``"raise"``) a
            layer without a GEMM shape.
    """
    if not hasattr(model, "layers"):
        raise TypeError(f"`model` must be a Keras model (Keras 3 or tf_keras). Received: {type(model).__name__}")
    if unpriced not in UNPRICED_POLICIES:
        raise ValueError(f"`unpriced` must be one of {UNPRICED_POLICIES}. Received: unpriced={unpriced!r}")
    missing = unpriced_layers(model)
    if missing and unpriced == "raise":
        raise unpriced_error(missing, "model_shapes")
    shapes = ModelShapes(s for layer in _iter_layers(model) for s in layer_shapes(layer))
    shapes.unpriced = missing
    if not shapes:
        raise ValueError(f"Model '{getattr(model, 'name', '?')}' has no Conv2D, DepthwiseConv2D or Dense layer (nor "
                         "another layer with a GEMM shape); nothing to map onto the systolic array."
                         + (f" Layers without a GEMM shape: {quoted(missing)}." if missing else ""))
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
