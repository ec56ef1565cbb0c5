"""``tfaxdnn evaluate --model M.keras --data D.npz [--plan P.json]``: accuracy on the data's x_test/y_test, energy,
latency and memory of a model, optionally approximated with a plan first."""

from __future__ import annotations

import argparse

from tfaxdnn.cli import common

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("evaluate", help="accuracy, energy and latency of a model (optionally under a plan)",
                              description="Accuracy on --data's x_test/y_test and the energy, latency and memory of "
                                          "a model; with --plan, of the model approximated with it (calibrated on "
                                          "x_train).")
    common.model_arg(p, "Keras model (.keras), float or approximate")
    p.add_argument("--plan", default=None, help="plan JSON to approximate the model with first")
    common.data_args(p)
    common.hardware_args(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import tfaxdnn
    from tfaxdnn import hardware

    model = common.load_model(args.model)
    plan = common.load_plan(args.plan)
    x_cal, (x, y) = common.load_data(args, model, calibration=plan is not None)   # x_train calibrates a plan
    with common.reported(ValueError, KeyError, TypeError):
        target = tfaxdnn.approximate(model, plan, calibration_data=x_cal[:args.calibration_samples]) if plan else model
        common.warn_input_range(target, x, args)
        ev = tfaxdnn.evaluate(target, x, y, check_inputs=False)
        report = hardware.estimate(target, accelerator=common.accelerator(args.accelerator),
                                   batch_size=args.batch_size)
    print(f"accuracy {ev.accuracy:.4f} on {ev.n} test images; {common.report_line(report)}")
    return 0
