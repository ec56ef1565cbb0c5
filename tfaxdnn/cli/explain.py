"""``tfaxdnn explain --model M.keras --approx AX.keras --data D.npz [--images 8 --methods ...] --out DIR``.

A plugin of ``tfaxdnn/cli.py``: ``add_parser(sub)`` adds the sub-command, ``run(args)`` is its ``func``.
"""

from __future__ import annotations

import os

from tfaxdnn.xai.explanations.compare import METHODS


def add_parser(subparsers):
    """Add the ``explain`` sub-command to an ``argparse`` sub-parser collection; returns its parser."""
    p = subparsers.add_parser(
        "explain", help="exact vs approximate attribution maps (tf-explain) and their similarity",
        description="Explains --images test images (x_test, y_test of --data, drawn with --seed) with both models and "
                    "writes explain.png (grid: input, exact, approximate, difference per method) and explain.json "
                    "(per image and mean Spearman rho / top-k IoU) to --out.")
    p.add_argument("--model", required=True, help="exact Keras 3 model (.keras)")
    p.add_argument("--approx", required=True, help="approximate Keras 3 model (.keras)")
    p.add_argument("--data", required=True, help="npz with x_train, y_train, x_test, y_test (x_test/y_test used)")
    p.add_argument("--scale", type=float, default=None,
                   help="divide pixels by this (default: 255 for integer pixels, 1 for float data)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--images", type=int, default=8, help="number of test images (default 8)")
    p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    p.add_argument("--layer", default=None, help="Grad-CAM layer (default: last 4-D layer larger than 1x1)")
    p.add_argument("--top-k", type=float, default=0.1, help="pixel fraction of the top-k IoU (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from tfaxdnn.cli.main import _load_model
    from tfaxdnn.data.loaders import load_npz, prepare_images
    from tfaxdnn.xai.explanations.plots import explanation_figure

    if args.images < 1:
        raise SystemExit(f"error: --images must be at least 1, got {args.images}")
    model, approx = _load_model(args.model), _load_model(args.approx)
    try:
        _, (x_test, y_test) = load_npz(args.data)
        x = prepare_images(x_test, model.input_shape, "x_test", args.scale)
        os.makedirs(args.out, exist_ok=True)
        result = explanation_figure(model, approx, x, y_test, os.path.join(args.out, "explain.png"),
                                    n_images=args.images, seed=args.seed, methods=args.methods, layer=args.layer,
                                    top_k=args.top_k)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(result)
    print(f"wrote {os.path.join(args.out, 'explain.png')} and explain.json")
    return 0
