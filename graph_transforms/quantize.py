"""The ``quantize`` transform: a float frozen graph -> TF1 quantised ops (kind (a)) from calibration ranges.

Every float ``Conv2D`` / ``MatMul`` whose filter is a constant becomes ``QuantizeV2`` (input, MIN_FIRST, the
calibrated range widened to contain 0) and ``QuantizeV2`` (kernel, its own range) -> ``QuantizedConv2D`` /
``QuantizedMatMul`` (qint32) -> ``Dequantize`` (MIN_FIRST; oneDNN builds have no SCALED kernel for qint32) -> float,
under the original node's name. The result is the kind of graph ALWANN approximates; ``approximate`` then rewrites
it bit-exactly.
"""

from __future__ import annotations

import warnings
from typing import Dict

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import graph_pb2

from graph_transforms.errors import GraphTransformError, RefusalError, describe
from graph_transforms.graph_index import GraphIndex, Rewrite, assemble, attr_ints, const_node, op_node

QUANTIZABLE = ("Conv2D", "MatMul")


def _targets(index: GraphIndex) -> list:
    out = []
    left = [describe(n) for n in index.graph_def.node if n.op == "DepthwiseConv2dNative"]
    if left:
        warnings.warn(f"quantize: depthwise convolutions stay float (TF1 has no quantised depthwise op): {left}. "
                      "Quantise the Keras model instead (tfaxdnn.approximate approximates DepthwiseConv2D).",
                      stacklevel=3)
    for node in index.graph_def.node:
        if node.op in QUANTIZABLE and node.attr["T"].type == tf.float32.as_datatype_enum:
            try:
                index.constant(node, 1, "filter")
            except RefusalError:
                continue
            out.append(node)
    return out


def calibrate(graph_def: graph_pb2.GraphDef, input_name: str, data: np.ndarray, tensors, batch_size: int = 64
              ) -> Dict[str, tuple]:
    """``{tensor_name: (min, max)}`` of the given tensors over ``data`` fed to ``input_name``."""
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(graph_def, name="")
        try:
            feed = g.get_tensor_by_name(input_name if ":" in input_name else input_name + ":0")
        except (KeyError, ValueError) as exc:
            raise GraphTransformError(f"quantize: input '{input_name}' is not a tensor of the graph ({exc}).") from None
        fetches = [g.get_tensor_by_name(t) for t in tensors]
        lo = {t: np.inf for t in tensors}
        hi = {t: -np.inf for t in tensors}
        with tf.compat.v1.Session(graph=g) as sess:
            for i in range(0, len(data), batch_size):
                for t, v in zip(tensors, sess.run(fetches, {feed: data[i:i + batch_size]})):
                    lo[t], hi[t] = min(lo[t], float(np.min(v))), max(hi[t], float(np.max(v)))
    return {t: (lo[t], hi[t]) for t in tensors}


def quantize_graph(graph_def: graph_pb2.GraphDef, input_name: str, data: np.ndarray) -> graph_pb2.GraphDef:
    """The quantised GraphDef (see the module docstring); ``graph_def`` is not modified."""
    from tfaxdnn.ops.loader import load

    load()  # the graph may already hold approximate ops
    index = GraphIndex(graph_def)
    targets = _targets(index)
    if not targets:
        warnings.warn("quantize: no float Conv2D/MatMul with a constant filter; the graph is unchanged.",
                      stacklevel=2)
        out = graph_pb2.GraphDef()
        out.CopyFrom(graph_def)
        return out
    ranges = calibrate(graph_def, input_name, data, [_ref(n.input[0]) for n in targets])
    rewrites = {}
    for node in targets:
        lo, hi = ranges[_ref(node.input[0])]
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi - lo < 1e-12:
            hi = lo + 1e-6
        kernel = index.constant(node, 1, "filter").astype(np.float32)
        rewrites[node.name] = _quantized(node, lo, hi, kernel)
    return assemble(graph_def, rewrites)


def _ref(name: str) -> str:
    return name if ":" in name else name + ":0"


def _quantized(node, lo: float, hi: float, kernel: np.ndarray) -> Rewrite:
    p = f"{node.name}/quantized"
    q = dict(T=tf.quint8, mode="MIN_FIRST")
    nodes = [const_node(f"{p}/x_min", np.float32(lo)), const_node(f"{p}/x_max", np.float32(hi)),
             op_node(f"{p}/x", "QuantizeV2", [node.input[0], f"{p}/x_min", f"{p}/x_max"], **q),
             const_node(f"{p}/kernel", kernel),
             const_node(f"{p}/w_min", np.float32(min(kernel.min(), 0.0))),
             const_node(f"{p}/w_max", np.float32(max(kernel.max(), 0.0))),
             op_node(f"{p}/w", "QuantizeV2", [f"{p}/kernel", f"{p}/w_min", f"{p}/w_max"], **q)]
    ins = [f"{p}/x", f"{p}/w", f"{p}/x:1", f"{p}/x:2", f"{p}/w:1", f"{p}/w:2"]
    if node.op == "Conv2D":
        if node.attr["data_format"].s not in (b"NHWC", b""):
            raise RefusalError(f"{describe(node)}: data_format {node.attr['data_format'].s.decode()} (NHWC only).")
        nodes.append(op_node(f"{p}/conv", "QuantizedConv2D", ins, Tinput=tf.quint8, Tfilter=tf.quint8,
                             out_type=tf.qint32, strides=attr_ints(node, "strides"), padding=node.attr["padding"].s,
                             dilations=attr_ints(node, "dilations", [1, 1, 1, 1])))
    else:
        nodes.append(op_node(f"{p}/conv", "QuantizedMatMul", ins, T1=tf.quint8, T2=tf.quint8, Toutput=tf.qint32,
                             transpose_a=node.attr["transpose_a"].b, transpose_b=node.attr["transpose_b"].b,
                             Tactivation=tf.quint8))
    nodes.append(op_node(node.name, "Dequantize", [f"{p}/conv", f"{p}/conv:1", f"{p}/conv:2"], T=tf.qint32,
                         mode="MIN_FIRST", narrow_range=False, axis=-1, dtype=tf.float32))
    return Rewrite(nodes, {})
