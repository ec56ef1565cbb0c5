"""Command line of tfaxdnn (also: python -m tfaxdnn).

  tfaxdnn multipliers [--signed | --unsigned] [--sort mae|power|name]     the multiplier library as a table
  tfaxdnn approximate --model M.keras --plan P.json --data D.npz --out A.keras
  tfaxdnn evaluate    --model M.keras --data D.npz [--plan P.json]       accuracy, energy, latency
  tfaxdnn estimate    --model M.keras [--plan P.json] [--accelerator paper|tpu]
  tfaxdnn xaigen      --model M.keras --data D.npz --out DIR             XAI-Gen search
  tfaxdnn nas         --model M.keras --data D.npz --out DIR             XAI-NAS (NSGA-II) search
  tfaxdnn map         --model M.keras --data D.npz --out DIR             fine-grain mapping under STL queries
  tfaxdnn explain     --model M.keras --approx A.keras --data D.npz --out DIR   exact vs approximate attributions
  tfaxdnn transform-graph --in_graph G.pb --out_graph A.pb --transforms '...'   frozen TF graphs

Data files are npz with x_train, y_train, x_test, y_test (x_train calibrates, x_test/y_test evaluate); a verb needs
only the arrays it uses (approximate: x_train). Integer pixels are divided by 255 unless they are already in [0, 1]
or --scale says otherwise (--scale 1 keeps raw values); a --scale that shrinks data already in [0, 1] is refused,
and evaluate warns when the data misses the input range an approximate model was calibrated on. Every verb that
reads a data file takes the same --data and --scale; xaigen and map also take --val-data (a separate validation
split). Errors exit with code 2; xaigen and map exit with 3 when their result misses its target; Ctrl-C exits with
130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

__all__ = ["VERBS", "build_parser", "main", "verb_module"]

#: the verbs, in help order; verb ``v`` lives in ``tfaxdnn/cli/<v with - as _>.py`` (``add_parser``, ``run``)
VERBS = ("multipliers", "approximate", "evaluate", "estimate", "xaigen", "nas", "map", "explain", "transform-graph")


def verb_module(verb: str):
    """The module of a verb of `VERBS`."""
    return importlib.import_module(f"tfaxdnn.cli.{verb.replace('-', '_')}")


def build_parser() -> argparse.ArgumentParser:
    """The ``tfaxdnn`` parser: every verb of `VERBS` adds its sub-command (``func``: the verb's ``run``)."""
    import tfaxdnn

    parser = argparse.ArgumentParser(prog="tfaxdnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tfaxdnn {tfaxdnn.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for verb in VERBS:
        verb_module(verb).add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command; returns the verb's exit code. A user error (`tfaxdnn.cli.common.CommandError`) is printed
    to stderr as ``error: ...`` and re-raised with exit code 2. Ctrl-C prints one line and returns 130 (the long
    verbs say what is left: nas prints the command that resumes its checkpoint)."""
    from tfaxdnn.cli.common import CommandError, interrupted

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.cli_argv = argv                       # the command as given (`common.command_line`)
    try:
        return args.func(args)
    except CommandError as exc:
        print(exc, file=sys.stderr)
        exc.code = 2
        raise
    except KeyboardInterrupt:
        return interrupted(f"tfaxdnn {args.command} stopped before it finished; rerun the command to start again")
