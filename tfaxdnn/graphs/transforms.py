"""The transform registry: name -> function(graph_def, args, context) -> graph_def."""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List

import numpy as np
import tensorflow as tf

from tfaxdnn.graphs.errors import GraphTransformError


@dataclasses.dataclass
class Context:
    """What the command line knows besides the transform arguments."""

    inputs: List[str]
    outputs: List[str]


def _allowed(name: str, args: dict, allowed) -> None:
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise GraphTransformError(f"{name}: unknown arguments {unknown}; valid: {sorted(allowed)}.")


def _approximate(graph_def, args, ctx):
    """``approximate(plan=FILE)`` or ``approximate(multiplier=NAME[, weight_mapping=, skip_fraction=, dtype=])``: the
    inline form is the plan file ``{"default_multiplier": NAME, "default_weight_mapping": ..., "quantization":
    {"dtype": <the multiplier's>}}``."""
    from tfaxdnn.graphs.approximate import approximate_graph

    _allowed("approximate", args, ("plan", "multiplier", "dtype", "weight_mapping", "skip_fraction"))
    if "plan" in args:
        extra = sorted(set(args) - {"plan"})
        if extra:
            raise GraphTransformError(f"approximate: {extra} go with multiplier=NAME; with plan=FILE write them in "
                                      "the plan file.")
        plan = _plan_file(args["plan"], graph_def)
        return approximate_graph(graph_def, plan, form="plan", source=args["plan"])
    if "multiplier" not in args:
        raise GraphTransformError("approximate: needs plan=PLAN.json or multiplier=NAME.")
    return approximate_graph(graph_def, _inline_plan(args), form="arguments")


def _inline_plan(args):
    """The `Plan` of ``approximate(multiplier=NAME, ...)``."""
    import tfaxdnn
    from tfaxdnn.graphs.errors import RefusalError
    from tfaxdnn.plan.plan import WEIGHT_MAPPINGS

    name = args["multiplier"]
    mapping = args.get("weight_mapping", "none")
    if mapping not in WEIGHT_MAPPINGS:
        raise GraphTransformError(f"approximate: weight_mapping must be one of {list(WEIGHT_MAPPINGS)}. Received: "
                                  f"weight_mapping={mapping}.")
    try:
        skip = float(args.get("skip_fraction", 0))
    except ValueError:
        raise GraphTransformError(f"approximate: skip_fraction must be a number. Received: "
                                  f"skip_fraction={args['skip_fraction']}.") from None
    if skip != 0:
        raise RefusalError(f"approximate: skip_fraction={args['skip_fraction']} is not supported on frozen graphs "
                           "(neuron importance lives in the Keras path); use 0.")
    dtype = args.get("dtype")
    if dtype not in (None, "int8", "uint8"):
        raise GraphTransformError(f"approximate: dtype must be int8 or uint8. Received: dtype={dtype}.")
    try:  # a table file (.bin/.npy) takes its signedness from dtype= (default uint8: TF1 quint8 graphs)
        if name.endswith((".bin", ".npy")):
            signed = (dtype or "uint8") == "int8"
        else:
            signed = tfaxdnn.multipliers.get(name).signed
            if dtype is not None and signed != (dtype == "int8"):
                kind = "signed (mul8s_*)" if signed else "unsigned (mul8u_*)"
                raise GraphTransformError(f"approximate: multiplier={name} is {kind} but dtype={dtype}; dtype= is "
                                          "for table files (.bin/.npy) only: drop it, or name a "
                                          f"{'mul8u_*' if signed else 'mul8s_*'} multiplier.")
        return tfaxdnn.Plan(default_multiplier=name, default_weight_mapping=mapping,
                            quantization={"dtype": "int8" if signed else "uint8"})
    except (OSError, ValueError, KeyError) as exc:
        if isinstance(exc, GraphTransformError):
            raise
        raise GraphTransformError(f"approximate: {exc}") from None


def _plan_multipliers(data) -> dict:
    """``{name: signed}`` of the registered multipliers a plan file names (table files and unknown names skipped)."""
    import tfaxdnn

    named = [data.get("default_multiplier")]
    for entry in (data.get("layers") or {}).values():
        named.append(entry.get("multiplier") if isinstance(entry, dict) else entry)
    out = {}
    for n in named:
        if isinstance(n, str) and not n.endswith((".bin", ".npy")):
            try:
                out[n] = tfaxdnn.multipliers.get(n).signed
            except (KeyError, ValueError):
                pass
    return out


