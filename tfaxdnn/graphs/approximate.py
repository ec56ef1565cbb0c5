"""The ``approximate`` transform: quantised conv/matmul nodes of a frozen graph -> tfaxdnn's LUT op.

Two kinds of quantised nodes are rewritten (SPEC section 11):

(a) TF1 quantised ops (ALWANN's graphs): ``QuantizedConv2D`` / ``QuantizedMatMul`` on quint8 operands. The node is
    replaced by ``TfaxApprox*`` on the same codes (``Bitcast`` to uint8), with TF's zero points
    (``FloatToQuantizedUnclamped(0, min, max)``, computed in the graph) and TF's output range
    (``QuantizationRangeForMultiplication``); its three outputs keep their meaning. With an exact table the
    rewrite is bit-exact. Needs unsigned multipliers (plan ``quantization.dtype = "uint8"``).
(b) FakeQuant graphs (frozen tfmot QAT models): ``Conv2D`` / ``DepthwiseConv2dNative`` / ``MatMul`` whose filter is a
    ``FakeQuantWithMinMaxVars[PerChannel]`` of constants and whose input comes from a ``FakeQuantWithMinMaxVars``
    (possibly through pooling, reshapes, ReLU or padding). The input is re-coded on the FakeQuant grid, the kernel
    codes become a constant (TF's nudging), and the node's float output is ``s_a·s_w·acc``. With an exact table it
    matches the original within float tolerance. Signed or unsigned multipliers (int8 codes are uint8 codes − 128).
(c) The LUT form (`tfaxdnn.graphs.lut_form`; made by ``quantize(scheme=int8)``, and for depthwise convolutions by
    ``scheme=uint8``): a ``TfaxApprox*`` node on constant weight codes. The table constant is swapped and the weight
    codes re-coded in place (uniform mapping for the node's input zero point); the codes must be int8 for signed
    and uint8 for unsigned tables. The weight codes are mapped as found: approximate a quantised graph, not an
    already mapped one.

A rewritten node keeps its name for its (first) output, so consumers and fetches by name still work; the new
helper nodes live under ``<node>/tfax/``; everything else is preserved. The plan is keyed by
node name, or by a layer name that is one component of exactly one candidate node's name (``conv1`` matches
``model/quant_conv1/Conv2D`` via ``quant_conv1`` or ``conv1``).
"""

from __future__ import annotations

import warnings
from typing import Dict, List, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import graph_pb2

from tfaxdnn.graphs.advice import scheme_fix
from tfaxdnn.graphs.errors import GraphTransformError, RefusalError, describe
from tfaxdnn.graphs.graph_index import GraphIndex, Rewrite, assemble, const_node, op_node, split_input, unchanged
from tfaxdnn.graphs.lut_form import (ACC, FLOAT_OPS, INFO, QUANTIZED_OPS, TFAX_OPS, approx_node, info_node, lut_nodes,
                                     read_info)
from tfaxdnn.quant.fake_quant import fake_quant_codes, nudged_grid
from tfaxdnn.quant.weight_mapping import apply_mapping, mapping_table

FAKE_QUANT_OPS = ("FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel")
QUANTIZE_SUFFIX = "/quantized/conv"  # the TF1 op `quantize(scheme=uint8)` makes for node <name>
GRID_PRESERVING = ("MaxPool", "Reshape", "Relu", "Relu6", "Identity", "Squeeze", "ExpandDims", "Pad", "Flatten")


def lut_form_node(index: GraphIndex, node):
    """For a node in the LUT form with constant weight codes (``quantize(scheme=int8)``, kind (c)): its
    ``TfaxApprox*`` node, else None."""
    acc = index.nodes.get(node.name + ACC)
    if acc is None or acc.op not in TFAX_OPS:
        return None
    ins = [r for r in acc.input if not r.startswith("^")]
    srcs = [index.nodes.get(split_input(r)[0]) for r in ins[1:4]]
    return acc if all(s is not None and s.op == "Const" for s in srcs) else None


