"""Command line of tfaxdnn (also: python -m tfaxdnn).

  tfaxdnn multipliers [--signed | --unsigned] [--sort mae|power|name]     the multiplier library as a table
  tfaxdnn approximate --model M.keras --plan P.json --data D.npz --out A.keras
  tfaxdnn evaluate    --model M.keras --data D.npz [--plan P.json]       accuracy, energy, latency
  tfaxdnn estimate    --model M.keras [--plan P.json] [--accelerator paper|tpu]
  tfaxdnn xaigen      --model M.keras --data D.npz --out DIR             XAI-Gen search

Data files are npz with x_train, y_train, x_test, y_test (x_train calibrates, x_test/y_test evaluate). Integer
pixels are divided by 255 unless --scale says otherwise (--scale 1 keeps raw values).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional, Sequence

#: subcommands contributed by search modules: (module, help)
_PLUGINS = (("tfaxdnn.cli.nas", "XAI-NAS"), ("tfaxdnn.cli.map", "fine-grain mapping"),
            ("tfaxdnn.cli.explain", "explanations"))


def _fail(exc) -> SystemExit:
    return SystemExit(f"error: {exc}")


def _load_model(path: str):
    import keras

    import tfaxdnn.layers  # noqa: F401  (registers the approximate layers for loading)

    if not os.path.isfile(path):
        raise SystemExit(f"error: model file not found: {path}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001  (any load failure becomes a readable CLI error)
        raise SystemExit(f"error: cannot load Keras model '{path}': {exc}") from None


def _load_plan(path: Optional[str]):
    from tfaxdnn.plan import as_plan

    if path is None:
        return None
    try:
        return as_plan(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _fail(f"cannot use plan '{path}': {exc}") from None


def _load_data(args, model):
    """``(x_cal, (x_test, y_test))`` prepared for ``model``'s input."""
    from tfaxdnn.data.loaders import load_npz, prepare_images

    try:
        (x_train, _), (x_test, y_test) = load_npz(args.data)
        x_cal = prepare_images(x_train, model.input_shape, "x_train", args.scale)
        x_eval = prepare_images(x_test, model.input_shape, "x_test", args.scale)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        raise _fail(exc) from None
    return x_cal, (x_eval, y_test)


def _accelerator(name: str):
    from tfaxdnn.hardware import Accelerator

    return {"paper": Accelerator.paper, "tpu": Accelerator.tpu_v4_like}[name]()


# -- verbs ----------------------------------------------------------------------------------------------------------
def _multipliers(args) -> int:
    from tfaxdnn import multipliers

    signed = True if args.signed else False if args.unsigned else None
    rows = [multipliers.get(n) for n in multipliers.names(signed)]
    key = {"mae": lambda m: (m.mae_percent, m.name), "name": lambda m: m.name,
           "power": lambda m: (m.power_mw if m.power_mw is not None else float("inf"), m.name)}[args.sort]
    print(f"{'name':<22s}{'signed':>7s}{'MAE %':>10s}{'WCE %':>10s}{'power mW':>10s}{'area um2':>10s}  hash")
    for m in sorted(rows, key=key):
        power = f"{m.power_mw:10.4f}" if m.power_mw is not None else f"{'?':>10s}"
        area = f"{m.area_um2:10.1f}" if m.area_um2 is not None else f"{'?':>10s}"
        print(f"{m.name:<22s}{'yes' if m.signed else 'no':>7s}{m.mae_percent:10.4f}{m.wce_percent:10.3f}{power}{area}"
              f"  {m.hash}")
    print(f"{len(rows)} circuits (EvoApprox8b, PDK45 power/area at the published characterisation)")
    return 0


def _approximate(args) -> int:
    import tfaxdnn

    model = _load_model(args.model)
    x_cal, _ = _load_data(args, model)
    try:
        ax = tfaxdnn.approximate(model, _load_plan(args.plan), calibration_data=x_cal[:args.calibration_samples])
    except (ValueError, KeyError, TypeError) as exc:
        raise _fail(exc) from None
    ax.save(args.out)
    print(f"wrote {args.out}: {sum(hasattr(layer, 'multiplier_name') for layer in ax.layers)} approximate layers")
    return 0


def _report_line(report) -> str:
    return (f"energy {report.energy_j:.4g} J per batch of {report.batch_size} ({report.relative_energy:.3f} x "
            f"all-exact, system accounting), latency {report.latency_s * 1e3:.4g} ms, memory "
            f"{report.memory_bytes / 1024:.1f} KiB")


