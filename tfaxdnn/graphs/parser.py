"""Parser for ``--transforms`` strings in TF ``transform_graph`` syntax.

``'approximate(plan=plan.json) fold_constants(ignore_errors=true) strip_unused_nodes'`` ->
``[("approximate", {"plan": "plan.json"}), ("fold_constants", {"ignore_errors": "true"}),
("strip_unused_nodes", {})]``. Values may be quoted (``"a b"``); a repeated key collects a list.
"""

from __future__ import annotations

import re
from typing import Dict, List, Tuple, Union

from tfaxdnn.graphs.errors import GraphTransformError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
Args = Dict[str, Union[str, List[str]]]


def parse_transforms(spec: str) -> List[Tuple[str, Args]]:
    """Parses the transform list; raises `GraphTransformError` pointing at the bad character."""
    out, i, n = [], 0, len(spec)

    def fail(msg):
        raise GraphTransformError(f"--transforms: {msg} at position {i}: {spec[:i]}>>>{spec[i:]}")

    while True:
        while i < n and spec[i] in " \t\n\r,\\":
            i += 1
        if i >= n:
            return out
        m = _NAME.match(spec, i)
        if not m:
            fail("expected a transform name")
        name, i, args = m.group(), m.end(), {}
        if i < n and spec[i] == "(":
            i += 1
            while True:
                while i < n and spec[i] in " ,":
                    i += 1
                if i < n and spec[i] == ")":
                    i += 1
                    break
                km = _NAME.match(spec, i)
                if not km:
                    fail(f"expected an argument name in {name}(...)")
                key, i = km.group(), km.end()
                if i >= n or spec[i] != "=":
                    fail(f"expected '=' after argument '{key}' of {name}")
                i += 1
                if i < n and spec[i] in "\"'":
                    j = spec.find(spec[i], i + 1)
                    if j < 0:
                        fail("unterminated quoted value")
                    value, i = spec[i + 1:j], j + 1
                else:
                    j = i
                    while j < n and spec[j] not in ",) \t":
                        j += 1
                    value, i = spec[i:j], j
                if key in args:
                    args[key] = (args[key] if isinstance(args[key], list) else [args[key]]) + [value]
                else:
                    args[key] = value
                if i >= n:
                    fail(f"missing ')' after the arguments of {name}")
        out.append((name, args))