def candidates(index: GraphIndex) -> List[str]:
    """Names of nodes this transform can rewrite (kind (a), (b) or (c)), in graph order."""
    out = []
    for node in index.graph_def.node:
        if node.op in QUANTIZED_OPS or lut_form_node(index, node) is not None:
            out.append(node.name)
        elif node.op in FLOAT_OPS:
            try:
                if index.producer(node, 1).op in FAKE_QUANT_OPS:
                    out.append(node.name)
            except RefusalError:
                pass
    return out


def node_codes(index: GraphIndex, name: str) -> Tuple[str, bool]:
    """``(codes, made_by_quantize)`` of a rewritable node: the codes its table must take (``"uint8"``, ``"int8"``, or
    ``"either"`` for a FakeQuant node) and whether ``quantize`` made it (so the float graph can be quantised in the
    other scheme instead)."""
    node = index.nodes[name]
    if node.op in QUANTIZED_OPS:
        return "uint8", name.endswith(QUANTIZE_SUFFIX)
    acc = lut_form_node(index, node)
    if acc is not None:
        made_by_quantize = "FakeQuant" not in read_info(index, name).get("scheme", "")
        return ("int8" if acc.attr["T"].type == tf.int8.as_datatype_enum else "uint8"), made_by_quantize
    return "either", False


def graph_codes(index: GraphIndex) -> Dict[str, bool]:
    """``{codes: made_by_quantize}`` over the rewritable nodes (`node_codes`; True only if every such node was)."""
    out: Dict[str, bool] = {}
    for name in candidates(index):
        codes, made = node_codes(index, name)
        out[codes] = out.get(codes, True) and made
    return out


def _scheme_refusal(index: GraphIndex, node, m, form: str, source) -> RefusalError:
    """A node whose codes need the other signedness than multiplier ``m``: what is wrong, and the fix in ``form``."""
    codes, made = node_codes(index, node.name)
    made_by = f", made by quantize(scheme={codes})" if made else ""
    what = ("TF1 quint8 operands" if node.op in QUANTIZED_OPS else "the LUT form") + made_by
    table = "signed (mul8s_*, int8 tables)" if m.signed else "unsigned (mul8u_*, uint8 tables)"
    return RefusalError(f"{describe(node)} has {codes} codes ({what}), but the plan gives it the {table} multiplier "
                        f"'{m.name}'. " + scheme_fix(codes, m.name, form, made, source))


def match_plan(plan, index: GraphIndex) -> Dict[str, object]:
    """``{node_name: LayerPlan}`` with concrete multipliers; plan keys are node names or layer names."""
    names = candidates(index)
    for key in plan.layers:
        if key in index.nodes and key not in names:
            raise RefusalError(f"Plan names {describe(index.nodes[key])}, which cannot be rewritten: only "
                               f"{list(QUANTIZED_OPS)} nodes and {list(FLOAT_OPS)} nodes with a FakeQuant filter "
                               f"are. Rewritable nodes: {names}.")

    def aliases(key):  # a layer name is a component of its nodes' names (Keras 3 freezes `c1` as `c1_1`)
        hits = [n for n in names if key in n.split("/")[:-1]]
        return hits or [n for n in names if any(part in (key, f"quant_{key}") or _strip_call_suffix(part) == key
                                                for part in n.split("/"))]

    try:
        return plan.match(names, aliases=aliases, what="node")
    except (KeyError, ValueError) as exc:
        raise GraphTransformError(str(exc)) from None


def _strip_call_suffix(part: str) -> str:
    """``c1_1`` -> ``c1``: Keras 3 names a layer's frozen ops after its call (``<layer>_<n>``)."""
    head, _, tail = part.rpartition("_")
    return head if head and tail.isdigit() else part