def _evaluate(args) -> int:
    import tfaxdnn
    from tfaxdnn import hardware

    model = _load_model(args.model)
    x_cal, (x, y) = _load_data(args, model)
    plan = _load_plan(args.plan)
    try:
        target = tfaxdnn.approximate(model, plan, calibration_data=x_cal[:args.calibration_samples]) if plan else model
        ev = tfaxdnn.evaluate(target, x, y)
        report = hardware.estimate(target, accelerator=_accelerator(args.accelerator), batch_size=args.batch_size)
    except (ValueError, KeyError, TypeError) as exc:
        raise _fail(exc) from None
    print(f"accuracy {ev.accuracy:.4f} on {ev.n} test images; {_report_line(report)}")
    return 0


def _estimate(args) -> int:
    from tfaxdnn import hardware

    model = _load_model(args.model)
    try:
        report = hardware.estimate(model, _load_plan(args.plan), _accelerator(args.accelerator),
                                   batch_size=args.batch_size)
    except (ValueError, KeyError, TypeError) as exc:
        raise _fail(exc) from None
    print(report)
    print(_report_line(report))
    return 0


def _xaigen(args) -> int:
    from tfaxdnn.data.loaders import load_npz, prepare_images
    from tfaxdnn.search import XAIGenConfig, run_and_save

    model = _load_model(args.model)
    x_cal, (x_eval, y_eval) = _load_data(args, model)
    test_data = None
    try:
        if args.val_data:  # explicit validation images: all of the data's test split reports the result
            _, (x_val, y_val) = load_npz(args.val_data)
            test_data = (x_eval, y_eval)
            x_eval, y_eval = prepare_images(x_val, model.input_shape, "validation x_test", args.scale), y_val
        config = XAIGenConfig(multipliers=args.multipliers.split(","), t_c=args.t_c, delta=args.delta, t_p=args.t_p,
                              max_accuracy_drop=args.max_accuracy_drop, energy_budget=args.energy_budget,
                              weight_mapping=args.weight_mapping, on_violation=args.on_violation,
                              refine_passes=args.refine_passes, importance_samples=args.importance_samples,
                              n_steps=args.n_steps, calibration_samples=args.calibration_samples,
                              evaluation_samples=args.evaluation_samples,
                              validation_fraction=args.validation_fraction, seed=args.seed,
                              selection=args.selection, energy_accounting=args.energy_accounting,
                              finetune_epochs=args.finetune_epochs, search_accuracy_drop=args.search_accuracy_drop,
                              refine=args.refine)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        raise _fail(exc) from None
    train_data = None
    if args.finetune_epochs:
        (_, y_train), _ = load_npz(args.data)
        train_data = (x_cal, y_train)   # all prepared x_train; the Evaluator subsets it for calibration
    sweep = [float(v) for v in args.sweep.split(",")] if args.sweep else ()
    result = run_and_save(model, (x_eval, y_eval), x_cal, args.out, config, t_p_values=sweep,
                          verbose=not args.quiet, test_data=test_data, train_data=train_data,
                          explain_images=args.explain_images)
    return 0 if result.meets_energy else 3


# -- parser ---------------------------------------------------------------------------------------------------------
def _data_args(p, required=True) -> None:
    p.add_argument("--data", required=required, help="npz with x_train, y_train, x_test, y_test (x_train: "
                                                      "calibration; x_test/y_test: evaluation)")
    p.add_argument("--scale", type=float, default=None,
                   help="divide pixels by this (default: 255 for integer pixels, 1 for float data)")
    p.add_argument("--calibration-samples", type=int, default=500, help="calibration images used (default 500)")


def _hardware_args(p) -> None:
    p.add_argument("--accelerator", choices=("paper", "tpu"), default="paper",
                   help="accelerator model (default: the XAI-Gen paper's multi-pod array)")
    p.add_argument("--batch-size", type=int, default=1, help="inference batch size of the energy figures")


