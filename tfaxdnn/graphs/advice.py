"""What to change when a graph's codes and a plan's multipliers disagree, said in the form the plan was given in.

A node with uint8 codes (TF1 quint8 operands; the LUT form of depthwise nodes under ``quantize(scheme=uint8)``) needs
an unsigned ``mul8u_*`` table, a node with int8 codes (the LUT form of ``quantize(scheme=int8)``) a signed ``mul8s_*``
one; FakeQuant nodes take either. The plan was given as

* ``"python"``: ``approximate_graph(graph_def, tfaxdnn.Plan(...))``,
* ``"plan"``: a plan file, ``approximate(plan=FILE)`` (the fix is plan JSON),
* ``"arguments"``: ``approximate(multiplier=NAME)`` (the fix is transform arguments).
"""

from __future__ import annotations

from typing import Optional

from tfaxdnn import multipliers as _mult

FORMS = ("python", "plan", "arguments")


def similar(name: str, signed: bool) -> str:
    """The registered ``signed`` multiplier whose mean error is closest to ``name``'s (an example to write)."""
    try:
        mae = _mult.get(name).mae_percent or 0.0
    except (KeyError, ValueError):
        mae = 0.0
    pool = [_mult.get(n) for n in _mult.names(signed=signed) if "__" not in n]
    paper = {*_mult.PAPER_MULTIPLIERS, _mult.EXACT_UNSIGNED}  # on a tie, a multiplier the docs use
    return min(pool, key=lambda m: (abs((m.mae_percent or 0.0) - mae), m.name not in paper, m.name)).name


def _requantize(codes: str, form: str, requantizable: bool) -> str:
    """The other way out: quantize the float graph in the other scheme (only for graphs ``quantize`` made)."""
    if not requantizable:
        return ""
    other = "int8" if codes == "uint8" else "uint8"
    call = (f'quantize_graph(..., scheme="{other}")' if form == "python" else
            f"quantize(calibration=..., scheme={other})")
    kind = "signed" if other == "int8" else "unsigned"
    return f"; or keep the {kind} multipliers and quantize the float graph with {call} instead"


def scheme_fix(codes: str, given: str, form: str, requantizable: bool = False, source: Optional[str] = None) -> str:
    """The fix for a node with ``codes`` (``"uint8"`` or ``"int8"``) that the plan gives multiplier ``given`` of the
    other signedness. ``requantizable``: the node was made by ``quantize`` (so the other scheme is available);
    ``source``: the plan file, named in the message."""
    if form not in FORMS:
        raise ValueError(f"`form` must be one of {FORMS}. Received: form={form!r}")
    signed = codes == "int8"
    example = similar(given, signed)
    names = "mul8s_*" if signed else "mul8u_*"
    if form == "plan":
        where = f"in {source}" if source else "in the plan file"
        quant = ('"quantization": {"dtype": "int8"} or no "quantization" key' if signed
                 else '"quantization": {"dtype": "uint8"}')
        fix = (f'Fix: {where}, name {names} multipliers together with {quant}, e.g. '
               f'{{"default_multiplier": "{example}"' + ("}" if signed else ', "quantization": {"dtype": "uint8"}}'))
    elif form == "arguments":
        fix = f"Fix: approximate(multiplier={example}) ({names} names)"
    else:
        fix = (f'Fix: tfaxdnn.Plan(default_multiplier="{example}"' +
               (")" if signed else ', quantization={"dtype": "uint8"})') + f" ({names} names)")
    return fix + _requantize(codes, form, requantizable) + "."


def plan_scheme_mismatch(source: str, given: dict, dtype: str, dtype_given: bool, graph: dict) -> str:
    """The message for a plan file whose multipliers disagree with its own ``quantization.dtype``.

    ``given``: ``{multiplier name: signed}`` named in the file; ``graph``: ``{codes: requantizable}`` of the graph's
    rewritable nodes (codes ``"uint8"``, ``"int8"`` or ``"either"`` for FakeQuant nodes; requantizable: made by
    ``quantize``)."""
    signed = sorted(n for n, s in given.items() if s)
    unsigned = sorted(n for n, s in given.items() if not s)
    said = f'"quantization": {{"dtype": "{dtype}"}}' if dtype_given else f'no "quantization" key (dtype "{dtype}")'
    head = f"approximate: plan {source!r} names "
    if signed and unsigned:
        head += f"signed multipliers {signed} and unsigned ones {unsigned}; one plan has one scheme"
    else:
        kind = "signed (mul8s_*, int8)" if signed else "unsigned (mul8u_*, uint8)"
        head += f"{kind} multipliers {signed or unsigned} but has {said}"
    need = [c for c in graph if c != "either"]
    if len(need) == 1:
        codes = need[0]
        what = ("uint8 codes (TF1 quint8 ops, or the uint8 LUT form of quantize(scheme=uint8))" if codes == "uint8"
                else "int8 codes (the LUT form of quantize(scheme=int8))")
        wrong = unsigned if codes == "int8" else signed
        if wrong:
            return f"{head}. This graph's rewritable nodes have {what}. " + scheme_fix(codes, wrong[0], "plan",
                                                                                        graph[codes], source)
        fix = ('write "quantization": {"dtype": "int8"} (or drop the key)' if codes == "int8"
               else 'write "quantization": {"dtype": "uint8"}')
        return (f"{head}. This graph's rewritable nodes have {what}, which fit these multipliers. Fix: in {source}, "
                f"{fix}.")
    if signed and not unsigned:
        fix = 'write "quantization": {"dtype": "int8"} (or drop the key) for these mul8s_* multipliers'
    elif unsigned and not signed:
        fix = 'write "quantization": {"dtype": "uint8"} for these mul8u_* multipliers'
    else:
        fix = ('name only mul8s_* multipliers with "quantization": {"dtype": "int8"}, or only mul8u_* ones with '
               '"quantization": {"dtype": "uint8"}')
    return f"{head}. Fix: in {source}, {fix}."
