"""``tfaxdnn transform-graph`` (also ``tfaxdnn-transform-graph``): TF ``transform_graph``-style command.

    tfaxdnn transform-graph --in_graph=model.pb --out_graph=ax.pb --inputs=image --outputs=Identity \\
        --transforms='quantize(calibration=calib.npz) approximate(plan=plan.json) strip_unused_nodes'

Transforms: ``approximate(plan=FILE | multiplier=NAME[, weight_mapping=uniform])`` (alias ``approximate_conv``),
``quantize(calibration=FILE, [scheme=uint8|int8, activation=symmetric|asymmetric, key=ARRAY, samples=N, input=NAME])``,
``report([out=FILE.json])``, ``strip_unused_nodes``. Text graphs for ``.pbtxt``/``.txt`` names.
Run the result after loading the op library: ``import tfaxdnn.ops.loader; tfaxdnn.ops.loader.load()``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Optional, Sequence

__all__ = ["add_arguments", "add_parser", "run", "build_parser", "main"]

#: the command's text without reStructuredText quotes (help output)
_HELP = __doc__.replace("``", "")


def add_arguments(p) -> None:
    """The flags, TF ``transform_graph``'s names (underscores)."""
    p.add_argument("--in_graph", required=True, help="frozen GraphDef (.pb binary or .pbtxt text)")
    p.add_argument("--out_graph", required=True, help="where to write the result (.pbtxt: text format)")
    p.add_argument("--inputs", default="", help="comma-separated input node names")
    p.add_argument("--outputs", default="", help="comma-separated output node names")
    p.add_argument("--transforms", required=True, help="transform list, e.g. 'approximate(plan=p.json)'")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """The ``transform-graph`` verb of the ``tfaxdnn`` command."""
    p = subparsers.add_parser("transform-graph", help="TF transform_graph-style rewrite of a frozen GraphDef "
                                                      "(quantize, approximate, report, strip_unused_nodes)",
                              description=_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The parser of the stand-alone ``tfaxdnn-transform-graph`` command."""
    p = argparse.ArgumentParser(prog="tfaxdnn-transform-graph", description=_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return p


def run(args) -> int:
    """Reads ``--in_graph``, applies ``--transforms``, writes ``--out_graph``; 2 (message on stderr) on errors."""
    from tfaxdnn.graphs.errors import GraphTransformError
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``tfaxdnn-transform-graph``: the same as ``tfaxdnn transform-graph``."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
