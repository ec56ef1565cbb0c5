"""Approximate inference on a GPU through the low-rank path, against the CPU LUT op (bits) and float (speed).

    # here (TensorFlow, CPU): approximate models saved as .keras, the LUT op's logits on the test images
    python benchmarks/bench_gpu.py prepare --out .data/gpu [--images 10000]
    # there (KERAS_BACKEND=jax on a GPU, no TensorFlow): the same files loaded, logits compared bit for bit,
    # throughput of the approximate and the float model on the same GPU
    KERAS_BACKEND=jax python benchmarks/bench_gpu.py measure --data .data/gpu --out $OUT
    # here again: where the layer outputs of images whose logits differed first part from the CPU LUT op's
    python benchmarks/bench_gpu.py trace --data .data/gpu --dumps $OUT

Models: ResNet-20 and MobileNet-V2-CIFAR (the shipped reference weights where `tfaxdnn.models.available()` has them,
else a seeded initialisation, said in the output); every approximable layer gets a signed EvoApprox8b table, cycling
through ``TABLES`` (error ranks 1 to 4), so every rank and every layer kind (conv, depthwise, dense) is exercised.
The LUT op runs on the CPU here; the GPU side runs the low-rank path (`tfaxdnn.layers.use_path("lowrank")`).
The low-rank path is measured with each GEMM form of ``--gemm`` (``auto``: the bfloat16 form on a GPU, convolutions
of the int8 values with float32 accumulation; ``float``: float32 GEMMs at full precision; ``int8``: int8 GEMMs with
int32 accumulation: `tfaxdnn.ops.lowrank_form.LowRankForm.int8_groups`). Throughput: images/s of
``model.predict`` (``--batch``; compiled, host-device copies included), best of ``--reps``
timed passes over the images after a warm-up, approximate and float in the same process on the same GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

ARCHS = ("resnet20", "mobilenet_v2_cifar")
#: signed tables of error rank 1, 2, 3 and 4 (`Multiplier.decomposition`)
TABLES = ("mul8s_1KVM", "mul8s_1L2J", "mul8s_1KV9", "mul8s_1KVA")


def _float_model(arch: str, seed: int):
    import keras

    from tfaxdnn.models import ARCHITECTURES, available, pretrained
    name = f"{arch}_cifar10"
    if name in available():
        return pretrained(name), f"pretrained {name}"
    keras.utils.set_random_seed(seed)
    return ARCHITECTURES[arch](), f"seeded initialisation (seed {seed}; {name} not shipped yet)"


def prepare(args) -> None:
    import tfaxdnn
    from tfaxdnn.core import kinds
    from tfaxdnn.data import load_cifar10, preprocess_cifar10
    from tfaxdnn.layers import use_path
    from tfaxdnn.multipliers import get
    (xtr, _), (xte, yte), src = load_cifar10(seed=args.seed)
    xte, yte = xte[:args.images], yte[:args.images]
    calib = preprocess_cifar10(xtr[:500])
    os.makedirs(args.out, exist_ok=True)
    info = {}
    tables = tuple(args.tables.split(",")) if args.tables else TABLES
    for arch in args.archs.split(","):
        model, weights = _float_model(arch, args.seed)
        names = kinds.approximable_names(model)
        plan = tfaxdnn.Plan(layers={n: tables[i % len(tables)] for i, n in enumerate(names)})
        approx = tfaxdnn.approximate(model, plan, calibration_data=calib)
        with use_path("lut"):
            t = time.perf_counter()
            logits = approx.predict(preprocess_cifar10(xte), batch_size=500, verbose=0)
            cpu_s = time.perf_counter() - t
        model.save(os.path.join(args.out, f"{arch}_float.keras"))
        approx.save(os.path.join(args.out, f"{arch}_approx.keras"))
        np.save(os.path.join(args.out, f"{arch}_lut_logits.npy"), logits)
        info[arch] = dict(weights=weights, layers=len(names), tables={t: int(get(t).decomposition().rank)
                                                                       for t in tables},
                          cpu_lut_seconds=round(cpu_s, 2), cpu_lut_accuracy=float((logits.argmax(1) == yte).mean()))
        print(arch, info[arch], flush=True)
    np.savez_compressed(os.path.join(args.out, "test_images.npz"), x=xte, y=yte)
    info.update(source=os.path.basename(src), images=int(len(yte)), cpu=platform.processor(),
                tfaxdnn=tfaxdnn.__version__)
    with open(os.path.join(args.out, "prepared.json"), "w") as f:
        json.dump(info, f, indent=1)


def _throughput(model, x, batch: int, reps: int) -> float:
    """Images/s of ``model.predict`` (compiled; host-device copies included), best of ``reps`` after a warm-up."""
    model.predict(x[:batch * 2], batch_size=batch, verbose=0)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        model.predict(x, batch_size=batch, verbose=0)
        best = min(best, time.perf_counter() - t)
    return len(x) / best


def _layer_outputs(model, x) -> dict:
    """Every layer's output of a functional ``model`` on ``x``, by layer name."""
    import keras
    layers = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [l.output for l in layers])
    return {l.name: np.asarray(o) for l, o in zip(layers, probe.predict(x, verbose=0))}


