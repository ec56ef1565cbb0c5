"""XAI-NAS vs the ALWANN-style baseline (and XAI-Gen) on ResNet-8 / CIFAR-10, one gene per residual block.

    python examples/xainas_resnet8.py [--data cifar10.npz] [--model resnet8.keras] [--generations 10 --pop 50]
                                      [--evaluation-samples 1000] [--workers N] --out DIR

Data: ``--data``, else ``~/.keras/datasets/cifar10.npz`` or the shared copy, else the bundled 1,000/200-image
subset (``--subset``). ``--pretrained resnet8_cifar10``: the shipped reference model, selected on its card's
validation images, reported on all of x_test (see ``xainas_lenet5.py``; ``--evaluation-samples 0`` keeps all 5,000
validation images). Outputs as in ``xainas_lenet5.py``.
"""

from __future__ import annotations

from _common import trained_model
from xainas_lenet5 import compare, parser, reference_data


def main(argv=None):
    from tfaxdnn import evaluate
    from tfaxdnn.data import load_cifar10, preprocess_cifar10
    from tfaxdnn.models import resnet8

    p = parser(__doc__, "out/xainas_resnet8")
    # tolerance seeds on by default here: on ResNet-8 the MAE-ordered sweep seeds were infeasible (docs/nas.md)
    p.set_defaults(genes="block", evaluation_samples=1000, tolerance_seeds=12)
    args = p.parse_args(argv)
    if args.pretrained:     # select on the card's 5,000 validation images of x_train, report on all of x_test
        model, data, test, _ = reference_data(args.pretrained, args.data, pack=args.pack)
        return compare(args, model, data, test)
    (xtr, ytr), (xte, yte), src = load_cifar10(args.data, seed=args.seed, full=not args.subset, verbose=True)
    xtr, xte = preprocess_cifar10(xtr), preprocess_cifar10(xte)
    epochs = args.epochs or (50 if len(xtr) > 10000 else 15)
    model = trained_model(args, resnet8, xtr, ytr, epochs, "resnet8", batch_size=128, augment=True)
    print(f"ResNet-8 accuracy {evaluate(model, xte, yte).accuracy:.4f} on all {len(xte)} x_test images ({src})")
    compare(args, model, ((xtr, ytr), (xte, yte)))


if __name__ == "__main__":
    main()