def approximate_graph(graph_def: graph_pb2.GraphDef, plan, form: str = "python", source=None
                      ) -> graph_pb2.GraphDef:
    """The rewritten GraphDef (``graph_def`` is not modified); warns and returns a copy when nothing matches.

    ``form``: how the plan was given (`tfaxdnn.graphs.advice.FORMS`: ``"python"``, ``"plan"`` (a plan file,
    ``source``) or ``"arguments"``); refusals give their fix in that form."""
    index = GraphIndex(graph_def)
    targets = match_plan(plan, index)
    names = set(candidates(index))
    left = [describe(n) for n in graph_def.node if n.op in FLOAT_OPS and n.name not in names
            and n.op == "DepthwiseConv2dNative"]
    if left:
        warnings.warn(f"approximate: these depthwise convolutions have no FakeQuant filter and stay float: {left}.",
                      stacklevel=2)
    if not targets:
        return unchanged(graph_def, "approximate: the plan selects no node (no quantised conv/matmul in the graph, or "
                                    "an empty plan); the graph is unchanged.")
    rewrites = {}
    for name, lp in targets.items():
        node = index.nodes[name]
        if lp.skip_fraction > 0:
            raise RefusalError(f"{describe(node)}: skip_fraction={lp.skip_fraction} is not supported on frozen "
                               "graphs (neuron importance lives in the Keras path); use 0.")
        if lp.weight_mapping == "data":
            raise RefusalError(f"{describe(node)}: weight_mapping='data' needs activation histograms; use "
                               "'uniform' or 'none' on frozen graphs.")
        m = plan.multiplier(lp.multiplier)
        if lp.mode_fractions is not None or getattr(m, "modes", None):
            raise RefusalError(f"{describe(node)}: reconfigurable multiplier '{m.name}' (per-weight modes) is not "
                               "supported on frozen graphs (it would run every weight in M0); use the Keras path.")

        def weight_map(z_a: int, m=m, mapped=lp.weight_mapping != "none"):
            """The layer's uniform mapping table for activation zero point ``z_a`` (cached by `mapping_table`)."""
            return mapping_table(m, activation_zero_point=z_a) if mapped else None

        codes, _ = node_codes(index, name)
        if codes != "either" and m.signed != (codes == "int8"):
            raise _scheme_refusal(index, node, m, form, source)
        if node.op in QUANTIZED_OPS:  # run-time activation ranges: mapped for z_a = 0 (inputs after ReLU)
            rewrites[name] = _rewrite_quantized(index, node, m, weight_map(0), lp.weight_mapping)
        elif lut_form_node(index, node) is not None:
            rewrites.update(_rewrite_lut_form(index, node, m, weight_map, lp.weight_mapping))
        else:
            rewrites[name] = _rewrite_fake_quant(index, node, m, weight_map, lp.weight_mapping)
    return assemble(graph_def, rewrites)


# -- (a) TF1 quantised ops -------------------------------------------------------------------------------------
def _tf_zero_point(prefix: str, lo_ref: str, hi_ref: str) -> list:
    """Nodes computing TF's ``FloatToQuantizedUnclamped<quint8>(0, lo, hi)`` (int32) as ``prefix``."""
    d = tf.float64
    return [
        op_node(f"{prefix}/lo", "Cast", [lo_ref], SrcT=tf.float32, DstT=d),
        op_node(f"{prefix}/hi", "Cast", [hi_ref], SrcT=tf.float32, DstT=d),
        op_node(f"{prefix}/span", "Sub", [f"{prefix}/hi", f"{prefix}/lo"], T=d),
        const_node(f"{prefix}/adjust", np.float64(256.0 / 255.0)),
        op_node(f"{prefix}/range", "Mul", [f"{prefix}/span", f"{prefix}/adjust"], T=d),
        const_node(f"{prefix}/steps", np.float64(256.0)),
        op_node(f"{prefix}/range_scale", "RealDiv", [f"{prefix}/steps", f"{prefix}/range"], T=d),
        op_node(f"{prefix}/scaled_min", "Mul", [f"{prefix}/lo", f"{prefix}/range_scale"], T=d),
        # C++ std::round (half away from zero): sign(v)·floor(|v| + 0.5)
        op_node(f"{prefix}/abs", "Abs", [f"{prefix}/scaled_min"], T=d),
        const_node(f"{prefix}/half", np.float64(0.5)),
        op_node(f"{prefix}/abs_half", "AddV2", [f"{prefix}/abs", f"{prefix}/half"], T=d),
        op_node(f"{prefix}/floor", "Floor", [f"{prefix}/abs_half"], T=d),
        op_node(f"{prefix}/sign", "Sign", [f"{prefix}/scaled_min"], T=d),
        op_node(f"{prefix}/rounded", "Mul", [f"{prefix}/sign", f"{prefix}/floor"], T=d),
        op_node(f"{prefix}/negated", "Neg", [f"{prefix}/rounded"], T=d),
        op_node(prefix, "Cast", [f"{prefix}/negated"], SrcT=d, DstT=tf.int32),
    ]


