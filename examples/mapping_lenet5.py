"""Fine-grain weight-to-approximation mapping of LeNet-5 / MNIST on a reconfigurable multiplier under STL queries
(formal-mapping paper), against the LVRM-style greedy and ALWANN-style homogeneous baselines.

    python examples/mapping_lenet5.py [--data mnist.npz] [--model lenet5.keras] [--queries Q1,Q3,Q7]
                                      [--thr-avg 1] [--budget 30] --out DIR

Trains LeNet-5 (or loads ``--model``), then runs ``tfaxdnn map`` (`tfaxdnn.cli.map`): the search sees a
seeded 25 % of the test set (batches of 100), every reported mapping is re-verified on the other 75 % by a fresh
evaluator from its saved JSON. Outputs: queries.csv, summary.json, mapping*.json, signal_*.png, gains.png.
"""

from __future__ import annotations

import os

from _common import parser, trained_model

from tfaxdnn import cli, evaluate
from tfaxdnn.data import find_dataset, load_mnist, preprocess_mnist
from tfaxdnn.models import lenet5


def main(argv=None):
    p = parser(__doc__, "out/mapping_lenet5", "")
    p.add_argument("--queries", default="Q1,Q3,Q7")
    p.add_argument("--thr-avg", default="1")
    p.add_argument("--budget", type=int, default=30)
    p.add_argument("--modes", default="recon_evo")
    p.add_argument("--protocol", default="native", choices=("native", "query", "shared"))
    args = p.parse_args(argv)
    (xtr, ytr), (xte, yte), src = load_mnist(args.data, full=not args.subset, verbose=True)
    model = trained_model(args, lenet5, preprocess_mnist(xtr), ytr, args.epochs or 3, "lenet5", batch_size=128,
                          verbose=0)
    print(f"LeNet-5 float test accuracy {evaluate(model, preprocess_mnist(xte), yte).accuracy:.4f}")
    model_path = args.model or os.path.join(args.out, "lenet5.keras")
    return cli.main(["map", "--model", model_path, "--data", src, "--query", args.queries,
                     "--thr-avg", args.thr_avg, "--budget", str(args.budget), "--modes", args.modes,
                     "--protocol", args.protocol, "--seed", str(args.seed), "--out", args.out])


if __name__ == "__main__":
    raise SystemExit(main())
