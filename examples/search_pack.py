"""Packs what a search on a shipped reference model needs, for a machine without TensorFlow (a GPU box with JAX).

    python examples/search_pack.py --pretrained resnet8_cifar10,resnet20_cifar10 [--data cifar10.npz] \
        [--fit-images 1000] [--test-images 2000] [--seed 0] --out DIR

The searches' candidate evaluations run on any Keras backend (the approximate layers take the low-rank path there),
but conductance (XAI-NAS's seeds and skipping order, XAI-Gen's layer order) needs TensorFlow's GradientTape. This
script, run where TensorFlow is, writes:

- ``DIR/pack.npz``: the images as uint8 (prepared identically on every machine): the card's validation images
  (``x_val``: what the searches select and confirm on), a seeded subset of the card's training part (``x_fit``:
  calibration and conductance) and a seeded subset of the test set (``x_test``: what the run reports on there; the
  whole test set stays behind, for `benchmarks/check_search_pack.py`), with the split hash and the subsets' indices;
- ``DIR/<model>/importance.npz``: the conductance XAI-NAS (seed ``--seed``, default conductance settings) computes
  on ``x_fit``, keyed to the model, the images and the settings as XAI-NAS caches it;
- ``DIR/<model>/calibration.json``: the activation ranges the searches measure on their calibration images of
  ``x_fit``, measured here (`tfaxdnn.search.calibration_file`: float convolutions round differently on another
  backend or device, and these ranges make the run there score every candidate as a run here does).

Then, on the GPU (``--pack`` and ``--importance`` of `examples/xainas_lenet5.py`'s options)::

    KERAS_BACKEND=jax python examples/xainas_resnet8.py --pretrained resnet8_cifar10 --pack DIR/pack.npz \
        --importance DIR/resnet8_cifar10/importance.npz --calibration DIR/resnet8_cifar10/calibration.json \
        --evaluation-samples 0 --workers 0 --out OUT
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from _common import card_split


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pretrained", required=True, help="comma-separated shipped models of one dataset")
    p.add_argument("--data", default=None, help="the dataset npz (default: a found copy)")
    p.add_argument("--fit-images", type=int, default=1000, help="training images packed (calibration, conductance)")
    p.add_argument("--test-images", type=int, default=2000, help="test images packed (the run's own report)")
    p.add_argument("--seed", type=int, default=0, help="subset seed, and XAI-NAS's seed for its conductance images")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    from tfaxdnn.core import kinds
    from tfaxdnn.data import prepare_images
    from tfaxdnn.models import model_card, pretrained
    from tfaxdnn.search.nas import NASConfig
    from tfaxdnn.search import Evaluator
    from tfaxdnn.search.calibration_file import FILE as CALIBRATION_FILE
    from tfaxdnn.search.calibration_file import write_calibration
    from tfaxdnn.search.nas.importance import cached_importance

    names = [n.strip() for n in args.pretrained.split(",") if n.strip()]
    hashes = {model_card(n)["split"]["hash"] for n in names}
    if len(hashes) != 1:
        raise SystemExit(f"error: {names} do not share one split (hashes {sorted(hashes)}): pack them separately.")
    card, src, (xtr, ytr), (xte, yte), train, val = card_split(names[0], args.data)
    rng = np.random.default_rng([args.seed, 31])
    fit = np.sort(rng.choice(train, min(args.fit_images, len(train)), replace=False))
    test = np.sort(rng.choice(len(xte), min(args.test_images, len(xte)), replace=False))
    os.makedirs(args.out, exist_ok=True)
    meta = {"dataset": card["dataset"], "source": str(src), "split_hash": card["split"]["hash"], "seed": args.seed,
            "models": names, "fit_index": fit.tolist(), "test_index": test.tolist(),
            "rule": "x_val: the card's validation images; x_fit: seeded subset of its training part; x_test: seeded "
                    "subset of the test set (indices into the dataset file's arrays)"}
    np.savez(os.path.join(args.out, "pack.npz"), x_fit=xtr[fit], y_fit=ytr[fit], x_val=xtr[val], y_val=ytr[val],
             x_test=xte[test], y_test=yte[test], meta=np.array(json.dumps(meta)))
    for name in names:
        model = pretrained(name)
        folder = os.path.join(args.out, name)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "importance.npz")
        if os.path.exists(path):
            os.remove(path)
        x_fit, config = prepare_images(xtr[fit], model.input_shape), NASConfig(seed=args.seed)
        cached_importance(model, x_fit, ytr[fit], kinds.approximable_names(model), config, path, verbose=True)
        # the activation ranges as the searches draw them (their calibration images of x_fit), measured here
        ev = Evaluator(model, (x_fit[:1], ytr[fit][:1]), x_fit, calibration_samples=config.calibration_samples,
                       seed=config.seed)
        write_calibration(ev, os.path.join(folder, CALIBRATION_FILE))
        print(f"{name}: conductance and activation ranges of {len(kinds.approximable_names(model))} layers -> "
              f"{folder}")
    size = os.path.getsize(os.path.join(args.out, "pack.npz")) / 2 ** 20
    print(f"{args.out}/pack.npz: {len(val)} validation, {len(fit)} training and {len(test)} test images of {src} "
          f"(split {card['split']['hash'][:12]}), {size:.1f} MiB")


if __name__ == "__main__":
    main()