def _tf_output_range(prefix: str, a_lo, a_hi, b_lo, b_hi) -> list:
    """TF's ``QuantizationRangeForMultiplication<quint8, quint8, qint32>``: ``prefix/min``, ``prefix/max``.

    TF divides in float32; Grappler would turn a division by the constant 255 into a multiplication by its
    reciprocal (a different rounding), so the quotient is taken in float64 and rounded once to float32 (equal to
    the float32 quotient except in halfway cases of probability ~2^-29); the product of two float32 values is exact
    in float64, and the factors 2^31 are powers of two.
    """
    f, d = tf.float32, tf.float64
    nodes = [const_node(f"{prefix}/levels", np.float64(255.0))]
    for side, lo, hi in (("a", a_lo, a_hi), ("b", b_lo, b_hi)):
        nodes += [op_node(f"{prefix}/{side}_span", "Sub", [hi, lo], T=f),
                  op_node(f"{prefix}/{side}_span64", "Cast", [f"{prefix}/{side}_span"], SrcT=f, DstT=d),
                  op_node(f"{prefix}/{side}_step64", "RealDiv", [f"{prefix}/{side}_span64", f"{prefix}/levels"], T=d),
                  op_node(f"{prefix}/{side}_step", "Cast", [f"{prefix}/{side}_step64"], SrcT=d, DstT=f),
                  op_node(f"{prefix}/{side}_step_64", "Cast", [f"{prefix}/{side}_step"], SrcT=f, DstT=d)]
    nodes += [op_node(f"{prefix}/c_step64", "Mul", [f"{prefix}/a_step_64", f"{prefix}/b_step_64"], T=d),
              op_node(f"{prefix}/c_step", "Cast", [f"{prefix}/c_step64"], SrcT=d, DstT=f),
              const_node(f"{prefix}/lowest", np.float32(-2147483648.0)),
              const_node(f"{prefix}/highest", np.float32(2147483648.0)),
              op_node(f"{prefix}/min", "Mul", [f"{prefix}/c_step", f"{prefix}/lowest"], T=f),
              op_node(f"{prefix}/max", "Mul", [f"{prefix}/c_step", f"{prefix}/highest"], T=f)]
    return nodes


