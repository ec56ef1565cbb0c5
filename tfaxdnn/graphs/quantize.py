"""The ``quantize`` transform: a float frozen graph -> quantised conv/matmul nodes, from calibration ranges.

Targets: float ``Conv2D`` / ``DepthwiseConv2dNative`` / ``MatMul`` with constant filters (NHWC). A batch norm or
scale that follows a node (``Mul`` by a constant then ``Add``, Keras 3's frozen BatchNormalization, or
``FusedBatchNorm*``) is folded into its kernel first (`tfaxdnn.graphs.folding`, like TF1's ``fold_batch_norms``).
Activation ranges: min/max of each node's input over the calibration data, measured on the float graph (the Keras
path does the same on the float model).

``scheme="uint8"`` (default; the kind ALWANN approximates): ``QuantizeV2`` (input, MIN_FIRST, the calibrated range
widened to contain 0) and ``QuantizeV2`` (kernel, one range per layer) -> ``QuantizedConv2D`` / ``QuantizedMatMul``
(qint32) -> ``Dequantize`` (MIN_FIRST; oneDNN builds have no SCALED kernel for qint32) -> float. TF1 has no
quantised depthwise op, so depthwise nodes get the LUT form with uint8 codes (asymmetric activations, asymmetric
per-channel weights: the Keras path's uint8 arithmetic) and the exact unsigned table.

``scheme="int8"``: the LUT form (`tfaxdnn.graphs.lut_form`) with the exact signed table: int8 symmetric
per-output-channel weights (narrow range), int8 symmetric (``activation="symmetric"``, default) or asymmetric
activations per tensor -- the arithmetic of ``tfaxdnn.approximate`` with ``quantization={"dtype": "int8"}``, so the
graph and Keras paths give the same outputs. Runs with the op library loaded (``tfaxdnn.ops.loader.load()``).

``approximate`` then rewrites either result (TF1 ops bit-exactly; the LUT form by swapping table and weight codes).
"""

from __future__ import annotations

import warnings
from typing import Dict

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import graph_pb2

from tfaxdnn import multipliers
from tfaxdnn.graphs.errors import GraphTransformError, RefusalError, describe
from tfaxdnn.graphs.folding import Fold, fold
from tfaxdnn.graphs.graph_index import GraphIndex, Rewrite, assemble, attr_ints, const_node, op_node, unchanged
from tfaxdnn.graphs.lut_form import FLOAT_OPS as QUANTIZABLE
from tfaxdnn.graphs.lut_form import lut_nodes
from tfaxdnn.quant import activation_params
from tfaxdnn.quant.kernels import kernel_params

SCHEMES = ("uint8", "int8")
_KIND = {"Conv2D": "Conv2D", "DepthwiseConv2dNative": "DepthwiseConv2D", "MatMul": "Dense"}


def left_reason(index: GraphIndex, node):
    """Why ``quantize`` leaves a float conv/matmul node alone (None when it quantises it)."""
    if node.attr["T"].type != tf.float32.as_datatype_enum:
        return f"dtype {tf.as_dtype(node.attr['T'].type).name} (float32 only)"
    try:
        index.constant(node, 1, "filter")
    except RefusalError:
        return "its filter is not a constant (computed at run time)"
    fmt = node.attr["data_format"].s if "data_format" in node.attr else b"NHWC"
    if fmt not in (b"NHWC", b""):
        return f"data_format {fmt.decode()} (NHWC only)"
    if node.op != "MatMul" and node.attr["padding"].s not in (b"SAME", b"VALID"):
        return f"padding {node.attr['padding'].s.decode()}"
    if node.op == "MatMul" and node.attr["transpose_a"].b:
        return "transpose_a=True"
    return None


def _targets(index: GraphIndex) -> list:
    return [n for n in index.graph_def.node if n.op in QUANTIZABLE and left_reason(index, n) is None]


