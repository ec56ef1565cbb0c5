"""Fine-grain weight-to-approximation mapping of a CIFAR-10 ResNet on a reconfigurable multiplier under STL queries
(formal-mapping paper), against the LVRM-style greedy and ALWANN-style homogeneous baselines.

    python examples/mapping_resnet8.py --pretrained resnet20_cifar10 [--queries Q7] [--thr-avg 0.5,1,2]
                                       [--budget 20] [--evaluation-samples N] --out DIR
    python examples/mapping_resnet8.py --model resnet8.keras [--data cifar10.npz] [--queries all] [--thr-avg 1]
                                       [--budget 20] [--protocol shared] [--search-images 2000]
                                       [--verify-images 8000] --out DIR

``--pretrained NAME`` (a shipped reference model: ``resnet8_cifar10``, ``resnet20_cifar10``): nothing of x_test is
searched on; the model card's 5,000 validation images of x_train are split in half (the search's images and the
confirmation slice that re-checks each answer), calibration uses the training part, and all 10,000 test images only
verify, as in
``mapping_lenet5.py --pretrained``. ``--model``: a trained ResNet-8 (e.g. ``examples/resnet_cifar10.py`` output);
runs ``tfaxdnn map`` (`tfaxdnn.cli.map`) on a seeded ``search + verify`` subset of the test set: the search sees
``--search-images`` (batches of 100), every reported mapping is re-verified from its saved JSON on the other
``--verify-images``. Default protocol ``shared``: each method searches once per thr_avg under all queries at once.
"""

from __future__ import annotations

import argparse

from tfaxdnn import cli
from tfaxdnn.data import find_dataset


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="a trained .keras model (searched on a slice of x_test)")
    p.add_argument("--pretrained", default=None, help="shipped reference model (resnet8_cifar10, resnet20_cifar10): "
                                                       "search and confirm on its card's validation images, verify on x_test")
    p.add_argument("--evaluation-samples", type=int, default=None,
                   help="--pretrained: validation images the search uses (default: the "
                                                             "2,500 the confirmation slice leaves)")
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
    if args.pretrained:
        from mapping_lenet5 import run_pretrained
        return run_pretrained(args)
    if not args.model:
        p.error("pass --pretrained NAME or --model FILE")
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
