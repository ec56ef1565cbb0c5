"""Read-only index over a GraphDef: nodes by name, consumers, constants through Identity chains, new-node helpers."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import attr_value_pb2, graph_pb2, node_def_pb2

from tfaxdnn.graphs.errors import RefusalError, describe

PASS_THROUGH = ("Identity", "ReadVariableOp", "StopGradient", "Snapshot")


def unchanged(graph_def: graph_pb2.GraphDef, message: str) -> graph_pb2.GraphDef:
    """A transform that found nothing to rewrite: warns ``message`` (at the transform's caller) and returns a copy of
    ``graph_def`` (the input is never returned or modified)."""
    warnings.warn(message, stacklevel=3)
    out = graph_pb2.GraphDef()
    out.CopyFrom(graph_def)
    return out


def split_input(ref: str) -> Tuple[str, int, bool]:
    """``'^a'`` -> ('a', -1, True); ``'a:1'`` -> ('a', 1, False); ``'a'`` -> ('a', 0, False)."""
    if ref.startswith("^"):
        return ref[1:], -1, True
    name, _, idx = ref.partition(":")
    return name, int(idx) if idx else 0, False


class GraphIndex:
    """Nodes by name and their data consumers, for one GraphDef (rebuild after editing)."""

    def __init__(self, graph_def: graph_pb2.GraphDef):
        self.graph_def = graph_def
        self.nodes: Dict[str, node_def_pb2.NodeDef] = {n.name: n for n in graph_def.node}
        self.consumers: Dict[str, List[node_def_pb2.NodeDef]] = {}
        for n in graph_def.node:
            for ref in n.input:
                name, _, control = split_input(ref)
                if not control:
                    self.consumers.setdefault(name, []).append(n)

    def producer(self, node, index: int = 0) -> node_def_pb2.NodeDef:
        """The node feeding data input ``index`` of ``node``, through Identity-like nodes."""
        data_inputs = [r for r in node.input if not r.startswith("^")]
        if index >= len(data_inputs):
            raise RefusalError(f"{describe(node)} has {len(data_inputs)} inputs; input {index} is missing.")
        src = self.nodes.get(split_input(data_inputs[index])[0])
        if src is None:
            raise RefusalError(f"{describe(node)}: input '{data_inputs[index]}' is not a node of the graph.")
        while src.op in PASS_THROUGH:
            src = self.producer(src, 0)
        return src

    def constant(self, node, index: int, what: str) -> np.ndarray:
        """The value of a constant data input (through Identity chains); refusal naming the node otherwise."""
        src = self.producer(node, index)
        if src.op != "Const":
            raise RefusalError(f"{describe(node)}: {what} (input {index}) must be a constant in a frozen graph; it "
                               f"is produced by {describe(src)}.")
        return tf.make_ndarray(src.attr["value"].tensor)


def const_node(name: str, value: np.ndarray, dtype=None) -> node_def_pb2.NodeDef:
    value = np.asarray(value, dtype=dtype)
    node = node_def_pb2.NodeDef(name=name, op="Const")
    node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    return node


def op_node(name: str, op: str, inputs, **attrs) -> node_def_pb2.NodeDef:
    """A NodeDef; attribute values may be a tf.DType, str, bytes, bool, int, float or list of ints."""
    node = node_def_pb2.NodeDef(name=name, op=op, input=list(inputs))
    for key, value in attrs.items():
        a = attr_value_pb2.AttrValue()
        if isinstance(value, tf.DType):
            a.type = value.as_datatype_enum
        elif isinstance(value, (str, bytes)):
            a.s = value.encode() if isinstance(value, str) else value
        elif isinstance(value, bool):
            a.b = value
        elif isinstance(value, int):
            a.i = value
        elif isinstance(value, float):
            a.f = value
        elif isinstance(value, (list, tuple)):
            a.list.i.extend(int(v) for v in value)
        else:
            raise TypeError(f"attribute {key}: unsupported value {value!r}")
        node.attr[key].CopyFrom(a)
    return node


@dataclasses.dataclass
class Rewrite:
    """New nodes replacing one node (one of them carries the old name and output 0), and where its other outputs
    went (``'n:1'`` -> new output ref)."""

    nodes: list
    remap: Dict[str, str]


def assemble(graph_def: graph_pb2.GraphDef, rewrites: Dict[str, Rewrite]) -> graph_pb2.GraphDef:
    """A new GraphDef with each rewritten node replaced in place and every consumer redirected."""
    remap = {}
    for rw in rewrites.values():
        remap.update(rw.remap)
    out = graph_pb2.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if node.name in rewrites:
            out.node.extend(rewrites[node.name].nodes)
            continue
        new = out.node.add()
        new.CopyFrom(node)
        for i, ref in enumerate(new.input):
            name, idx, control = split_input(ref)
            if not control:
                key = name if idx == 0 else f"{name}:{idx}"
                if key in remap:
                    new.input[i] = remap[key]
    return out


def attr_ints(node, key: str, default: Optional[list] = None) -> list:
    if key not in node.attr:
        return list(default or [])
    return list(node.attr[key].list.i)
