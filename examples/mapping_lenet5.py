"""Fine-grain weight-to-approximation mapping of LeNet-5 / MNIST on a reconfigurable multiplier under STL queries
(formal-mapping paper), against the LVRM-style greedy and ALWANN-style homogeneous baselines.

    python examples/mapping_lenet5.py [--data mnist.npz] [--model lenet5.keras] [--queries Q1,Q3,Q7]
                                      [--thr-avg 1] [--budget 30] --out DIR

    python examples/mapping_lenet5.py --pretrained lenet5_mnist --queries Q7 --thr-avg 0.5,1,2 --out DIR

Trains LeNet-5 (or loads ``--model``), then runs ``tfaxdnn map`` (`tfaxdnn.cli.map`): the search sees a
seeded 25 % of the test set (batches of 100), every reported mapping is re-verified on the other 75 % by a fresh
evaluator from its saved JSON. With ``--pretrained NAME`` (a shipped reference model) nothing of x_test is searched
on: the search sees the model card's 5,000 validation images of x_train (`tfaxdnn.data.reference_split`, passed as
``--val-data``): half of them confirm each answer and the search sees the other half; calibration uses the training
part only, and all 10,000 test images only verify. Outputs: queries.csv, summary.json, mapping*.json (only for mappings that hold on
the held-out images; exit code 3 when, for some query, none does), mapping_candidates.json, signal_*.png, gains.png.
"""

from __future__ import annotations

import os

from _common import card_split, parser, trained_model

from tfaxdnn import cli, evaluate
from tfaxdnn.data import load_mnist, preprocess_mnist
from tfaxdnn.models import lenet5


def main(argv=None):
    p = parser(__doc__, "out/mapping_lenet5", "")
    p.add_argument("--queries", default="Q1,Q3,Q7")
    p.add_argument("--thr-avg", default="1")
    p.add_argument("--budget", type=int, default=30)
    p.add_argument("--modes", default="recon_evo")
    p.add_argument("--protocol", default="native", choices=("native", "query", "shared"))
    p.add_argument("--pretrained", default=None, help="shipped reference model (e.g. lenet5_mnist): search and "
                                                       "confirm on its card's validation images, verify on x_test")
    p.add_argument("--evaluation-samples", type=int, default=None, help="search images used (default: all)")
    args = p.parse_args(argv)
    if args.pretrained:
        return run_pretrained(args)
    (xtr, ytr), (xte, yte), src = load_mnist(args.data, full=not args.subset, verbose=True)
    model = trained_model(args, lenet5, preprocess_mnist(xtr), ytr, args.epochs or 3, "lenet5", batch_size=128,
                          verbose=0)
    print(f"LeNet-5 float test accuracy {evaluate(model, preprocess_mnist(xte), yte).accuracy:.4f}")
    model_path = args.model or os.path.join(args.out, "lenet5.keras")
    return cli.main(["map", "--model", model_path, "--data", src, "--query", args.queries,
                     "--thr-avg", args.thr_avg, "--budget", str(args.budget), "--modes", args.modes,
                     "--protocol", args.protocol, "--seed", str(args.seed), "--out", args.out])


def run_pretrained(args) -> int:
    """``tfaxdnn map`` on a shipped reference model: the card's validation images as ``--val-data``, the training part
    (calibration) and all test images (held out) as ``--data``, written as npz files to ``args.out/data/``."""
    import numpy as np

    card, src, (xtr, ytr), (xte, yte), train, val = card_split(args.pretrained, args.data)
    digest = card["split"]["hash"]
    folder = os.path.join(args.out, "data")
    os.makedirs(folder, exist_ok=True)
    data, val_data = os.path.join(folder, "train_test.npz"), os.path.join(folder, "validation.npz")
    rng = np.random.default_rng(args.seed)      # calibration needs a few hundred training images, not 55,000
    cal = np.sort(rng.choice(train, min(5000, len(train)), replace=False))
    np.savez(data, x_train=xtr[cal], y_train=ytr[cal], x_test=xte, y_test=yte)
    np.savez(val_data, x_train=xtr[:0], y_train=ytr[:0], x_test=xtr[val], y_test=ytr[val])
    model_path = os.path.join(folder, f"{args.pretrained}.keras")
    from tfaxdnn.models import pretrained

    pretrained(args.pretrained).save(model_path)
    print(f"{args.pretrained}: search and confirmation on the {len(val)} validation images of {src} (split "
          f"{digest[:12]}), calibration on {len(cal)} training images, all {len(xte)} test images verify only")
    extra = ["--evaluation-samples", str(args.evaluation_samples)] if args.evaluation_samples else []
    return cli.main(["map", "--model", model_path, "--data", data, "--val-data", val_data, "--query", args.queries,
                     "--thr-avg", args.thr_avg, "--budget", str(args.budget), "--modes", args.modes,
                     "--protocol", args.protocol, "--seed", str(args.seed), "--out", args.out, *extra])


if __name__ == "__main__":
    raise SystemExit(main())
