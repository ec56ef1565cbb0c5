"""``tfaxdnn nas --model M.keras --data D.npz --out DIR``: XAI-NAS (NSGA-II over per-layer multipliers and skipping)
from the command line."""

from __future__ import annotations

import argparse
import os

from tfaxdnn.cli import common

__all__ = ["add_parser", "run"]


#: the objectives ``--objectives`` names in its help (`tfaxdnn.search.nas.OBJECTIVES` checks them; tests/test_cli.py
#: keeps the two equal): not imported here, as ``tfaxdnn.search`` imports Keras and ``tfaxdnn --help`` need not
OBJECTIVE_NAMES = ("accuracy", "energy", "latency", "memory", "robustness")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "nas", help="XAI-NAS: NSGA-II over per-layer approximate multipliers and neuron skipping",
        description="Searches per-layer multipliers and skip fractions with NSGA-II (XAI-Gen-seeded), selecting on "
                    "a validation split of x_test (feasible: the upper --confidence bound of the paired drop against "
                    "the float model meets --max-accuracy-drop), re-checking the front on a confirmation slice of it "
                    "(the answer: the lowest-energy member that holds) and re-evaluating it on the rest. Writes "
                    "evaluations.csv, pareto.json, generations.png, hypervolume.png and a per-generation checkpoint "
                    "to --out (with --baseline alwann: xainas/ and alwann/ sub-folders plus comparison.json).")
    common.model_arg(p)
    p.add_argument("--out", required=True, help="output folder")
    common.data_args(p, help="npz with x_train, y_train (calibration, conductance) and x_test, y_test (split into "
                             "validation and held-out test)")
    common.split_args(p, fraction=0.5, val_data=False, samples_help="cap on validation images per candidate")
    common.search_args(p, explain_help="test images in explanations.png (float vs the answer; 0: none)")
    common.selection_args(p, confirmation_help="share of the validation images held out of the search to re-check "
                                               "the front (default 0.25; 0: no re-check)")
    g = p.add_argument_group("XAI-NAS")
    g.add_argument("--generations", type=int, default=10, help="generations after the initial one (default 10)")
    g.add_argument("--pop", type=int, default=50, help="population size (default 50)")
    g.add_argument("--offsprings", type=int, default=None, help="offspring per generation (default: --pop)")
    g.add_argument("--seeds", type=int, default=36, help="XAI-Gen seed configurations (default 36)")
    g.add_argument("--objectives", default="accuracy,energy",
                   help=f"comma-separated, from {','.join(OBJECTIVE_NAMES)} (default accuracy,energy)")
    g.add_argument("--mode", choices=("xainas", "alwann"), default="xainas",
                   help="xainas (XAI-Gen seeds, skipping) or alwann (random start, no skipping)")
    g.add_argument("--baseline", choices=("none", "alwann"), default="none",
                   help="alwann: also run the ALWANN-style baseline with the same budget and compare")
    g.add_argument("--genes", choices=("layer", "block"), default="layer", help="one gene per layer or per "
                                                                                "residual block")
    g.add_argument("--max-skip", type=float, default=0.5, help="largest skip fraction (default 0.5)")
    g.add_argument("--skip-step", type=float, default=0.05, help="skip fraction step (default 0.05)")
    g.add_argument("--mutation-prob", type=float, default=0.1, help="per-gene mutation probability")
    g.add_argument("--xaigen-t-p", default="",
                   help="comma-separated t_p of full (refined) XAI-Gen runs whose plans seed XAI-NAS first; their "
                        "evaluations count against --max-evaluations")
    g.add_argument("--xaigen-refine-passes", type=int, default=2,
                   help="refinement passes of the --xaigen-t-p seeding runs (0: Algorithm 1 with back-off only)")
    g.add_argument("--max-evaluations", type=int, default=None,
                   help="budget of unique evaluations (with --baseline alwann, default: XAI-NAS's total, "
                        "seeding included, given to the baseline)")
    g.add_argument("--no-uniform-seeds", action="store_true",
                   help="leave the uniform plans (every gene on one multiplier) out of XAI-NAS's first population")
    g.add_argument("--tolerance-seeds", type=int, default=0,
                   help="score every gene alone on each approximate multiplier first (counted in the budget) and seed "
                        "up to N plans of the additive front of those measured drops (default 0: off)")
    g.add_argument("--seed-output-by-conductance", action="store_true",
                   help="let the sweep seeds rank the output layer by its conductance (default: keep it exact)")
    g.add_argument("--plain-operators", action="store_true",
                   help="XAI-NAS without skip-aware mutation, biased random start and skip-bound repair")
    g = p.add_argument_group("robustness objective")
    g.add_argument("--attack", choices=("fgsm", "pgd"), default="pgd", help="robustness objective's attack")
    g.add_argument("--epsilon", type=float, default=0.1, help="attack L-inf radius (input units)")
    g.add_argument("--attack-steps", type=int, default=10, help="attack iterations (default 10)")
    g.add_argument("--attack-samples", type=int, default=200, help="images attacked (default 200)")
    g = p.add_argument_group("workers")
    g.add_argument("--workers", type=int, default=None,
                   help="local Dask worker processes (0: in-process; default: 0 on <= 2 cores, else half the cores)")
    g.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (tcp://host:port)")
    g.add_argument("--resume", action="store_true", help="continue the search checkpointed in --out (after Ctrl-C "
                                                         "the command prints the exact command line)")
    common.seed_arg(p)
    common.quiet_arg(p)
    p.set_defaults(func=run)
    return p


def _resume_hint(args) -> str:
    """What is left after Ctrl-C: the checkpoints in --out and the command that resumes them, or that there are
    none yet."""
    from tfaxdnn.search.nas import MODES, NASSearch

    folders = [os.path.join(args.out, m) for m in MODES] if args.baseline == "alwann" else [args.out]
    saved = [p for p in (os.path.join(f, NASSearch.CHECKPOINT) for f in folders) if os.path.isfile(p)]
    if not saved:
        return (f"no checkpoint in {args.out} yet (the first is written after the first generation): rerun the "
                "command, without --resume, to start again")
    command = common.command_line(args, "--resume") or "the same command with --resume"
    return (f"the search is checkpointed after each finished generation in {' and '.join(saved)}; resume it with: "
            f"{command}")


def run(args) -> int:
    from tfaxdnn.search.checkpoint import CheckpointError
    from tfaxdnn.search.nas import NASConfig, compare_with_alwann, run_xainas
    from tfaxdnn.search.nas.robustness import AttackConfig

    with common.flag_errors(args, AttackConfig, common.ATTACK_FLAGS):
        attack = AttackConfig(args.attack, args.epsilon, args.attack_steps, samples=args.attack_samples,
                              seed=args.seed)
    with common.flag_errors(args, NASConfig):
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
                           attack=attack, confidence=args.confidence, sequential=args.sequential,
                           confirmation_fraction=args.confirmation_fraction,
                           uniform_seeds=not args.no_uniform_seeds,
                           seed_output_exact=not args.seed_output_by_conductance,
                           tolerance_seeds=args.tolerance_seeds)
    model = common.load_model(args.model)
    data = common.load_dataset(args.data, model, args.scale)      # all four arrays: conductance needs y_train
    from tfaxdnn.search.runners import default_workers

    workers = default_workers() if args.workers is None else args.workers
    kw = dict(workers=workers, scheduler=args.scheduler, resume=args.resume,
              validation_fraction=args.validation_fraction, evaluation_samples=args.evaluation_samples,
              verbose=not args.quiet, explain_images=args.explain_images)
    try:
        with common.reported(ValueError, KeyError, FileNotFoundError, FileExistsError, CheckpointError,
                             ConnectionError):
            if args.baseline == "alwann":
                results = compare_with_alwann(model, data, args.out, config, **kw)
            else:
                results = {config.mode: run_xainas(model, data, args.out, config, **kw)}
    except KeyboardInterrupt:
        return common.interrupted(_resume_hint(args), newline=not args.quiet)
    if not args.quiet:
        for mode, r in results.items():
            print(f"{mode}: {len(r.records)} evaluations ({r.candidates} candidates), front of {len(r.front)}, "
                  f"hypervolume {r.hypervolume[-1] if r.hypervolume else 0:.4f}, {r.wall_time_s:.1f} s; float "
                  f"baseline accuracy validation {r.baseline_accuracy['validation']:.4f} / test "
                  f"{r.baseline_accuracy['test']:.4f}")
            if r.answer is not None:
                a = r.answer["accuracy_drop"]
                bound = f" (bound {100 * a['estimated_upper']:.2f})" if a.get("estimated_upper") is not None else ""
                est = "-" if a.get("estimated_drop") is None else f"{100 * a['estimated_drop']:.2f}"
                print(f"  answer ({r.answer['source']}): {config.energy_accounting} energy "
                      f"{r.answer['energy_reduction'][config.energy_accounting]:.2f}x lower; drop vs float validation "
                      f"{est}{bound}, test {100 * a['realised_drop']:.2f} points (budget "
                      f"{100 * config.max_accuracy_drop:g}); {a['confirmation_check']['note']}")
                rej = r.selection.get("sequential_rejection", {})
                if rej.get("rejected"):
                    print(f"  sequential rejection: {rej['rejected']} of {rej['candidates']} candidates stopped early, "
                          f"{100 * rej['images_saved_fraction']:.0f} % of their images not scored "
                          f"(~{rej['saved_s']:.1f} s of inference saved)")
            for drop in (0.01, 0.02):
                best = r.best_energy(drop, "validation")
                if best:
                    print(f"  best within {drop * 100:.0f} pt (validation): energy x{best['relative_energy']:.3f} "
                          f"of all-exact, accuracy validation {best['accuracy']['validation']:.4f} / test "
                          f"{best['accuracy']['test']:.4f}")
        print(f"results in {args.out}")
    return 0
