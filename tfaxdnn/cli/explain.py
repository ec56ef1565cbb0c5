"""``tfaxdnn explain --model M.keras --approx AX.keras --data D.npz [--images 8 --methods ...] --out DIR``: exact vs
approximate attribution maps (tf-explain) of test images and their similarity."""

from __future__ import annotations

import argparse
import os

from tfaxdnn.cli import common

__all__ = ["add_parser", "run"]


def _methods():
    from tfaxdnn.xai.explanations.compare import METHODS

    return METHODS


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``explain`` sub-command to an ``argparse`` sub-parser collection; returns its parser."""
    p = subparsers.add_parser(
        "explain", help="exact vs approximate attribution maps (tf-explain) and their similarity",
        description="Explains --images test images (x_test, y_test of --data, drawn with --seed) with both models and "
                    "writes explain.png (grid: input, exact, approximate, difference per method) and explain.json "
                    "(per image and mean Spearman rho / top-k IoU) to --out.")
    common.model_arg(p, "exact Keras 3 model (.keras)")
    p.add_argument("--approx", required=True, help="approximate Keras 3 model (.keras)")
    p.add_argument("--out", required=True, help="output directory")
    common.data_args(p, help="npz with x_train, y_train, x_test, y_test (x_test/y_test used)", calibration=False)
    p.add_argument("--images", type=int, default=8, help="number of test images (default 8)")
    # names checked when given (the list lives with Keras-importing code; `tfaxdnn --help` stays fast)
    p.add_argument("--methods", nargs="+", type=common.choices_of("method", _methods), default=None,
                   metavar="METHOD", help="attribution methods: integrated_gradients, grad_cam, smoothgrad, "
                                          "occlusion (default: all)")
    p.add_argument("--layer", default=None, help="Grad-CAM layer (default: last 4-D layer larger than 1x1)")
    p.add_argument("--top-k", type=float, default=0.1, help="pixel fraction of the top-k IoU (default 0.1)")
    common.seed_arg(p, "test image draw seed (default 0)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from tfaxdnn.xai.explanations.plots import explanation_figure

    if args.images < 1:
        raise common.fail(f"--images must be at least 1, got {args.images}")
    model, approx = common.load_model(args.model), common.load_model(args.approx)
    _, (x, y_test) = common.load_dataset(args.data, model, args.scale, need=("x_test", "y_test"))
    common.warn_input_range(approx, x, args)
    with common.reported(ValueError, FileNotFoundError, KeyError):
        os.makedirs(args.out, exist_ok=True)
        result = explanation_figure(model, approx, x, y_test, os.path.join(args.out, "explain.png"),
                                    n_images=args.images, seed=args.seed, methods=args.methods or list(_methods()),
                                    layer=args.layer, top_k=args.top_k)
    print(result)
    print(f"wrote {os.path.join(args.out, 'explain.png')} and explain.json")
    return 0
