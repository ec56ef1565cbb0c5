"""Train LeNet-5 on the bundled MNIST subset, then rank its layers by conductance (five target-class experiments).

    python examples/lenet5_conductance.py [--epochs 5] [--seed 0] [--samples 20] [--out out/lenet5_importance.png]
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfaxdnn.data import load_mnist, preprocess_mnist  # noqa: E402
from tfaxdnn.models import lenet5  # noqa: E402
from tfaxdnn.xai import LayerConductance, layer_importance, save_layer_importance_plot  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=20, help="test images per target class")
    p.add_argument("--classes", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--out", default="out/lenet5_importance.png")
    args = p.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    (xtr, ytr), (xte, yte), src = load_mnist(full=False)
    xtr, xte = preprocess_mnist(xtr), preprocess_mnist(xte)
    model = lenet5()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(xtr, ytr, batch_size=64, epochs=args.epochs, verbose=0)
    acc = model.evaluate(xte, yte, verbose=0)[1]
    print(f"LeNet-5, {len(xtr)} training images ({os.path.basename(src)}), {args.epochs} epochs, seed {args.seed}: "
          f"test accuracy {acc:.4f} on {len(xte)} images")

    # Completeness check on the trained model: every LeNet-5 layer is a cut.
    lc = LayerConductance(model)
    xs, ts = xte[:50], yte[:50]
    cond, delta = lc.attribute(xs, target=ts, return_convergence_delta=True)
    out = lc.forward(xs)[np.arange(len(xs)), ts] - lc.forward(np.zeros_like(xs))[np.arange(len(xs)), ts]
    rel = {k: np.abs(v) / np.abs(out) for k, v in delta.items()}
    print("completeness |sum C - (F(x) - F(x'))| / |F(x) - F(x')|, 50 test images, gausslegendre n_steps=50: "
          + ", ".join(f"{k} max {v.max():.2e}" for k, v in rel.items()))

    for reduce, granularity in (("abs_sum", "neuron"), ("abs_sum", "element"), ("abs_mean", "neuron")):
        res = layer_importance(model, (xte, yte), targets=args.classes, reduce=reduce, granularity=granularity,
                               samples_per_target=args.samples, verbose=False)
        print(res)
        for exp, scores in res.per_experiment.items():
            top = max(scores, key=scores.get)
            print(f"    {exp}: most important {top}; " + ", ".join(f"{k} {v:.3g}" for k, v in scores.items()))
        if reduce == "abs_sum":
            path = args.out.replace(".png", f"_{granularity}.png")
            print("plot:", save_layer_importance_plot(res, path, title=f"LeNet-5 importance ({reduce}, {granularity})"))


if __name__ == "__main__":
    main()
