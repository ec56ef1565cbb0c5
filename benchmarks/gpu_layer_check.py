"""Layer-by-layer check of the low-rank path on another backend or device against the LUT op: which layer first
differs, and whether its input codes or its GEMMs are the cause (the run that traced the GPU's inexact division).

    # here (TensorFlow, CPU): each approximate layer's input and output on a few images, through the LUT op
    python benchmarks/gpu_layer_check.py prepare --models .data/gpu --out .gpudiag [--images 8]
    # there (KERAS_BACKEND=jax, e.g. on a GPU): each layer fed the LUT op's input, its output compared bit for bit
    python benchmarks/gpu_layer_check.py check --data .gpudiag

``--models``: a folder of ``*_approx.keras`` files (as `bench_gpu.py prepare` writes them). The check also compares
IEEE division (`tfaxdnn.ops.backend.divide` and plain ``jnp.divide``) and multiply-adds with NumPy on the device.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def prepare(args) -> None:
    import keras

    import tfaxdnn  # noqa: F401  (registers the approximate layers)
    from tfaxdnn.data import load_cifar10, preprocess_cifar10
    from tfaxdnn.layers import ApproxMixin, use_path

    (_, _), (xte, _), _ = load_cifar10(seed=0)
    x = preprocess_cifar10(xte[:args.images])
    os.makedirs(args.out, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(args.models, "*_approx.keras"))):
        arch = os.path.basename(path)[:-len("_approx.keras")]
        model = keras.models.load_model(path, compile=False)
        layers = [layer for layer in model.layers if isinstance(layer, ApproxMixin)]
        pairs = [(layer.name, layer._inbound_nodes[0].input_tensors[0]._keras_history[0].name) for layer in layers]
        names = sorted({n for pair in pairs for n in pair} - {model.inputs[0].name})
        probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
        with use_path("lut"):
            outs = dict(zip(names, (np.asarray(o) for o in probe.predict(x, verbose=0))))
        outs[model.inputs[0].name] = x
        np.savez_compressed(os.path.join(args.out, f"{arch}_layers.npz"), **outs)
        with open(os.path.join(args.out, f"{arch}_pairs.json"), "w") as f:
            json.dump(pairs, f)
        keras.models.load_model(path, compile=False).save(os.path.join(args.out, f"{arch}_approx.keras"))
        print(arch, len(pairs), "approximate layers", flush=True)


def check(args) -> None:
    import keras

    import tfaxdnn  # noqa: F401
    from tfaxdnn.layers import use_path
    from tfaxdnn.ops import backend, codes

    print("backend", keras.backend.backend(), flush=True)
    if keras.backend.backend() == "jax":
        import jax
        import jax.numpy as jnp
        print("devices", jax.devices(), "jax", jax.__version__, flush=True)
        rng = np.random.default_rng(0)
        a = rng.normal(0, 10, (200000, 64)).astype(np.float32)
        s = rng.uniform(0.001, 2, 64).astype(np.float32)
        c = rng.normal(0, 10, (200000, 64)).astype(np.float32)
        print("quotients differing from IEEE: jnp.divide",
              int((np.asarray(jax.jit(jnp.divide)(a, s)) != a / s).sum()), "backend.divide",
              int((np.asarray(jax.jit(backend.divide)(a, s)) != a / s).sum()), "of", a.size, flush=True)
        print("a*b+c differing from two roundings: plain",
              int((np.asarray(jax.jit(lambda u, v, w: u * v + w)(a, s, c)) != a * s + c).sum()), "unfused",
              int((np.asarray(jax.jit(lambda u, v, w: backend.unfused(u * v) + w)(a, s, c)) != a * s + c).sum()),
              flush=True)
    for pairs_path in sorted(glob.glob(os.path.join(args.data, "*_pairs.json"))):
        arch = os.path.basename(pairs_path)[:-len("_pairs.json")]
        model = keras.models.load_model(os.path.join(args.data, f"{arch}_approx.keras"), compile=False)
        ref = np.load(os.path.join(args.data, f"{arch}_layers.npz"))
        differing = 0
        for name, inbound in json.load(open(pairs_path)):
            layer, x = model.get_layer(name), ref[inbound]
            with use_path("lowrank"):
                y = np.asarray(layer(x))
            n = int((y != ref[name]).sum())
            if not n:
                continue
            differing += 1
            s_a, z_a = np.asarray(layer.ax_input_scale), np.asarray(layer.ax_input_zero_point)
            lo, hi = (-128, 127) if layer.signed else (0, 255)
            xq = np.asarray(codes.quantize(x, s_a, z_a, layer.signed))
            want_xq = np.clip(np.round(x / s_a) + z_a, lo, hi)
            k, s_w, z_w = (np.asarray(v) for v in (layer.kernel, layer.ax_kernel_scale, layer.ax_kernel_zero_point))
            kq = np.asarray(codes.quantize(k, s_w, z_w, layer.signed, lo + 1 if layer.signed else lo, hi))
            want_kq = np.clip(np.round(k.reshape(-1, s_w.size) / s_w) + z_w, lo + 1 if layer.signed else lo,
                              hi).reshape(k.shape)
            worst = float(np.abs(y - ref[name]).max())
            print(f"{arch} {name} ({layer.multiplier_name}): {n} outputs differ (max {worst:.3g}); input codes "
                  f"differing {int((xq != want_xq).sum())}, kernel codes differing {int((kq != want_kq).sum())}",
                  flush=True)
        print(f"{arch}: {differing} of {len(json.load(open(pairs_path)))} approximate layers differ", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="verb", required=True)
    pr = sub.add_parser("prepare")
    pr.add_argument("--models", required=True)
    pr.add_argument("--images", type=int, default=8)
    pr.add_argument("--out", required=True)
    ch = sub.add_parser("check")
    ch.add_argument("--data", required=True)
    args = p.parse_args(argv)
    prepare(args) if args.verb == "prepare" else check(args)


if __name__ == "__main__":
    main()
