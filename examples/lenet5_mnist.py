"""Train (or load) LeNet-5 on MNIST, run XAI-Gen, and show how far the energy model lets energy go.

    python examples/lenet5_mnist.py [--data mnist.npz] [--epochs 10] [--finetune-epochs N] [--selection sensitivity]
        [--energy-accounting compute] --out DIR

Data: ``--data``, else ``~/.keras/datasets/mnist.npz`` or the shared copy, else the bundled 4,000/1,000-image subset
(it says which). Writes the trained model, XAI-Gen's outputs (result.json, plan.json, importance.png, sweep.csv,
tradeoff.png, axdnn.keras) and cap.csv (most aggressive multiplier everywhere, growing uniform skipping).
``accuracy`` in result.json is on test images the search never selected on, ``baseline_accuracy`` on the same images.
"""

from __future__ import annotations

import csv
import os

from _common import parser, sweep_values, trained_model, xaigen_config

from tfaxdnn import evaluate
from tfaxdnn.data import load_mnist, preprocess_mnist
from tfaxdnn.models import lenet5
from tfaxdnn.search import energy_cap, run_and_save


def main(argv=None):
    p = parser(__doc__, "out/lenet5_mnist", "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8")
    p.add_argument("--evaluation-samples", type=int, default=None, help="test images for accuracy (default all)")
    p.add_argument("--no-cap", action="store_true", help="skip the energy-cap table")
    args = p.parse_args(argv)

    (xtr, ytr), (xte, yte), _ = load_mnist(args.data, full=not args.subset, verbose=True)
    xtr, xte = preprocess_mnist(xtr), preprocess_mnist(xte)
    epochs = args.epochs or (10 if len(xtr) > 10000 else 8)
    model = trained_model(args, lenet5, xtr, ytr, epochs, "lenet5", batch_size=64, verbose=0)
    print(f"LeNet-5 test accuracy {evaluate(model, xte, yte).accuracy:.4f} on {len(xte)} images")
    config = xaigen_config(args, evaluation_samples=args.evaluation_samples)
    result = run_and_save(model, (xte, yte), xtr, args.out, config, t_p_values=sweep_values(args.sweep),
                          train_data=(xtr, ytr))
    if args.no_cap:
        return
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
