"""XAI-NAS vs the ALWANN-style baseline (and XAI-Gen) on LeNet-5 / MNIST.

    python examples/xainas_lenet5.py [--data mnist.npz] [--model lenet5.keras] [--generations 10 --pop 50]
                                     [--workers N] --out DIR

Data: ``--data``, else ``~/.keras/datasets/mnist.npz`` or the shared copy, else the bundled 4,000/1,000-image
subset (``--subset`` forces it). x_test is split (seeded) into a validation half (selection) and a test half (the
final fronts are re-evaluated on it). Writes DIR/xainas/, DIR/alwann/ (evaluations.csv, pareto.json, plots,
checkpoints; ``--resume`` continues), DIR/generations.png, DIR/hypervolume.png, DIR/comparison.json and
DIR/xaigen/ (XAI-Gen on the same validation split), and prints the comparison.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from _common import trained_model


def parser(doc: str, default_out: str) -> argparse.ArgumentParser:
    from tfaxdnn.search.runners import default_workers

    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--data", default=None, help="npz dataset (default: a found copy, else the bundled subset)")
    p.add_argument("--subset", action="store_true", help="use the bundled subset even if the full data exists")
    p.add_argument("--model", default=None, help="trained .keras model (default: train one)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--generations", type=int, default=10)
    p.add_argument("--pop", type=int, default=50)
    p.add_argument("--seeds", type=int, default=36)
    p.add_argument("--workers", type=int, default=default_workers(),
                   help="Dask worker processes (0: in-process; default: 0 on <= 2 cores, else half the cores)")
    p.add_argument("--evaluation-samples", type=int, default=None, help="validation images per candidate")
    p.add_argument("--validation-fraction", type=float, default=0.5,
                   help="share of x_test for selection (the rest is the held-out test split)")
    p.add_argument("--offsprings", type=int, default=None, help="offspring per generation (default: --pop)")
    p.add_argument("--genes", choices=("layer", "block"), default="layer")
    p.add_argument("--energy-accounting", choices=("system", "compute", "multiplier"), default="system",
                   help="energy objective of both searches and XAI-Gen (all three are reported)")
    p.add_argument("--xaigen-t-p", default="", help="comma-separated t_p of refined XAI-Gen seeds (XAI-NAS only; "
                                                     "their evaluations count against the shared budget)")
    p.add_argument("--xaigen-refine-passes", type=int, default=2,
                   help="refinement passes of the --xaigen-t-p seeding runs (0: Algorithm 1 with back-off only)")
    p.add_argument("--max-evaluations", type=int, default=None,
                   help="budget of unique evaluations per search (default: XAI-NAS's, given to the baseline)")
    p.add_argument("--plain-operators", action="store_true",
                   help="XAI-NAS without the skip-aware mutation, biased random start and skip repair")
    p.add_argument("--no-xaigen", action="store_true", help="skip the XAI-Gen reference run")
    p.add_argument("--xaigen-drops", default="0.01,0.02", help="max accuracy drops of the XAI-Gen reference runs")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=default_out)
    return p


def compare(args, model, data) -> dict:
    """Runs both searches (same budget) and XAI-Gen; prints and returns the summary."""
    from tfaxdnn.search import XAIGenConfig, run_xaigen
    from tfaxdnn.search.selection import seeded_subset, split_data
    from tfaxdnn.search.nas import NASConfig, compare_with_alwann

    config = NASConfig(pop_size=args.pop, n_offsprings=args.offsprings or args.pop, generations=args.generations,
                       n_seeds=args.seeds, genes=args.genes, seed=args.seed, energy_accounting=args.energy_accounting,
                       xaigen_t_p=[float(t) for t in args.xaigen_t_p.split(",") if t.strip()],
                       max_evaluations=args.max_evaluations, skip_aware=not args.plain_operators,
                       xaigen_refine_passes=args.xaigen_refine_passes)
    results = compare_with_alwann(model, data, args.out, config, workers=args.workers, resume=args.resume,
                                  evaluation_samples=args.evaluation_samples,
                                  validation_fraction=args.validation_fraction)
    with open(os.path.join(args.out, "comparison.json")) as f:
        summary = json.load(f)
    print(f"\n{'':24s}{'XAI-NAS':>12s}{'ALWANN-style':>14s}")
    for key in ("hypervolume", "evaluations", "seeding_evaluations", "total_evaluations", "candidates",
                "wall_time_s", "seeding_time_s", "front_size",
                "best_energy_reduction_validation_1pt", "best_energy_reduction_test_1pt",
                "best_energy_reduction_validation_2pt", "best_energy_reduction_test_2pt"):
        cells = [summary[m][key] for m in ("xainas", "alwann")]
        print(f"{key:40s}" + "".join(f"{c:>12.4g}" if isinstance(c, (int, float)) else f"{str(c):>12s}"
                                     for c in cells))
    if not args.no_xaigen:
        (x_train, y_train), (x_held, y_held) = data
        (x_val, y_val), (x_test, y_test) = split_data(x_held, np.asarray(y_held).reshape(-1),
                                                      args.validation_fraction, args.seed)   # the searches' split
        keep = seeded_subset(args.evaluation_samples, args.seed + 2, np.arange(len(x_val)))  # their images
        x_val, y_val = x_val[keep], y_val[keep]
        accountings = ("system", "compute", "multiplier")
        for drop in (float(d) for d in args.xaigen_drops.split(",") if d.strip()):
            xg = run_xaigen(model, (x_val, y_val), x_train,
                            XAIGenConfig(seed=args.seed, energy_accounting=args.energy_accounting,
                                         max_accuracy_drop=drop), verbose=False, test_data=(x_test, y_test))
            tag = f"{int(round(drop * 100))}pt"
            xg.save(os.path.join(args.out, f"xaigen_{tag}"))
            summary[f"xaigen_{tag}"] = {
                "relative_energy": xg.relative_energy, "energy_reduction": 1.0 / xg.relative_energy,
                **{f"energy_reduction_{a}": xg.reductions[a] for a in accountings},
                "accuracy_validation": xg.validation_accuracy, "accuracy_test": xg.accuracy,
                "baseline_accuracy_validation": xg.baseline_validation_accuracy,
                "baseline_accuracy_test": xg.baseline_accuracy, "runtime_s": xg.runtime_s}
            print(f"XAI-Gen (max drop {tag}, validation-selected): energy "
                  + ", ".join(f"{a} {xg.reductions[a]:.2f}x" for a in accountings)
                  + f" lower than all-exact, accuracy validation {xg.validation_accuracy:.4f} / test "
                  f"{xg.accuracy:.4f}, {xg.runtime_s:.0f} s")
        with open(os.path.join(args.out, "comparison.json"), "w") as f:
            json.dump(summary, f, indent=2)
    base = results["xainas"].baseline_accuracy
    print(f"float baseline accuracy: validation {base['validation']:.4f}, test {base['test']:.4f}; "
          f"results in {args.out}")
    return summary


def main(argv=None):
    from tfaxdnn import evaluate
    from tfaxdnn.data import load_mnist, preprocess_mnist
    from tfaxdnn.models import lenet5

    args = parser(__doc__, "out/xainas_lenet5").parse_args(argv)
    (xtr, ytr), (xte, yte), _ = load_mnist(args.data, full=not args.subset, verbose=True)
    xtr, xte = preprocess_mnist(xtr), preprocess_mnist(xte)
    epochs = args.epochs or (10 if len(xtr) > 10000 else 8)
    model = trained_model(args, lenet5, xtr, ytr, epochs, "lenet5", batch_size=64, verbose=0)
    print(f"LeNet-5 accuracy {evaluate(model, xte, yte).accuracy:.4f} on all {len(xte)} x_test images")
    compare(args, model, ((xtr, ytr), (xte, yte)))


if __name__ == "__main__":
    main()
