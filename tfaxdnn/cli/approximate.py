"""``tfaxdnn approximate --model M.keras --plan P.json --data D.npz --out A.keras``: approximate a Keras model with a
plan (calibrated on the data's x_train) and save it."""

from __future__ import annotations

import argparse

from tfaxdnn.cli import common

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("approximate", help="approximate a Keras model with a plan and save it",
                              description="Approximates a float Keras model with a plan, calibrated on --data's "
                                          "x_train, and saves the approximate model to --out.")
    common.model_arg(p, "float Keras 3 model (.keras)")
    p.add_argument("--plan", required=True, help="plan JSON file (see docs/approximate.md)")
    p.add_argument("--out", required=True, help="output .keras file")
    common.data_args(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import tfaxdnn

    model = common.load_model(args.model)
    (x_cal, _), _ = common.load_dataset(args.data, model, args.scale, need=("x_train",))   # calibration only
    plan = common.load_plan(args.plan)
    with common.reported(ValueError, KeyError, TypeError):
        ax = tfaxdnn.approximate(model, plan, calibration_data=x_cal[:args.calibration_samples])
    ax.save(args.out)
    print(f"wrote {args.out}: {sum(hasattr(layer, 'multiplier_name') for layer in ax.layers)} approximate layers")
    return 0
