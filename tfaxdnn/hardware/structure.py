"""Structured skipping: which input channels of each layer are provably zero because a producer skipped them.

A neuron skipped by the plan outputs exactly 0 (the approximate layers apply the skip mask after bias and
activation). Following the Keras graph from every layer with skipped outputs, a zero survives:

- element-wise / per-channel layers (ReLU, LeakyReLU, ELU, PReLU, Activation, BatchNormalization, Rescaling,
  Dropout/noise layers, Identity) where the layer maps 0 to 0 on that channel (checked by calling the layer on
  zeros, so ``BN(0) = beta - gamma * mean / sqrt(var + eps) != 0`` stops the zero). A BatchNormalization that is the
  only consumer of a linear Conv2D/DepthwiseConv2D is folded into it on the accelerator (as ``tfaxdnn.approximate``
  does), so it passes the zero;
- channel-wise reshaping layers (pooling, global pooling, padding, cropping, up-sampling): a channel that is zero
  everywhere stays zero;
- Flatten / Reshape: every element keeps its zero (a channel becomes ``H*W`` inputs of the next Dense);
- Concatenate keeps positions; Multiply is zero where any input is; Add / Subtract / Average / Maximum / Minimum are
  zero only where **every** input is zero, so a residual add passes a skipped channel only when the shortcut is zero
  there too. Skip masks known only by their count (a plan's ``skip_fraction`` without neuron scores) are not used to
  intersect branches: the positions are unknown, so nothing is provably zero after such a merge.

Every other layer (or a ``channels_first`` layout, a nested sub-model, a graph that cannot be read) stops the
propagation, which only ever under-counts the savings. Each Conv2D / DepthwiseConv2D / Dense layer then receives the
mask of its input channels (features for Dense) that are zero for every input.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from tfaxdnn.core import kinds

_unwrap = kinds.unwrap


def _kind(layer):
    kind = kinds.kind_of(layer)
    return None if kind is None else kind.hw_kind


_ELEMENTWISE = {"ReLU", "LeakyReLU", "ELU", "PReLU", "ThresholdedReLU", "Activation", "BatchNormalization",
                "Rescaling", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity"}
_CHANNELWISE = {"MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
                "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
                "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "ZeroPadding1D", "ZeroPadding2D",
                "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D",
                "UpSampling3D"}
_RESHAPE = {"Flatten", "Reshape"}
_ALL_ZERO_MERGE = {"Add", "Subtract", "Average", "Maximum", "Minimum"}

#: ``(zero mask over the tensor without batch axis, positions known)``; None = no element provably zero.
Zeros = Optional[Tuple[np.ndarray, bool]]


def _cls(layer) -> set:
    return {c.__name__ for c in type(_unwrap(layer)).__mro__}


def _shape(tensor) -> Optional[tuple]:
    shape = tuple(tensor.shape)[1:]
    return None if any(d is None for d in shape) else tuple(int(d) for d in shape)


def _nodes(layer):
    return list(getattr(layer, "_inbound_nodes", None) or getattr(layer, "inbound_nodes", None) or [])


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _node_io(node):
    inputs = getattr(node, "input_tensors", None)
    outputs = getattr(node, "output_tensors", None)
    if outputs is None:
        outputs = getattr(node, "outputs", None)
    if inputs is None or outputs is None:
        raise AttributeError("node without input/output tensors")
    return _as_list(inputs), _as_list(outputs)


def _channels_last(layer) -> bool:
    return getattr(_unwrap(layer), "data_format", "channels_last") in (None, "channels_last")


def _maps_zero_to_zero(layer, shape) -> Optional[np.ndarray]:
    """Where ``layer(0) == 0`` (same shape as the input), or None if the layer cannot be called."""
    try:
        out = layer(np.zeros((1,) + shape, dtype="float32"), training=False)
        out = np.asarray(out)[0]
    except Exception:  # noqa: BLE001 - any failure just stops the propagation
        return None
    return out == 0 if out.shape == shape else None


def _channel_mask(zeros: np.ndarray) -> np.ndarray:
    """Channels (last axis) that are zero at every other position."""
    return zeros.reshape(-1, zeros.shape[-1]).all(axis=0) if zeros.ndim > 1 else zeros.copy()


def _merge(cls: set, layer, ins: Sequence[Zeros], in_shapes, out_shape) -> Zeros:
    if "Concatenate" in cls:
        axis = int(getattr(_unwrap(layer), "axis", -1))
        if any(s is None for s in in_shapes) or axis in (0,):
            return None
        parts = [z[0] if z is not None else np.zeros(s, bool) for z, s in zip(ins, in_shapes)]
        try:
            out = np.concatenate(parts, axis=axis if axis < 0 else axis - 1)
        except ValueError:
            return None
        return (out, all(z is None or z[1] for z in ins)) if out.any() else None
    if cls & _ALL_ZERO_MERGE:
        if any(z is None for z in ins):
            return None
        if not all(z[1] for z in ins):
            return None  # positions unknown: no channel provably zero in every branch
        try:
            out = np.logical_and.reduce([np.broadcast_to(z[0], out_shape) for z in ins])
        except ValueError:
            return None
        return (out, True) if out.any() else None
    if "Multiply" in cls:
        present = [z for z in ins if z is not None]
        if not present:
            return None
        try:
            out = np.logical_or.reduce([np.broadcast_to(z[0], out_shape) for z in present])
        except ValueError:
            return None
        return out, all(z[1] for z in present)
    return None


def _transfer(layer, ins: Sequence[Zeros], in_shapes, out_shape, folded_bn: bool) -> Zeros:
    """Zero mask of a non-approximable layer's output from its inputs' masks."""
    if out_shape is None or all(z is None for z in ins):
        return None
    cls = _cls(layer)
    if len(ins) > 1:
        return _merge(cls, layer, ins, in_shapes, out_shape)
    zeros, known = ins[0]
    if not _channels_last(layer):
        return None
    if cls & _ELEMENTWISE:
        if "BatchNormalization" in cls and folded_bn:
            return ins[0]
        if in_shapes[0] != out_shape:
            return None
        keeps = _maps_zero_to_zero(layer, in_shapes[0])
        if keeps is None:
            return None
        out = zeros & keeps
        return (out, known) if out.any() else None
    if cls & _CHANNELWISE:
        out = np.broadcast_to(_channel_mask(zeros), out_shape).copy() if out_shape[-1] == zeros.shape[-1] else None
        return (out, known) if out is not None and out.any() else None
    if cls & _RESHAPE:
        if zeros.size != int(np.prod(out_shape)):
            return None
        return zeros.reshape(out_shape), known
    return None


def _reachable_layers(start) -> list:
    """``start`` and every layer downstream of it (through the layers' outbound nodes)."""
    seen, queue = {}, list(start)
    while queue:
        layer = queue.pop()
        if id(layer) in seen:
            continue
        seen[id(layer)] = layer
        for node in getattr(layer, "_outbound_nodes", None) or []:
            consumer = getattr(node, "operation", None) or getattr(node, "layer", None)
            if consumer is not None:
                queue.append(consumer)
    return list(seen.values())


def zero_input_channels(model, assignments) -> Optional[Dict[str, np.ndarray]]:
    """``{layer_name: bool mask over its input channels (Dense: input features) that are provably zero}``.

    Args:
        model: the Keras model the assignments were made for, or None: then the graph is followed downstream from the
            assignments' own layers (``LayerShape.layer``).
        assignments: `LayerAssignment` list (their ``kept_mask`` and ``mask_positional``).

    Returns:
        Masks for the Conv2D / DepthwiseConv2D / Dense layers that have provably-zero inputs (others are absent), or
        None when the graph cannot be read (then no structured skipping is applied).
    """
    by_name = {a.shape.name: a for a in assignments}
    if model is not None:
        layers = list(getattr(model, "layers", []))
    else:
        own = [a.shape.layer for a in assignments if a.shape.layer is not None]
        if not own:
            return None
        layers = _reachable_layers(own)
    try:
        nodes = [(layer, node) + _node_io(node) for layer in layers for node in _nodes(layer)]
    except AttributeError:
        return None
    consumers: Dict[int, int] = {}
    produced = set()
    for _, _, inputs, outputs in nodes:
        produced.update(id(t) for t in outputs)
        for t in inputs:
            consumers[id(t)] = consumers.get(id(t), 0) + 1
    values: Dict[int, Zeros] = {}  # tensors from outside the followed graph (model inputs) have no known zeros
    foldable = set()  # ids of tensors from a linear (depthwise) convolution with a single consumer
    result: Dict[str, np.ndarray] = {}
    pending = list(nodes)
    while pending:
        progress, rest = False, []
        for layer, node, inputs, outputs in pending:
            if any(id(t) not in values and id(t) in produced for t in inputs):
                rest.append((layer, node, inputs, outputs))
                continue
            progress = True
            ins = [values.get(id(t)) for t in inputs]
            in_shapes = [_shape(t) for t in inputs]
            out_shape = _shape(outputs[0]) if len(outputs) == 1 else None
            name = _unwrap(layer).name
            kind = _kind(_unwrap(layer))
            if kind is not None and name in by_name:
                if ins[0] is not None and in_shapes[0] is not None and _channels_last(layer):
                    mask = _channel_mask(ins[0][0])
                    if mask.any():
                        result[name] = mask
                values[id(outputs[0])] = _own_zeros(by_name[name], out_shape)
                inner = _unwrap(layer)
                act = getattr(getattr(inner, "activation", None), "__name__", "linear")
                if kind in ("conv2d", "depthwise") and act == "linear" and consumers.get(id(outputs[0]), 0) == 1:
                    foldable.add(id(outputs[0]))
                continue
            folded = len(inputs) == 1 and id(inputs[0]) in foldable
            out = _transfer(layer, ins, in_shapes, out_shape, folded) if len(outputs) == 1 else None
            for t in outputs:
                values[id(t)] = out if len(outputs) == 1 else None
        if not progress:
            break
        pending = rest
    return result


def _own_zeros(assignment, out_shape) -> Zeros:
    if assignment.kept_mask is None or out_shape is None:
        return None
    skipped = ~np.asarray(assignment.kept_mask, dtype=bool).reshape(-1)
    if not skipped.any() or skipped.size != out_shape[-1]:
        return None
    return np.broadcast_to(skipped, out_shape).copy(), not getattr(assignment, "mask_positional", False)
