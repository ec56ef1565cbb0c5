"""Train (or load) a CIFAR-10 ResNet and run XAI-Gen on it.

    python examples/resnet_cifar10.py [--data cifar10.npz] [--arch resnet8|resnet18] [--epochs 30] --out DIR

Data: ``--data`` (an npz with x_train, y_train, x_test, y_test), else ``~/.keras/datasets/cifar10.npz`` or the
shared copy, else the bundled 1,000/200-image subset (runs in a few minutes; accuracy is then low). The data is
shuffled with the seed (the shared copy is sorted by class). Writes the trained model and XAI-Gen's outputs to DIR.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402

from tfaxdnn import evaluate  # noqa: E402
from tfaxdnn.data import load_cifar10, preprocess_cifar10  # noqa: E402
from tfaxdnn.models import resnet8, resnet18, train_classifier  # noqa: E402
from tfaxdnn.search import XAIGenConfig, run_and_save  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="CIFAR-10 npz (default: found copy, else bundled subset)")
    p.add_argument("--subset", action="store_true", help="use the bundled subset even if the full data exists")
    p.add_argument("--arch", choices=("resnet8", "resnet18"), default="resnet8")
    p.add_argument("--epochs", type=int, default=None, help="default 30 (full data) / 15 (subset)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--model", default=None, help="load this trained .keras model instead of training")
    p.add_argument("--evaluation-samples", type=int, default=2000, help="test images for XAI-Gen's accuracy")
    p.add_argument("--importance-samples", type=int, default=100)
    p.add_argument("--sweep", default="0,0.2,0.4,0.6", help="t_p values of the p/pa sweep ('' to skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/resnet_cifar10")
    args = p.parse_args(argv)

    (xtr, ytr), (xte, yte), src = load_cifar10(args.data, seed=args.seed, full=not args.subset, verbose=True)
    xtr, xte = preprocess_cifar10(xtr), preprocess_cifar10(xte)
    os.makedirs(args.out, exist_ok=True)
    if args.model:
        model = keras.models.load_model(args.model)
    else:
        epochs = args.epochs or (30 if len(xtr) > 10000 else 15)
        keras.utils.set_random_seed(args.seed)
        model = (resnet8 if args.arch == "resnet8" else resnet18)()
        t0 = time.perf_counter()
        train_classifier(model, xtr, ytr, epochs, args.batch_size, augment=True, seed=args.seed)
        print(f"trained {args.arch} for {epochs} epochs on {len(xtr)} images in {time.perf_counter() - t0:.0f} s")
        model.save(os.path.join(args.out, f"{args.arch}.keras"))
    print(f"{model.name}: test accuracy {evaluate(model, xte, yte).accuracy:.4f} on {len(xte)} images ({src})")
    config = XAIGenConfig(evaluation_samples=args.evaluation_samples, importance_samples=args.importance_samples,
                          calibration_samples=500, seed=args.seed)
    sweep = [float(v) for v in args.sweep.split(",")] if args.sweep else ()
    run_and_save(model, (xte, yte), xtr, args.out, config, t_p_values=sweep)


if __name__ == "__main__":
    main()
