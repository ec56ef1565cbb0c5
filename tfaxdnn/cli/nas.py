"""``tfaxdnn nas``: XAI-NAS (NSGA-II over per-layer multipliers and skipping) from the command line.

Wire-up (tfaxdnn/cli.py): ``nas_cli.add_parser(subparsers)``; the sub-command's ``func`` is `run`.
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    from tfaxdnn.multipliers import PAPER_MULTIPLIERS
    from tfaxdnn.search.runners import default_workers
    from tfaxdnn.search.nas import OBJECTIVES

    p = subparsers.add_parser(
        "nas", help="XAI-NAS: NSGA-II over per-layer approximate multipliers and neuron skipping",
        description="Searches per-layer multipliers and skip fractions with NSGA-II (XAI-Gen-seeded), selecting on "
                    "a validation split of x_test and re-evaluating the Pareto front on the rest. Writes "
                    "evaluations.csv, pareto.json, generations.png, hypervolume.png and a per-generation checkpoint "
                    "to --out (with --baseline alwann: xainas/ and alwann/ sub-folders plus comparison.json).")
    p.add_argument("--model", required=True, help="trained Keras 3 model (.keras)")
    p.add_argument("--data", required=True, help="npz with x_train, y_train (calibration, conductance) and x_test, "
                                                  "y_test (split into validation and held-out test)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--generations", type=int, default=10, help="generations after the initial one (default 10)")
    p.add_argument("--pop", type=int, default=50, help="population size (default 50)")
    p.add_argument("--offsprings", type=int, default=None, help="offspring per generation (default: --pop)")
    p.add_argument("--seeds", type=int, default=36, help="XAI-Gen seed configurations (default 36)")
    p.add_argument("--workers", type=int, default=default_workers(),
                   help="local Dask worker processes (0: in-process; default: 0 on <= 2 cores, else half the cores)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (tcp://host:port)")
    p.add_argument("--objectives", default="accuracy,energy",
                   help=f"comma-separated, from {','.join(OBJECTIVES)} (default accuracy,energy)")
    p.add_argument("--mode", choices=("xainas", "alwann"), default="xainas",
                   help="xainas (XAI-Gen seeds, skipping) or alwann (random start, no skipping)")
    p.add_argument("--baseline", choices=("none", "alwann"), default="none",
                   help="alwann: also run the ALWANN-style baseline with the same budget and compare")
    p.add_argument("--resume", action="store_true", help="continue the search checkpointed in --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation-fraction", type=float, default=0.5, help="share of x_test used for selection")
    p.add_argument("--evaluation-samples", type=int, default=None, help="cap on validation images per candidate")
    p.add_argument("--multipliers", default=",".join(PAPER_MULTIPLIERS), help="comma-separated multipliers")
    p.add_argument("--genes", choices=("layer", "block"), default="layer", help="one gene per layer or per "
                                                                                "residual block")
    p.add_argument("--max-skip", type=float, default=0.5, help="largest skip fraction (default 0.5)")
    p.add_argument("--skip-step", type=float, default=0.05)
    p.add_argument("--max-accuracy-drop", type=float, default=0.02, help="constraint below the float baseline")
    p.add_argument("--mutation-prob", type=float, default=0.1, help="per-gene mutation probability")
    p.add_argument("--weight-mapping", choices=("none", "uniform", "data"), default="uniform")
    p.add_argument("--energy-accounting", choices=("system", "compute", "multiplier"), default="system",
                   help="energy objective: whole accelerator, MAC array, or multipliers (all three are recorded)")
    p.add_argument("--xaigen-t-p", default="",
                   help="comma-separated t_p of full (refined) XAI-Gen runs whose plans seed XAI-NAS first; their "
                        "evaluations count against --max-evaluations")
    p.add_argument("--xaigen-refine-passes", type=int, default=2,
                   help="refinement passes of the --xaigen-t-p seeding runs (0: Algorithm 1 with back-off only)")
    p.add_argument("--max-evaluations", type=int, default=None,
                   help="budget of unique evaluations (with --baseline alwann, default: XAI-NAS's total, "
                        "seeding included, given to the baseline)")
    p.add_argument("--plain-operators", action="store_true",
                   help="XAI-NAS without skip-aware mutation, biased random start and skip-bound repair")
    p.add_argument("--attack", choices=("fgsm", "pgd"), default="pgd", help="robustness objective's attack")
    p.add_argument("--epsilon", type=float, default=0.1, help="attack L-inf radius (input units)")
    p.add_argument("--attack-steps", type=int, default=10)
    p.add_argument("--attack-samples", type=int, default=200)
    p.add_argument("--importance-samples", type=int, default=200)
    p.add_argument("--calibration-samples", type=int, default=500)
    p.add_argument("--explain-images", type=int, default=4,
                   help="test images in explanations.png (float vs the lowest-energy feasible plan; 0: none)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from tfaxdnn.cli.main import _load_model
    from tfaxdnn.data.loaders import load_npz, prepare_images
    from tfaxdnn.search.checkpoint import CheckpointError
    from tfaxdnn.search.nas import NASConfig, compare_with_alwann, run_xainas
    from tfaxdnn.search.nas.robustness import AttackConfig

    try:
        config = NASConfig(objectives=[o.strip() for o in args.objectives.split(",") if o.strip()], mode=args.mode,
                           pop_size=args.pop, n_offsprings=args.offsprings or args.pop,
                           generations=args.generations, mutation_prob=args.mutation_prob, n_seeds=args.seeds,
                           multipliers=args.multipliers.split(","), max_skip=args.max_skip,
                           skip_step=args.skip_step, genes=args.genes, weight_mapping=args.weight_mapping,
                           max_accuracy_drop=args.max_accuracy_drop, importance_samples=args.importance_samples,
                           calibration_samples=args.calibration_samples, seed=args.seed,
                           energy_accounting=args.energy_accounting, max_evaluations=args.max_evaluations,
                           xaigen_t_p=[float(t) for t in args.xaigen_t_p.split(",") if t.strip()],
                           skip_aware=not args.plain_operators, xaigen_refine_passes=args.xaigen_refine_passes,
                           attack=AttackConfig(args.attack, args.epsilon, args.attack_steps,
                                               samples=args.attack_samples, seed=args.seed))
    except (ValueError, KeyError) as exc:
        raise SystemExit(f"error: {exc}") from None
    model = _load_model(args.model)
    try:
        (x_train, y_train), (x_test, y_test) = load_npz(args.data)
        data = ((prepare_images(x_train, model.input_shape, "x_train"), y_train),
                (prepare_images(x_test, model.input_shape, "x_test"), y_test))
        kw = dict(workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                  validation_fraction=args.validation_fraction, evaluation_samples=args.evaluation_samples,
                  verbose=not args.quiet, explain_images=args.explain_images)
        if args.baseline == "alwann":
            results = compare_with_alwann(model, data, args.out, config, **kw)
        else:
            results = {config.mode: run_xainas(model, data, args.out, config, **kw)}
    except (ValueError, KeyError, FileNotFoundError, FileExistsError, CheckpointError, ConnectionError) as exc:
        raise SystemExit(f"error: {exc}") from None
    if not args.quiet:
        for mode, r in results.items():
            print(f"{mode}: {len(r.records)} evaluations ({r.candidates} candidates), front of {len(r.front)}, "
                  f"hypervolume {r.hypervolume[-1] if r.hypervolume else 0:.4f}, {r.wall_time_s:.1f} s; float "
                  f"baseline accuracy validation {r.baseline_accuracy['validation']:.4f} / test "
                  f"{r.baseline_accuracy['test']:.4f}")
            for drop in (0.01, 0.02):
                best = r.best_energy(drop, "validation")
                if best:
                    print(f"  best within {drop * 100:.0f} pt (validation): energy x{best['relative_energy']:.3f} "
                          f"of all-exact, accuracy validation {best['accuracy']['validation']:.4f} / test "
                          f"{best['accuracy']['test']:.4f}")
        print(f"results in {args.out}")
    return 0
