"""Train (or load) LeNet-5 on MNIST, run XAI-Gen, and show how far the energy model lets energy go.

    python examples/lenet5_mnist.py [--data mnist.npz] [--epochs 10] --out DIR

Data: ``--data``, else ``~/.keras/datasets/mnist.npz`` or the shared copy, else the bundled 4,000/1,000-image subset
(it says which). Writes the trained model, XAI-Gen's outputs (result.json, plan.json, importance.png, sweep.csv,
tradeoff.png, axdnn.keras) and cap.csv (most aggressive multiplier everywhere, growing uniform skipping).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402

from tfaxdnn import evaluate  # noqa: E402
from tfaxdnn.data import load_mnist, preprocess_mnist  # noqa: E402
from tfaxdnn.models import lenet5, train_classifier  # noqa: E402
from tfaxdnn.search import XAIGenConfig, energy_cap, run_and_save  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="MNIST npz (default: found copy, else the bundled subset)")
    p.add_argument("--subset", action="store_true", help="use the bundled subset even if the full data exists")
    p.add_argument("--epochs", type=int, default=None, help="default 10 (full data) / 8 (subset)")
    p.add_argument("--model", default=None, help="load this trained .keras model instead of training")
    p.add_argument("--evaluation-samples", type=int, default=None, help="test images for accuracy (default all)")
    p.add_argument("--sweep", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8", help="t_p values ('' to skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/lenet5_mnist")
    args = p.parse_args(argv)

    (xtr, ytr), (xte, yte), src = load_mnist(args.data, full=not args.subset, verbose=True)
    xtr, xte = preprocess_mnist(xtr), preprocess_mnist(xte)
    os.makedirs(args.out, exist_ok=True)
    if args.model:
        model = keras.models.load_model(args.model)
    else:
        epochs = args.epochs or (10 if len(xtr) > 10000 else 8)
        keras.utils.set_random_seed(args.seed)
        t0 = time.perf_counter()
        model = train_classifier(lenet5(), xtr, ytr, epochs, batch_size=64, seed=args.seed, verbose=0)
        print(f"trained LeNet-5 for {epochs} epochs on {len(xtr)} images in {time.perf_counter() - t0:.0f} s")
        model.save(os.path.join(args.out, "lenet5.keras"))
    print(f"LeNet-5 test accuracy {evaluate(model, xte, yte).accuracy:.4f} on {len(xte)} images")
    config = XAIGenConfig(evaluation_samples=args.evaluation_samples, seed=args.seed)
    sweep = [float(v) for v in args.sweep.split(",")] if args.sweep else ()
    result = run_and_save(model, (xte, yte), xtr, args.out, config, t_p_values=sweep)
    rows = energy_cap(model, (xte, yte), xtr, config, importance=result.importance, verbose=False)
    with open(os.path.join(args.out, "cap.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"energy cap (every layer {rows[0]['multiplier']}, uniform skipping, weight mapping):")
    for r in rows:
        print(f"  skip {r['skip_fraction']:.2f}: accuracy {r['accuracy']:.4f}, energy {r['relative_energy']:.3f} x "
              f"exact ({r['energy_reduction']:.2f}x lower){'' if r['meets_quality'] else '  [misses Q_c]'}")
    ok = [r for r in rows if r["meets_quality"]]
    if ok:
        best = min(ok, key=lambda r: r["relative_energy"])
        print(f"cap within Q_c: {best['energy_reduction']:.2f}x lower energy; XAI-Gen reached "
              f"{result.energy_reduction:.2f}x")


if __name__ == "__main__":
    main()
