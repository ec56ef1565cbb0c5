"""Command line: ``tfaxdnn xaigen --model MODEL.keras --data DATA.npz --out DIR`` (also ``python -m tfaxdnn``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence


def _load_model(path: str):
    import keras

    import tfaxdnn.layers  # noqa: F401  (registers the approximate layers for loading)

    if not os.path.isfile(path):
        raise SystemExit(f"error: model file not found: {path}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001  (any load failure becomes a readable CLI error)
        raise SystemExit(f"error: cannot load Keras model '{path}': {exc}") from None


def _xaigen(args) -> int:
    from tfaxdnn.data.loaders import load_npz, prepare_images
    from tfaxdnn.search import XAIGenConfig, run_and_save

    model = _load_model(args.model)
    try:
        (x_train, _), (x_test, y_test) = load_npz(args.data)
        x_cal = prepare_images(x_train, model.input_shape, "x_train")
        x_eval = prepare_images(x_test, model.input_shape, "x_test")
        config = XAIGenConfig(multipliers=args.multipliers.split(","), t_c=args.t_c, delta=args.delta, t_p=args.t_p,
                              max_accuracy_drop=args.max_accuracy_drop, energy_budget=args.energy_budget,
                              weight_mapping=args.weight_mapping, on_violation=args.on_violation,
                              importance_samples=args.importance_samples, n_steps=args.n_steps,
                              calibration_samples=args.calibration_samples,
                              evaluation_samples=args.evaluation_samples, seed=args.seed)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        raise SystemExit(f"error: {exc}") from None
    sweep = [float(v) for v in args.sweep.split(",")] if args.sweep else ()
    result = run_and_save(model, (x_eval, y_test), x_cal, args.out, config, t_p_values=sweep,
                          verbose=not args.quiet)
    return 0 if result.meets_energy else 3


def build_parser() -> argparse.ArgumentParser:
    from tfaxdnn.multipliers import PAPER_MULTIPLIERS

    parser = argparse.ArgumentParser(prog="tfaxdnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("xaigen", help="XAI-Gen: conductance-guided approximate multipliers and neuron skipping",
                       description="Runs XAI-Gen on a trained Keras model and writes result.json, plan.json, "
                                   "importance.png, tradeoff.png, sweep.csv and axdnn.keras to --out. Exit code 3 "
                                   "when the result misses the energy budget.")
    p.add_argument("--model", required=True, help="trained Keras 3 model (.keras)")
    p.add_argument("--data", required=True, help="npz with x_train, y_train, x_test, y_test (x_test/y_test: "
                                                  "evaluation; x_train: calibration)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--multipliers", default=",".join(PAPER_MULTIPLIERS), help="comma-separated signed multipliers")
    p.add_argument("--t-c", type=float, default=1.0, help="initial conductance threshold (default 1.0)")
    p.add_argument("--delta", type=float, default=0.05, help="threshold step per layer (default 0.05)")
    p.add_argument("--t-p", type=float, default=0.5, help="skipping threshold (default 0.5)")
    p.add_argument("--max-accuracy-drop", type=float, default=0.02, help="Q_c below baseline (default 0.02)")
    p.add_argument("--energy-budget", type=float, default=1.0, help="E_c relative to all-exact (default 1.0)")
    p.add_argument("--weight-mapping", choices=("none", "uniform", "data"), default="uniform")
    p.add_argument("--on-violation", choices=("backoff", "stop"), default="backoff")
    p.add_argument("--importance-samples", type=int, default=200)
    p.add_argument("--n-steps", type=int, default=20, help="conductance integration steps")
    p.add_argument("--calibration-samples", type=int, default=500)
    p.add_argument("--evaluation-samples", type=int, default=None, help="default: all of x_test")
    p.add_argument("--sweep", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8",
                   help="t_p values of the p/pa sweep ('' to skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    p.set_defaults(func=_xaigen)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
