"""Train the reference models of `tfaxdnn.models.pretrained()` (Keras only: runs on any Keras 3 backend).

    # pack the training images compactly (JPEG) for a machine the full npz cannot reach, e.g. a lent GPU:
    python examples/train_reference.py pack --dataset cifar10 --out .data/cifar10_train_q95.npz
    # train (TensorFlow on CPU, or KERAS_BACKEND=jax on a GPU):
    python examples/train_reference.py train --arch resnet20 --data cifar10.npz --out DIR [--epochs 160]
    # measure a trained model on the validation and test images and write its model card (TensorFlow, CPU):
    python examples/train_reference.py card --arch resnet20 --model DIR/resnet20.keras --out DIR

The training set is split with ``--split-seed`` into train and validation images (`tfaxdnn.data.reference_split`:
CIFAR-10 45,000 / 5,000, MNIST 55,000 / 5,000); the validation images are never trained on and the 10,000 test
images are only ever reported. Recipe: SGD with Nesterov momentum 0.9, a linear warm-up to ``--lr`` then a cosine
decay (per epoch), decoupled weight decay (not on BatchNorm or biases), cross-entropy on logits; augmentation is a
random crop of the image padded by 4 pixels (2 for MNIST) with zeros, plus a horizontal flip for CIFAR-10, drawn
from ``--seed``. ``--time-budget`` fixes the number of epochs after the second one from its measured time (warm-up
lasts at least two epochs, so the schedule so far does not depend on it); the card records the epochs used, and
``--epochs`` with that number repeats the run. On a GPU, weights are reproducible up to the nondeterminism of its
convolution algorithms.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

DATASETS = {"lenet5": "mnist", "resnet8": "cifar10", "resnet20": "cifar10", "resnet18": "cifar10",
            "mobilenet_v2_cifar": "cifar10"}
#: per-architecture defaults: epochs, peak learning rate, weight decay, batch size
RECIPES = {"lenet5": dict(epochs=40, lr=0.05, weight_decay=5e-4, batch_size=128),
           "resnet8": dict(epochs=160, lr=0.1, weight_decay=5e-4, batch_size=128),
           "resnet20": dict(epochs=160, lr=0.1, weight_decay=3e-3, batch_size=128),
           "mobilenet_v2_cifar": dict(epochs=160, lr=0.1, weight_decay=4e-5, batch_size=128),
           "resnet18": dict(epochs=60, lr=0.1, weight_decay=5e-4, batch_size=128)}


# ---------------------------------------------------------------------------------------------------- data
def _find(dataset: str, path):
    from tfaxdnn.data.loaders import find_dataset
    found = find_dataset(dataset, path)
    if found is None:
        raise SystemExit(f"No {dataset}.npz found: pass --data (an npz with x_train, y_train, x_test, y_test, or a "
                         f"packed file from `train_reference.py pack`).")
    return found


def pack(dataset: str, data, out: str, split_seed: int, quality: int) -> None:
    """Write the *training part* of the reference split as JPEG bytes (CIFAR-10) or raw uint8 (MNIST), with labels,
    original indices and the split hash."""
    from PIL import Image

    from tfaxdnn.data import REFERENCE_VALIDATION, reference_split
    src = _find(dataset, data)
    with np.load(src) as f:
        x, y = f["x_train"], f["y_train"].reshape(-1)
    train, _, digest = reference_split(y, REFERENCE_VALIDATION[dataset], split_seed)
    meta = dict(y=y[train].astype("uint8"), index=train.astype("int32"), split_seed=split_seed, split_hash=digest,
                source=os.path.basename(src), quality=quality)
    if dataset == "cifar10":
        blobs = []
        for im in x[train]:
            b = io.BytesIO()
            Image.fromarray(im).save(b, format="JPEG", quality=quality, subsampling=0)  # 4:4:4
            blobs.append(np.frombuffer(b.getvalue(), np.uint8))
        meta["offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype("int64")
        meta["jpeg"] = np.concatenate(blobs)
    else:
        meta["x"] = x[train]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.savez_compressed(out, **meta)
    print(f"packed {len(train)} {dataset} training images of split {digest[:12]} into {out} "
          f"({os.path.getsize(out) / 1e6:.1f} MB)")


def training_images(dataset: str, data, split_seed: int):
    """``(x uint8 [N,H,W,C], y, split_hash, note)``: the train part of the reference split, from the npz or a
    packed copy."""
    from tfaxdnn.data import REFERENCE_VALIDATION, reference_split
    src = _find(dataset, data)
    with np.load(src) as f:
        if "x_train" in f.files:
            x, y = f["x_train"], f["y_train"].reshape(-1)
            train, _, digest = reference_split(y, REFERENCE_VALIDATION[dataset], split_seed)
            x, y, note = x[train], y[train], os.path.basename(src)
        else:
            if int(f["split_seed"]) != split_seed:
                raise SystemExit(f"{src} packs split seed {int(f['split_seed'])}, not --split-seed {split_seed}.")
            y, digest = f["y"], str(f["split_hash"])
            if "jpeg" in f.files:
                from PIL import Image
                blob, off = f["jpeg"], f["offsets"]
                x = np.stack([np.asarray(Image.open(io.BytesIO(blob[off[i]:off[i + 1]].tobytes())).convert("RGB"))
                              for i in range(len(y))])
                note = f"{f['source']} packed as JPEG quality {int(f['quality'])}"
            else:
                x, note = f["x"], f"{f['source']} packed"
    if x.ndim == 3:
        x = x[..., None]
    return x, y.astype("int32"), digest, note


def augment(x: np.ndarray, rng: np.random.Generator, pad: int, flip: bool) -> np.ndarray:
    """Random crops of the zero-padded images (and horizontal flips), uint8 in, uint8 out."""
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dy, dx = rng.integers(0, 2 * pad + 1, n), rng.integers(0, 2 * pad + 1, n)
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    if flip:
        f = rng.random(n) < 0.5
        out[f] = out[f, :, ::-1]
    return out


# ---------------------------------------------------------------------------------------------------- training
def learning_rate(epoch: int, epochs: int, peak: float, warmup: int) -> float:
    if epoch < warmup:
        return peak * (epoch + 1) / warmup
    return 0.5 * peak * (1.0 + math.cos(math.pi * (epoch - warmup) / max(epochs - warmup, 1)))


def train(args) -> None:
    import keras

    from tfaxdnn.models import ARCHITECTURES
    recipe = {**RECIPES[args.arch], **{k: v for k, v in vars(args).items() if k in RECIPES[args.arch] and v}}
    dataset = DATASETS[args.arch]
    t0 = time.time()
    x, y, digest, note = training_images(dataset, args.data, args.split_seed)
    if args.limit:
        keep = np.sort(np.random.default_rng(args.seed).choice(len(x), args.limit, replace=False))
        x, y, note = x[keep], y[keep], f"{note}, {args.limit} of them only"
    print(f"{args.arch}: {len(x)} training images ({note}), split {digest[:12]}, backend {keras.backend.backend()}, "
          f"recipe {recipe}", flush=True)
    keras.utils.set_random_seed(args.seed)
    if args.mixed_precision:
        keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    model = ARCHITECTURES[args.arch]()
    opt = keras.optimizers.SGD(recipe["lr"], momentum=0.9, nesterov=True, weight_decay=recipe["weight_decay"])
    opt.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    model.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    rng = np.random.default_rng(args.seed)
    pad, flip = (2, False) if dataset == "mnist" else (4, True)
    warmup = max(2, args.warmup)
    epochs = recipe["epochs"] if not args.time_budget else None
    history, e, t_train = [], 0, time.time()
    while epochs is None or e < epochs:
        lr = learning_rate(e, epochs or 10 ** 6, recipe["lr"], warmup)
        opt.learning_rate.assign(lr)
        te = time.time()
        xa = (augment(x, rng, pad, flip).astype("float32") / 255.0)
        h = model.fit(xa, y, batch_size=recipe["batch_size"], epochs=1, shuffle=True, verbose=0)
        dt = time.time() - te
        history.append(dict(epoch=e + 1, lr=lr, loss=float(h.history["loss"][-1]),
                            accuracy=float(h.history["accuracy"][-1]), seconds=round(dt, 2)))
        print(f"{args.arch} epoch {e + 1}/{epochs or '?'} lr {lr:.4f} loss {history[-1]['loss']:.4f} "
              f"train acc {history[-1]['accuracy']:.4f} ({dt:.1f} s)", flush=True)
        e += 1
        if epochs is None and e == 2:  # the time of epoch 2 (compiled) fixes the schedule
            left = args.time_budget - (time.time() - t0)
            epochs = int(min(recipe["epochs"], max(warmup + 1, 2 + left // (dt * 1.08))))
            print(f"{args.arch}: --time-budget {args.time_budget} s -> {epochs} epochs", flush=True)
        if e % 10 == 0 or e == epochs:
            _save(args, model, dict(arch=args.arch, dataset=dataset, split_seed=args.split_seed, split_hash=digest,
                                    seed=args.seed, data=note, recipe=dict(recipe, epochs=epochs, warmup=warmup),
                                    epochs_done=e, mixed_precision=args.mixed_precision, history=history,
                                    train_seconds=round(time.time() - t_train, 1)))


def _save(args, model, info) -> None:
    """A float32, uncompiled copy of the model (no optimizer state; a mixed-precision model rebuilt), and the
    training record."""
    import keras

    from tfaxdnn.models import ARCHITECTURES
    os.makedirs(args.out, exist_ok=True)
    policy = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("float32")
    plain = ARCHITECTURES[args.arch]()
    plain.set_weights([np.asarray(w, dtype="float32") for w in model.get_weights()])
    keras.mixed_precision.set_dtype_policy(policy)
    plain.save(os.path.join(args.out, f"{args.arch}.keras"))
    info.update(backend=keras.backend.backend(), keras=keras.__version__, platform=platform.platform(),
                device=_device())
    with open(os.path.join(args.out, f"{args.arch}.train.json"), "w") as f:
        json.dump(info, f, indent=1)


def _device() -> str:
    import keras
    if keras.backend.backend() == "jax":
        import jax
        return str(jax.devices()[0].device_kind)
    return platform.processor() or "cpu"


# ---------------------------------------------------------------------------------------------------- model card
def card(args) -> None:
    """Accuracies of a trained model (float and exact 8-bit) on the validation and test images, and on the bundled
    subset (what `tfaxdnn.models.pretrained()`'s test checks), merged with its training record into a model card."""
    import keras

    import tfaxdnn
    from tfaxdnn import evaluate
    from tfaxdnn.data import (BUNDLED_MNIST, REFERENCE_VALIDATION, load_npz, prepare_images, reference_split)
    from tfaxdnn.data.loaders import BUNDLED_CIFAR10
    dataset = DATASETS[args.arch]
    src = _find(dataset, args.data)
    (xtr, ytr), (xte, yte) = load_npz(src)
    _, val, digest = reference_split(ytr, REFERENCE_VALIDATION[dataset], args.split_seed)
    model = keras.models.load_model(args.model, compile=False)
    record_path = os.path.splitext(args.model)[0] + ".train.json"
    record = json.load(open(record_path)) if os.path.exists(record_path) else {}
    if record and record.get("split_hash") != digest:
        raise SystemExit(f"{args.model} was trained on split {record.get('split_hash')}, not {digest}.")
    shape = model.input_shape
    xv, xt = prepare_images(xtr[val], shape), prepare_images(xte, shape)
    (xb, yb) = load_npz(BUNDLED_MNIST if dataset == "mnist" else BUNDLED_CIFAR10)[1]
    xb = prepare_images(xb, shape)
    exact = tfaxdnn.multipliers.EXACT_SIGNED
    calib = xv[np.random.default_rng(args.split_seed).choice(len(xv), 500, replace=False)]
    approx = tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier=exact), calibration_data=calib)
    acc = {}
    for what, (xs, ys) in dict(validation=(xv, ytr[val]), test=(xt, yte), bundled_test=(xb, yb)).items():
        acc[what] = dict(float=evaluate(model, xs, ys).accuracy, exact_8bit=evaluate(approx, xs, ys).accuracy,
                         images=int(len(ys)))
        print(f"{args.arch} {what} ({len(ys)} images): float {acc[what]['float']:.4f}, exact 8-bit "
              f"{acc[what]['exact_8bit']:.4f}", flush=True)
    out = dict(name=f"{args.arch}_{dataset}", architecture=args.arch, dataset=dataset, source=os.path.basename(src),
               split=dict(seed=args.split_seed, validation_images=REFERENCE_VALIDATION[dataset], hash=digest,
                          rule="tfaxdnn.data.reference_split: seeded permutation of x_train, last N validation"),
               accuracy=acc, quantization="tfaxdnn.approximate defaults (per-channel symmetric weights, activations "
                                          "calibrated on 500 validation images)",
               tfaxdnn=tfaxdnn.__version__, measured_with=dict(backend=keras.backend.backend(), keras=keras.__version__,
                                                               platform=platform.platform()),
               training={k: v for k, v in record.items() if k != "history"},
               history_last=record.get("history", [])[-3:])
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{args.arch}_{dataset}.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="verb", required=True)
    pk = sub.add_parser("pack", help="pack the training part of the reference split compactly")
    pk.add_argument("--dataset", choices=("cifar10", "mnist"), required=True)
    pk.add_argument("--quality", type=int, default=95, help="JPEG quality (CIFAR-10; no chroma subsampling)")
    tr = sub.add_parser("train", help="train one architecture")
    tr.add_argument("--arch", choices=sorted(RECIPES), required=True)
    tr.add_argument("--epochs", type=int, default=None)
    tr.add_argument("--lr", type=float, default=None)
    tr.add_argument("--weight-decay", type=float, default=None)
    tr.add_argument("--batch-size", type=int, default=None)
    tr.add_argument("--warmup", type=int, default=5, help="warm-up epochs (at least 2)")
    tr.add_argument("--time-budget", type=float, default=None,
                    help="seconds: fix the epochs (at most the recipe's) from the second epoch's time")
    tr.add_argument("--mixed-precision", action="store_true", help="train in bfloat16 (saved in float32)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke tests)")
    cd = sub.add_parser("card", help="measure a trained model and write its model card")
    cd.add_argument("--arch", choices=sorted(RECIPES), required=True)
    cd.add_argument("--model", required=True)
    for s in (pk, tr, cd):
        s.add_argument("--data", default=None, help="npz dataset or packed file (default: a found copy)")
        s.add_argument("--split-seed", type=int, default=0)
        s.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.verb == "pack":
        pack(args.dataset, args.data, args.out, args.split_seed, args.quality)
    elif args.verb == "train":
        train(args)
    else:
        card(args)


if __name__ == "__main__":
    main()
