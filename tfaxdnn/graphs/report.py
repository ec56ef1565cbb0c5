"""The ``report`` transform: every conv/matmul node of a graph, rewritten or left (and why), with its multiplier,
scheme, weight mapping and MACs per image. Nodes left unchanged that ``quantize`` or ``approximate`` could have
rewritten are warnings. The graph itself is returned unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from typing import List, Optional

import tensorflow as tf
from tensorflow.core.framework import graph_pb2

from tfaxdnn.core.kinds import KINDS
from tfaxdnn.graphs.approximate import FAKE_QUANT_OPS
from tfaxdnn.graphs.approximate import QUANTIZE_SUFFIX as _TF1_SUFFIX
from tfaxdnn.graphs.errors import RefusalError
from tfaxdnn.graphs.graph_index import GraphIndex
from tfaxdnn.graphs.lut_form import ACC
from tfaxdnn.graphs.lut_form import QUANTIZED_OPS as TF1
from tfaxdnn.graphs.lut_form import TFAX_OPS, read_info
from tfaxdnn.graphs.quantize import left_reason
from tfaxdnn.multipliers import EXACT_SIGNED, EXACT_UNSIGNED

_LABEL = {"conv2d": "conv2d", "depthwise": "depthwise", "dense": "matmul"}   # the report's column values
_KIND = {op: _LABEL[kind.hw_kind] for kind in KINDS for op in (*kind.graph_ops, kind.approx_op)}


@dataclasses.dataclass
class Row:
    node: str
    kind: str
    status: str  # "approximated", "quantised (exact)", "left"
    reason: str
    multiplier: str = "-"
    scheme: str = "-"
    weight_mapping: str = "-"
    macs: Optional[int] = None
    could_rewrite: bool = False


def _macs(graph, op_name: str, kind: str) -> Optional[int]:
    """MACs per image from static shapes (None when unknown)."""
    try:
        op = graph.get_operation_by_name(op_name)
        out, w = op.outputs[0].shape, op.inputs[1].shape
    except (KeyError, ValueError, IndexError):
        return None
    if out.rank is None or w.rank is None or not w.is_fully_defined():
        return None
    w = w.as_list()
    if kind == "matmul":
        if op.type != "TfaxApproxMatMul" and op.get_attr("transpose_b"):
            w = w[::-1]
        return int(w[0] * w[1])
    spatial = out.as_list()[1:3]
    if any(d is None for d in spatial):
        return None
    return int(spatial[0] * spatial[1] * w[0] * w[1] * w[2] * w[3])  # HWIO or HWCM filter: taps x in x out


def report(graph_def: graph_pb2.GraphDef) -> List[Row]:
    """One `Row` per conv/matmul node, in graph order; warns about nodes that could have been rewritten."""
    from tfaxdnn.ops.loader import load

    load()
    index = GraphIndex(graph_def)
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
    rows = []
    for node in graph_def.node:
        kind = _KIND.get(node.op)
        if kind is None:
            continue
        if node.op in TFAX_OPS:
            name = node.name[:-len(ACC)] if node.name.endswith(ACC) else node.name
            info = read_info(index, name)
            m = node.attr["multiplier"].s.decode()
            exact = m in (EXACT_SIGNED, EXACT_UNSIGNED)
            row = Row(name, kind, "quantised (exact)" if exact else "approximated",
                      "exact table: approximate(plan=...) swaps it" if exact else "", m,
                      info.get("scheme", "int8" if node.attr["T"].type == tf.int8.as_datatype_enum else "uint8"),
                      info.get("weight_mapping", "?"))
        elif node.op in TF1:
            name = node.name[:-len(_TF1_SUFFIX)] if node.name.endswith(_TF1_SUFFIX) else node.name  # quantize's
            row = Row(name, kind, "left", "TF1 quantised op not approximated (approximate can rewrite it)",
                      scheme="uint8 (TF1 quint8)", could_rewrite=True)
        else:
            try:
                fake_quant = index.producer(node, 1).op in FAKE_QUANT_OPS
            except RefusalError:
                fake_quant = False
            why = None if fake_quant else left_reason(index, node)
            if fake_quant:
                row = Row(node.name, kind, "left", "FakeQuant filter, not approximated (approximate can rewrite it)",
                          scheme="FakeQuant", could_rewrite=True)
            elif why is None:
                row = Row(node.name, kind, "left", "float (quantize can rewrite it)", scheme="float",
                          could_rewrite=True)
            else:
                row = Row(node.name, kind, "left", f"cannot be rewritten: {why}", scheme="float")
        row.macs = _macs(graph, node.name, kind)
        rows.append(row)
    missed = [f"{r.node} ({r.reason})" for r in rows if r.could_rewrite]
    if missed:
        warnings.warn(f"report: {len(missed)} conv/matmul node(s) left unchanged that could have been rewritten: "
                      f"{missed}.", stacklevel=2)
    return rows


def format_rows(rows: List[Row]) -> str:
    """A plain-text table (and the totals of approximated / all MACs)."""
    head = ("node", "kind", "status", "multiplier", "scheme", "mapping", "MACs", "reason")
    cells = [head] + [(r.node, r.kind, r.status, r.multiplier, r.scheme, r.weight_mapping,
                       "?" if r.macs is None else f"{r.macs:,}", r.reason) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(head))).rstrip() for c in cells]
    known = [r.macs for r in rows if r.macs is not None]
    approx = sum(r.macs for r in rows if r.macs is not None and r.status == "approximated")
    lines.append(f"{sum(r.status == 'approximated' for r in rows)} of {len(rows)} nodes approximated; "
                 f"{approx:,} of {sum(known):,} MACs per image"
                 + (" (some shapes unknown)" if len(known) < len(rows) else ""))
    return "\n".join(lines)


def write_json(rows: List[Row], path: str) -> None:
    with open(path, "w") as f:
        json.dump([dataclasses.asdict(r) for r in rows], f, indent=1)
