"""The "LUT form" of a conv/matmul node: float input -> codes -> ``TfaxApprox*`` on constant weight codes -> float.

``x_codes = clip(round(x / s_a) + z_a)``, ``y = (s_a·s_w[o]) · acc(x_codes, w_codes)``: the arithmetic of the Keras
path's approximate layers (`tfaxdnn.layers.base`), node for node. Emitted by the FakeQuant rewrite
(``approximate`` kind (b)) and by ``quantize(scheme=int8)`` (and, for depthwise convolutions, ``scheme=uint8``) with
the exact table; ``approximate`` kind (c) then swaps the table and re-codes the constant weights.

Layout under ``<node>/tfax/``: ``x_codes``, ``w_codes`` (Const), ``table`` (Const), ``za`` (Const), ``zw`` (Const),
``acc`` (the op), ``info`` (a string Const with ``{"multiplier", "scheme", "weight_mapping"}`` for ``report``, kept
alive by a control input of ``acc``); the node's own name carries the float product.
"""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf

from tfaxdnn.core.kinds import KINDS
from tfaxdnn.graphs.errors import RefusalError, describe
from tfaxdnn.graphs.graph_index import attr_ints, const_node, op_node

#: Frozen-graph op -> the compiled op replacing it, from the one table of layer kinds (`tfaxdnn.core.kinds`).
APPROX_OP = {op: kind.approx_op for kind in KINDS for op in kind.graph_ops}
#: Float ops (quantised by ``quantize``, FakeQuant-approximated) and TF1 quantised ops, in that table.
FLOAT_OPS = tuple(op for op in APPROX_OP if not op.startswith("Quantized"))
QUANTIZED_OPS = tuple(op for op in APPROX_OP if op.startswith("Quantized"))
TFAX_OPS = tuple(sorted(set(APPROX_OP.values())))
ACC, INFO = "/tfax/acc", "/tfax/info"


def info_node(name: str, multiplier: str, scheme: str, weight_mapping: str):
    """``<name>/tfax/info``: what ``report`` reads back."""
    text = json.dumps({"multiplier": multiplier, "scheme": scheme, "weight_mapping": weight_mapping})
    return const_node(name + INFO, np.array(text.encode(), dtype=object))


def read_info(index, name: str) -> dict:
    node = index.nodes.get(name + INFO)
    if node is None or node.op != "Const":
        return {}
    try:
        return json.loads(tf.make_ndarray(node.attr["value"].tensor).item().decode())
    except (ValueError, AttributeError):
        return {}


def approx_node(name, node, inputs, code_type, multiplier):
    """The ``TfaxApprox*`` node replacing ``node`` (its strides, padding and dilations)."""
    op = APPROX_OP[node.op]
    if op == "TfaxApproxMatMul":
        return op_node(name, op, inputs, T=code_type, multiplier=multiplier)
    if node.attr["padding"].s not in (b"SAME", b"VALID"):
        raise RefusalError(f"{describe(node)}: padding {node.attr['padding'].s.decode()} is not supported.")
    fmt = node.attr["data_format"].s if "data_format" in node.attr else b"NHWC"
    if fmt not in (b"NHWC", b""):
        raise RefusalError(f"{describe(node)}: data_format {fmt.decode()} is not supported (NHWC only).")
    return op_node(name, op, inputs, T=code_type, strides=attr_ints(node, "strides"),
                   padding=node.attr["padding"].s, dilations=attr_ints(node, "dilations", [1, 1, 1, 1]),
                   multiplier=multiplier)


def lut_nodes(node, x_ref: str, s_a: float, z_a: int, x_lo: float, w_codes: np.ndarray, s_w: np.ndarray,
              z_w: np.ndarray, m, scheme: str, weight_mapping: str = "none") -> list:
    """Nodes computing ``node``'s float output in the LUT form (see the module docstring).

    ``z_a``, ``w_codes`` and ``z_w`` are in the table's code domain (int8 for signed tables); ``x_lo`` is the lowest
    input code (``-128``, or ``qmin`` of a narrow FakeQuant grid); ``s_w``, ``z_w``: one per output.
    """
    code_type, hi = (tf.int8, 127.0) if m.signed else (tf.uint8, 255.0)
    p = f"{node.name}/tfax"
    nodes = [
        const_node(f"{p}/x_scale", np.float32(s_a)),
        op_node(f"{p}/x_div", "RealDiv", [x_ref, f"{p}/x_scale"], T=tf.float32),
        op_node(f"{p}/x_round", "Round", [f"{p}/x_div"], T=tf.float32),
        const_node(f"{p}/x_zero_point", np.float32(z_a)),
        op_node(f"{p}/x_shift", "AddV2", [f"{p}/x_round", f"{p}/x_zero_point"], T=tf.float32),
        const_node(f"{p}/x_lo", np.float32(x_lo)),
        const_node(f"{p}/x_hi", np.float32(hi)),
        op_node(f"{p}/x_clip", "ClipByValue", [f"{p}/x_shift", f"{p}/x_lo", f"{p}/x_hi"], T=tf.float32),
        op_node(f"{p}/x_codes", "Cast", [f"{p}/x_clip"], SrcT=tf.float32, DstT=code_type),
        const_node(f"{p}/w_codes", np.asarray(w_codes).astype(code_type.as_numpy_dtype)),
        const_node(f"{p}/table", m.table.astype(np.int32)),
        const_node(f"{p}/za", np.int32(z_a)),
        const_node(f"{p}/zw", np.asarray(z_w).astype(np.int32)),
        info_node(node.name, m.name, scheme, weight_mapping),
    ]
    acc = approx_node(f"{p}/acc", node, [f"{p}/x_codes", f"{p}/w_codes", f"{p}/table", f"{p}/za", f"{p}/zw"],
                      code_type, m.name)
    acc.input.append("^" + node.name + INFO)
    out_scale = (np.float32(s_a) * np.asarray(s_w, np.float32)).astype(np.float32)
    return nodes + [acc, op_node(f"{p}/acc_float", "Cast", [f"{p}/acc"], SrcT=tf.int32, DstT=tf.float32),
                    const_node(f"{p}/out_scale", out_scale),
                    # MulNoNan, as the Keras layers rescale: one op Grappler's arithmetic rewrites cannot reorder
                    op_node(node.name, "MulNoNan", [f"{p}/acc_float", f"{p}/out_scale"], T=tf.float32)]