def tensor_ranges(graph_def: graph_pb2.GraphDef, input_name: str, data: np.ndarray, tensors, batch_size: int = 64
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


def quantize_graph(graph_def: graph_pb2.GraphDef, input_name: str, data: np.ndarray, scheme: str = "uint8",
                   activation: str = None) -> graph_pb2.GraphDef:
    """The quantised GraphDef (see the module docstring); ``graph_def`` is not modified.

    ``activation``: ``"symmetric"`` (int8 default) or ``"asymmetric"`` (uint8: always).
    """
    from tfaxdnn.ops.loader import load

    if scheme not in SCHEMES:
        raise GraphTransformError(f"quantize: scheme must be one of {list(SCHEMES)}. Received: scheme={scheme!r}")
    activation = activation or ("symmetric" if scheme == "int8" else "asymmetric")
    if activation not in ("symmetric", "asymmetric") or (scheme == "uint8" and activation == "symmetric"):
        valid = ["symmetric", "asymmetric"] if scheme == "int8" else ["asymmetric"]
        raise GraphTransformError(f"quantize: activation={activation!r} does not fit scheme={scheme!r}; valid: "
                                  f"{valid}.")
    load()  # the graph may already hold approximate ops
    index = GraphIndex(graph_def)
    targets = _targets(index)
    left = [f"{describe(n)}: {left_reason(index, n)}" for n in index.graph_def.node
            if n.op in QUANTIZABLE and n not in targets]
    if left:
        warnings.warn(f"quantize: these nodes stay float: {left}.", stacklevel=2)
    if not targets:
        return unchanged(graph_def, "quantize: no float Conv2D/DepthwiseConv2dNative/MatMul with a constant filter; "
                                    "the graph is unchanged.")
    ranges = tensor_ranges(graph_def, input_name, data, [_ref(n.input[0]) for n in targets])
    rewrites = {}
    for node in targets:
        lo, hi = ranges[_ref(node.input[0])]
        kernel = index.constant(node, 1, "filter").astype(np.float32)
        if node.op == "MatMul" and node.attr["transpose_b"].b:
            kernel = np.ascontiguousarray(kernel.T)
        f = fold(index, node, kernel)
        if scheme == "uint8" and node.op != "DepthwiseConv2dNative":
            lo, hi = min(lo, 0.0), max(hi, 0.0)
            if hi - lo < 1e-12:
                hi = lo + 1e-6
            nodes = _quantized(node, lo, hi, f.kernel)
        else:
            nodes = _lut(node, lo, hi, f.kernel, scheme == "int8", activation == "symmetric")
        rewrites.update(_with_bias(node, f, nodes))
    return assemble(graph_def, rewrites)


def _with_bias(node, f: Fold, nodes: list) -> Dict[str, Rewrite]:
    """Rewrites for ``node`` (its new ``nodes``) and its folded chain (the last link becomes ``+ bias``)."""
    if not f.scaled:
        return {node.name: Rewrite(nodes, {})}
    out = {name: Rewrite([], {}) for name in f.absorbed}
    out[f.end] = Rewrite([const_node(f"{node.name}/folded_bias", f.bias),
                          op_node(f.end, "AddV2", [node.name, f"{node.name}/folded_bias"], T=tf.float32)], {})
    out[node.name] = Rewrite(nodes, {})
    return out


def _lut(node, lo: float, hi: float, kernel: np.ndarray, signed: bool, symmetric: bool) -> list:
    """The LUT form with the exact table (int8: symmetric per-channel weights; uint8: asymmetric)."""
    a = activation_params(lo, hi, signed, symmetric)
    k = kernel_params(_KIND[node.op], kernel, signed, per_channel=True)
    shape = (1, 1, kernel.shape[-2], kernel.shape[-1]) if node.op == "DepthwiseConv2dNative" else (-1,)
    s_w = k.scale.astype(np.float32).reshape(shape)
    z_w = k.zero_point.astype(np.float32).reshape(shape)
    lo_code, hi_code = (-127.0, 127.0) if signed else (0.0, 255.0)  # as the Keras layer computes its weight codes
    codes = np.clip(np.round(kernel.astype(np.float32) / s_w) + z_w, lo_code, hi_code)
    m = multipliers.exact(signed)
    ins = [r for r in node.input if not r.startswith("^")]
    return lut_nodes(node, ins[0], float(np.float32(a.scale)), int(a.zero_point), -128.0 if signed else 0.0,
                     codes, k.scale, k.zero_point, m, "int8" if signed else "uint8 (per-channel)")


def _ref(name: str) -> str:
    return name if ":" in name else name + ":0"


def _quantized(node, lo: float, hi: float, kernel: np.ndarray) -> list:
    """TF1 ops (kind (a)); ``kernel`` is [in, out] for MatMul (already transposed)."""
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
                             transpose_a=False, transpose_b=False, Tactivation=tf.quint8))
    nodes.append(op_node(node.name, "Dequantize", [f"{p}/conv", f"{p}/conv:1", f"{p}/conv:2"], T=tf.qint32,
                         mode="MIN_FIRST", narrow_range=False, axis=-1, dtype=tf.float32))
    return nodes