def trace(args) -> None:
    """Where the GPU's layer outputs (`measure`'s ``*_layers.npz``) first differ from the CPU LUT op's."""
    import keras

    from tfaxdnn.layers import use_path
    with np.load(os.path.join(args.data, "test_images.npz")) as f:
        x = f["x"].astype("float32") / 255.0
    for name in sorted(os.listdir(args.dumps)):
        if not name.endswith("_layers.npz"):
            continue
        arch = next(a for a in ARCHS if name.startswith(a + "_"))
        gpu = dict(np.load(os.path.join(args.dumps, name)))
        rows = gpu.pop("rows")
        approx = keras.models.load_model(os.path.join(args.data, f"{arch}_approx.keras"), compile=False)
        with use_path("lut"):
            cpu = _layer_outputs(approx, x[rows])
        print(name, "rows", rows.tolist())
        for layer in cpu:  # model order
            a, b = cpu[layer], gpu[layer]
            n = int((a != b).sum())
            if n:
                i = np.unravel_index(np.argmax(np.abs(a - b)), a.shape)
                print(f"  {layer}: {n} of {a.size} values differ, max {np.abs(a - b).max():.6g} at {i}: "
                      f"cpu {a[i]!r} gpu {b[i]!r}")


def measure(args) -> None:
    import keras

    from tfaxdnn.layers import use_path
    prepared = json.load(open(os.path.join(args.data, "prepared.json")))
    with np.load(os.path.join(args.data, "test_images.npz")) as f:
        x, y = f["x"][:args.images].astype("float32") / 255.0, f["y"][:args.images]
    os.makedirs(args.out, exist_ok=True)
    device = keras.backend.backend()
    if device == "jax":
        import jax
        device = f"jax {jax.__version__} on {jax.devices()[0].device_kind}"
    out = dict(device=device, keras=keras.__version__, images=int(len(y)), batch=args.batch, reps=args.reps,
               prepared=prepared)
    for arch in [a for a in ARCHS if a in prepared]:
        float_model = keras.models.load_model(os.path.join(args.data, f"{arch}_float.keras"), compile=False)
        ref = np.load(os.path.join(args.data, f"{arch}_lut_logits.npy"))[:len(x)]
        float_ips = _throughput(float_model, x, args.batch, args.reps)
        out[arch] = dict(float_images_per_s=round(float_ips))
        for gemm in args.gemm.split(","):
            os.environ["TFAXDNN_LOWRANK_GEMM"] = gemm  # read when a layer first plans its product
            approx = keras.models.load_model(os.path.join(args.data, f"{arch}_approx.keras"), compile=False)
            with use_path("lowrank"):
                t = time.perf_counter()
                logits = approx.predict(x, batch_size=500, verbose=0)
                first_s = time.perf_counter() - t
                same = np.array_equal(logits.view(np.uint32), ref.view(np.uint32))
                differ = np.flatnonzero((logits != ref).any(axis=1))
                approx_ips = _throughput(approx, x, args.batch, args.reps)
                if len(differ):  # every layer's output on the differing images, for `trace` on the CPU
                    np.savez(os.path.join(args.out, f"{arch}_{gemm}_layers.npz"), rows=differ[:8],
                             **_layer_outputs(approx, x[differ[:8]]))
            out[arch][f"gemm_{gemm}"] = dict(
                bit_identical=bool(same), rows_differing=int(len(differ)), differing_rows=differ[:20].tolist(),
                max_abs_diff=float(np.abs(logits - ref).max()),
                accuracy=float((logits.argmax(1) == y).mean()), first_predict_seconds=round(first_s, 2),
                approx_images_per_s=round(approx_ips), approx_over_float_time=round(float_ips / approx_ips, 2))
            print(arch, gemm, out[arch][f"gemm_{gemm}"], flush=True)
        os.environ.pop("TFAXDNN_LOWRANK_GEMM", None)
        print(arch, "float images/s", out[arch]["float_images_per_s"], flush=True)
    with open(os.path.join(args.out, "bench_gpu.json"), "w") as f:
        json.dump(out, f, indent=1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="verb", required=True)
    pr = sub.add_parser("prepare")
    pr.add_argument("--images", type=int, default=10000)
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--archs", default=",".join(ARCHS), help="comma-separated (default: both)")
    pr.add_argument("--tables", default=None, help="comma-separated tables cycled over the layers (default: TABLES)")
    pr.add_argument("--out", required=True)
    me = sub.add_parser("measure")
    me.add_argument("--data", required=True)
    me.add_argument("--images", type=int, default=None, help="the first N prepared images (default: all)")
    me.add_argument("--batch", type=int, default=1000)
    me.add_argument("--reps", type=int, default=3)
    me.add_argument("--gemm", default="auto",
                    help="GEMM forms of the low-rank path to measure, comma-separated (TFAXDNN_LOWRANK_GEMM: auto, float, "
                         "bfloat16, int8)")
    me.add_argument("--out", required=True)
    tr = sub.add_parser("trace")
    tr.add_argument("--data", required=True)
    tr.add_argument("--dumps", required=True, help="the folder of measure's *_layers.npz")
    args = p.parse_args(argv)
    dict(prepare=prepare, measure=measure, trace=trace)[args.verb](args)


if __name__ == "__main__":
    main()