def _plan_file(path: str, graph_def):
    """The `Plan` of a plan file; a file whose multipliers contradict its quantization dtype is refused in plan-JSON
    terms, with the fix that fits this graph's codes."""
    import json

    import tfaxdnn
    from tfaxdnn.graphs.advice import plan_scheme_mismatch
    from tfaxdnn.graphs.approximate import graph_codes
    from tfaxdnn.graphs.graph_index import GraphIndex

    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise GraphTransformError(f"approximate: cannot use plan {path!r}: {exc}") from None
    if isinstance(data, dict):
        quant = data.get("quantization") or {}
        dtype = quant.get("dtype", "int8") if isinstance(quant, dict) else "int8"
        given = _plan_multipliers(data)
        if dtype in ("int8", "uint8") and any(s != (dtype == "int8") for s in given.values()):
            dtype_given = isinstance(quant, dict) and "dtype" in quant
            raise GraphTransformError(plan_scheme_mismatch(path, given, dtype, dtype_given,
                                                           graph_codes(GraphIndex(graph_def))))
    try:
        return tfaxdnn.Plan.from_dict(data)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise GraphTransformError(f"approximate: cannot use plan {path!r}: {exc}") from None


def load_calibration(path: str, key: str = None, samples: int = 256) -> np.ndarray:
    """Raw images from an npz/npy file (``key``, else ``x``, ``x_train``, ``x_test`` or the first array)."""
    try:
        data = np.load(path)
    except (OSError, ValueError) as exc:
        raise GraphTransformError(f"quantize: cannot read calibration data {path!r}: {exc}") from None
    if isinstance(data, np.ndarray):
        x = data
    else:
        keys = [key] if key else [k for k in ("x", "x_train", "x_test") if k in data.files]
        if not keys and len(data.files) == 1:
            keys = data.files
        if not keys:
            raise GraphTransformError(f"quantize: {path!r} holds several arrays {data.files} and none is named x, "
                                      "x_train or x_test: say which with key=NAME.")
        if keys[0] not in data.files:
            raise GraphTransformError(f"quantize: {path!r} has no array {keys[0]!r}; arrays: {data.files}.")
        x = data[keys[0]]
    return x[:samples]


def _quantize(graph_def, args, ctx):
    from tfaxdnn.graphs.quantize import quantize_graph

    _allowed("quantize", args, ("calibration", "key", "samples", "input", "scheme", "activation"))
    if "calibration" not in args:
        raise GraphTransformError("quantize: needs calibration=DATA.npz (images fed to the graph input).")
    input_name = args.get("input") or (ctx.inputs[0] if ctx.inputs else None)
    if not input_name:
        raise GraphTransformError("quantize: name the graph input with --inputs or input=NAME.")
    from tfaxdnn.data import prepare_images

    x = load_calibration(args["calibration"], args.get("key"), int(args.get("samples", 256)))
    placeholder = next((n for n in graph_def.node if n.name == input_name.split(":")[0]), None)
    shape = placeholder.attr["shape"].shape if placeholder is not None and "shape" in placeholder.attr else None
    if shape is not None and not shape.unknown_rank:
        try:
            x = prepare_images(x, [d.size if d.size >= 0 else None for d in shape.dim], "calibration")
        except ValueError as exc:
            raise GraphTransformError(f"quantize: {exc}") from None
    else:
        x = prepare_images(x, (None,) + x.shape[1:], "calibration")
    return quantize_graph(graph_def, input_name, x, scheme=args.get("scheme", "uint8"),
                          activation=args.get("activation"))


def _strip_unused_nodes(graph_def, args, ctx):
    _allowed("strip_unused_nodes", args, ())
    if not ctx.outputs:
        raise GraphTransformError("strip_unused_nodes: needs --outputs.")
    names = {n.name for n in graph_def.node}
    missing = [o for o in ctx.outputs if o.split(":")[0] not in names]
    if missing:
        raise GraphTransformError(f"--outputs {missing} are not nodes of the graph.")
    return tf.compat.v1.graph_util.extract_sub_graph(graph_def, [o.split(":")[0] for o in ctx.outputs])


def _report(graph_def, args, ctx):
    from tfaxdnn.graphs.report import format_rows, report, write_json

    _allowed("report", args, ("out",))
    rows = report(graph_def)
    print(format_rows(rows))
    if "out" in args:
        try:
            write_json(rows, args["out"])
        except OSError as exc:
            raise GraphTransformError(f"report: cannot write {args['out']!r}: {exc}") from None
    return graph_def


TRANSFORMS: Dict[str, Callable] = {"approximate": _approximate, "approximate_conv": _approximate,
                                   "quantize": _quantize, "report": _report, "strip_unused_nodes": _strip_unused_nodes}


def apply(graph_def, transforms, ctx: Context):
    """Apply the parsed ``[(name, args)]`` in order."""
    for name, args in transforms:
        if name not in TRANSFORMS:
            raise GraphTransformError(f"Unknown transform {name!r}; available: {sorted(TRANSFORMS)}.")
    for name, args in transforms:
        graph_def = TRANSFORMS[name](graph_def, args, ctx)
    return graph_def
