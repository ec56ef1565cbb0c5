"""Fine-grain weight-to-approximation mapping of ResNet-8 / CIFAR-10 on a reconfigurable multiplier under STL queries
(formal-mapping paper), against the LVRM-style greedy and ALWANN-style homogeneous baselines.

    python examples/mapping_resnet8.py --model resnet8.keras [--data cifar10.npz] [--queries all] [--thr-avg 1]
                                       [--budget 20] [--protocol shared] [--search-images 2000]
                                       [--verify-images 8000] --out DIR

Needs a trained ResNet-8 (``--model``; e.g. ``examples/resnet_cifar10.py`` output). Runs ``tfaxdnn map``
(`tfaxdnn.cli.map`) on a seeded ``search + verify`` subset of the test set: the search sees
``--search-images`` (batches of 100), every reported mapping is re-verified from its saved JSON on the other
``--verify-images``. Default protocol ``shared``: each method searches once per thr_avg under all queries at once.
"""

from __future__ import annotations

import argparse

from tfaxdnn import cli
from tfaxdnn.data import find_dataset


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", default=None, help="cifar10 npz (default: a found copy)")
    p.add_argument("--queries", default="all")
    p.add_argument("--thr-avg", default="1")
    p.add_argument("--budget", type=int, default=20)
    p.add_argument("--modes", default="recon_evo")
    p.add_argument("--protocol", default="shared", choices=("native", "query", "shared"))
    p.add_argument("--search-images", type=int, default=2000)
    p.add_argument("--verify-images", type=int, default=8000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/mapping_resnet8")
    args = p.parse_args(argv)
    data = args.data or find_dataset("cifar10")
    if data is None:
        raise SystemExit("error: no CIFAR-10 npz found; pass --data cifar10.npz")
    total = args.search_images + args.verify_images
    return cli.main(["map", "--model", args.model, "--data", data, "--query", args.queries,
                     "--thr-avg", args.thr_avg, "--budget", str(args.budget), "--modes", args.modes,
                     "--protocol", args.protocol, "--seed", str(args.seed), "--out", args.out,
                     "--evaluation-samples", str(total),
                     "--validation-fraction", str(args.search_images / total)])


if __name__ == "__main__":
    raise SystemExit(main())
