"""``tfaxdnn xaigen --model M.keras --data D.npz --out DIR``: XAI-Gen (conductance-guided approximate multipliers
and neuron skipping) on a trained Keras model."""

from __future__ import annotations

import argparse

from tfaxdnn.cli import common

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("xaigen", help="XAI-Gen: conductance-guided approximate multipliers and neuron skipping",
                              description="Runs XAI-Gen on a trained Keras model and writes result.json, plan.json, "
                                          "importance.png, tradeoff.png, sweep.csv and axdnn.keras to --out. The "
                                          "search selects on a validation part of the evaluation data (a candidate "
                                          "meets --max-accuracy-drop when the upper --confidence bound of its paired "
                                          "drop against the float model does), re-checks its answer on a "
                                          "confirmation slice of it (falling back to the next candidate that holds) "
                                          "and reports accuracy on the rest. Exit code 3 when the result misses the "
                                          "energy budget.")
    common.model_arg(p)
    p.add_argument("--out", required=True, help="output directory")
    common.data_args(p)
    common.split_args(p, fraction=0.5)
    common.search_args(p, explain_help="test images in explanations.png (float vs approximate attribution maps; "
                                       "0: none)")
    common.selection_args(p, confirmation_help="share of the validation images held out of the search to re-check "
                                               "its answer (default 0.25; 0: no re-check)")
    g = p.add_argument_group("XAI-Gen")
    g.add_argument("--t-c", type=float, default=1.0, help="initial conductance threshold (default 1.0)")
    g.add_argument("--delta", type=float, default=0.05, help="threshold step per layer (default 0.05)")
    g.add_argument("--t-p", type=float, default=0.5, help="skipping threshold (default 0.5)")
    g.add_argument("--energy-budget", type=float, default=1.0, help="E_c relative to all-exact (default 1.0)")
    g.add_argument("--on-violation", choices=("backoff", "stop"), default="backoff",
                   help="what a failed step does: back off (default) or stop (the paper)")
    g.add_argument("--refine-passes", type=int, default=2, help="greedy refinement passes (0: the paper only)")
    g.add_argument("--n-steps", type=int, default=20, help="conductance integration steps (default 20)")
    g.add_argument("--finetune-epochs", type=int, default=0, help="straight-through fine-tuning epochs on "
                   "x_train/y_train after the plan is fixed (default 0: the paper, no retraining)")
    g.add_argument("--selection", choices=("conductance", "sensitivity"), default="conductance",
                   help="layer ranking: the paper's conductance or measured per-layer accuracy drops")
    g.add_argument("--search-accuracy-drop", type=float, default=None,
                   help="accuracy drop the plan search may use when fine-tuning follows (default: Q_c's)")
    g.add_argument("--refine", choices=("first", "best"), default="first", help="refinement move rule")
    g.add_argument("--no-uniform-candidates", dest="uniform_candidates", action="store_false",
                   help="do not score the every-layer-one-multiplier plans before refinement")
    g.add_argument("--sweep", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8",
                   help="t_p values of the p/pa sweep ('' to skip)")
    common.seed_arg(p)
    common.quiet_arg(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from tfaxdnn.search import XAIGenConfig, run_and_save

    with common.flag_errors(args, XAIGenConfig):   # the settings first: a bad flag fails before any loading
        config = XAIGenConfig(multipliers=args.multipliers.split(","), t_c=args.t_c, delta=args.delta, t_p=args.t_p,
                              max_accuracy_drop=args.max_accuracy_drop, energy_budget=args.energy_budget,
                              weight_mapping=args.weight_mapping, on_violation=args.on_violation,
                              refine_passes=args.refine_passes, importance_samples=args.importance_samples,
                              n_steps=args.n_steps, calibration_samples=args.calibration_samples,
                              evaluation_samples=args.evaluation_samples,
                              validation_fraction=args.validation_fraction, seed=args.seed,
                              selection=args.selection, energy_accounting=args.energy_accounting,
                              finetune_epochs=args.finetune_epochs, search_accuracy_drop=args.search_accuracy_drop,
                              refine=args.refine, uniform_candidates=args.uniform_candidates,
                              confidence=args.confidence, sequential=args.sequential,
                              confirmation_fraction=args.confirmation_fraction)
    with common.reported(ValueError):
        try:
            sweep = [float(v) for v in args.sweep.split(",")] if args.sweep else ()
        except ValueError:
            raise ValueError(f"--sweep takes comma-separated numbers. Received: {args.sweep!r}") from None
    model = common.load_model(args.model)
    # y_train only for fine-tuning (x_train calibrates; conductance reads the validation images)
    need = ("x_train",) + ("y_train",) * bool(args.finetune_epochs) + ("x_test", "y_test")
    (x_cal, y_train), (x_eval, y_eval) = common.load_dataset(args.data, model, args.scale, need=need)
    test_data, val = None, common.load_validation(args, model)
    if val is not None:  # explicit validation images: all of the data's test split reports the result
        test_data, (x_eval, y_eval) = (x_eval, y_eval), val
    # all prepared x_train; the Evaluator subsets it for calibration
    train_data = (x_cal, y_train) if args.finetune_epochs else None
    try:
        result = run_and_save(model, (x_eval, y_eval), x_cal, args.out, config, t_p_values=sweep,
                              verbose=not args.quiet, test_data=test_data, train_data=train_data,
                              explain_images=args.explain_images)
    except KeyboardInterrupt:
        return common.interrupted(f"XAI-Gen keeps no checkpoint, and {args.out} may hold some of its files: rerun "
                                  "the command to start again", newline=not args.quiet)
    return 0 if result.meets_energy else 3