def _rewrite_quantized(index: GraphIndex, node, m, weight_map=None, mapping="none") -> Rewrite:
    """Kind (a); with ``weight_map`` (``int[256]``, `tfaxdnn.quant.weight_mapping.mapping_table`) the run-time weight
    codes are re-coded in the graph by a 256-entry lookup, as the Keras path re-codes its constant codes."""
    ins = [r for r in node.input if not r.startswith("^")]
    for key in ("T1", "T2", "Tinput", "Tfilter"):
        if key in node.attr and node.attr[key].type != tf.quint8.as_datatype_enum:
            raise RefusalError(f"{describe(node)}: operands must be quint8 (attribute {key} is "
                               f"{tf.as_dtype(node.attr[key].type).name}).")
    out_key = "out_type" if node.op == "QuantizedConv2D" else "Toutput"
    if node.attr[out_key].type != tf.qint32.as_datatype_enum:
        raise RefusalError(f"{describe(node)}: output must be qint32.")
    p = f"{node.name}/tfax"
    nodes = [op_node(f"{p}/a", "Bitcast", [ins[0]], T=tf.quint8, type=tf.uint8)]
    w_ref = ins[1]
    if node.op == "QuantizedMatMul":
        if node.attr["transpose_a"].b:
            raise RefusalError(f"{describe(node)}: transpose_a=True is not supported.")
        if node.attr["transpose_b"].b:
            nodes += [const_node(f"{p}/perm", np.array([1, 0], np.int32)),
                      op_node(f"{p}/b_t", "Transpose", [w_ref, f"{p}/perm"], T=tf.quint8, Tperm=tf.int32)]
            w_ref = f"{p}/b_t"
    nodes.append(op_node(f"{p}/w", "Bitcast", [w_ref], T=tf.quint8, type=tf.uint8))
    w_codes = f"{p}/w"
    if weight_map is not None:
        nodes += [const_node(f"{p}/weight_map", np.asarray(weight_map, np.int32)),
                  const_node(f"{p}/gather_axis", np.int32(0)),
                  op_node(f"{p}/w_index", "Cast", [w_codes], SrcT=tf.uint8, DstT=tf.int32),
                  op_node(f"{p}/w_mapped32", "GatherV2", [f"{p}/weight_map", f"{p}/w_index", f"{p}/gather_axis"],
                          Tparams=tf.int32, Tindices=tf.int32, Taxis=tf.int32, batch_dims=0),
                  op_node(f"{p}/w_mapped", "Cast", [f"{p}/w_mapped32"], SrcT=tf.int32, DstT=tf.uint8)]
        w_codes = f"{p}/w_mapped"
    nodes += _tf_zero_point(f"{p}/za", ins[2], ins[3]) + _tf_zero_point(f"{p}/zw", ins[4], ins[5])
    nodes.append(const_node(f"{p}/table", m.table.astype(np.int32)))
    nodes.append(approx_node(f"{p}/acc", node, [f"{p}/a", w_codes, f"{p}/table", f"{p}/za", f"{p}/zw",
                                                "^" + node.name + INFO], tf.uint8, m.name))
    nodes.append(info_node(node.name, m.name, "uint8 (TF1 quint8)", mapping))
    nodes += _tf_output_range(f"{p}/range", ins[2], ins[3], ins[4], ins[5])
    nodes.append(op_node(node.name, "Bitcast", [f"{p}/acc"], T=tf.int32, type=tf.qint32))  # output 0, same name
    return Rewrite(nodes, {f"{node.name}:1": f"{p}/range/min", f"{node.name}:2": f"{p}/range/max"})


# -- (b) FakeQuant graphs -----------------------------------------------------------------------------------------
def _activation_grid(index: GraphIndex, node):
    src = index.producer(node, 0)
    while src.op in GRID_PRESERVING and src.op != "FakeQuantWithMinMaxVars":
        src = index.producer(src, 0)
    if src.op != "FakeQuantWithMinMaxVars":
        raise RefusalError(f"{describe(node)}: its input is not on a FakeQuant grid (found {describe(src)} before "
                           "any FakeQuantWithMinMaxVars); cannot pick activation codes.")
    if src.attr["num_bits"].i not in (0, 8):
        raise RefusalError(f"{describe(src)}: only 8-bit fake quantisation maps onto 8x8 multipliers.")
    lo, hi = index.constant(src, 1, "min"), index.constant(src, 2, "max")
    try:
        scale, _, zp, _ = nudged_grid(lo, hi, src.attr["narrow_range"].b)
    except ValueError as exc:
        raise RefusalError(f"{describe(src)}: {exc}") from None
    return float(scale[0]), int(zp[0]), int(1 if src.attr["narrow_range"].b else 0)


