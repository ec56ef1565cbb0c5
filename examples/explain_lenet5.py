"""Does approximation change what LeNet-5 (or ResNet-8) looks at? Exact vs approximate maps (tf-explain).

    python examples/explain_lenet5.py [--data ../shared/data/datasets/mnist.npz] [--model lenet5.keras]
        [--approx axdnn.keras ...] [--xaigen] [--images 8] [--seed 0] [--out out/explain_lenet5]
    python examples/explain_lenet5.py --arch resnet8 [--data ../shared/data/datasets/cifar10.npz] ...

Data: the bundled MNIST subset (4,000/1,000 images; CIFAR-10 subset 1,000/200 for ``--arch resnet8``) unless
``--data`` names a full npz. The model is trained (seeded) unless ``--model`` is given. Compared with the float
model: the exact 8-bit model (exact multiplier: what quantisation alone changes), every layer on mul8s_1L2N, each
``--approx`` model, and with ``--xaigen`` the plan XAI-Gen chooses. Per comparison ``<name>.png`` (the grid) and
``<name>.json``; ``summary.json`` holds the accuracies and mean similarities of all comparisons.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402

import tfaxdnn  # noqa: E402
from tfaxdnn import multipliers  # noqa: E402
from tfaxdnn.data import load_cifar10, load_mnist, preprocess_cifar10, preprocess_mnist  # noqa: E402
from tfaxdnn.models import lenet5, resnet8, train_classifier  # noqa: E402
from tfaxdnn.xai import EXPLAIN_METHODS, explanation_figure  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", choices=("lenet5", "resnet8"), default="lenet5",
                   help="LeNet-5 on MNIST (default) or ResNet-8 on CIFAR-10")
    p.add_argument("--data", default=None, help="full MNIST (CIFAR-10) npz (default: the bundled subset)")
    p.add_argument("--model", default=None, help="trained float .keras model (default: train one)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--approx", nargs="*", default=[], help="approximate .keras models to compare as well")
    p.add_argument("--xaigen", action="store_true", help="also run XAI-Gen and explain its plan")
    p.add_argument("--images", type=int, default=8, help="test images explained (similarity means)")
    p.add_argument("--grid-images", type=int, default=8, help="rows of the grid (default 8)")
    p.add_argument("--methods", nargs="+", default=list(EXPLAIN_METHODS), choices=list(EXPLAIN_METHODS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="default out/explain_<arch>")
    args = p.parse_args(argv)
    args.out = args.out or f"out/explain_{args.arch}"
    os.makedirs(args.out, exist_ok=True)

    lenet = args.arch == "lenet5"
    load, prep = (load_mnist, preprocess_mnist) if lenet else (load_cifar10, preprocess_cifar10)
    (xtr, ytr), (xte, yte), src = load(args.data, full=args.data is not None)
    xtr, xte = prep(xtr), prep(xte)
    print(f"data: {os.path.basename(src)} ({len(xtr)} training, {len(xte)} test images)")
    if args.model:
        model = keras.models.load_model(args.model)
    else:
        keras.utils.set_random_seed(args.seed)
        model = train_classifier((lenet5 if lenet else resnet8)(), xtr, ytr, args.epochs, seed=args.seed, verbose=0)
        model.save(os.path.join(args.out, f"{args.arch}.keras"))
    calib = xtr[:500]
    # exact_8bit (the exact multiplier everywhere) separates what 8-bit quantisation alone changes
    rivals = {name: tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier=mult), calibration_data=calib)
              for name, mult in (("exact_8bit", multipliers.EXACT_SIGNED), ("all_mul8s_1L2N", "mul8s_1L2N"))}
    for path in args.approx:
        rivals[os.path.splitext(os.path.basename(path))[0]] = keras.models.load_model(path)
    if args.xaigen:
        from tfaxdnn.search import XAIGenConfig, run_xaigen

        res = run_xaigen(model, (xte, yte), xtr, XAIGenConfig(seed=args.seed), verbose=False)
        print(f"XAI-Gen: {res.energy_reduction:.2f}x lower energy, accuracy {res.accuracy:.4f}")
        res.plan.to_json(os.path.join(args.out, "xaigen_plan.json"))
        res.model.save(os.path.join(args.out, "xaigen.keras"))
        rivals["xaigen"] = res.model

    summary = {"data": os.path.basename(src), "images": args.images, "seed": args.seed,
               "float_accuracy": tfaxdnn.evaluate(model, xte, yte).accuracy, "comparisons": {}}
    print(f"float {args.arch} accuracy {summary['float_accuracy']:.4f} on {len(xte)} test images")
    for name, ax in rivals.items():
        t0 = time.perf_counter()
        result = explanation_figure(model, ax, xte, yte, os.path.join(args.out, f"{name}.png"),
                                    n_images=args.images, grid_images=args.grid_images, seed=args.seed,
                                    methods=args.methods,
                                    title=f"{'LeNet-5 on MNIST' if lenet else 'ResNet-8 on CIFAR-10'}: exact vs {name}")
        acc = tfaxdnn.evaluate(ax, xte, yte).accuracy
        summary["comparisons"][name] = {"accuracy": acc, "mean": result.mean(),
                                        "seconds": round(time.perf_counter() - t0, 1)}
        print(f"\n{name}: accuracy {acc:.4f}; grid {os.path.join(args.out, name + '.png')} "
              f"({time.perf_counter() - t0:.0f} s)\n{result}")
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print("summary:", os.path.join(args.out, "summary.json"))


if __name__ == "__main__":
    main()
