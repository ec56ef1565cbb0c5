"""``tfaxdnn-transform-graph`` (also ``python -m tfaxdnn.graphs``): TF ``transform_graph``-style command.

    tfaxdnn-transform-graph --in_graph=model.pb --out_graph=ax.pb --inputs=image --outputs=Identity \\
        --transforms='quantize(calibration=calib.npz) approximate(plan=plan.json) strip_unused_nodes'

Transforms: ``approximate(plan=FILE | multiplier=NAME)`` (alias ``approximate_conv``), ``quantize(calibration=FILE,
[scheme=uint8|int8, activation=symmetric|asymmetric, key=ARRAY, samples=N, input=NAME])``, ``report([out=FILE.json])``,
``strip_unused_nodes``. Text graphs for ``.pbtxt``/``.txt`` names.
Run the result after loading the op library: ``import tfaxdnn.ops.loader; tfaxdnn.ops.loader.load()``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Optional, Sequence

from tfaxdnn.graphs.errors import GraphTransformError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfaxdnn-transform-graph", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in_graph", required=True, help="frozen GraphDef (.pb binary or .pbtxt text)")
    p.add_argument("--out_graph", required=True, help="where to write the result (.pbtxt: text format)")
    p.add_argument("--inputs", default="", help="comma-separated input node names")
    p.add_argument("--outputs", default="", help="comma-separated output node names")
    p.add_argument("--transforms", required=True, help="transform list, e.g. 'approximate(plan=p.json)'")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from tfaxdnn.graphs.graphdef_io import load_graph_def, save_graph_def
    from tfaxdnn.graphs.parser import parse_transforms
    from tfaxdnn.graphs.transforms import Context, apply

    split = lambda s: [v.strip() for v in s.split(",") if v.strip()]  # noqa: E731
    try:
        transforms = parse_transforms(args.transforms)
        graph_def = load_graph_def(args.in_graph)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = apply(graph_def, transforms, Context(split(args.inputs), split(args.outputs)))
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        save_graph_def(out, args.out_graph)
    except GraphTransformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rewritten = sum(1 for n in out.node if n.op.startswith("Tfax"))
    print(f"{args.in_graph}: {len(graph_def.node)} nodes -> {args.out_graph}: {len(out.node)} nodes, "
          f"{rewritten} approximate ops")
    return 0


if __name__ == "__main__":
    sys.exit(main())
