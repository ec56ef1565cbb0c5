"""``tfaxdnn estimate --model M.keras [--plan P.json] [--accelerator paper|tpu]``: energy, latency and memory per
layer on the accelerator model (no data needed)."""

from __future__ import annotations

import argparse

from tfaxdnn.cli import common

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("estimate", help="energy, latency and memory per layer on the accelerator model",
                              description="Energy, latency and memory per layer of a model (under --plan, or its own "
                                          "approximate layers) on the accelerator model.")
    common.model_arg(p, "Keras model (.keras), float or approximate")
    p.add_argument("--plan", default=None, help="plan JSON (default: the model's own approximate layers)")
    common.hardware_args(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from tfaxdnn import hardware

    model = common.load_model(args.model)
    plan = common.load_plan(args.plan)
    with common.reported(ValueError, KeyError, TypeError):
        report = hardware.estimate(model, plan, common.accelerator(args.accelerator), batch_size=args.batch_size)
    print(report)
    print(common.report_line(report))
    return 0