def _rewrite_fake_quant(index: GraphIndex, node, m, weight_map=lambda z_a: None, mapping="none") -> Rewrite:
    """Kind (b); ``weight_map(z_a)``: the ALWANN `mapping_table` for the input's zero point (None: no mapping),
    applied to the constant weight codes."""
    fq = index.producer(node, 1)
    if fq.attr["num_bits"].i not in (0, 8):
        raise RefusalError(f"{describe(fq)}: only 8-bit fake quantisation maps onto 8x8 multipliers.")
    kernel = index.constant(fq, 0, "kernel")
    k_min, k_max = index.constant(fq, 1, "min"), index.constant(fq, 2, "max")
    per_channel = fq.op.endswith("PerChannel")
    if node.op == "DepthwiseConv2dNative" and per_channel:
        raise RefusalError(f"{describe(node)}: per-channel FakeQuant on a depthwise kernel is not supported.")
    if node.op == "MatMul":
        if node.attr["transpose_a"].b:
            raise RefusalError(f"{describe(node)}: transpose_a=True is not supported.")
    try:
        codes, s_w, z_w = fake_quant_codes(kernel, k_min, k_max, fq.attr["narrow_range"].b)
    except ValueError as exc:
        raise RefusalError(f"{describe(fq)}: {exc}") from None
    if node.op == "MatMul" and node.attr["transpose_b"].b:
        codes = codes.T
    s_a, z_a, a_qmin = _activation_grid(index, node)
    shift = 128 if m.signed else 0
    table = weight_map(z_a - shift)
    if table is not None:
        codes = apply_mapping(codes - shift, table, m.signed) + shift
    n_out = codes.shape[-2] * codes.shape[-1] if node.op == "DepthwiseConv2dNative" else codes.shape[-1]
    s_w, z_w = np.broadcast_to(s_w, (n_out,)), np.broadcast_to(z_w, (n_out,))
    ins = [r for r in node.input if not r.startswith("^")]
    scheme = "int8 (FakeQuant)" if m.signed else "uint8 (FakeQuant)"
    return Rewrite(lut_nodes(node, ins[0], s_a, z_a - shift, max(-128.0 if m.signed else 0.0, a_qmin - shift),
                             codes - shift, s_w, z_w - shift, m, scheme, mapping), {})


# -- (c) the LUT form (quantize(scheme=int8), depthwise under scheme=uint8) -----------------------------------------
def _rewrite_lut_form(index: GraphIndex, node, m, weight_map, mapping) -> Dict[str, Rewrite]:
    """Kind (c): the table and the constant weight codes are swapped in place (codes mapped for the node's ``za``)."""
    acc = lut_form_node(index, node)
    ins = [r for r in acc.input if not r.startswith("^")]
    signed = acc.attr["T"].type == tf.int8.as_datatype_enum  # the table's signedness is checked by the caller
    w_node, t_node, za_node = (index.nodes[split_input(r)[0]] for r in ins[1:4])
    codes = tf.make_ndarray(w_node.attr["value"].tensor)
    za = int(tf.make_ndarray(za_node.attr["value"].tensor))
    table = weight_map(za)
    if table is not None:
        codes = apply_mapping(codes, table, signed).astype(codes.dtype)
    new_acc = type(acc)()
    new_acc.CopyFrom(acc)
    new_acc.attr["multiplier"].s = m.name.encode()
    if "^" + node.name + INFO not in new_acc.input:
        new_acc.input.append("^" + node.name + INFO)
    old = read_info(index, node.name)
    scheme = old.get("scheme", "int8" if signed else "uint8")
    info = info_node(node.name, m.name, scheme, mapping)
    out = {w_node.name: Rewrite([const_node(w_node.name, codes)], {}),
           t_node.name: Rewrite([const_node(t_node.name, m.table.astype(np.int32))], {})}
    if info.name in index.nodes:
        out[acc.name] = Rewrite([new_acc], {})
        out[info.name] = Rewrite([info], {})
    else:
        out[acc.name] = Rewrite([info, new_acc], {})
    return out