def build_parser() -> argparse.ArgumentParser:
    import tfaxdnn
    from tfaxdnn.multipliers import PAPER_MULTIPLIERS

    parser = argparse.ArgumentParser(prog="tfaxdnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tfaxdnn {tfaxdnn.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("multipliers", help="list the bundled multipliers (MAE, power, hash)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--signed", action="store_true", help="signed (mul8s_*) circuits only")
    g.add_argument("--unsigned", action="store_true", help="unsigned (mul8u_*) circuits only")
    p.add_argument("--sort", choices=("mae", "power", "name"), default="mae", help="sort order (default mae)")
    p.set_defaults(func=_multipliers)

    p = sub.add_parser("approximate", help="approximate a Keras model with a plan and save it")
    p.add_argument("--model", required=True, help="float Keras 3 model (.keras)")
    p.add_argument("--plan", required=True, help="plan JSON file (see docs/approximate.md)")
    p.add_argument("--out", required=True, help="output .keras file")
    _data_args(p)
    p.set_defaults(func=_approximate)

    p = sub.add_parser("evaluate", help="accuracy, energy and latency of a model (optionally under a plan)")
    p.add_argument("--model", required=True, help="Keras model (.keras), float or approximate")
    p.add_argument("--plan", default=None, help="plan JSON to approximate the model with first")
    _data_args(p)
    _hardware_args(p)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("estimate", help="energy, latency and memory per layer on the accelerator model")
    p.add_argument("--model", required=True, help="Keras model (.keras), float or approximate")
    p.add_argument("--plan", default=None, help="plan JSON (default: the model's own approximate layers)")
    _hardware_args(p)
    p.set_defaults(func=_estimate)

    p = sub.add_parser("xaigen", help="XAI-Gen: conductance-guided approximate multipliers and neuron skipping",
                       description="Runs XAI-Gen on a trained Keras model and writes result.json, plan.json, "
                                   "importance.png, tradeoff.png, sweep.csv and axdnn.keras to --out. The search "
                                   "selects on a validation part of the evaluation data and reports accuracy on the "
                                   "rest. Exit code 3 when the result misses the energy budget.")
    p.add_argument("--model", required=True, help="trained Keras 3 model (.keras)")
    p.add_argument("--out", required=True, help="output directory")
    _data_args(p)
    p.add_argument("--val-data", default=None, help="npz whose x_test/y_test is the validation split (then all of "
                                                    "--data's x_test reports the result)")
    p.add_argument("--validation-fraction", type=float, default=0.5,
                   help="share of x_test the search selects on; the rest reports the result (default 0.5)")
    p.add_argument("--multipliers", default=",".join(PAPER_MULTIPLIERS), help="comma-separated signed multipliers "
                                                                              "(default: the paper's seven)")
    p.add_argument("--t-c", type=float, default=1.0, help="initial conductance threshold (default 1.0)")
    p.add_argument("--delta", type=float, default=0.05, help="threshold step per layer (default 0.05)")
    p.add_argument("--t-p", type=float, default=0.5, help="skipping threshold (default 0.5)")
    p.add_argument("--max-accuracy-drop", type=float, default=0.02, help="Q_c below baseline (default 0.02)")
    p.add_argument("--energy-budget", type=float, default=1.0, help="E_c relative to all-exact (default 1.0)")
    p.add_argument("--weight-mapping", choices=("none", "uniform", "data"), default="uniform",
                   help="offline weight mapping of approximated layers (default uniform, ALWANN)")
    p.add_argument("--on-violation", choices=("backoff", "stop"), default="backoff",
                   help="what a failed step does: back off (default) or stop (the paper)")
    p.add_argument("--refine-passes", type=int, default=2, help="greedy refinement passes (0: the paper only)")
    p.add_argument("--importance-samples", type=int, default=200, help="images for conductance (default 200)")
    p.add_argument("--n-steps", type=int, default=20, help="conductance integration steps (default 20)")
    p.add_argument("--evaluation-samples", type=int, default=None, help="x_test images used (default: all)")
    p.add_argument("--finetune-epochs", type=int, default=0, help="straight-through fine-tuning epochs on "
                   "x_train/y_train after the plan is fixed (default 0: the paper, no retraining)")
    p.add_argument("--selection", choices=("conductance", "sensitivity"), default="conductance",
                   help="layer ranking: the paper's conductance or measured per-layer accuracy drops")
    p.add_argument("--energy-accounting", choices=("system", "compute", "multiplier"), default="system",
                   help="energy the search minimises (all three are reported)")
    p.add_argument("--search-accuracy-drop", type=float, default=None,
                   help="accuracy drop the plan search may use when fine-tuning follows (default: Q_c's)")
    p.add_argument("--refine", choices=("first", "best"), default="first", help="refinement move rule")
    p.add_argument("--explain-images", type=int, default=4,
                   help="test images in explanations.png (float vs approximate attribution maps; 0: none)")
    p.add_argument("--sweep", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8",
                   help="t_p values of the p/pa sweep ('' to skip)")
    p.add_argument("--seed", type=int, default=0, help="sampling and split seed")
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    p.set_defaults(func=_xaigen)

    for module, _ in _PLUGINS:
        try:
            plugin = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        sp = plugin.add_parser(sub)
        if sp is not None and sp.get_default("func") is None:
            sp.set_defaults(func=plugin.run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
