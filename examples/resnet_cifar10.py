"""Train (or load) a CIFAR-10 ResNet and run XAI-Gen on it.

    python examples/resnet_cifar10.py [--data cifar10.npz] [--arch resnet8|resnet18] [--epochs 50]
        [--finetune-epochs N] [--selection sensitivity] [--energy-accounting compute] --out DIR

Data: ``--data`` (an npz with x_train, y_train, x_test, y_test), else ``~/.keras/datasets/cifar10.npz`` or the
shared copy, else the bundled 1,000/200-image subset (runs in a few minutes; accuracy is then low). The data is
shuffled with the seed (the shared copy is sorted by class). Writes the trained model and XAI-Gen's outputs to DIR;
``accuracy`` in result.json is on test images the search never selected on, ``baseline_accuracy`` on the same images.
"""

from __future__ import annotations

from _common import parser, sweep_values, trained_model, xaigen_config

from tfaxdnn import evaluate
from tfaxdnn.data import load_cifar10, preprocess_cifar10
from tfaxdnn.models import resnet8, resnet18
from tfaxdnn.search import run_and_save


def main(argv=None):
    p = parser(__doc__, "out/resnet_cifar10", "0,0.2,0.4,0.6")
    p.add_argument("--arch", choices=("resnet8", "resnet18"), default="resnet8")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--evaluation-samples", type=int, default=2000, help="test images for XAI-Gen's accuracy")
    p.add_argument("--importance-samples", type=int, default=100)
    args = p.parse_args(argv)

    (xtr, ytr), (xte, yte), src = load_cifar10(args.data, seed=args.seed, full=not args.subset, verbose=True)
    xtr, xte = preprocess_cifar10(xtr), preprocess_cifar10(xte)
    epochs = args.epochs or (50 if len(xtr) > 10000 else 15)
    build = resnet8 if args.arch == "resnet8" else resnet18
    model = trained_model(args, build, xtr, ytr, epochs, args.arch, batch_size=args.batch_size, augment=True)
    print(f"{model.name}: test accuracy {evaluate(model, xte, yte).accuracy:.4f} on {len(xte)} images ({src})")
    config = xaigen_config(args, evaluation_samples=args.evaluation_samples,
                           importance_samples=args.importance_samples, calibration_samples=500)
    run_and_save(model, (xte, yte), xtr, args.out, config, t_p_values=sweep_values(args.sweep),
                 train_data=(xtr, ytr))


if __name__ == "__main__":
    main()
